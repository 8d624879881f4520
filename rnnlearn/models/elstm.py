"""Element-wise LSTM kernels (Irie, Gopalakrishnan and Schmidhuber 2023, "Exploring the promise and limits of
real-time recurrent learning", arXiv:2305.19044, sec. 3.1, the eLSTM; their code: IDSIA/rtrl-elstm,
`QuasiLSTMlayer`). The recurrence reads the cell c, not h, through weight vectors (diagonal recurrent
matrices), so unit k's cell depends only on its own past:

    z_t = tanh(U_z x_t + w_z * c_{t-1} + b_z)          (candidate)
    f_t = sigma(U_f x_t + w_f * c_{t-1} + b_f)         (forget gate)
    c_t = f_t * c_{t-1} + (1 - f_t) * z_t
    o_t = sigma(U_o x_t + w_o * c_t + b_o)             (output gate, sees c_t)
    h_t = o_t * c_t

One choice differs from the paper: their output gate reads c_t through a full matrix (a non-recurrent layer
they train by backprop, sigma(W_o [x_t, c_t])). Here it is element-wise, w_o * c_t, like every other gate, so
h_t's unit k depends only on c_t's unit k: the state Jacobian is block-diagonal by unit and the immediate
Jacobian keeps the per-unit row form (a full W_o would make every row's factor dense in h).

State s_t = (h_t, c_t), h first (S = 2n; the readout uses h). h_{t-1} is never read: h_t is an immediate
function of (c_t, x_t), c is the recurrent core.

Parameter layout (recurrent part of theta): w_z, w_f (n each) at 0 (the "W" of the row form: one weight per
row, reading c_{t-1}[k]); U_z, U_f, U_o (n, m each) = U (3n, m) at 2n; b_z, b_f, b_o = b (3n,) at 2n + 3nm;
w_o (n) at D_OX (the extra parameters, outside the row form, like the LSTM's output peephole).

delta_t = dL/d(pre-activations), G = 3n, ordered z, f, o. The cache keeps z, f, o and c_t (4n).

Derivatives, with a_z = (1 - f)(1 - z^2) = dc/dpre_z, a_f = (c_{t-1} - z) f (1 - f) = dc/dpre_f,
e_o = c_t o (1 - o) = dh/dpre_o, e_c = o + e_o w_o = dh_k/dc_k (through o's peephole):
    d_k = dc_k/dc_{t-1,k} = f + a_z w_z + a_f w_f
    J_t = [[0, diag(e_c d)], [0, diag(d)]]          (2 x 2 blocks of n x n, h first: all diagonal)
Row form: row k = z of unit k (w_z[k], U_z[k], b_z[k]) reading s_{t-1}[n + k] (width 1), D = (e_c a_z, a_z);
row n + k = f: (w_f[k], U_f[k], b_f[k]), D = (e_c a_f, a_f); row 2n + k = o: (-, U_o[k], b_o[k]), width 0,
D = (e_o, 0); extra j = k: w_o[k], E = (e_o c_t, 0).

Structured influence (cell.unit_influence_step/_grad, exact RTRL): only c_k depends on the past, and only on
its own unit's z and f parameters, so M_t's c rows have n (2m + 4) entries that can be non-zero: m holds
them as [dc/dw_z, dc/dw_f (2n) | dc/dU_z, dc/dU_f (2nm, row-major as theta) | dc/db_z, dc/db_f (2n)], the
same order as theta's w, U and b blocks (U = n(2m + 4)). Williams and Zipser's (1989) eq. 12-13 on them:
    m_t = d * m_{t-1} + a * [c_{t-1}, x_t, 1]      (per unit and gate; a = a_z or a_f)
and the h rows are e_c * (c rows) plus the o parameters' immediate entries, formed only in the gradient.
"""
from numba import njit

from ..jit import internal
from .layout import FAST, D_M, D_N, D_OB, D_OU, D_OW, D_OX
from .common import input_and_bias_grad, row_input
from .vecmath import sigmoid_inplace, tanh_inplace


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    """Pre-activations into the cache rows z, f, o (input part for all three, then the element-wise
    recurrence), the gates activated a block at a time, the cell update, then o and h."""
    m, n = dims[D_M], dims[D_N]
    oU, ob, ow, op = dims[D_OU], dims[D_OB], dims[D_OW], dims[D_OX]
    for r in range(3 * n):
        cache_out[r] = row_input(theta, oU, ob, m, r, x, xi)
    wz = theta[ow:ow + n]
    wf = theta[ow + n:ow + 2 * n]
    wo = theta[op:op + n]
    cp = s_prev[n:2 * n]
    for k in range(n):
        cache_out[k] += wz[k] * cp[k]
        cache_out[n + k] += wf[k] * cp[k]
    tanh_inplace(cache_out[0:n])
    sigmoid_inplace(cache_out[n:2 * n])
    for k in range(n):
        fg = cache_out[n + k]
        c = fg * cp[k] + (1.0 - fg) * cache_out[k]
        s_out[n + k] = c
        cache_out[3 * n + k] = c
        cache_out[2 * n + k] += wo[k] * c
    sigmoid_inplace(cache_out[2 * n:3 * n])
    for k in range(n):
        s_out[k] = cache_out[2 * n + k] * cache_out[3 * n + k]


@internal(cache=True, fastmath=FAST, inline="always")
def _coefficients(theta, cache, s_prev, n, k, ow, op):
    """Unit k's c_{t-1}, c_t and the chain-rule coefficients a_z, a_f, e_o, e_c and d (module docstring)."""
    zg = cache[k]
    fg = cache[n + k]
    og = cache[2 * n + k]
    c = cache[3 * n + k]
    cp = s_prev[n + k]
    az = (1.0 - fg) * (1.0 - zg * zg)
    af = (cp - zg) * fg * (1.0 - fg)
    eo = c * og * (1.0 - og)
    ec = og + eo * theta[op + k]
    d = fg + az * theta[ow + k] + af * theta[ow + n + k]
    return cp, c, az, af, eo, ec, d


@njit(cache=True, fastmath=FAST)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    """delta = dL/d(pre_z, pre_f, pre_o) from ds = (dL/dh_t, dL/dc_t); ds_prev = (0, dL/dc_{t-1})."""
    n = dims[D_N]
    ow, op = dims[D_OW], dims[D_OX]
    for k in range(n):
        cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, k, ow, op)
        dh = ds[k]
        dc = ds[n + k] + dh * ec
        delta_out[k] = dc * az
        delta_out[n + k] = dc * af
        delta_out[2 * n + k] = dh * eo
        ds_prev_out[k] = 0.0
        ds_prev_out[n + k] = dc * d


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """g[:P_rec] = sum_k delta_k (x) [c_{k-1} (element-wise), x_k, 1], and w_o's sum of delta_o c_k."""
    n = dims[D_N]
    G = 3 * n
    ow, oU, ob, op = dims[D_OW], dims[D_OU], dims[D_OB], dims[D_OX]
    K = Delta.shape[0]
    for r in range(2 * n):
        g[ow + r] = 0.0
    for r in range(n):
        g[op + r] = 0.0
    for k in range(K):
        cp = S_prev[k, n:2 * n]
        dk = Delta[k]
        ck = Cache[k, 3 * n:4 * n]
        for j in range(n):
            g[ow + j] += dk[j] * cp[j]
            g[ow + n + j] += dk[n + j] * cp[j]
            g[op + j] += dk[2 * n + j] * ck[j]
    input_and_bias_grad(g, oU, ob, G, Delta, X, XI)


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """J = d(h_t, c_t)/d(h_{t-1}, c_{t-1}) (2n x 2n): zero h columns, diagonal c columns."""
    n = dims[D_N]
    ow, op = dims[D_OW], dims[D_OX]
    J[:, :] = 0.0
    for k in range(n):
        cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, k, ow, op)
        J[k, n + k] = ec * d
        J[n + k, n + k] = d


@njit(cache=True, fastmath=FAST)
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out):
    """out = J_t v = (e_c d v_c, d v_c): O(n)."""
    n = dims[D_N]
    ow, op = dims[D_OW], dims[D_OX]
    for k in range(n):
        cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, k, ow, op)
        u = d * v[n + k]
        out[n + k] = u
        out[k] = ec * u


@njit(cache=True, fastmath=FAST)
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out):
    """out = diag(J_t) = (0, d): h_t does not read h_{t-1}."""
    n = dims[D_N]
    ow, op = dims[D_OW], dims[D_OX]
    for k in range(n):
        cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, k, ow, op)
        out[k] = 0.0
        out[n + k] = d


@njit(cache=True, inline="always")
def row_form(dims, aux, r):
    """Row r = q n + k (q = z, f, o) of unit k: z and f read s_{t-1}[n + k] through one weight w_q[k]
    (width 1); o has no recurrent weight (width 0)."""
    m, n = dims[D_M], dims[D_N]
    k = r % n
    if r < 2 * n:
        return k, dims[D_OW] + r, n + k, 1, dims[D_OU] + r * m, dims[D_OB] + r
    return k, 0, 0, 0, dims[D_OU] + r * m, dims[D_OB] + r


@njit(cache=True, fastmath=FAST, inline="always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r):
    """(dh_k/dpre_r, dc_k/dpre_r) for row r = q n + k: z (e_c a_z, a_z), f (e_c a_f, a_f), o (e_o, 0)."""
    n = dims[D_N]
    q = r // n
    k = r - q * n
    cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, k, dims[D_OW], dims[D_OX])
    if q == 0:
        return ec * az, az
    if q == 1:
        return ec * af, af
    return eo, 0.0


@njit(cache=True, inline="always")
def extra_form(dims, aux, j):
    """Extra j = w_o[j] of unit j: (j, its index in theta)."""
    return j, dims[D_OX] + j


@njit(cache=True, fastmath=FAST, inline="always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j):
    """(dh_j/dw_o[j], dc_j/dw_o[j]) = (e_o c_t, 0): the output gate sees c_t and reaches h only."""
    n = dims[D_N]
    cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, j, dims[D_OW], dims[D_OX])
    return eo * c, 0.0


@njit(cache=True, fastmath=FAST)
def unit_influence_step(dims, aux, theta, s_prev, x, xi, t, s, cache, m):
    """m_{t-1} -> m_t in place (module docstring: m = [w (2n) | U (2nm) | b (2n)], the c rows' non-zero
    entries of M_t = J_t M_{t-1} + Mbar_t): every entry of unit k is scaled by d_k, then the immediate term
    a [c_{t-1}, x_t, 1] of its gate is added. O(n m). Plain indexing in the unit loop (a slice per unit
    costs more than its m entries' work)."""
    mm, n = dims[D_M], dims[D_N]
    ow, op = dims[D_OW], dims[D_OX]
    oz = 2 * n                 # dc/dU_z rows in m
    of = 2 * n + n * mm        # dc/dU_f rows
    ob = 2 * n + 2 * n * mm    # dc/db_z, dc/db_f
    for k in range(n):
        cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, k, ow, op)
        m[k] = d * m[k] + az * cp
        m[n + k] = d * m[n + k] + af * cp
        m[ob + k] = d * m[ob + k] + az
        m[ob + n + k] = d * m[ob + n + k] + af
        rz = oz + k * mm
        rf = of + k * mm
        if xi >= 0:
            for j in range(mm):
                m[rz + j] *= d
                m[rf + j] *= d
            m[rz + xi] += az
            m[rf + xi] += af
        else:
            for j in range(mm):
                xj = x[j]
                m[rz + j] = d * m[rz + j] + az * xj
                m[rf + j] = d * m[rf + j] + af * xj


@njit(cache=True, fastmath=FAST)
def unit_influence_grad(dims, aux, theta, s_prev, x, xi, t, s, cache, m, ds, g):
    """g[:P_rec] += ds^T M_t for ds = dL/ds_t: through c_k, the total dL/dc_k = ds_c + ds_h e_c times unit k's
    entries of m; the output gate's parameters (U_o, b_o, w_o) by their immediate entries ds_h e_o [x, 1, c].
    O(n m)."""
    mm, n = dims[D_M], dims[D_N]
    ow, oU, ob, op = dims[D_OW], dims[D_OU], dims[D_OB], dims[D_OX]
    oz = 2 * n
    of = 2 * n + n * mm
    mb = 2 * n + 2 * n * mm
    for k in range(n):
        cp, c, az, af, eo, ec, d = _coefficients(theta, cache, s_prev, n, k, ow, op)
        dh = ds[k]
        e = ds[n + k] + dh * ec
        do = dh * eo
        g[ow + k] += e * m[k]
        g[ow + n + k] += e * m[n + k]
        g[ob + k] += e * m[mb + k]
        g[ob + n + k] += e * m[mb + n + k]
        g[ob + 2 * n + k] += do
        g[op + k] += do * c
        rz = oz + k * mm
        rf = of + k * mm
        gz = oU + k * mm
        gf = oU + (n + k) * mm
        go = oU + (2 * n + k) * mm
        for j in range(mm):
            g[gz + j] += e * m[rz + j]
            g[gf + j] += e * m[rf + j]
        if xi >= 0:
            g[go + xi] += do
        else:
            for j in range(mm):
                g[go + j] += do * x[j]
