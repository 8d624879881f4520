"""Elman network kernels (Elman 1990): h_t = tanh(W h_{t-1} + U x_t + b).

Parameter layout (recurrent part of theta): W (n, n) at 0, U (n, m) at n*n, b (n,) at n*n + n*m, all
row-major, so unit i's weights are row i of W and U and entry i of b. State s_t = h_t (S = n); the
pre-activation gradient delta_t = dL/da_t (G = n); no extra cache (tanh' = 1 - h_t^2 comes from s_t).

The four kernels are the model interface of cell.py: step, vjp (split into `vjp_state`, the part that runs
every step, and `param_grad`, the outer products summed over a window as matrix products), state Jacobian
and immediate Jacobian (Williams and Zipser 1989, eq. 12-13: p^k_ij(t+1) = f'(a_k)[sum_l w_kl p^l_ij(t) +
delta_ik z_j(t)], whose second term is `add_immediate`).
"""
import numpy as np
from numba import njit

from .layout import FAST, D_M, D_N
from .common import add_input_row, input_and_bias_grad, matvec_rows, matvec_t_rows, row_input
from .vecmath import tanh_inplace


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    """s_out = tanh(W s_prev + U x + b); x is one-hot at xi when xi >= 0 (a column lookup)."""
    m, n = dims[D_M], dims[D_N]
    oU = n * n
    ob = oU + n * m
    matvec_rows(theta, 0, n, s_prev, 0, n, s_out)
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
    matvec_t_rows(theta, 0, n, delta_out, n, ds_prev_out)


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """Write dL/d(W, U, b) = sum_k delta_k (x) [s_prev_k, x_k, 1] into g[:P_rec], over all rows k.

    Rows of Delta that are zero contribute nothing, so callers may pass whole ring buffers."""
    m, n = dims[D_M], dims[D_N]
    oU = n * n
    np.dot(Delta.T, S_prev, g[0:oU].reshape((n, n)))
    input_and_bias_grad(g, oU, oU + n * m, n, Delta, X, XI)


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """J = ds_t/ds_{t-1} = diag(1 - h_t^2) W."""
    n = dims[D_N]
    for i in range(n):
        d = 1.0 - s[i] * s[i]
        r = i * n
        for j in range(n):
            J[i, j] = d * theta[r + j]


@njit(cache=True, fastmath=FAST)
def add_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M):
    """M += Mbar_t = ds_t/dtheta_rec with s_{t-1} held fixed; unit i touches only its own row of W, U, b."""
    m, n = dims[D_M], dims[D_N]
    oU = n * n
    ob = oU + n * m
    for i in range(n):
        d = 1.0 - s[i] * s[i]
        add_input_row(M, i, d, d, s_prev, 0, n, x, xi, i * n, oU + i * m, ob + i)
