"""SnAp-n, the sparse n-step approximation to RTRL (Menick, Elsen, Evci, Osindero, Simonyan and Graves 2021,
"Practical real-time recurrent learning with a sparse approximation", ICLR; sec. 3, eq. 1-4 and fig. 1).

RTRL carries the influence matrix M_t = ds_t/dtheta_rec (S x P_rec) forward as

    M_t = J_t M_{t-1} + Mbar_t                                        (Menick et al. eq. 2-3; the paper
                                                                      writes J_t = I_t + D_t J_{t-1})

with J_t = ds_t/ds_{t-1} and Mbar_t the immediate Jacobian. SnAp-n keeps only the entries of M_t that can be
non-zero within n steps of the recurrent core: a parameter theta of pre-activation row r feeds unit k_r; in
its own step it touches only k_r's state rows (h_k, and c_k for the LSTM: the factored immediate Jacobian of
models/immediate.py), and each further step spreads it along the structural non-zeros of J_t. The kept set is

    Q_k = the state entries reachable from unit k's rows within n - 1 steps of pattern(J),
    M_t[q, theta] = (sum_{q' in Q_k} J_t[q, q'] M_{t-1}[q', theta] + Mbar_t[q, theta])   for q in Q_k,
    M_t[q, theta] = 0                                                                   otherwise

(Menick et al. sec. 3.1: "SnAp-n ... the sparsity pattern of the influence matrix after n steps"; eq. 4 for
n = 1). The pattern is structural -- from the model's row form (which state entries each row reads) and the
per-unit blocks of J (a unit's own rows: GRU's diag(z), the LSTM's c -> c and c -> h, the clockwork's
identity rows of idle modules) -- never from the values of J_t, so it is fixed for the whole run:
    Elman      W's pattern (dense: SnAp-2 is RTRL)
    LSTM       unit k's (h_k, c_k) block plus W's pattern from h (every gate reads all of h)
    GRU        W_z, W_r, W_h patterns plus the diagonal
    Clockwork  its block-upper-triangular W plus identity rows (module i reaches the faster modules j <= i
               in one step: SnAp-2 keeps, for a parameter of module i, the rows of modules 0..i)
The hyperparameter `pattern="diagonal"` replaces the unit-to-unit part by the identity (the structure of a
network whose recurrent weights are diagonal); `init(..., unit_pattern=C)` takes any n x n boolean
connectivity C (C[k, l]: h_l feeds unit k), e.g. a sparse W's non-zeros.

The gradient of step t's loss is (dl_t/ds_t) M_t for the recurrent part (plus the readout's own gradient),
applied at once like RTRL's: exact with the parameters fixed when the pattern is saturated (n >= 2 on a dense
net, or n - 1 >= the reach graph's diameter), biased otherwise (Menick et al. sec. 3: the dropped entries).

Two kernels:
- SnAp-1 (`snap1_chunk`): each parameter keeps only its own unit's rows, so M is stored compactly, one value
  per parameter and state row of its unit, (S/n) x P_rec; the update is the unit's 1 x 1 (S = n:
  `cell.jac_state_diag`, O(n)) or 2 x 2 (LSTM) diagonal block of J times the column plus the immediate
  factor (`cell.row_factor`), fused with the gradient in one pass: O(P_rec) time, i.e. O(n^2) time and
  memory for a dense net. For the LSTM the 2 x 2 blocks [[dh_k/dh_k, dh_k/dc_k], [dc_k/dh_k, dc_k/dc_k]] are
  read from J formed densely by `cell.jac_state` (4 n^2 entries, the same order as the 2 P_rec-value update;
  the model interface has no per-unit block kernel, and jac_state_diag gives only the two diagonal entries).
- SnAp-n, n >= 2 (`snap_masked_chunk`): units with the same kept set Q form a block; a block stores its kept
  entries densely, |Q| x (its parameters), with Q and its columns as index lists. One step is the gather
  J[Q, Q] (from the formed J), one BLAS product J[Q, Q] M_b, the immediate factors added at the unit's rows,
  and the gradient ds[Q] M_b: sum over blocks of 2 |Q|^2 |cols| flops, so a dense net costs RTRL's O(n^4)
  (one block, Q = everything) and a sparse or block-triangular pattern costs what it keeps.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, check_int, register,
                                      row_form_missing)
from rnnlearn.algorithms.rtrl import RTRL  # exact on a diagonal recurrence: its compact influence
from rnnlearn.models import cell
from rnnlearn.models.immediate import immediate_factors
from rnnlearn.models.layout import D_LOSS, D_M, D_N, D_NX, D_P, D_PREC, D_R, D_S, FAST
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import OptState, apply_update, plain_sgd_rate, sgd

# ctr[...] of both states (module-level integers: compile-time constants to numba)
STEPS = 0    # steps seen (the absolute time of the next step)
CURRENT = 1  # masked kernel: which of M[0], M[1] holds the current influence entries

PATTERNS = ("dense", "diagonal")


# ---- the sparsity pattern, from the model's structure ------------------------------------------------------

def state_pattern(model, unit_pattern=None) -> np.ndarray:
    """The structural non-zero pattern of J_t (S x S bool; [q, q'] = s_{t-1}[q'] may feed s_t[q]): every unit's
    own rows among themselves (h_k, c_k), plus, for each pre-activation row r of unit k, the state entries the
    row reads (model.row_layout: w_lo, w_width), into all of unit k's rows. With `unit_pattern` (n x n bool,
    [k, l]: h_l feeds unit k) the row form's reads are replaced by it."""
    n, S = model.n_hidden, model.n_state
    nc = S // n
    lay = model.row_layout
    P = np.zeros((S, S), dtype=bool)
    for k in range(n):
        rows = [k + c * n for c in range(nc)]
        P[np.ix_(rows, rows)] = True
    if unit_pattern is None:
        for r in range(len(lay.unit)):
            k, lo, w = lay.unit[r], lay.w_lo[r], lay.w_width[r]
            for c in range(nc):
                P[k + c * n, lo:lo + w] = True
    else:
        C = np.asarray(unit_pattern, dtype=bool)
        if C.shape != (n, n):
            raise ValueError(f"unit_pattern must have shape ({n}, {n}), got {C.shape}")
        for c in range(nc):
            P[c * n:(c + 1) * n, :n] |= C
    return P


def kept_rows(model, n_steps, unit_pattern=None) -> list[np.ndarray]:
    """Q_k for every unit k: the sorted state indices reachable from unit k's rows within n_steps - 1 steps of
    state_pattern (Menick et al. sec. 3.1)."""
    n, S = model.n_hidden, model.n_state
    Pi = state_pattern(model, unit_pattern).astype(np.int64)
    R = np.eye(S, dtype=bool)
    for _ in range(n_steps - 1):
        R = R | ((Pi @ R.astype(np.int64)) > 0)
    return [np.flatnonzero(R[:, [k + c * n for c in range(S // n)]].any(axis=1)) for k in range(n)]


def column_info(model):
    """Per recurrent parameter (column of theta_rec): its unit, its factor (row r < R, or R + j for extra j)
    and the source of its entry of a_t = [s_{t-1}, x_t, 1] (index into that vector). Checks that the row form
    and the extras cover every recurrent parameter exactly once (SnAp updates each column once per step)."""
    lay = model.row_layout
    S, m, PR, R = model.n_state, model.n_in, model.n_rec, model.dims[D_R]
    unit = np.full(PR, -1, np.int64)
    fac = np.full(PR, -1, np.int64)
    src = np.full(PR, -1, np.int64)
    seen = np.zeros(PR, np.int64)

    def put(idx, k, f, a):
        seen[idx] += 1
        unit[idx], fac[idx], src[idx] = k, f, a

    for r in range(R):
        k = lay.unit[r]
        w, lo, width = lay.w_off[r], lay.w_lo[r], lay.w_width[r]
        put(np.arange(w, w + width), k, r, lo + np.arange(width))
        if lay.u_off[r] >= 0:
            put(np.arange(lay.u_off[r], lay.u_off[r] + m), k, r, S + np.arange(m))
        if lay.b_off[r] >= 0:
            put(lay.b_off[r], k, r, S + m)
    for j in range(len(lay.x_unit)):
        put(lay.x_index[j], lay.x_unit[j], R + j, S + m)
    if not np.all(seen == 1):
        raise ValueError(f"{model.name}: the row form does not cover each recurrent parameter exactly once")
    return unit, fac, src


def snap_mask(model, n_steps, unit_pattern=None) -> np.ndarray:
    """The kept entries of the influence matrix as a dense S x P_rec boolean array (for tests and figures)."""
    Q = kept_rows(model, n_steps, unit_pattern)
    unit, _, _ = column_info(model)
    mask = np.zeros((model.n_state, model.n_rec), dtype=bool)
    for p in range(model.n_rec):
        mask[Q[unit[p]], p] = True
    return mask


# ---- SnAp-1: compact storage, one pass per step ------------------------------------------------------------

class SnAp1State(NamedTuple):
    s: np.ndarray      # (S,) state
    s_new: np.ndarray  # (S,)
    M: np.ndarray      # (S/n, P_rec): M[c, p] = d s[c n + unit(p)] / d theta_p, the only kept entries
    J: np.ndarray      # (S, S) the formed J_t (LSTM: its 2 x 2 unit blocks are read); (1, 1) when S = n
    jd: np.ndarray     # (S,) diag(J_t) (S = n)
    cache: np.ndarray  # (C,)
    yhat: np.ndarray   # (o,)
    dy: np.ndarray     # (o,)
    ds: np.ndarray     # (S,) dl_t/ds_t
    ctr: np.ndarray    # int64 [STEPS, unused]
    g: np.ndarray      # (P,)
    gacc: np.ndarray   # (P,)
    opt: OptState


@internal(cache=True, fastmath=FAST, inline="always")
def _row1(M, out, jk, dh, fo, s_prev, lo, width, w, u, b, x, xi):
    """One row's columns, S = n: M[p] = J[k, k] M[p] + dh a_p (Menick et al. eq. 4) and out[p] += fo M[p]
    (fo = ds_k into the gradient; -lr ds_k with plain SGD folded in, out = theta)."""
    Mw = M[w:w + width]  # slices for the recurrent weights: without wraparound checks the loop vectorises
    ow = out[w:w + width]  # (2x faster at n = 32, measured; the short input rows below keep plain indexing)
    sw = s_prev[lo:lo + width]
    for j in range(width):
        v = jk * Mw[j] + dh * sw[j]
        Mw[j] = v
        ow[j] += fo * v
    if u >= 0:
        for j in range(x.shape[0]):
            if xi >= 0:
                aj = 1.0 if j == xi else 0.0
            else:
                aj = x[j]
            p = u + j
            v = jk * M[p] + dh * aj
            M[p] = v
            out[p] += fo * v
    if b >= 0:
        v = jk * M[b] + dh
        M[b] = v
        out[b] += fo * v


@internal(cache=True, fastmath=FAST, inline="always")
def _col2(M0, M1, out, p, b00, b01, b10, b11, dh, dc, a, fh, fc):
    m0 = M0[p]
    m1 = M1[p]
    v0 = b00 * m0 + b01 * m1 + dh * a
    v1 = b10 * m0 + b11 * m1 + dc * a
    M0[p] = v0
    M1[p] = v1
    out[p] += fh * v0 + fc * v1


@internal(cache=True, fastmath=FAST, inline="always")
def _row2(M0, M1, out, b00, b01, b10, b11, dh, dc, fh, fc, s_prev, lo, width, w, u, b, x, xi):
    """One row's columns, two rows per unit (LSTM): (M0, M1)[p] = B_k (M0, M1)[p] + (dh, dc) a_p with B_k the
    unit's 2 x 2 block of J_t, and out[p] += fh M0[p] + fc M1[p] (fh, fc: ds_h, ds_c times the output's
    factor, as in _row1)."""
    for j in range(width):
        _col2(M0, M1, out, w + j, b00, b01, b10, b11, dh, dc, s_prev[lo + j], fh, fc)
    if u >= 0:
        for j in range(x.shape[0]):
            if xi >= 0:
                a = 1.0 if j == xi else 0.0
            else:
                a = x[j]
            _col2(M0, M1, out, u + j, b00, b01, b10, b11, dh, dc, a, fh, fc)
    if b >= 0:
        _col2(M0, M1, out, b, b00, b01, b10, b11, dh, dc, 1.0, fh, fc)


@njit(cache=True, fastmath=FAST)
def snap1_chunk(dims, aux, theta, ch, update, losses, st):
    """SnAp-1 over one chunk (ch: ChunkArrays): per step the model's step, diag(J_t) (or J_t for two rows per
    unit), the readout's dl_t/ds_t, then one pass over the rows of the row form updating each column's kept
    entries and adding its gradient into where it goes: theta itself with plain SGD (the update folded into
    the pass), gacc in gradient mode (update False), else g, then the optimizer."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    s, s_new, M, J, jd, cache = st.s, st.s_new, st.M, st.J, st.jd, st.cache
    yhat, dy, ds, ctr, g, gacc, opt = st.yhat, st.dy, st.ds, st.ctr, st.g, st.gacc, st.opt
    n, S, PR, P = dims[D_N], dims[D_S], dims[D_PREC], dims[D_P]
    two = S > n
    M0 = M[0]
    M1 = M[M.shape[0] - 1]
    sgd_lr = plain_sgd_rate(opt.codes, opt.hyper)
    for t in range(xs.shape[0]):
        if resets[t]:
            s[:] = 0.0
            M[:, :] = 0.0
        tg = ctr[STEPS]
        x = xs[t]
        xi = xis[t]
        cell.step(dims, aux, theta, s, x, xi, tg, s_new, cache)
        if two:
            cell.jac_state(dims, aux, theta, s, x, xi, tg, s_new, cache, J)
        else:
            cell.jac_state_diag(dims, aux, theta, s, x, xi, tg, s_new, cache, jd)
        readout(dims[:], theta, s_new, x, xi, yhat)
        lt = loss_grad(dims[D_LOSS], yhat, ys[t], mask[t], dy)
        losses[t] = lt
        ctr[STEPS] += 1
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        want = mask[t] != 0.0
        ds[:] = 0.0
        out = g  # no gradient this step: g is scratch, ds = 0
        f = 0.0
        if want:
            for q in range(PR, P):
                g[q] = 0.0
            readout_vjp(dims[:], theta, s_new, x, xi, dy, g, ds)
            f = 1.0
            if not update:
                out = gacc
            elif sgd_lr >= 0.0:
                out = theta
                f = -sgd_lr
            else:
                for q in range(PR):
                    g[q] = 0.0
        for r in range(dims[D_R]):
            dh, dc = cell.row_factor(dims, aux, theta, s, x, xi, tg, s_new, cache, r)
            k, w, lo, width, u, b = cell.row_form(dims, aux, r)
            if two:
                _row2(M0, M1, out, J[k, k], J[k, n + k], J[n + k, k], J[n + k, n + k], dh, dc, f * ds[k],
                      f * ds[n + k], s, lo, width, w, u, b, x, xi)
            else:
                _row1(M0, out, jd[k], dh, f * ds[k], s, lo, width, w, u, b, x, xi)
        for j in range(dims[D_NX]):
            dh, dc = cell.extra_factor(dims, aux, theta, s, x, xi, tg, s_new, cache, j)
            k, p = cell.extra_form(dims, aux, j)
            if two:
                _col2(M0, M1, out, p, J[k, k], J[k, n + k], J[n + k, k], J[n + k, n + k], dh, dc, 1.0,
                      f * ds[k], f * ds[n + k])
            else:
                v = jd[k] * M0[p] + dh
                M0[p] = v
                out[p] += f * ds[k] * v
        for j in range(S):
            s[j] = s_new[j]
        if want:
            if not update:
                for q in range(PR, P):
                    gacc[q] += g[q]
            elif sgd_lr >= 0.0:
                for q in range(PR, P):
                    theta[q] -= sgd_lr * g[q]
            else:
                apply_update(opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g)
    return OK, ctr[STEPS]


# ---- SnAp-n, n >= 2: the masked recursion over blocks of units with the same kept rows ---------------------

class SnApMaskedState(NamedTuple):
    s: np.ndarray       # (S,)
    s_new: np.ndarray   # (S,)
    M: np.ndarray       # (2, K): the kept entries (block b: |Q_b| x |cols_b| row-major at moff[b]) and the next
    J: np.ndarray       # (S, S)
    D: np.ndarray       # (2, R) the immediate factors (models/immediate.py)
    E: np.ndarray       # (2, NX)
    cache: np.ndarray   # (C,)
    a: np.ndarray       # (S + m + 1,) a_t = [s_{t-1}, x_t, 1]
    qoff: np.ndarray    # (B + 1,) int64: block b's kept rows are qidx[qoff[b]:qoff[b + 1]]
    qidx: np.ndarray    # int64
    coff: np.ndarray    # (B + 1,) int64: block b's columns are cols[coff[b]:coff[b + 1]]
    cols: np.ndarray    # (P_rec,) int64: column of theta_rec
    moff: np.ndarray    # (B + 1,) int64: offset of block b in M[c]
    fac: np.ndarray     # (P_rec,) int64 per column (in block order): its factor, row r < R or R + extra j
    src: np.ndarray     # (P_rec,) int64: its entry of a
    posh: np.ndarray    # (P_rec,) int64: where its unit's h row sits in the block's Q
    posc: np.ndarray    # (P_rec,) int64: where its unit's c row sits (-1: S = n)
    Jb: np.ndarray      # (max |Q|^2,) J[Q, Q]
    dsq: np.ndarray     # (max |Q|,) ds[Q]
    gb: np.ndarray      # (max |cols|,) ds[Q] M_b
    yhat: np.ndarray
    dy: np.ndarray
    ds: np.ndarray
    ctr: np.ndarray     # int64 [STEPS, CURRENT]
    g: np.ndarray
    gacc: np.ndarray
    opt: OptState


@internal(cache=True, fastmath=FAST)
def masked_influence_step(dims, st, M, Mn):
    """Mn = (J_t M + Mbar_t) on the kept entries (Menick et al. sec. 3.1), block by block: J[Q, Q] gathered,
    one BLAS product, then Mbar_t's two possible non-zeros per column (its unit's rows) from the factors."""
    R = dims[D_R]
    J, D, E, a = st.J, st.D, st.E, st.a
    for bk in range(st.qoff.shape[0] - 1):
        q0 = st.qoff[bk]
        nq = st.qoff[bk + 1] - q0
        c0 = st.coff[bk]
        nc = st.coff[bk + 1] - c0
        m0 = st.moff[bk]
        Jb = st.Jb[:nq * nq].reshape((nq, nq))
        for i in range(nq):
            qi = st.qidx[q0 + i]
            for j in range(nq):
                Jb[i, j] = J[qi, st.qidx[q0 + j]]
        Mb = M[m0:m0 + nq * nc].reshape((nq, nc))
        Mnb = Mn[m0:m0 + nq * nc].reshape((nq, nc))
        np.dot(Jb, Mb, Mnb)
        for i in range(nc):
            c = c0 + i
            f = st.fac[c]
            av = a[st.src[c]]
            if f < R:
                dh = D[0, f]
                dc = D[1, f]
            else:
                dh = E[0, f - R]
                dc = E[1, f - R]
            Mnb[st.posh[c], i] += dh * av
            if st.posc[c] >= 0:
                Mnb[st.posc[c], i] += dc * av


@internal(cache=True, fastmath=FAST)
def masked_gradient(st, ds, Mn, g):
    """g[cols_b] = ds[Q_b] M_b for every block (the recurrent part of (dl_t/ds_t) M_t)."""
    for bk in range(st.qoff.shape[0] - 1):
        q0 = st.qoff[bk]
        nq = st.qoff[bk + 1] - q0
        c0 = st.coff[bk]
        nc = st.coff[bk + 1] - c0
        m0 = st.moff[bk]
        for i in range(nq):
            st.dsq[i] = ds[st.qidx[q0 + i]]
        np.dot(st.dsq[:nq], Mn[m0:m0 + nq * nc].reshape((nq, nc)), st.gb[:nc])
        for i in range(nc):
            g[st.cols[c0 + i]] = st.gb[i]


@njit(cache=True)
def snap_masked_chunk(dims, aux, theta, ch, update, losses, st):
    """SnAp-n over one chunk as the masked recursion (masked_influence_step, masked_gradient); update: apply
    the optimizer every step, else add into gacc."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    s, s_new, cache, a = st.s, st.s_new, st.cache, st.a
    yhat, dy, ds, ctr, g, gacc, opt = st.yhat, st.dy, st.ds, st.ctr, st.g, st.gacc, st.opt
    m, S, PR, P = dims[D_M], dims[D_S], dims[D_PREC], dims[D_P]
    for t in range(xs.shape[0]):
        M = st.M[ctr[CURRENT]]
        Mn = st.M[1 - ctr[CURRENT]]
        if resets[t]:
            s[:] = 0.0
            M[:] = 0.0
        tg = ctr[STEPS]
        x = xs[t]
        xi = xis[t]
        cell.step(dims, aux, theta, s, x, xi, tg, s_new, cache)
        cell.jac_state(dims, aux, theta, s, x, xi, tg, s_new, cache, st.J)
        immediate_factors(dims, aux, theta, s, x, xi, tg, s_new, cache, st.D, st.E)
        for j in range(S):
            a[j] = s[j]
        if xi >= 0:
            for j in range(m):
                a[S + j] = 0.0
            a[S + xi] = 1.0
        else:
            for j in range(m):
                a[S + j] = x[j]
        a[S + m] = 1.0
        masked_influence_step(dims, st, M, Mn)
        ctr[CURRENT] = 1 - ctr[CURRENT]
        for j in range(S):
            s[j] = s_new[j]
        readout(dims[:], theta, s, x, xi, yhat)
        lt = loss_grad(dims[D_LOSS], yhat, ys[t], mask[t], dy)
        losses[t] = lt
        ctr[STEPS] += 1
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        if mask[t] == 0.0:
            continue
        ds[:] = 0.0
        for q in range(PR, P):
            g[q] = 0.0
        readout_vjp(dims[:], theta, s, x, xi, dy, g, ds)
        masked_gradient(st, ds, Mn, g)
        if update:
            apply_update(opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g)
        else:
            gacc += g
    return OK, ctr[STEPS]


def _blocks(model, n_steps, unit_pattern=None):
    """The masked kernel's index lists: units grouped by their kept rows Q, each group's columns (ascending),
    and per column its factor, its a-source and its unit's rows' positions in Q."""
    n, S = model.n_hidden, model.n_state
    Q = kept_rows(model, n_steps, unit_pattern)
    unit, fac, src = column_info(model)
    groups: dict[tuple, list[int]] = {}
    for k in range(n):
        groups.setdefault(tuple(Q[k]), []).append(k)
    qoff, qidx, coff, cols, moff = [0], [], [0], [], [0]
    for key, units in groups.items():
        q = np.array(key, np.int64)
        c = np.flatnonzero(np.isin(unit, units))
        qidx.append(q)
        cols.append(c)
        qoff.append(qoff[-1] + len(q))
        coff.append(coff[-1] + len(c))
        moff.append(moff[-1] + len(q) * len(c))
    qidx, cols = np.concatenate(qidx), np.concatenate(cols)
    pos = {}
    for b in range(len(qoff) - 1):
        for i, qq in enumerate(qidx[qoff[b]:qoff[b + 1]]):
            pos[b, int(qq)] = i
    posh = np.empty(len(cols), np.int64)
    posc = np.full(len(cols), -1, np.int64)
    for b in range(len(coff) - 1):
        for i in range(coff[b], coff[b + 1]):
            k = unit[cols[i]]
            posh[i] = pos[b, int(k)]
            if S > n:
                posc[i] = pos[b, int(n + k)]
    return dict(qoff=np.array(qoff, np.int64), qidx=qidx, coff=np.array(coff, np.int64), cols=cols,
                moff=np.array(moff, np.int64), fac=fac[cols].copy(), src=src[cols].copy(), posh=posh, posc=posc)


@register
class SnAp(GradientLearner):
    """SnAp-n: RTRL's influence matrix restricted to the entries that are non-zero within n steps of the
    recurrent core (the pattern from the model's structure). n = 1: O(n^2) time and memory (a unit's own rows
    only); n >= 2 on a dense network: RTRL itself, O(n^4) time and O(n^3) memory; on a sparse pattern what
    it keeps.

    n        the number of steps of the pattern (1: each parameter influences its own unit's state only)
    pattern  "dense": the model's structure (W's non-zero pattern, per model kind, see the module docstring);
             "diagonal": units feed only themselves (the structure of a net with diagonal recurrent weights)"""

    name = "snap"
    display_name = "SnAp"
    reference = "Menick et al. 2021"
    # add task, Elman n = 32, 20k steps, plain SGD, snap:n=1, final test loss over seeds 0, 1, 2: 0.01: 0.491,
    # 0.506, 0.500; 0.02: 0.492, 0.501, 0.500; 0.03: 0.493, 0.505, 0.493; 0.05: 0.496, 0.523, 0.492; 0.1: 0.586
    # (seed 0); 0.3 diverges. snap:n=2 (= RTRL) at 0.03: 0.456, 0.460, 0.463
    default_lr = 0.03
    key_params = ("n",)
    time_exponent = 2.0
    memory_exponent = 2.0
    kernel_family = "snap"
    compile_seconds = 10.0  # snap:n=1 on Elman, empty cache (rnnlearn.overhead.cold_compile_seconds): 10.0 s, 0.47 s cached

    def __init__(self, n: int = 1, pattern: str = "dense"):
        self.n = n
        self.pattern = pattern

    def supports(self, model):
        if self._exact_unit(model):
            return None
        return row_form_missing(model)  # its kept pattern starts from the row form's non-zeros

    @staticmethod
    def _exact_unit(model) -> bool:
        """A diagonal recurrence without the row form (the LRU): every unit's influence stays with the unit, so
        SnAp-n keeps every non-zero entry and is exact RTRL; it runs RTRL's compact-influence kernel
        (rtrl.rtrl_unit_chunk). (On the eLSTM, which has the row form, its own kernel is exact too: tested.)"""
        return bool(getattr(model, "diagonal_recurrence", False)) and not getattr(model, "has_row_form", True)

    def model_cost_exponents(self, model):
        if self._exact_unit(model):
            return RTRL().model_cost_exponents(model)
        return self.cost_exponents()

    def check(self):
        check_int("n", self.n, 1)
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}, got {self.pattern!r}")

    def cost_exponents(self):
        """SnAp-1: O(n^2) time and memory; SnAp-n, n >= 2, on a dense net: RTRL's O(n^4) time, O(n^3) memory."""
        return (2.0, 2.0) if self.n == 1 else (4.0, 3.0)

    def max_n(self):
        return None if self.n == 1 else 128

    def _unit_pattern(self, model, unit_pattern):
        if unit_pattern is not None:
            return unit_pattern
        return np.eye(model.n_hidden, dtype=bool) if self.pattern == "diagonal" else None

    def mask(self, model, unit_pattern=None) -> np.ndarray:
        """The kept entries of the influence matrix (S x P_rec bool)."""
        self.check()
        return snap_mask(model, self.n, self._unit_pattern(model, unit_pattern))

    def flops_per_step(self, model):
        """SnAp-1: 2 (S/n)^2 + 2 S/n multiply-adds per recurrent parameter; SnAp-n: sum over the blocks of
        2 |Q|^2 |cols| (J[Q, Q] M_b) + 2 |Q| |cols| (the gradient); on the LRU, RTRL's compact influence."""
        if self._exact_unit(model):
            return RTRL().flops_per_step(model)
        nc = model.n_state // model.n_hidden
        if self.n == 1:
            return float((2 * nc * nc + 2 * nc) * model.n_rec)
        b = _blocks(model, self.n, self._unit_pattern(model, None))
        nq, ncol = np.diff(b["qoff"]), np.diff(b["coff"])
        return float(np.sum(2.0 * nq * nq * ncol + 2.0 * nq * ncol))

    def init(self, model, theta, optimizer=None, seed=0, unit_pattern=None, masked=None):
        """Fresh state. `unit_pattern` (n x n bool, [k, l]: h_l feeds unit k) overrides the model's structure;
        masked=True runs SnAp-1 through the general masked kernel too (the tests compare the two)."""
        self.check()
        optimizer = optimizer or sgd(0.01)
        if self._exact_unit(model):
            return RTRL().init(model, theta, optimizer)
        S, P, PR, n = model.n_state, model.n_params, model.n_rec, model.n_hidden
        z = np.zeros
        C = max(model.n_cache, 1)
        up = self._unit_pattern(model, unit_pattern)
        common = (z(model.n_out), z(model.n_out), z(S), z(2, np.int64), z(P), z(P), optimizer.init(P))
        if masked is None:
            masked = self.n >= 2  # SnAp-1's kept rows do not depend on the pattern
        if not masked:
            column_info(model)  # the row form must cover every recurrent parameter once
            Jshape = (S, S) if S > n else (1, 1)
            return SnAp1State(z(S), z(S), z((S // n, PR)), z(Jshape), z(S), z(C), *common)
        b = _blocks(model, self.n, up)
        nq, ncol = np.diff(b["qoff"]), np.diff(b["coff"])
        K = int(b["moff"][-1])
        return SnApMaskedState(z(S), z(S), z((2, K)), z((S, S)), z((2, model.dims[D_R])),
                               z((2, model.dims[D_NX])), z(C), z(S + model.n_in + 1), b["qoff"], b["qidx"],
                               b["coff"], b["cols"], b["moff"], b["fac"], b["src"], b["posh"], b["posc"],
                               z(int((nq * nq).max())), z(int(nq.max())), z(int(ncol.max())), *common)

    def _reset(self, model, st, seed):
        """init's values where a gradient-mode run reads them before writing."""
        if self._exact_unit(model):
            return RTRL()._reset(model, st, seed)
        st.s.fill(0.0)
        st.M.fill(0.0)
        st.ctr.fill(0)
        st.gacc.fill(0.0)
        return True

    def _run(self, model, theta, st, chunk, update, flush, losses):
        if self._exact_unit(model):
            return RTRL()._run(model, theta, st, chunk, update, flush, losses)
        kernel = snap1_chunk if isinstance(st, SnAp1State) else snap_masked_chunk
        status, where = kernel(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)

    def influence(self, model, st) -> np.ndarray:
        """The current influence estimate as a dense S x P_rec matrix (zeros off the kept entries)."""
        n, S, PR = model.n_hidden, model.n_state, model.n_rec
        out = np.zeros((S, PR))
        if isinstance(st, SnAp1State):
            unit, _, _ = column_info(model)
            for c in range(S // n):
                out[c * n + unit, np.arange(PR)] = st.M[c]
            return out
        M = st.M[st.ctr[CURRENT]]
        for b in range(len(st.qoff) - 1):
            q = st.qidx[st.qoff[b]:st.qoff[b + 1]]
            c = st.cols[st.coff[b]:st.coff[b + 1]]
            out[np.ix_(q, c)] = M[st.moff[b]:st.moff[b + 1]].reshape(len(q), len(c))
        return out

    def gradient_with_pattern(self, model, theta, xs, ys, unit_pattern=None, masked=None, mask=None,
                              resets=None, x_index=None):
        """(loss, gradient) of one sequence with theta fixed, under an explicit unit pattern (n x n bool) and/or
        through the masked kernel (masked=True)."""
        from rnnlearn.algorithms.base import raise_status
        from rnnlearn.tasks.base import Chunk
        model._check_theta(theta)
        chunk = Chunk.make(xs, ys, mask, resets, x_index)
        model.check_chunk(chunk)
        theta = theta.copy()
        state = self.init(model, theta, sgd(1.0), unit_pattern=unit_pattern, masked=masked)
        losses = np.empty(chunk.mask.shape)
        raise_status(*self._run(model, theta, state, chunk, False, True, losses))
        return float(losses.sum()), state.gacc.copy()
