"""The immediate-Jacobian entries of one pre-activation row, shared by every model's `add_immediate`.

A pre-activation a_r = sum_j W_rj s_{t-1,j} + sum_j U_rj x_tj + b_r has d a_r / d(W_r., U_r., b_r) =
[s_{t-1}, x_t, 1]: each model adds these, times its own chain-rule coefficient, into the rows of RTRL's
influence matrix that the pre-activation reaches (Williams and Zipser 1989, eq. 13, the delta_ik z_j term)."""
from numba import njit

from .layout import FAST


@njit(cache=True, fastmath=FAST)
def add_input_row(M, row, cw, cu, s_prev, lo, width, x, xi, w, u, b):
    """M[row, w + j] += cw * s_prev[lo + j] for j < width (the recurrent weights W_r., at offset w);
    M[row, u + j] += cu * x_j (the input weights U_r., at offset u; one entry when x is one-hot at xi >= 0);
    M[row, b] += cu (the bias)."""
    for j in range(width):
        M[row, w + j] += cw * s_prev[lo + j]
    if xi >= 0:
        M[row, u + xi] += cu
    else:
        for j in range(x.shape[0]):
            M[row, u + j] += cu * x[j]
    M[row, b] += cu
