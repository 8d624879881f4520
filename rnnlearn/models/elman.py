"""Elman network kernels (Elman 1990): h_t = tanh(W h_{t-1} + U x_t + b).

Parameter layout (recurrent part of theta): W (n, n) at 0, U (n, m) at n*n, b (n,) at n*n + n*m, all
row-major, so unit i's weights are row i of W and U and entry i of b. State s_t = h_t (S = n); the
pre-activation gradient delta_t = dL/da_t (G = n); no extra cache (tanh' = 1 - h_t^2 comes from s_t).

The kernels are the model interface of cell.py: step, vjp (split into `vjp_state`, the part that runs
every step, and `param_grad`, the outer products summed over a window as matrix products), the state
Jacobian (formed, `jac_state`; as products, `jvp_state`; its diagonal, `jac_state_diag`) and the immediate
Jacobian (Williams and Zipser 1989, eq. 12-13: p^k_ij(t+1) = f'(a_k)[sum_l w_kl p^l_ij(t) + delta_ik z_j(t)],
whose second term is given in factored form by `row_form` and `row_factor` and added by the generic
kernels of models/immediate.py).

Structure of J_t = diag(1 - h_t^2) W: a row scaling of W (jvp O(n^2), diagonal O(n)). The row form: one row
per unit, row k = (W[k], U[k], b[k]) reading all of h_{t-1}, with D[0, k] = 1 - h_k^2; no extras.
Offsets of W, U, b come from dims (D_OW, D_OU, D_OB), set once by the Model.
"""
import numpy as np
from numba import njit

from .layout import FAST, D_M, D_N, D_OB, D_OU, D_OW
from .common import input_and_bias_grad, matvec_rows, matvec_t_rows, row_input
from .vecmath import tanh_inplace


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    """s_out = tanh(W s_prev + U x + b); x is one-hot at xi when xi >= 0 (a column lookup)."""
    m, n = dims[D_M], dims[D_N]
    oU, ob = dims[D_OU], dims[D_OB]
    matvec_rows(theta, dims[D_OW], n, s_prev, 0, n, s_out)
    for i in range(n):
        s_out[i] += row_input(theta, oU, ob, m, i, x, xi)
    tanh_inplace(s_out)  # vectorised (vecmath): the C library's tanh was a third of the step at n = 64


@njit(cache=True, fastmath=FAST)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    """delta = ds * (1 - h_t^2) and ds_prev = W^T delta."""
    n = dims[D_N]
    for i in range(n):
        delta_out[i] = ds[i] * (1.0 - s[i] * s[i])
    for j in range(n):
        ds_prev_out[j] = 0.0
    matvec_t_rows(theta, dims[D_OW], n, delta_out, n, ds_prev_out)


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """Write dL/d(W, U, b) = sum_k delta_k (x) [s_prev_k, x_k, 1] into g[:P_rec], over all rows k.

    Rows of Delta that are zero contribute nothing, so callers may pass whole ring buffers."""
    n = dims[D_N]
    oW = dims[D_OW]
    np.dot(Delta.T, S_prev, g[oW:oW + n * n].reshape((n, n)))
    input_and_bias_grad(g, dims[D_OU], dims[D_OB], n, Delta, X, XI)


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """J = ds_t/ds_{t-1} = diag(1 - h_t^2) W."""
    n = dims[D_N]
    oW = dims[D_OW]
    for i in range(n):
        d = 1.0 - s[i] * s[i]
        w = theta[oW + i * n:oW + (i + 1) * n]  # a slice: vectorisable (no wraparound checks)
        Ji = J[i]
        for j in range(n):
            Ji[j] = d * w[j]


@njit(cache=True, fastmath=FAST)
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out):
    """out = J_t v = (1 - h_t^2) * (W v)."""
    n = dims[D_N]
    matvec_rows(theta, dims[D_OW], n, v, 0, n, out)
    for i in range(n):
        out[i] *= 1.0 - s[i] * s[i]


@njit(cache=True, fastmath=FAST)
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out):
    """out = diag(J_t) = (1 - h_t^2) * diag(W)."""
    n = dims[D_N]
    oW = dims[D_OW]
    for i in range(n):
        out[i] = (1.0 - s[i] * s[i]) * theta[oW + i * n + i]


@njit(cache=True, inline="always")
def row_form(dims, aux, r):
    """Row r = unit r: (unit, W row offset, lo, width, U row offset, bias index)."""
    m, n = dims[D_M], dims[D_N]
    return r, dims[D_OW] + r * n, 0, n, dims[D_OU] + r * m, dims[D_OB] + r


@njit(cache=True, fastmath=FAST, inline="always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r):
    """(dh_r/dz_r, 0) = (1 - h_r^2, 0)."""
    return 1.0 - s[r] * s[r], 0.0


@njit(cache=True, inline="always")
def extra_form(dims, aux, j):
    """No parameters outside the row form."""
    return 0, 0


@njit(cache=True, inline="always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j):
    return 0.0, 0.0
