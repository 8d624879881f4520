"""Kronecker-factored approximations of RTRL: KF-RTRL (Mujika, Meier and Steger 2018, "Approximating
real-time recurrent learning with random Kronecker factors", NeurIPS, sec. 4, Lemma 1, Theorem 1 and
Algorithm 1) and R-KF-RTRL, the "reverse" factorisation (Marschall, Cho and Savin 2020, "A unified framework
of online learning algorithms for training recurrent neural networks", JMLR 21, sec. 4's past-facing
stochastic approximations; the form of vanilla-rtrl's Reverse_KF_RTRL, eqs. (1)-(5) of its docstring).

Both replace RTRL's influence matrix M_t = ds_t/dtheta_rec (S x P_rec, O(n^3) memory, O(n^4) time per
step; Williams and Zipser 1989) by an unbiased random Kronecker product of O(n^2) numbers, updated in O(n^3)
per step.

The row form (rnnlearn/models/immediate.py). Every pre-activation row r < R of every model reads a
sub-slice of one common vector

    a_t = [s_{t-1}[0:S_a], x_t, 1]        (n_a = S_a + m + 1; S_a = the largest end of a row's slice),

row r's parameter theta_r[j] multiplying entry idx_r(j) of a_t (W_r[j] -> lo_r + j, U_r[j] -> S_a + j,
b_r -> S_a + m; parameters a row does not have, e.g. the GRU candidate's input row's W or its recurrent
row's U, are simply never read), and its immediate Jacobian is ds_t/dtheta_r[j] = D_t[:, r] a_t[idx_r(j)]
with D_t = ds_t/dz (S x R, two non-zeros per column, immediate_factors' D (2, R)). So Mbar_t is the
Kronecker product a_t (x) D_t read at the columns (r, idx_r(j)) that exist, and both factorisations below
hold the influence matrix on the same (r, idx) grid; RTRL's recursion M_t = J_t M_{t-1} + Mbar_t acts on
each column of M on its own, so reading only the existing columns commutes with it, and each method's
unbiasedness argument on the full grid carries over to every model unchanged.

KF-RTRL (Mujika et al., Algorithm 1): M_t[:, (r, idx)] ~ A_t[:, r] u_t[idx], A S x R, u of length n_a.
With M_{t-1} = u_{t-1} (x) A_{t-1}, RTRL's M_t is the sum of two Kronecker products
u_{t-1} (x) (J_t A_{t-1}) + a_t (x) D_t; Lemma 1 replaces it by one, unbiased for independent random signs
c1, c2 (Theorem 1), with the variance-minimising scales p1, p2:

    u_t = c1 p1 u_{t-1} + c2 p2 a_t,         A_t = (c1 / p1) J_t A_{t-1} + (c2 / p2) D_t,
    p1 = sqrt(|J_t A_{t-1}| / |u_{t-1}|),    p2 = sqrt(|D_t| / |a_t|)              (Frobenius norms)

(E[u_t (x) A_t] = u (x) JA + a (x) D, the cross terms carrying c1 c2). J_t A_{t-1} is one matrix product
(S x S times S x R, rnnlearn/tilegemm.py); the gradient of step t is dl_t/dtheta_r[j] =
(q_t^T A_t)_r u_t[idx_r(j)], q_t = dl_t/ds_t.

R-KF-RTRL (Marschall et al.): M_t[:, (r, idx)] ~ A_t[r] B_t[:, idx], A of length R, B S x n_a, with one
random sign nu_r per row (UORO's construction, Tallec and Ollivier 2017, with its vector on the row side):

    A_t = p0 A_{t-1} + p1 nu,                B_t = (1 / p0) J_t B_{t-1} + (1 / p1) (D_t nu) a_t^T,
    p0 = sqrt(|J_t B_{t-1}| / |A_{t-1}|),    p1 = sqrt(|D_t nu| |a_t| / |nu|)

((D_t nu) a_t^T = nu^T Mbar_t; E[nu_r nu_r'] = delta_rr' makes nu (x) nu^T Mbar_t average to Mbar_t, and
the cross terms are odd in nu: p1 is even in nu, so they vanish on average even where D_t nu mixes several
rows of one unit, as LSTM's four gates and GRU's rows do.) The gradient is A_t[r] (q_t^T B_t)[idx_r(j)].

Both start from u = A = 0 (B = 0) at a reset; eps keeps p1 (p0) finite while they are zero, as in UORO.

Parameters outside the row form (LSTM's peepholes, model.row_layout.x_index, NX of them) have their
influence carried exactly, X_t = J_t X_{t-1} + Ebar_t (S x NX: O(n^2) memory, J X O(n^3) time per step,
the order of the Kronecker update itself), so both methods train every model; their gradient is q_t^T X_t.
Declared cost per step: O(n^3) time, O(n^2) memory, for both.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, uint64

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, Stochastic,
                                      check_number, raise_status, register, row_form_missing)
from rnnlearn.algorithms.signs import fill_signs, reseed, sign_state
from rnnlearn.models import cell
from rnnlearn.models.immediate import immediate_factors
from rnnlearn.models.layout import D_LOSS, D_M, D_N, D_NX, D_P, D_PREC, D_R, D_S, FAST
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import OptState, apply_update, plain_sgd_rate, sgd
from rnnlearn.tilegemm import matmul, matmul_norm_vecmat

# rows of KronState.rows (module-level integers: compile-time constants to numba)
R_UNIT, R_W, R_LO, R_WIDTH, R_U, R_B = 0, 1, 2, 3, 4, 5


class KronState(NamedTuple):
    """The state of both learners. The matrix factor (A, S x R, for KF-RTRL; B, S x n_a, for R-KF-RTRL) is
    held as scale[0] times F[ctr[CURRENT]]; the step writes J_t F into the other buffer F[1 - ctr[CURRENT]]
    (one matrix product), adds the immediate term into it there, rescales and swaps, so no pass over the
    matrix rewrites it. `f` is u (n_a) for KF-RTRL and A (R) for R-KF-RTRL."""
    s_prev: np.ndarray   # (S,) the state before the step
    s: np.ndarray        # (S,) after it
    cache: np.ndarray    # (C,)
    J: np.ndarray        # (S, S) state Jacobian J_t
    F: np.ndarray        # (2, S, R) or (2, S, n_a): the matrix factor (over scale) and J_t times it
    scale: np.ndarray    # (1,) the matrix factor's scale
    f: np.ndarray        # the vector factor
    a: np.ndarray        # (n_a,) a_t = [s_{t-1}[:S_a], x_t, 1]
    D: np.ndarray        # (2, R) compact D_t (immediate_factors)
    E: np.ndarray        # (2, max(NX, 1)) compact factors of the extras
    X: np.ndarray        # (S, NX) exact influence of the extras
    JX: np.ndarray       # (S, NX) J_t X_{t-1}
    nu: np.ndarray       # (R + 2,) the step's signs (R-KF-RTRL: one per row; KF-RTRL: c1, c2)
    Dnu: np.ndarray      # (S,) D_t nu (R-KF-RTRL)
    coef: np.ndarray     # q^T A (R,) for KF-RTRL, q^T B (n_a,) for R-KF-RTRL
    gx: np.ndarray       # (NX,) q^T X
    rows: np.ndarray     # (6, R) int64 the row form (unit, w_off, lo, width, u_off, b_off)
    extras: np.ndarray   # (2, NX) int64 the extras' (unit, index into theta)
    yhat: np.ndarray     # (o,)
    dy: np.ndarray       # (o,)
    ds: np.ndarray       # (S,) q_t = dl_t/ds_t
    g: np.ndarray        # (P,) the step's gradient estimate
    gacc: np.ndarray     # (P,) their sum (gradient mode)
    ctr: np.ndarray      # int64 [STEPS, CURRENT]
    signs: np.ndarray    # (K, 2) for KF-RTRL, (K, R) for R-KF-RTRL: fixed signs of steps 0..K-1
    rng: np.ndarray      # (1,) uint64 the SplitMix64 state of the signs (algorithms/signs.py)
    eps: float
    opt: OptState


# KronState.ctr[...]
STEPS = 0    # steps seen (the absolute time of the next step)
CURRENT = 1  # which of F[0], F[1] holds the matrix factor

# the matrix factor's scale is folded back into it when it leaves [1 / BIG, BIG]
BIG = 1e100


class _ReadoutBufs(NamedTuple):
    """The few arrays of KronState that _readout_and_extras touches. Handing an inlined helper the whole
    state costs one reference-count update per array in it (about 40 with the optimizer's) at every call:
    measured here, 92 increments and 92 decrements a step, half of KF-RTRL's step at n = 32."""
    s: np.ndarray
    yhat: np.ndarray
    dy: np.ndarray
    ds: np.ndarray
    g: np.ndarray
    X: np.ndarray
    gx: np.ndarray
    extras: np.ndarray


@internal(cache=True, fastmath=FAST)
def _sumsq(v):
    acc = 0.0
    for i in range(v.shape[0]):
        acc += v[i] * v[i]
    return acc


@internal(cache=True, fastmath=FAST, inline="always")
def _readout_and_extras(dims, theta, x_t, xi_t, ys_t, mask_t, st):
    """The readout, the loss and q_t = dl_t/ds_t; the readout's gradient into g[P_rec:], the extras'
    q_t^T X_t into theta's extras entries. Returns the step's loss."""
    PR, P = dims[D_PREC], dims[D_P]
    readout(dims[:], theta, st.s, x_t, xi_t, st.yhat)
    lt = loss_grad(dims[D_LOSS], st.yhat, ys_t, mask_t, st.dy)
    if mask_t == 0.0 or not np.isfinite(lt):
        return lt
    st.ds[:] = 0.0
    for q in range(PR, P):
        st.g[q] = 0.0
    readout_vjp(dims[:], theta, st.s, x_t, xi_t, st.dy, st.g, st.ds)
    NX = dims[D_NX]
    if NX > 0:
        np.dot(st.ds, st.X, st.gx)
        for j in range(NX):
            st.g[st.extras[1, j]] = st.gx[j]
    return lt


@internal(cache=True, fastmath=FAST)
def _scatter_rows(dims, rows, Sa, coef_row, coef_idx, out, fo):
    """out[theta_r[j]] += fo coef_row[r] coef_idx[idx_r(j)] for every row r and parameter j it has (the
    gradient of a Kronecker factored influence matrix read at the row form's columns, times fo). Unsigned
    indices: no wraparound checks, so the loops vectorise without slicing."""
    m = uint64(dims[D_M])
    Sa = uint64(Sa)
    for r in range(dims[D_R]):
        c = fo * coef_row[r]
        w, lo, width = uint64(rows[R_W, r]), uint64(rows[R_LO, r]), uint64(rows[R_WIDTH, r])
        u, b = rows[R_U, r], rows[R_B, r]
        for j in range(width):
            out[w + j] += c * coef_idx[lo + j]
        if u >= 0:
            uu = uint64(u)
            for j in range(m):
                out[uu + j] += c * coef_idx[Sa + j]
        if b >= 0:
            out[b] += c * coef_idx[Sa + m]


@internal(cache=True, fastmath=FAST)
def _kron_steps(dims, aux, theta, ch, update, losses, st, reverse):
    """Both methods over one chunk (ch: ChunkArrays); update: apply the optimizer every step, else add into
    gacc; reverse: R-KF-RTRL, else KF-RTRL. The state's arrays are taken out of st once, before the time
    loop: inside it, the only calls are the model's kernels, the readout and loss, the product and a leaf
    loop (a helper handed a tuple of arrays pays a reference-count update per array at every step).

    Per step: a reset zeroes the state, the factors and the extras' influence; then s_t, J_t, the factors
    D_t and E_t, a_t, the extras' exact influence X_t = J_t X_{t-1} + Ebar_t, the readout and q_t; then
    J_t F_{t-1} into the other buffer, its norm and q_t^T J_t F_{t-1} taken from the product's registers
    (tilegemm.matmul_norm_vecmat); then the method's own update (module docstring):

    KF-RTRL (Mujika et al. 2018, Algorithm 1): A_t = scale F (S x R), f = u_t (n_a). With JA = J_t A_{t-1} =
    scale J_t F, p1 = sqrt(|JA| / |u|) and p2 = sqrt(|D_t| / |a_t|), u_t = c1 p1 u + c2 p2 a_t and
    A_t = (c1 / p1) JA + (c2 / p2) D_t = scale' (J_t F + beta D_t) with scale' = scale c1 / p1,
    beta = (c2 / p2) / scale'; q^T A_t = scale' (q^T J_t F + beta q^T D_t) from the pass that takes |J_t F|.

    R-KF-RTRL (Marschall et al. 2020): f = A_t (R), B_t = scale F (S x n_a). With JB = J_t B_{t-1} =
    scale J_t F, p0 = sqrt(|JB| / |A|), p1 = sqrt(|D_t nu| |a_t| / |nu|), A_t = p0 A + p1 nu and
    B_t = JB / p0 + (D_t nu) a_t^T / p1 = scale' (J_t F + gamma (D_t nu) a_t^T) with scale' = scale / p0,
    gamma = (1 / p1) / scale'; q^T B_t = scale' (q^T J_t F + gamma (q . D_t nu) a_t).

    The buffer holding J_t F plus the immediate term then becomes the factor at scale' (folded into it, one
    pass, when scale' leaves [1 / BIG, BIG]), and the gradient goes where the last comment says."""
    xs, ys, mask, resets, xis = ch
    o = st.opt
    codes, hyper, moments, counts, scratch = o.codes, o.hyper, o.moments, o.counts, o.scratch
    S, n, m, R, NX = dims[D_S], dims[D_N], dims[D_M], dims[D_R], dims[D_NX]
    PR, P = dims[D_PREC], dims[D_P]
    eps = st.eps
    sgd_lr = plain_sgd_rate(codes, hyper)
    s_prev, s, cache, J, F = st.s_prev, st.s, st.cache, st.J, st.F
    f, a, D, E, X, JX = st.f, st.a, st.D, st.E, st.X, st.JX
    nu, Dnu, coef, gx, rows, extras = st.nu, st.Dnu, st.coef, st.gx, st.rows, st.extras
    ds, g, gacc, ctr, signs, rng, scale_arr = st.ds, st.g, st.gacc, st.ctr, st.signs, st.rng, st.scale
    bufs = _ReadoutBufs(s, st.yhat, st.dy, ds, g, X, gx, extras)
    na = a.shape[0]
    Sa = na - m - 1
    K = signs.shape[0]
    for t in range(xs.shape[0]):
        tg = ctr[STEPS]
        x, xi = xs[t], xis[t]
        cur = ctr[CURRENT]
        Fc, Fn = F[cur], F[1 - cur]
        if resets[t]:
            s[:] = 0.0
            Fc[:, :] = 0.0
            scale_arr[0] = 1.0
            f[:] = 0.0
            X[:, :] = 0.0
        for j in range(S):
            s_prev[j] = s[j]
        cell.step(dims, aux, theta, s_prev, x, xi, tg, s, cache)
        cell.jac_state(dims, aux, theta, s_prev, x, xi, tg, s, cache, J)
        immediate_factors(dims, aux, theta, s_prev, x, xi, tg, s, cache, D, E)
        for j in range(Sa):
            a[j] = s_prev[j]
        if xi >= 0:
            for j in range(m):
                a[Sa + j] = 0.0
            a[Sa + xi] = 1.0
        else:
            for j in range(m):
                a[Sa + j] = x[j]
        a[na - 1] = 1.0
        if NX > 0:
            matmul(J, X, JX)
            for c in range(S):
                for j in range(NX):
                    X[c, j] = JX[c, j]
            for j in range(NX):
                k = extras[0, j]
                X[k, j] += E[0, j]
                if S > n:
                    X[n + k, j] += E[1, j]
        ctr[STEPS] += 1
        lt = _readout_and_extras(dims, theta, x, xi, ys[t], mask[t], bufs)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        want = mask[t] != 0.0
        nJF = np.sqrt(matmul_norm_vecmat(J, Fc, Fn, ds, want, coef))  # J_t F, |J_t F|, q^T J_t F
        scale = scale_arr[0]
        if not reverse:  # KF-RTRL: u = f (n_a), coef = q^T A (R)
            if tg < K:
                c1 = signs[tg, 0]
                c2 = signs[tg, 1]
            else:
                fill_signs(rng, nu, 2)  # one draw for both
                c1 = nu[0]
                c2 = nu[1]
            nD = 0.0
            for r in range(R):
                nD += D[0, r] * D[0, r] + D[1, r] * D[1, r]
            p1 = np.sqrt((abs(scale) * nJF + eps) / (np.sqrt(_sumsq(f)) + eps))
            p2 = np.sqrt((np.sqrt(nD) + eps) / (np.sqrt(_sumsq(a)) + eps))
            a1 = c1 * p1
            a2 = c2 * p2
            for j in range(na):
                f[j] = a1 * f[j] + a2 * a[j]
            scale = scale * c1 / p1
            beta = c2 / p2 / scale
            for r in range(R):
                k = rows[R_UNIT, r]
                Fn[k, r] += beta * D[0, r]
                if S > n:
                    Fn[n + k, r] += beta * D[1, r]
            if want:
                for r in range(R):
                    k = rows[R_UNIT, r]
                    qd = ds[k] * D[0, r]
                    if S > n:
                        qd += ds[n + k] * D[1, r]
                    coef[r] = scale * (coef[r] + beta * qd)
        else:  # R-KF-RTRL: A = f (R), coef = q^T B (n_a)
            if tg < K:
                for r in range(R):
                    nu[r] = signs[tg, r]
            else:
                fill_signs(rng, nu, R)
            for i in range(S):
                Dnu[i] = 0.0
            for r in range(R):
                k = rows[R_UNIT, r]
                Dnu[k] += D[0, r] * nu[r]
                if S > n:
                    Dnu[n + k] += D[1, r] * nu[r]
            p0 = np.sqrt((abs(scale) * nJF + eps) / (np.sqrt(_sumsq(f)) + eps))
            p1 = np.sqrt((np.sqrt(_sumsq(Dnu) * _sumsq(a)) + eps) / (np.sqrt(_sumsq(nu)) + eps))
            for r in range(R):
                f[r] = p0 * f[r] + p1 * nu[r]
            scale = scale / p0
            gamma = 1.0 / p1 / scale
            for i in range(S):
                e = gamma * Dnu[i]
                if e != 0.0:
                    for j in range(na):
                        Fn[i, j] += e * a[j]
            if want:
                qd = 0.0
                for i in range(S):
                    qd += ds[i] * Dnu[i]
                for j in range(na):
                    coef[j] = scale * (coef[j] + gamma * qd * a[j])
        # the buffer holding J_t F (plus the immediate term) becomes the factor, at `scale`
        ctr[CURRENT] = 1 - cur
        if abs(scale) > BIG or abs(scale) < 1.0 / BIG:
            for i in range(Fn.shape[0]):
                for j in range(Fn.shape[1]):
                    Fn[i, j] *= scale
            scale = 1.0
        scale_arr[0] = scale
        if not want:
            continue
        # the gradient: the row form's part (the rows' coefficient times a_t's, KF-RTRL's q^T A_t (x) u_t,
        # R-KF-RTRL's A_t (x) q^T B_t, at the rows' columns) plus what g holds (the
        # readout's and the extras' entries): into gacc (update False), into theta directly with plain SGD
        # (theta -= lr g, folded into the scatter), else assembled in g for the optimizer.
        if not update:
            if reverse:
                _scatter_rows(dims, rows, Sa, f, coef, gacc, 1.0)
            else:
                _scatter_rows(dims, rows, Sa, coef, f, gacc, 1.0)
            for q in range(PR, P):
                gacc[q] += g[q]
            for j in range(NX):
                gacc[extras[1, j]] += g[extras[1, j]]
        elif sgd_lr >= 0.0:
            if reverse:
                _scatter_rows(dims, rows, Sa, f, coef, theta, -sgd_lr)
            else:
                _scatter_rows(dims, rows, Sa, coef, f, theta, -sgd_lr)
            for q in range(PR, P):
                theta[q] -= sgd_lr * g[q]
            for j in range(NX):
                theta[extras[1, j]] -= sgd_lr * g[extras[1, j]]
        else:
            for q in range(PR):  # the row form's entries zeroed, the extras' (q^T X = gx) kept
                g[q] = 0.0
            for j in range(NX):
                g[extras[1, j]] = gx[j]
            if reverse:
                _scatter_rows(dims, rows, Sa, f, coef, g, 1.0)
            else:
                _scatter_rows(dims, rows, Sa, coef, f, g, 1.0)
            apply_update(codes, hyper, moments, counts, scratch, theta, g)
    return OK, ctr[STEPS]


@njit(cache=True)
def kf_rtrl_chunk(dims, aux, theta, ch, update, losses, st):
    """KF-RTRL over one chunk: _kron_steps's KF-RTRL branch."""
    return _kron_steps(dims, aux, theta, ch, update, losses, st, False)


@njit(cache=True)
def rkf_rtrl_chunk(dims, aux, theta, ch, update, losses, st):
    """R-KF-RTRL over one chunk: _kron_steps's R-KF-RTRL branch."""
    return _kron_steps(dims, aux, theta, ch, update, losses, st, True)


def _row_arrays(model):
    """(rows (6, R), extras (2, NX), S_a) from the model's row layout, after checking that the rows and
    extras cover theta_rec exactly once (the kernels write each entry of g[:P_rec] once, no zeroing)."""
    lay = model.row_layout
    rows = np.ascontiguousarray(np.stack([lay.unit, lay.w_off, lay.w_lo, lay.w_width, lay.u_off, lay.b_off]),
                                dtype=np.int64)
    extras = np.ascontiguousarray(np.stack([lay.x_unit, lay.x_index]), dtype=np.int64).reshape(2, -1)
    m = model.n_in
    hit = np.zeros(model.n_rec, dtype=int)
    for unit, w, lo, width, u, b in rows.T:
        hit[w:w + width] += 1
        if u >= 0:
            hit[u:u + m] += 1
        if b >= 0:
            hit[b] += 1
    hit[extras[1]] += 1
    if not (hit == 1).all():
        raise ValueError(f"{model.name}: the row form and extras do not cover the recurrent parameters once")
    ends = lay.w_lo + lay.w_width
    Sa = int(ends[lay.w_width > 0].max()) if (lay.w_width > 0).any() else 0
    return rows, extras, Sa


class _Kronecker(Stochastic, GradientLearner):
    """What KF-RTRL and R-KF-RTRL share: the state, the kernels' arguments, the fixed-signs hook."""

    time_exponent = 3.0
    memory_exponent = 2.0
    _n_signs_per_step = None  # set by the subclasses: signs per step (an int, or "R": one per row)

    def __init__(self, eps: float = 1e-7):
        self.eps = eps

    def check(self):
        check_number("eps", self.eps, 0.0, lo_open=True)

    def supports(self, model):
        return row_form_missing(model)  # its Kronecker factors are the row form's D_t and a_t

    def _n_signs(self, model) -> int:
        return model.dims[D_R] if self._n_signs_per_step == "R" else int(self._n_signs_per_step)

    def _factor_shapes(self, model, na):
        raise NotImplementedError

    def init(self, model, theta, optimizer=None, seed=0, signs=None):
        """Fresh state; `signs` (K, 2) for KF-RTRL, (K, R) for R-KF-RTRL, if given, fixes the signs of the
        first K steps (the exhaustive unbiasedness test); the rest are drawn from a generator seeded with
        `seed` (a SplitMix64 state, algorithms/signs.py: numba unboxes a numpy Generator at every call, which
        cost more than a chunk of 100 steps' work)."""
        self.check()
        optimizer = optimizer or sgd(0.01)
        rows, extras, Sa = _row_arrays(model)
        S, R, NX, P = model.n_state, model.dims[D_R], model.dims[D_NX], model.n_params
        na = Sa + model.n_in + 1
        k = self._n_signs(model)
        fixed = np.zeros((0, k)) if signs is None else np.ascontiguousarray(signs, dtype=np.float64)
        if fixed.ndim != 2 or fixed.shape[1] != k:
            raise ValueError(f"signs must have shape (K, {k}), got {fixed.shape}")
        Fshape, flen, clen = self._factor_shapes(model, na)
        z = np.zeros
        return KronState(z(S), z(S), z(max(model.n_cache, 1)), z((S, S)), z((2,) + Fshape), np.ones(1), z(flen),
                         z(na), z((2, R)), z((2, max(NX, 1))), z((S, NX)), z((S, NX)), z(R + 2), z(S), z(clen), z(NX),
                         rows, extras, z(model.n_out), z(model.n_out), z(S), z(P), z(P), z(2, np.int64), fixed,
                         sign_state(seed), float(self.eps), optimizer.init(P))

    def _reset(self, model, st, seed):
        """init's values where a gradient-mode run reads them before writing (the random state reseeded)."""
        st.s.fill(0.0)
        st.F[0].fill(0.0)
        st.scale.fill(1.0)
        st.f.fill(0.0)
        st.X.fill(0.0)
        st.ctr.fill(0)
        st.gacc.fill(0.0)
        if st.signs.shape[0]:
            return False
        reseed(st.rng, seed)
        return True

    def gradient_with_signs(self, model, theta, xs, ys, signs, mask=None, resets=None, x_index=None):
        """(loss, gradient estimate) of one sequence with theta fixed and step t's signs = signs[t]."""
        from rnnlearn.tasks.base import Chunk
        model._check_theta(theta)
        self.check_model(model)
        chunk = Chunk.make(xs, ys, mask, resets, x_index)
        model.check_chunk(chunk)
        theta = theta.copy()
        state = self.init(model, theta, sgd(1.0), signs=signs)
        losses = np.empty(chunk.mask.shape)
        raise_status(*self._run(model, theta, state, chunk, False, True, losses))
        return float(losses.sum()), state.gacc.copy()


@register
class KFRTRL(_Kronecker):
    """Kronecker-factored RTRL: the influence matrix as u (x) A (u over the row form's common input a_t, A
    state x rows), each step's sum of two Kronecker products replaced by one with two random signs
    (unbiased). LSTM's peepholes' influence is carried exactly. Cost per step: O(n^3) time, O(n^2) memory.

    eps  guards p1 against 0/0 while u = 0 (the start of a sequence)."""

    name = "kf_rtrl"
    display_name = "KF-RTRL"
    reference = "Mujika, Meier and Steger 2018"
    # add task, Elman n = 32, 20k steps, final test loss over seeds 0-2: 0.002: 0.478-0.482; 0.003:
    # 0.474-0.482; 0.005: 0.478-0.484; 0.01: 0.487 (seed 0); 0.001: 0.485 (seed 0). RTRL's rate is 0.03.
    default_lr = 0.003
    kernel_family = "kf_rtrl"
    compile_seconds = 4.5  # cold (empty cache, Elman): 6.4 s on a loaded 2-core machine where UORO took 5.6 s
    _n_signs_per_step = 2

    def _factor_shapes(self, model, na):
        R = model.dims[D_R]
        return (model.n_state, R), na, R

    def flops_per_step(self, model):
        """J_t A_{t-1} (and J_t X_{t-1} for the extras): 2 S^2 (R + NX)."""
        return 2.0 * model.n_state ** 2 * (model.dims[D_R] + model.dims[D_NX])

    def _run(self, model, theta, st, chunk, update, flush, losses):
        status, where = kf_rtrl_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)


@register
class RKFRTRL(_Kronecker):
    """Reverse Kronecker-factored RTRL: the influence matrix as A (x) B (A over the rows, B state x the row
    form's common input a_t), updated like UORO with one random sign per row (unbiased). LSTM's peepholes'
    influence is carried exactly. Cost per step: O(n^3) time, O(n^2) memory.

    eps  guards p0 against 0/0 while A = 0 (the start of a sequence)."""

    name = "rkf_rtrl"
    display_name = "R-KF-RTRL"
    reference = "Marschall, Cho and Savin 2020"
    # add task, Elman n = 32, 20k steps, final test loss over seeds 0-2: 0.0003: 0.51-0.59; 0.0005:
    # 0.50-0.53; 0.0007: 0.494-0.509; 0.001: 0.506-0.518; 0.0015: 0.59-0.69 (unstable); 0.002 and above
    # fall back to 0.66 (seed 0). Its variance is UORO's kind (one sign per row), hence UORO's small rate.
    default_lr = 0.0007
    kernel_family = "rkf_rtrl"
    compile_seconds = 4.5  # cold (empty cache, Elman): 6.4 s on a loaded 2-core machine where UORO took 5.6 s
    _n_signs_per_step = "R"

    def _factor_shapes(self, model, na):
        return (model.n_state, na), model.dims[D_R], na

    def flops_per_step(self, model):
        """J_t B_{t-1} (and J_t X_{t-1} for the extras): 2 S^2 (n_a + NX)."""
        Sa = _row_arrays(model)[2]
        return 2.0 * model.n_state ** 2 * (Sa + model.n_in + 1 + model.dims[D_NX])

    def _run(self, model, theta, st, chunk, update, flush, losses):
        status, where = rkf_rtrl_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)
