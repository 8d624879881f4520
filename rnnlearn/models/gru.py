"""GRU kernels: the gated recurrent unit of Cho et al. (2014, "Learning phrase representations using RNN
encoder-decoder for statistical machine translation", EMNLP, eq. 5-8), in its "reset after" form:

    z = sigma(W_z h_{t-1} + U_z x_t + b_z)                   update gate
    r = sigma(W_r h_{t-1} + U_r x_t + b_r)                   reset gate
    q = W_h h_{t-1} + b_hr                                   recurrent part of the candidate
    hh = tanh(U_h x_t + b_h + r * q)                         candidate
    h_t = z * h_{t-1} + (1 - z) * hh                         (Cho et al. eq. 8: z keeps the old state)

Why "reset after" (r multiplies W_h h_{t-1}, as cuDNN and PyTorch's nn.GRU compute it) rather than Cho's
original tanh(W_h (r * h_{t-1}) + ...): in the original, unit k's candidate depends on every unit's reset
gate r_j through W_h[k, j] r_j h_j, so d h_k / d W_r[j, :] is non-zero for all k: the immediate Jacobian
loses the per-unit sparsity (O(n^3) instead of O(n^2) per step for the immediate Jacobian), J_t needs the product
W_h diag(h r (1 - r)) W_r (O(n^3) per step instead of row scalings), and node-decoupled EKF groups no longer
hold a unit's whole influence. Here every unit reads only its own rows of every block, exactly as in Elman
and LSTM, and the weight gradient is still matrix products over the window: dW = [d_z, d_r, d_h * r]^T H_prev.
Both forms have the same parameter count up to the extra bias b_hr, which PyTorch also has.

State s_t = h_t (S = n). Parameter layout (recurrent part of theta), row-major: W_z, W_r, W_h (n, n each) =
W (3n, n) at 0; U_z, U_r, U_h (n, m each) = U (3n, m) at 3n^2; b_z, b_r, b_h (n each) at 3n^2 + 3nm; b_hr (n)
after them (at D_OX; all offsets come from dims, set once by the Model). delta_t = dL/d(pre-activations
of z, r, hh) (G = 3n); the cache keeps z, r, hh and q (4n).

Structure of J_t = diag(z) + diag(a_z) W_z + diag(a_r) W_r + diag(a_q) W_h: row scalings of the three W
blocks plus a diagonal, with a_z = (h_{t-1} - hh) z (1 - z), a_h = (1 - z)(1 - hh^2), a_r = a_h q r (1 - r),
a_q = a_h r (`jvp_state` O(n^2), `jac_state_diag` O(n)). The row form has R = 4n rows, not G = 3n: z and r
rows (W_z[k], U_z[k], b_z[k]) and (W_r[k], U_r[k], b_r[k]), and the candidate as two rows, its input part
(-, U_h[k], b_h[k]) with D = a_h and its recurrent part (W_h[k], -, b_hr[k]) with D = a_q: r_k multiplies only
the latter, so b_hr is that row's bias, with W_h's coefficient. No extras.
"""
import numpy as np
from numba import njit

from ..jit import internal
from .layout import FAST, D_M, D_N, D_OB, D_OU, D_OW, D_OX
from .common import input_and_bias_grad, matvec_rows, row_input
from .vecmath import sigmoid_inplace, tanh_inplace


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    """Pre-activations into the cache rows they end in, the gates activated a block at a time (vecmath)."""
    m, n = dims[D_M], dims[D_N]
    oW, oU, ob, obr = dims[D_OW], dims[D_OU], dims[D_OB], dims[D_OX]
    matvec_rows(theta, oW, n, s_prev, 0, 2 * n, cache_out)
    for r in range(2 * n):
        cache_out[r] += row_input(theta, oU, ob, m, r, x, xi)
    matvec_rows(theta, oW + 2 * n * n, n, s_prev, 0, n, cache_out[3 * n:4 * n])
    for k in range(n):
        cache_out[3 * n + k] += theta[obr + k]
    sigmoid_inplace(cache_out[0:2 * n])
    for k in range(n):
        cache_out[2 * n + k] = row_input(theta, oU, ob, m, 2 * n + k, x, xi) + cache_out[n + k] * cache_out[3 * n + k]
    tanh_inplace(cache_out[2 * n:3 * n])
    for k in range(n):
        zg = cache_out[k]
        s_out[k] = zg * s_prev[k] + (1.0 - zg) * cache_out[2 * n + k]


@njit(cache=True, fastmath=FAST)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    """delta = (d_z, d_r, d_h) = dL/d(pre-activations); ds_prev = z * ds + W_z^T d_z + W_r^T d_r +
    W_h^T (r * d_h)."""
    n = dims[D_N]
    oW = dims[D_OW]
    for k in range(n):
        zg = cache[k]
        rg = cache[n + k]
        hh = cache[2 * n + k]
        qq = cache[3 * n + k]
        dh = ds[k]
        dpre = dh * (1.0 - zg) * (1.0 - hh * hh)
        delta_out[k] = dh * (s_prev[k] - hh) * zg * (1.0 - zg)
        delta_out[n + k] = dpre * qq * rg * (1.0 - rg)
        delta_out[2 * n + k] = dpre
        ds_prev_out[k] = dh * zg
    o = ds_prev_out[:n]
    W = theta[oW:oW + 3 * n * n]  # a slice from 0: indices from range() need no wraparound check, so LLVM
    for r in range(3 * n):        # vectorises (theta[oW + r n + j], oW from dims, ran 2.3x slower at n = 128)
        d = delta_out[r]
        if r >= 2 * n:
            d *= cache[r - n]  # r * d_h: the candidate's recurrent product sits inside the reset gate
        if d == 0.0:
            continue
        w = r * n
        for j in range(n):
            o[j] += W[w + j] * d


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """g[:P_rec]: dW = [d_z, d_r, d_h * r]^T H_prev, dU = Delta^T X, db = sum Delta, db_hr = sum d_h * r,
    over all rows of the window (zero rows of Delta contribute nothing)."""
    n = dims[D_N]
    G = 3 * n
    oW, oU, ob, obr = dims[D_OW], dims[D_OU], dims[D_OB], dims[D_OX]
    K = Delta.shape[0]
    Dw = np.empty((K, G))
    for k in range(K):
        for r in range(2 * n):
            Dw[k, r] = Delta[k, r]
        for j in range(n):
            Dw[k, 2 * n + j] = Delta[k, 2 * n + j] * Cache[k, n + j]
    np.dot(Dw.T, S_prev, g[oW:oW + G * n].reshape((G, n)))
    input_and_bias_grad(g, oU, ob, G, Delta, X, XI)
    for j in range(n):
        g[obr + j] = 0.0
    for k in range(K):
        for j in range(n):
            g[obr + j] += Dw[k, 2 * n + j]


@internal(cache=True, fastmath=FAST, inline="always")
def _coefficients(cache, s_prev, n, k):
    """Unit k's update gate z and dh_k/d(pre-activations): az (z gate), ar (r gate), ah (the candidate's input
    part U_h x + b_h) and aq (its recurrent product W_h h + b_hr), shared by both Jacobians."""
    zg = cache[k]
    rg = cache[n + k]
    hh = cache[2 * n + k]
    qq = cache[3 * n + k]
    az = (s_prev[k] - hh) * zg * (1.0 - zg)
    ah = (1.0 - zg) * (1.0 - hh * hh)
    return zg, az, ah * qq * rg * (1.0 - rg), ah, ah * rg


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """J = diag(z) + diag(az) W_z + diag(ar) W_r + diag(aq) W_h (row scalings only)."""
    n = dims[D_N]
    oW = dims[D_OW]
    for k in range(n):
        zg, az, ar, ah, aq = _coefficients(cache, s_prev, n, k)
        wz = theta[oW + k * n:oW + (k + 1) * n]  # slices: vectorisable (see vjp_state)
        wr = theta[oW + (n + k) * n:oW + (n + k + 1) * n]
        wh = theta[oW + (2 * n + k) * n:oW + (2 * n + k + 1) * n]
        Jk = J[k]
        for j in range(n):
            Jk[j] = az * wz[j] + ar * wr[j] + aq * wh[j]
        J[k, k] += zg


@njit(cache=True, fastmath=FAST)
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out):
    """out = J_t v = z v + az (W_z v) + ar (W_r v) + aq (W_h v), three row products per unit in one pass."""
    n = dims[D_N]
    oW = dims[D_OW]
    for k in range(n):
        wz = theta[oW + k * n:oW + (k + 1) * n]  # slices: vectorisable loads (common.row_dot)
        wr = theta[oW + (n + k) * n:oW + (n + k + 1) * n]
        wh = theta[oW + (2 * n + k) * n:oW + (2 * n + k + 1) * n]
        vv = v[:n]
        a_z = 0.0
        a_r = 0.0
        a_h = 0.0
        for j in range(n):
            vj = vv[j]
            a_z += wz[j] * vj
            a_r += wr[j] * vj
            a_h += wh[j] * vj
        zg, az, ar, ah, aq = _coefficients(cache, s_prev, n, k)
        out[k] = zg * v[k] + az * a_z + ar * a_r + aq * a_h


@njit(cache=True, fastmath=FAST)
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out):
    """out = diag(J_t) = z + az W_z[k, k] + ar W_r[k, k] + aq W_h[k, k]."""
    n = dims[D_N]
    oW = dims[D_OW]
    for k in range(n):
        zg, az, ar, ah, aq = _coefficients(cache, s_prev, n, k)
        d = oW + k * n + k
        out[k] = zg + az * theta[d] + ar * theta[d + n * n] + aq * theta[d + 2 * n * n]


@njit(cache=True, inline="always")
def row_form(dims, aux, r):
    """Rows z, r (p = 0, 1): (k, W_p row, 0, n, U_p row, b_p[k]); p = 2, the candidate's input part:
    (k, -, 0, 0, U_h row, b_h[k]); p = 3, its recurrent part: (k, W_h row, 0, n, -, b_hr[k])."""
    m, n = dims[D_M], dims[D_N]
    p = r // n
    k = r - p * n
    if p < 2:
        return k, dims[D_OW] + r * n, 0, n, dims[D_OU] + r * m, dims[D_OB] + r
    if p == 2:
        return k, 0, 0, 0, dims[D_OU] + r * m, dims[D_OB] + r
    return k, dims[D_OW] + (2 * n + k) * n, 0, n, -1, dims[D_OX] + k


@njit(cache=True, fastmath=FAST, inline="always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r):
    """(dh_k/dz_r, 0): az, ar, ah or aq for rows z, r, the candidate's input and recurrent parts."""
    n = dims[D_N]
    p = r // n
    zg, az, ar, ah, aq = _coefficients(cache, s_prev, n, r - p * n)
    if p == 0:
        return az, 0.0
    if p == 1:
        return ar, 0.0
    if p == 2:
        return ah, 0.0
    return aq, 0.0


@njit(cache=True, inline="always")
def extra_form(dims, aux, j):
    """No parameters outside the row form (b_hr is the candidate recurrent row's bias)."""
    return 0, 0


@njit(cache=True, inline="always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j):
    return 0.0, 0.0
