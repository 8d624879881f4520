"""LSTM kernels: long short-term memory with a forget gate (Hochreiter & Schmidhuber 1997; Gers, Schmidhuber
& Cummins 2000, "Learning to forget", Neural Computation 12(10)), optionally with peephole connections
(Gers & Schmidhuber 2000, "Recurrent nets that time and count", IJCNN).

    z_q = W_q h_{t-1} + U_q x_t + b_q                 for the gates q = i, f, o and the candidate g
    (peepholes: z_i += p_i * c_{t-1},  z_f += p_f * c_{t-1},  z_o += p_o * c_t)
    i = sigma(z_i),  f = sigma(z_f),  g = tanh(z_g)
    c_t = f * c_{t-1} + i * g
    o = sigma(z_o)                                    (after c_t: the output peephole looks at c_t)
    h_t = o * tanh(c_t)

State s_t = (h_t, c_t), h first (S = 2n; the readout uses s[:n]).

Parameter layout (recurrent part of theta), all row-major: W_i, W_f, W_o, W_g (n, n each) at 0, i.e. one
W (4n, n) whose row q*n + k is unit k's row of gate q; then U_i, U_f, U_o, U_g (n, m each) = U (4n, m) at
4n^2; then b_i, b_f, b_o, b_g (n each) = b (4n,) at 4n^2 + 4nm; then, with peepholes, the diagonal peephole
weights p_i, p_f, p_o (n each). So unit k's parameters are rows k, n+k, 2n+k, 3n+k of W and U, the same
entries of b, and entry k of each peephole vector: the per-unit sparsity of the immediate Jacobian's row form
(models/immediate.py).

delta_t = dL/dz (G = 4n, ordered i, f, o, g like the rows of W). The cache keeps i, f, o, g and tanh(c_t)
(5n), plus c_t with peepholes (6n; `param_grad` sees only the window arrays, and the output peephole's
gradient needs c_t). aux[0] = 1.0 when the model has peepholes. Offsets (W, U, b, the peepholes at
D_OX) come from dims, set once by the Model.

Structure of J_t = d(h_t, c_t)/d(h_{t-1}, c_{t-1}), in 2 x 2 blocks of n x n:
    dc/dh = diag(a_i) W_i + diag(a_f) W_f + diag(a_g) W_g        (row scalings of the gate blocks)
    dh/dh = diag(e_o) W_o + diag(e_c) dc/dh
    dc/dc = diag(f + a_i p_i + a_f p_f)                          (diagonal; f alone without peepholes)
    dh/dc = diag(e_c) dc/dc                                      (diagonal)
with a_i = g i (1 - i), a_f = c_{t-1} f (1 - f), a_g = i (1 - g^2), e_o = tanh(c_t) o (1 - o) and
e_c = o (1 - tanh(c_t)^2) (+ e_o p_o). `jvp_state` is four row-scaled matrix-vector products (O(n^2)),
`jac_state_diag` O(n). The row form: row q n + k = gate q of unit k, (W_q[k], U_q[k], b_q[k]) reading
h_{t-1}; D = (dh_k, dc_k)/dz = i: (e_c a_i, a_i), f: (e_c a_f, a_f), o: (e_o, 0), g: (e_c a_g, a_g); the
peepholes are the extras, p_i[k]: a_i c_{t-1} (e_c, 1), p_f[k]: a_f c_{t-1} (e_c, 1), p_o[k]: (e_o c_t, 0).
"""
import numpy as np
from numba import njit

from ..jit import internal
from .layout import FAST, D_M, D_N, D_OB, D_OU, D_OW, D_OX
from .common import input_and_bias_grad, matvec_rows, matvec_t_rows, row_input
from .vecmath import sigmoid_inplace, tanh_inplace


@njit(cache=True, fastmath=FAST)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    """The 4n pre-activations go into the cache rows they end in (i, f, o, g), the gates are activated a
    block at a time (vecmath: vectorised), then the cell update; the output gate's peephole sees c_t."""
    m, n = dims[D_M], dims[D_N]
    peep = aux[0] != 0.0
    oU, ob, op = dims[D_OU], dims[D_OB], dims[D_OX]
    matvec_rows(theta, dims[D_OW], n, s_prev, 0, 4 * n, cache_out)
    for r in range(4 * n):
        cache_out[r] += row_input(theta, oU, ob, m, r, x, xi)
    cp = s_prev[n:2 * n]
    if peep:
        for k in range(n):
            cache_out[k] += theta[op + k] * cp[k]
            cache_out[n + k] += theta[op + n + k] * cp[k]
    sigmoid_inplace(cache_out[0:2 * n])
    tanh_inplace(cache_out[3 * n:4 * n])
    for k in range(n):
        c = cache_out[n + k] * cp[k] + cache_out[k] * cache_out[3 * n + k]
        s_out[n + k] = c
        cache_out[4 * n + k] = c
        if peep:
            cache_out[5 * n + k] = c
            cache_out[2 * n + k] += theta[op + 2 * n + k] * c
    sigmoid_inplace(cache_out[2 * n:3 * n])
    tanh_inplace(cache_out[4 * n:5 * n])
    for k in range(n):
        s_out[k] = cache_out[2 * n + k] * cache_out[4 * n + k]


@njit(cache=True, fastmath=FAST)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    """delta = dL/dz from ds = (dL/dh_t, dL/dc_t); ds_prev = (W^T delta, dL/dc_{t-1})."""
    n = dims[D_N]
    peep = aux[0] != 0.0
    op = dims[D_OX]
    for k in range(n):
        ig = cache[k]
        fg = cache[n + k]
        og = cache[2 * n + k]
        gg = cache[3 * n + k]
        tc = cache[4 * n + k]
        cp = s_prev[n + k]
        dh = ds[k]
        dzo = dh * tc * og * (1.0 - og)
        dc = ds[n + k] + dh * og * (1.0 - tc * tc)
        if peep:
            dc += dzo * theta[op + 2 * n + k]
        dzi = dc * gg * ig * (1.0 - ig)
        dzf = dc * cp * fg * (1.0 - fg)
        dzg = dc * ig * (1.0 - gg * gg)
        delta_out[k] = dzi
        delta_out[n + k] = dzf
        delta_out[2 * n + k] = dzo
        delta_out[3 * n + k] = dzg
        dcp = dc * fg
        if peep:
            dcp += dzi * theta[op + k] + dzf * theta[op + n + k]
        ds_prev_out[n + k] = dcp
    for j in range(n):
        ds_prev_out[j] = 0.0
    matvec_t_rows(theta, dims[D_OW], n, delta_out, 4 * n, ds_prev_out)


@njit(cache=True, fastmath=FAST)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    """g[:P_rec] = sum_k delta_k (x) [h_{k-1}, x_k, 1] (and the peepholes' elementwise sums), over all rows
    of the window; zero rows of Delta contribute nothing."""
    n = dims[D_N]
    peep = aux[0] != 0.0
    G = 4 * n
    oW, oU, ob, op = dims[D_OW], dims[D_OU], dims[D_OB], dims[D_OX]
    K = Delta.shape[0]
    Hp = np.empty((K, n))  # h_{k-1}: the first n columns of S_prev, made contiguous for BLAS
    for k in range(K):
        for j in range(n):
            Hp[k, j] = S_prev[k, j]
    np.dot(Delta.T, Hp, g[oW:oW + G * n].reshape((G, n)))
    input_and_bias_grad(g, oU, ob, G, Delta, X, XI)
    if not peep:
        return
    for r in range(3 * n):
        g[op + r] = 0.0
    for k in range(K):  # the peepholes: elementwise, p_i and p_f see c_{t-1}, p_o sees c_t
        for j in range(n):
            cp = S_prev[k, n + j]
            g[op + j] += Delta[k, j] * cp
            g[op + n + j] += Delta[k, n + j] * cp
            g[op + 2 * n + j] += Delta[k, 2 * n + j] * Cache[k, 5 * n + j]


@internal(cache=True, fastmath=FAST, inline="always")
def _coefficients(theta, cache, s_prev, n, k, peep, op):
    """Unit k's forget gate, c_{t-1}, and the chain-rule coefficients shared by the state and immediate
    Jacobians: dc/dz_i, dc/dz_f, dc/dz_g, dh/dz_o and dh/dc (through tanh(c) and the output peephole)."""
    ig = cache[k]
    fg = cache[n + k]
    og = cache[2 * n + k]
    gg = cache[3 * n + k]
    tc = cache[4 * n + k]
    cp = s_prev[n + k]
    eo = tc * og * (1.0 - og)
    ec = og * (1.0 - tc * tc)
    if peep:
        ec += eo * theta[op + 2 * n + k]
    return fg, cp, gg * ig * (1.0 - ig), cp * fg * (1.0 - fg), ig * (1.0 - gg * gg), eo, ec


@njit(cache=True, fastmath=FAST)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    """J = d(h_t, c_t)/d(h_{t-1}, c_{t-1}) (2n x 2n); the c_{t-1} columns are diagonal blocks."""
    n = dims[D_N]
    peep = aux[0] != 0.0
    oW, op = dims[D_OW], dims[D_OX]
    for k in range(n):
        fg, cp, ai, af, ag, eo, ec = _coefficients(theta, cache, s_prev, n, k, peep, op)
        dcdc = fg
        if peep:
            dcdc += ai * theta[op + k] + af * theta[op + n + k]
        wi = theta[oW + k * n:oW + (k + 1) * n]  # slices: vectorisable (no wraparound checks)
        wf = theta[oW + (n + k) * n:oW + (n + k + 1) * n]
        wo = theta[oW + (2 * n + k) * n:oW + (2 * n + k + 1) * n]
        wg = theta[oW + (3 * n + k) * n:oW + (3 * n + k + 1) * n]
        Jh = J[k]
        Jc = J[n + k]
        for j in range(n):
            dcdh = ai * wi[j] + af * wf[j] + ag * wg[j]
            Jc[j] = dcdh
            Jh[j] = eo * wo[j] + ec * dcdh
            Jh[n + j] = 0.0
            Jc[n + j] = 0.0
        J[k, n + k] = ec * dcdc
        J[n + k, n + k] = dcdc


@njit(cache=True, fastmath=FAST)
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out):
    """out = J_t v for v = (v_h, v_c): the four gate products W_q v_h (one pass, four rows at a time) into
    out's rows as scratch, then the row scalings and the diagonal c-blocks."""
    n = dims[D_N]
    peep = aux[0] != 0.0
    oW, op = dims[D_OW], dims[D_OX]
    for k in range(n):
        wi = theta[oW + k * n:oW + (k + 1) * n]  # slices: vectorisable loads (common.row_dot)
        wf = theta[oW + (n + k) * n:oW + (n + k + 1) * n]
        wo = theta[oW + (2 * n + k) * n:oW + (2 * n + k + 1) * n]
        wg = theta[oW + (3 * n + k) * n:oW + (3 * n + k + 1) * n]
        vh = v[:n]
        a_i = 0.0
        a_f = 0.0
        a_o = 0.0
        a_g = 0.0
        for j in range(n):
            vj = vh[j]
            a_i += wi[j] * vj
            a_f += wf[j] * vj
            a_o += wo[j] * vj
            a_g += wg[j] * vj
        fg, cp, ai, af, ag, eo, ec = _coefficients(theta, cache, s_prev, n, k, peep, op)
        dcdc = fg
        if peep:
            dcdc += ai * theta[op + k] + af * theta[op + n + k]
        dc = ai * a_i + af * a_f + ag * a_g + dcdc * v[n + k]
        out[n + k] = dc
        out[k] = eo * a_o + ec * dc


@njit(cache=True, fastmath=FAST)
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out):
    """out = diag(J_t): dh_k/dh_k = e_o W_o[k, k] + e_c (dc/dh)[k, k], and dc_k/dc_k."""
    n = dims[D_N]
    peep = aux[0] != 0.0
    oW, op = dims[D_OW], dims[D_OX]
    for k in range(n):
        fg, cp, ai, af, ag, eo, ec = _coefficients(theta, cache, s_prev, n, k, peep, op)
        dcdc = fg
        if peep:
            dcdc += ai * theta[op + k] + af * theta[op + n + k]
        d = oW + k * n + k  # W_q[k, k] is at d + q n^2
        dcdh = ai * theta[d] + af * theta[d + n * n] + ag * theta[d + 3 * n * n]
        out[k] = eo * theta[d + 2 * n * n] + ec * dcdh
        out[n + k] = dcdc


@njit(cache=True, inline="always")
def row_form(dims, aux, r):
    """Row r = q n + k, gate q of unit k: (k, W row offset, 0, n, U row offset, bias index)."""
    m, n = dims[D_M], dims[D_N]
    return r % n, dims[D_OW] + r * n, 0, n, dims[D_OU] + r * m, dims[D_OB] + r


@njit(cache=True, fastmath=FAST, inline="always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r):
    """(dh_k/dz_r, dc_k/dz_r) for row r = q n + k (the module docstring's table)."""
    n = dims[D_N]
    q = r // n
    k = r - q * n
    fg, cp, ai, af, ag, eo, ec = _coefficients(theta, cache, s_prev, n, k, aux[0] != 0.0, dims[D_OX])
    if q == 0:
        return ec * ai, ai
    if q == 1:
        return ec * af, af
    if q == 2:
        return eo, 0.0
    return ec * ag, ag


@njit(cache=True, inline="always")
def extra_form(dims, aux, j):
    """Peephole j = q n + k (q = i, f, o) of unit k: (k, its index in theta)."""
    return j % dims[D_N], dims[D_OX] + j


@njit(cache=True, fastmath=FAST, inline="always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j):
    """(dh_k/dp, dc_k/dp) for peephole j = q n + k: p_i, p_f see c_{t-1}; p_o sees c_t and reaches h only."""
    n = dims[D_N]
    q = j // n
    k = j - q * n
    fg, cp, ai, af, ag, eo, ec = _coefficients(theta, cache, s_prev, n, k, True, dims[D_OX])
    if q == 0:
        return ec * ai * cp, ai * cp
    if q == 1:
        return ec * af * cp, af * cp
    return eo * s[n + k], 0.0
