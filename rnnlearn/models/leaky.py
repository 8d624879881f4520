"""Leaky rate network kernels (the leaky RNN of Marschall, Cho and Savin 2020, "A unified framework of online
learning algorithms for training recurrent neural networks", JMLR 21, their eq. for the network; Murray 2019's
discretised rate network): a_t = (1 - alpha) a_{t-1} + alpha tanh(W a_{t-1} + U x_t + b), 0 < alpha <= 1
(alpha = dt / tau; alpha = 1 is the Elman network, whose kernels in elman.py stay the benchmark reference).

Parameter layout as Elman's: W (n, n) at 0, U (n, m) at n*n, b (n,) at n*n + n*m, all row-major; alpha is
aux[0]. State s_t = a_t (S = n); the pre-activation gradient delta_t = dL/dz_t (G = n); the cache keeps
r_t = tanh(z_t) (C = n), whose slope 1 - r_t^2 every derivative needs (s_t alone no longer gives it).

    J_t = ds_t/ds_{t-1} = (1 - alpha) I + diag(alpha (1 - r_t^2)) W      (jvp O(n^2), diagonal O(n))

The row form is Elman's (row k = (W[k], U[k], b[k]) reading all of a_{t-1}), with the factor
D[0, k] = ds_k/dz_k = alpha (1 - r_k^2); no extras.
"""
import numpy as np
from numba import njit

from .layout import FAST, D_M, D_N, D_OB, D_OU, D_OW
from .common import input_and_bias_grad, matvec_rows, matvec_t_rows, row_input
from .vecmath import tanh_inplace


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    """r = tanh(W s_prev + U x + b) into cache_out[:n]; s_out = (1 - alpha) s_prev + alpha r."""
    m, n = dims[D_M], dims[D_N]
    oU, ob = dims[D_OU], dims[D_OB]
    alpha = aux[0]
    r = cache_out[:n]
    matvec_rows(theta, dims[D_OW], n, s_prev, 0, n, r)
    for i in range(n):
        r[i] += row_input(theta, oU, ob, m, i, x, xi)
    tanh_inplace(r)
    lam = 1.0 - alpha
    for i in range(n):
        s_out[i] = lam * s_prev[i] + alpha * r[i]


@njit(cache=True, fastmath=FAST)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    """delta = ds * alpha (1 - r_t^2) and ds_prev = (1 - alpha) ds + W^T delta."""
    n = dims[D_N]
    alpha = aux[0]
    lam = 1.0 - alpha
    for i in range(n):
        delta_out[i] = ds[i] * alpha * (1.0 - cache[i] * cache[i])
    for j in range(n):
        ds_prev_out[j] = lam * ds[j]
    matvec_t_rows(theta, dims[D_OW], n, delta_out, n, ds_prev_out)


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """Write dL/d(W, U, b) = sum_k delta_k (x) [s_prev_k, x_k, 1] into g[:P_rec] (delta = dL/dz: as Elman)."""
    n = dims[D_N]
    oW = dims[D_OW]
    np.dot(Delta.T, S_prev, g[oW:oW + n * n].reshape((n, n)))
    input_and_bias_grad(g, dims[D_OU], dims[D_OB], n, Delta, X, XI)


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """J = (1 - alpha) I + diag(alpha (1 - r_t^2)) W."""
    n = dims[D_N]
    oW = dims[D_OW]
    alpha = aux[0]
    for i in range(n):
        d = alpha * (1.0 - cache[i] * cache[i])
        w = theta[oW + i * n:oW + (i + 1) * n]
        Ji = J[i]
        for j in range(n):
            Ji[j] = d * w[j]
        Ji[i] += 1.0 - alpha


@njit(cache=True, fastmath=FAST)
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out):
    """out = J_t v = alpha (1 - r_t^2) * (W v) + (1 - alpha) v."""
    n = dims[D_N]
    alpha = aux[0]
    matvec_rows(theta, dims[D_OW], n, v, 0, n, out)
    for i in range(n):
        out[i] = alpha * (1.0 - cache[i] * cache[i]) * out[i] + (1.0 - alpha) * v[i]


@njit(cache=True, fastmath=FAST)
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out):
    """out = diag(J_t) = (1 - alpha) + alpha (1 - r_t^2) diag(W)."""
    n = dims[D_N]
    oW = dims[D_OW]
    alpha = aux[0]
    for i in range(n):
        out[i] = 1.0 - alpha + alpha * (1.0 - cache[i] * cache[i]) * theta[oW + i * n + i]


@njit(cache=True, inline="always")
def row_form(dims, aux, r):
    """Row r = unit r: (unit, W row offset, lo, width, U row offset, bias index)."""
    m, n = dims[D_M], dims[D_N]
    return r, dims[D_OW] + r * n, 0, n, dims[D_OU] + r * m, dims[D_OB] + r


@njit(cache=True, fastmath=FAST, inline="always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r):
    """(ds_r/dz_r, 0) = (alpha (1 - r_r^2), 0)."""
    return aux[0] * (1.0 - cache[r] * cache[r]), 0.0


@njit(cache=True, inline="always")
def extra_form(dims, aux, j):
    """No parameters outside the row form."""
    return 0, 0


@njit(cache=True, inline="always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j):
    return 0.0, 0.0
