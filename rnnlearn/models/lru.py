"""Linear recurrent unit kernels (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu and De 2023, "Resurrecting
recurrent neural networks for long sequences", ICML; sec. 3.3 and 3.4, appendix A).

N complex units with a diagonal recurrence and a real output y of n units:

    h_t = lambda * h_{t-1} + gamma * (B x_t)      lambda_k = exp(-exp(nu_k) + i exp(phi_k))   (sec. 3.3)
    y_t = Re(C h_t) + D x_t                                                                      (sec. 3.1)

with gamma_k = exp(g_k) the input normalisation, trainable, initialised to sqrt(1 - |lambda_k|^2) (sec. 3.4,
the paper's gamma^log); B complex N x m, C complex n x N, D real n x m. The shared readout then reads y:
y_hat_t = V y_t + c. y_t depends on h_t and x_t only (no recurrence through y).

Parameter layout (recurrent part of theta, row-major): nu (N) at dims' oW = 0, phi (N), g (N), C_re (n, N),
C_im (n, N), then the input weights, one G x m block at oU (G = 2N + n): B_re (N, m), B_im (N, m), D (n, m).
No biases (dims' ob == oX). State s = (y (n), Re h (N), Im h (N)), S = n + 2N; N = (S - n) / 2.
delta_t (G) = (Re e_t, Im e_t, dL/dy_t), e_t = dL/dRe h_t + i dL/dIm h_t the total credit on h_t (through
y_t and the future), so that dL/dB_re = gamma * (E_re^T X), dL/dB_im = gamma * (E_im^T X), dL/dD = GY^T X:
the input block's gradient is Delta^T X with B's rows scaled by gamma. For a real loss L and a real
parameter p, dL/dp = Re(conj(e) dh/dp). Cache (10N): u_t = B x_t (re, im), h_t (re, im), lambda (re, im) and the
(nu, phi) it was computed from (`_cached_lam`: the step's cos and sin are most of a small step's time, and
vjp_state, the Jacobians and unit_influence_step reuse them while theta's nu and phi are the same), then 2N of
workspace for unit_influence_grad (e_t, formed from C row by row).

State Jacobian: the h rows are 2 x 2 rotation-scalings [[Re l, -Im l], [Im l, Re l]] per unit (jac_state_diag
gives their diagonal, Re lambda, twice); the y rows are Re(C diag(lambda)) over h_{t-1} and zero over y_{t-1}.
jvp O(nN), diagonal O(N). The immediate Jacobian does not have models/immediate.py's row form (C, D and,
through C, B and lambda all reach y_t in the same step): the row form is empty (R = NX = 0, end of file).

Exact RTRL per unit (Zucchet, Meier, Schug, Mujika and Sacramento 2023, "Online learning of long-range
dependencies", sec. 3): unit k's parameters nu_k, phi_k, g_k, B[k, :] move h_k alone, each by a complex
influence m_t = dh_t,k / dp with m_t = lambda_k m_{t-1} + (immediate term):
    nu_k: -exp(nu_k) lambda_k h_{t-1,k}     phi_k: i exp(phi_k) lambda_k h_{t-1,k}     g_k: gamma_k u_t,k
    B_re[k, j]: gamma_k x_t,j               B_im[k, j]: i gamma_k x_t,j, so its influence is i times B_re's
and is not stored. m (the compact influence, n_unit_influence = 2 N (3 + m) floats) is laid out as
[re, im] x N units x (nu, phi, g, B[k, 0..m-1]). C's and D's influence is immediate (y_t = Re(C h_t) + D x_t).
"""
import numpy as np
from numba import njit

from ..jit import internal
from .common import _four_rows, matvec_rows, matvec_t_rows
from .layout import FAST, D_M, D_N, D_OU, D_OW, D_S, PROJECTED


@internal(cache=True, inline="always")
def _sizes(dims):
    n = dims[D_N]
    return n, (dims[D_S] - n) // 2, dims[D_M]


@internal(cache=True, fastmath=FAST, inline="always")
def _lam(nu, phi):
    """lambda = exp(-exp(nu) + i exp(phi)) as (re, im)."""
    r = np.exp(-np.exp(nu))
    a = np.exp(phi)
    return r * np.cos(a), r * np.sin(a)


@internal(cache=True, fastmath=FAST, inline="always")
def _cached_lam(theta, oW, N, cache, k):
    """lambda_k from the step's cache when theta's nu_k and phi_k are those it was computed from (a Jacobian at
    the current theta of an older step, as truncated BPTT's ring has, recomputes it): (re, im)."""
    nu = theta[oW + k]
    phi = theta[oW + N + k]
    if cache[6 * N + k] == nu and cache[7 * N + k] == phi:
        return cache[4 * N + k], cache[5 * N + k]
    return _lam(nu, phi)


@internal(cache=True, fastmath=FAST)
def _re_c_h(theta, oCr, oCi, N, hr, hi, n, out):
    """out[i] += Re(C h)_i = C_re[i] . h_re - C_im[i] . h_im for i < n (C_re, C_im row-major n x N at oCr, oCi),
    four rows per pass over h (a quarter of the loads of h of one row per pass)."""
    i = 0
    while i + 4 <= n:
        r0, r1, r2, r3 = _four_rows(theta, oCr + i * N, N)
        q0, q1, q2, q3 = _four_rows(theta, oCi + i * N, N)
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for k in range(N):
            a = hr[k]
            b = hi[k]
            a0 += r0[k] * a - q0[k] * b
            a1 += r1[k] * a - q1[k] * b
            a2 += r2[k] * a - q2[k] * b
            a3 += r3[k] * a - q3[k] * b
        out[i] += a0
        out[i + 1] += a1
        out[i + 2] += a2
        out[i + 3] += a3
        i += 4
    while i < n:
        cr = theta[oCr + i * N:oCr + (i + 1) * N]
        ci = theta[oCi + i * N:oCi + (i + 1) * N]
        a0 = 0.0
        for k in range(N):
            a0 += cr[k] * hr[k] - ci[k] * hi[k]
        out[i] += a0
        i += 1


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    """h_t = lambda h_{t-1} + gamma (B x_t) per unit (complex), then y_t = Re(C h_t) + D x_t."""
    n, N, m = _sizes(dims)
    oW, oU = dims[D_OW], dims[D_OU]
    nu = theta[oW:oW + N]
    phi = theta[oW + N:oW + 2 * N]
    lg = theta[oW + 2 * N:oW + 3 * N]
    c_lr = cache_out[4 * N:5 * N]
    c_li = cache_out[5 * N:6 * N]
    for k in range(N):  # the transcendental part alone, so that the loop below vectorises
        lr, li = _lam(nu[k], phi[k])
        c_lr[k] = lr
        c_li[k] = li
        cache_out[6 * N + k] = nu[k]
        cache_out[7 * N + k] = phi[k]
    if xi == PROJECTED:  # u = B x into the cache, D x into y
        for q in range(2 * N):
            cache_out[q] = x[q]
        for i in range(n):
            s_out[i] = x[2 * N + i]
    elif xi >= 0:
        for q in range(2 * N):
            cache_out[q] = theta[oU + q * m + xi]
        for i in range(n):
            s_out[i] = theta[oU + (2 * N + i) * m + xi]
    else:
        matvec_rows(theta, oU, m, x, 0, 2 * N, cache_out)
        matvec_rows(theta, oU + 2 * N * m, m, x, 0, n, s_out)
    ur = cache_out[:N]
    ui = cache_out[N:2 * N]
    a = s_prev[n:n + N]
    b = s_prev[n + N:n + 2 * N]
    hr = s_out[n:n + N]
    hi = s_out[n + N:n + 2 * N]
    for k in range(N):
        gam = np.exp(lg[k])
        lr = c_lr[k]
        li = c_li[k]
        ak = a[k]  # read first: s_out may be s_prev
        bk = b[k]
        hr[k] = lr * ak - li * bk + gam * ur[k]
        hi[k] = li * ak + lr * bk + gam * ui[k]
    for k in range(N):
        cache_out[2 * N + k] = hr[k]
        cache_out[3 * N + k] = hi[k]
    oCr = oW + 3 * N
    _re_c_h(theta, oCr, oCr + n * N, N, hr, hi, n, s_out)


@njit(cache=True, fastmath=FAST)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    """delta = (Re e, Im e, dL/dy) with e = ds_h + conj(C)^T ds_y; ds_prev = (0, conj(lambda) e)."""
    n, N, m = _sizes(dims)
    oW = dims[D_OW]
    oCr = oW + 3 * N
    oCi = oCr + n * N
    for k in range(N):
        delta_out[k] = ds[n + k]
        delta_out[N + k] = -ds[n + N + k]
    gy = ds[:n]
    matvec_t_rows(theta, oCr, N, gy, n, delta_out[:N])
    matvec_t_rows(theta, oCi, N, gy, n, delta_out[N:2 * N])
    for k in range(N):
        delta_out[N + k] = -delta_out[N + k]
    for i in range(n):
        delta_out[2 * N + i] = ds[i]
        ds_prev_out[i] = 0.0
    for k in range(N):
        lr, li = _cached_lam(theta, oW, N, cache, k)
        er = delta_out[k]
        ei = delta_out[N + k]
        ds_prev_out[n + k] = lr * er + li * ei
        ds_prev_out[n + N + k] = lr * ei - li * er


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """Write dL/d(nu, phi, g, C) over the window's rows and dL/d(B, D) into the input block (added into the
    columns seen for one-hot inputs, as common.input_and_bias_grad):
        dL/dnu_k = -exp(nu_k) Re(lambda_k A_k), dL/dphi_k = -exp(phi_k) Im(lambda_k A_k),
        A_k = sum_t conj(e_t,k) h_{t-1,k};  dL/dg_k = gamma_k sum_t Re(conj(e_t,k) u_t,k);
        dL/dC_re = GY^T H_re, dL/dC_im = -GY^T H_im (matrix products);  input block Delta^T X, B's rows times
    gamma."""
    n, N, m = _sizes(dims)
    oW, oU = dims[D_OW], dims[D_OU]
    K = Delta.shape[0]
    ga = g[oW:oW + 3 * N]
    ga[:] = 0.0
    for r in range(K):  # A_re, A_im, sum Re(conj(e) u) accumulated in g's nu, phi, g slots first
        d = Delta[r]
        sp = S_prev[r]
        c = Cache[r]
        for k in range(N):
            er = d[k]
            ei = d[N + k]
            a = sp[n + k]
            b = sp[n + N + k]
            ga[k] += er * a + ei * b
            ga[N + k] += er * b - ei * a
            ga[2 * N + k] += er * c[k] + ei * c[N + k]
    nu = theta[oW:oW + N]
    phi = theta[oW + N:oW + 2 * N]
    lg = theta[oW + 2 * N:oW + 3 * N]
    for k in range(N):
        lr, li = _lam(nu[k], phi[k])
        ar = ga[k]
        ai = ga[N + k]
        ga[k] = -np.exp(nu[k]) * (lr * ar - li * ai)
        ga[N + k] = -np.exp(phi[k]) * (lr * ai + li * ar)
        ga[2 * N + k] *= np.exp(lg[k])
    oCr = oW + 3 * N
    GY = np.empty((K, n))  # dL/dy_t and h_t (re, -im): columns of Delta and Cache made contiguous for BLAS
    Hr = np.empty((K, N))
    Hi = np.empty((K, N))
    for r in range(K):
        d = Delta[r]
        c = Cache[r]
        for i in range(n):
            GY[r, i] = d[2 * N + i]
        for k in range(N):
            Hr[r, k] = c[2 * N + k]
            Hi[r, k] = -c[3 * N + k]
    np.dot(GY.T, Hr, g[oCr:oCr + n * N].reshape((n, N)))
    np.dot(GY.T, Hi, g[oCr + n * N:oCr + 2 * n * N].reshape((n, N)))
    G = 2 * N + n
    if K > 0 and XI[0] >= 0:
        for r in range(K):
            col = XI[r]
            for q in range(2 * N):
                g[oU + q * m + col] += np.exp(lg[q % N]) * Delta[r, q]
            for i in range(n):
                q = 2 * N + i
                g[oU + q * m + col] += Delta[r, q]
    else:
        gU = g[oU:oU + G * m].reshape((G, m))
        np.dot(Delta.T, X, gU)
        for q in range(2 * N):
            gam = np.exp(lg[q % N])
            for j in range(m):
                gU[q, j] *= gam


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """J = ds_t/ds_{t-1}: h rows [[Re l, -Im l], [Im l, Re l]] per unit; y rows Re(C diag(lambda)) on h."""
    n, N, m = _sizes(dims)
    S = n + 2 * N
    oW = dims[D_OW]
    for i in range(S):
        J[i, :] = 0.0
    for k in range(N):
        lr, li = _cached_lam(theta, oW, N, cache, k)
        J[n + k, n + k] = lr
        J[n + k, n + N + k] = -li
        J[n + N + k, n + k] = li
        J[n + N + k, n + N + k] = lr
    oCr = oW + 3 * N
    oCi = oCr + n * N
    for i in range(n):
        cr = theta[oCr + i * N:oCr + (i + 1) * N]
        ci = theta[oCi + i * N:oCi + (i + 1) * N]
        Ji = J[i]
        for k in range(N):
            lr = J[n + k, n + k]
            li = J[n + N + k, n + k]
            Ji[n + k] = cr[k] * lr - ci[k] * li
            Ji[n + N + k] = -(cr[k] * li + ci[k] * lr)


@njit(cache=True, fastmath=FAST)
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out):
    """out = J_t v: out_h = lambda v_h (complex), out_y = Re(C out_h)."""
    n, N, m = _sizes(dims)
    oW = dims[D_OW]
    for k in range(N):
        lr, li = _cached_lam(theta, oW, N, cache, k)
        a = v[n + k]
        b = v[n + N + k]
        out[n + k] = lr * a - li * b
        out[n + N + k] = li * a + lr * b
    for i in range(n):
        out[i] = 0.0
    oCr = oW + 3 * N
    _re_c_h(theta, oCr, oCr + n * N, N, out[n:n + N], out[n + N:n + 2 * N], n, out)


@njit(cache=True, fastmath=FAST)
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out):
    """out = diag(J_t) = (0 (y), Re lambda, Re lambda)."""
    n, N, m = _sizes(dims)
    oW = dims[D_OW]
    for i in range(n):
        out[i] = 0.0
    for k in range(N):
        lr, li = _cached_lam(theta, oW, N, cache, k)
        out[n + k] = lr
        out[n + N + k] = lr


@njit(cache=True, fastmath=FAST)
def unit_influence_step(dims, aux, theta, s_prev, x, xi, t, s, cache, m):
    """m_{t-1} -> m_t in place: every complex influence of unit k times lambda_k, plus its immediate term
    (module docstring), O(N m). x is the raw input (dense, or one-hot at xi >= 0), not PROJECTED."""
    n, N, mi = _sizes(dims)
    oW = dims[D_OW]
    w = 3 + mi
    half = N * w
    nus = theta[oW:oW + N]
    phis = theta[oW + N:oW + 2 * N]
    lg = theta[oW + 2 * N:oW + 3 * N]
    for k in range(N):
        nu = nus[k]
        phi = phis[k]
        lr, li = _cached_lam(theta, oW, N, cache, k)
        gam = np.exp(lg[k])
        a = s_prev[n + k]
        b = s_prev[n + N + k]
        pr = lr * a - li * b  # lambda h_{t-1}
        pi = li * a + lr * b
        mr = m[k * w:(k + 1) * w]
        mm = m[half + k * w:half + (k + 1) * w]
        for q in range(w):
            c = mr[q]
            d = mm[q]
            mr[q] = lr * c - li * d
            mm[q] = li * c + lr * d
        en = -np.exp(nu)
        ep = np.exp(phi)
        mr[0] += en * pr
        mm[0] += en * pi
        mr[1] -= ep * pi
        mm[1] += ep * pr
        mr[2] += gam * cache[k]
        mm[2] += gam * cache[N + k]
        if xi >= 0:
            mr[3 + xi] += gam
        else:
            for j in range(mi):
                mr[3 + j] += gam * x[j]


@njit(cache=True, fastmath=FAST)
def unit_influence_grad(dims, aux, theta, s_prev, x, xi, t, s, cache, m, ds, g):
    """g[:P_rec] += ds^T M_t: C and D from ds_y (dL/dC_re += gy h_re^T, dL/dC_im -= gy h_im^T,
    dL/dD += gy x^T), then e = ds_h + conj(C)^T gy (C read by rows, into the cache's workspace) contracted
    with each unit's influences: dL/dp += Re(conj(e_k) m_p) (B_im's influence being i times B_re's).
    O(U + S n)."""
    n, N, mi = _sizes(dims)
    oW, oU = dims[D_OW], dims[D_OU]
    oCr = oW + 3 * N
    oCi = oCr + n * N
    hr = s[n:n + N]
    hi = s[n + N:n + 2 * N]
    oD = oU + 2 * N * mi
    gy = ds[:n]
    for i in range(n):
        gyi = gy[i]
        if gyi == 0.0:
            continue
        cr = g[oCr + i * N:oCr + (i + 1) * N]
        ci = g[oCi + i * N:oCi + (i + 1) * N]
        for k in range(N):
            cr[k] += gyi * hr[k]
            ci[k] -= gyi * hi[k]
        if xi >= 0:
            g[oD + i * mi + xi] += gyi
        else:
            gd = g[oD + i * mi:oD + (i + 1) * mi]
            for j in range(mi):
                gd[j] += gyi * x[j]
    er = cache[8 * N:9 * N]  # e = ds_h + conj(C)^T gy: C_re^T gy added to the real part, C_im^T gy taken off
    ei = cache[9 * N:10 * N]
    for k in range(N):
        er[k] = ds[n + k]
        ei[k] = -ds[n + N + k]
    matvec_t_rows(theta, oCr, N, gy, n, er)
    matvec_t_rows(theta, oCi, N, gy, n, ei)
    w = 3 + mi
    half = N * w
    for k in range(N):
        a = er[k]
        b = -ei[k]
        mr = m[k * w:(k + 1) * w]
        mm = m[half + k * w:half + (k + 1) * w]
        g[oW + k] += a * mr[0] + b * mm[0]
        g[oW + N + k] += a * mr[1] + b * mm[1]
        g[oW + 2 * N + k] += a * mr[2] + b * mm[2]
        gbr = g[oU + k * mi:oU + (k + 1) * mi]
        gbi = g[oU + (N + k) * mi:oU + (N + k + 1) * mi]
        for j in range(mi):
            c = mr[3 + j]
            d = mm[3 + j]
            gbr[j] += a * c + b * d
            gbi[j] += b * c - a * d


# The row form is empty (R = NX = 0), so that the generic kernels built on it (models/immediate.py) type for
# the LRU like for any model; the learners that depend on the row form refuse the LRU (supports(),
# Model.has_row_form), and reached anyway these raise.

@njit(cache=True, inline="always")
def row_form(dims, aux, r):
    if r >= 0:
        raise ValueError("the LRU has no row form")
    return 0, 0, 0, 0, -1, -1


@njit(cache=True, inline="always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r):
    if r >= 0:
        raise ValueError("the LRU has no row form")
    return 0.0, 0.0


@njit(cache=True, inline="always")
def extra_form(dims, aux, j):
    if j >= 0:
        raise ValueError("the LRU has no row form")
    return 0, 0


@njit(cache=True, inline="always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j):
    if j >= 0:
        raise ValueError("the LRU has no row form")
    return 0.0, 0.0
