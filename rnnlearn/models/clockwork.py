"""Clockwork RNN kernels (Koutnik, Greff, Gomez & Schmidhuber 2014, "A Clockwork RNN", ICML, sec. 3).

The n hidden units form g modules of k = n/g units, sorted by increasing period T_0 < T_1 < ... (by default
T_i = 2^i, the paper's exponential series). At absolute step t, module i is active when t mod T_i == 0:

    h_t[rows of i] = tanh(W_i h_{t-1} + U_i x_t + b_i)   if t mod T_i == 0
    h_t[rows of i] = h_{t-1}[rows of i]                    otherwise (the module keeps its state)

Recurrent connections run from module j to module i only when T_j >= T_i (within a module, and from slower
to faster modules): with modules sorted by increasing period, W is block-upper-triangular (the paper's
eq. 2 and its figure 1: "from slower modules to faster modules").

Parameter layout (recurrent part of theta): only the used blocks are stored, so masked entries of W do not
exist and stay exactly zero, the parameter count is the true one, and RTRL's M and the EKF's covariance
carry no dead columns. Module i's rows of W form one row-major block W_i of shape (k, n - i k): its columns
are the hidden units i k .. n-1 (modules i .. g-1). The blocks W_0, ..., W_{g-1} follow each other from 0;
then U (n, m) and b (n,), row-major as in Elman. aux = [g, k, T_0, ..., T_{g-1}].

A module that does not update copies its state: its rows of J_t are identity rows, its delta is 0 (so
`param_grad` gets nothing from that step) and its rows of Mbar_t are 0. The state is h (S = G = n); no
cache (tanh' = 1 - h_t^2 from s_t, activity from t). U and b sit at dims' D_OU, D_OB (set once by the Model);
the W blocks from D_OW on, module i's at D_OW + `w_offset(n, k, i)`.

Structure of J_t: an active module's rows are diag(1 - h^2) W_i (block-upper-triangular: zero left of column
i k), an idle module's rows are identity rows (`jvp_state` O(n^2), `jac_state_diag` O(n)). The row form:
row k of module i = (W_i[k - i n/g], U[k], b[k]) reading h_{t-1}[i n/g : n], D = 1 - h_k^2 when module i
is active at t and 0 when idle (its columns of D vanish); no extras.

The clock is the absolute time step the learners pass (steps since the learner's state began; `forward`
uses t0 + t). A sequence that starts at a reset does not restart the clocks, so on a task of fixed-length
sequences make the length a multiple of the longest period to give every sequence the same clock phase.
"""
import numpy as np
from numba import njit

from ..jit import internal
from .layout import FAST, D_M, D_N, D_OB, D_OU, D_OW
from .common import input_and_bias_grad, row_dot, row_input
from .vecmath import tanh_inplace


@njit(cache=True, fastmath=FAST)
def w_offset(n, k, i):
    """Offset in theta of module i's block W_i (k x (n - i k)): k * sum_{j<i} (n - j k)."""
    return k * (i * n - k * (i * (i - 1)) // 2)


@internal(cache=True, fastmath=FAST)
def _active(aux, i, t):
    return t % np.int64(aux[2 + i]) == 0


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    m, n = dims[D_M], dims[D_N]
    g = np.int64(aux[0])
    k = np.int64(aux[1])
    oU, ob = dims[D_OU], dims[D_OB]
    for i in range(g):
        lo = i * k
        if not _active(aux, i, t):
            for a in range(k):
                s_out[lo + a] = s_prev[lo + a]
            continue
        width = n - lo
        oW = dims[D_OW] + w_offset(n, k, i)
        for a in range(k):
            row = lo + a
            s_out[row] = row_dot(theta, oW + a * width, s_prev, lo, width) + row_input(theta, oU, ob, m, row, x, xi)
        tanh_inplace(s_out[lo:lo + k])


@njit(cache=True, fastmath=FAST)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    """Active rows: delta = ds (1 - h^2), flowing back through W; idle rows: delta = 0, ds copied."""
    n = dims[D_N]
    g = np.int64(aux[0])
    k = np.int64(aux[1])
    for j in range(n):
        ds_prev_out[j] = 0.0
    for i in range(g):
        lo = i * k
        if not _active(aux, i, t):
            for a in range(k):
                delta_out[lo + a] = 0.0
                ds_prev_out[lo + a] += ds[lo + a]
            continue
        width = n - lo
        oW = dims[D_OW] + w_offset(n, k, i)
        for a in range(k):
            row = lo + a
            d = ds[row] * (1.0 - s[row] * s[row])
            delta_out[row] = d
            w = oW + a * width
            for j in range(width):
                ds_prev_out[lo + j] += theta[w + j] * d


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """dW_i = Delta[:, rows of i]^T H_prev[:, columns i k ..], from one product Delta^T S_prev whose used
    blocks are kept; dU = Delta^T X; db = sum Delta. Idle steps have zero delta rows and add nothing."""
    m, n = dims[D_M], dims[D_N]
    ng = np.int64(aux[0])
    k = np.int64(aux[1])
    full = np.empty((n, n))
    np.dot(Delta.T, S_prev, full)
    for i in range(ng):
        lo = i * k
        width = n - lo
        oW = dims[D_OW] + w_offset(n, k, i)
        for a in range(k):
            w = oW + a * width
            for j in range(width):
                g[w + j] = full[lo + a, lo + j]
    input_and_bias_grad(g, dims[D_OU], dims[D_OB], n, Delta, X, XI)


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """Active rows: diag(1 - h^2) W (zero left of the module's block); idle rows: identity rows."""
    n = dims[D_N]
    g = np.int64(aux[0])
    k = np.int64(aux[1])
    for i in range(g):
        lo = i * k
        act = _active(aux, i, t)
        width = n - lo
        oW = dims[D_OW] + w_offset(n, k, i)
        for a in range(k):
            row = lo + a
            for j in range(n):
                J[row, j] = 0.0
            if not act:
                J[row, row] = 1.0
                continue
            d = 1.0 - s[row] * s[row]
            w = oW + a * width
            for j in range(width):
                J[row, lo + j] = d * theta[w + j]


@njit(cache=True, fastmath=FAST)
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out):
    """out = J_t v: active rows (1 - h^2) (W_i v[i k:]), idle rows v."""
    n = dims[D_N]
    g = np.int64(aux[0])
    k = np.int64(aux[1])
    for i in range(g):
        lo = i * k
        if not _active(aux, i, t):
            for a in range(k):
                out[lo + a] = v[lo + a]
            continue
        width = n - lo
        oW = dims[D_OW] + w_offset(n, k, i)
        for a in range(k):
            row = lo + a
            out[row] = (1.0 - s[row] * s[row]) * row_dot(theta, oW + a * width, v, lo, width)


@njit(cache=True, fastmath=FAST)
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out):
    """out = diag(J_t): (1 - h^2) W_i[a, a] on active rows, 1 on idle rows."""
    n = dims[D_N]
    g = np.int64(aux[0])
    k = np.int64(aux[1])
    for i in range(g):
        lo = i * k
        act = _active(aux, i, t)
        width = n - lo
        oW = dims[D_OW] + w_offset(n, k, i)
        for a in range(k):
            row = lo + a
            out[row] = (1.0 - s[row] * s[row]) * theta[oW + a * width + a] if act else 1.0


@njit(cache=True, inline="always")
def row_form(dims, aux, r):
    """Row r = unit r, row a of module i: (r, W_i row offset, i k, n - i k, U row offset, bias index)."""
    m, n = dims[D_M], dims[D_N]
    k = np.int64(aux[1])
    i = r // k
    lo = i * k
    width = n - lo
    return r, dims[D_OW] + w_offset(n, k, i) + (r - lo) * width, lo, width, dims[D_OU] + r * m, dims[D_OB] + r


@njit(cache=True, fastmath=FAST, inline="always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r):
    """(1 - h_r^2, 0) when unit r's module is active at t, (0, 0) when idle."""
    if _active(aux, r // np.int64(aux[1]), t):
        return 1.0 - s[r] * s[r], 0.0
    return 0.0, 0.0


@njit(cache=True, inline="always")
def extra_form(dims, aux, j):
    """No parameters outside the row form."""
    return 0, 0


@njit(cache=True, inline="always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j):
    return 0.0, 0.0
