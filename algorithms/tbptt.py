"""Truncated backpropagation through time, BPTT(k2; k1) of Williams and Peng (1990, Neural Computation 2(4)).

Every k1 steps, the errors of those last k1 steps are propagated back k2 >= k1 steps through the stored
history, and the parameters are updated; the state is carried across windows. k1 = k2 gives
non-overlapping windows (epochwise BPTT on consecutive pieces of the stream); k1 = 1 gives BPTT(k2), one
update per step. With the parameters held fixed and k1 = k2 >= T, the gradient is exactly BPTT's.

The last k2 steps live in ring buffers (states before and after each step, inputs, caches, output errors).
A backward sweep runs `vjp_state` from the newest step to the oldest, injecting dL/dy_hat of the newest k1
steps through the readout, and stops the flow at a sequence start (reset); the weight gradients are then
one matrix product over the window (`param_grad`). The history was computed with earlier parameters when
k1 < k2; the sweep uses the current ones, as in Williams and Peng's online algorithm.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from rnnlearn.jit import internal
from rnnlearn.models import cell
from rnnlearn.models.common import clear_input_columns, distinct_columns, project_inputs
from rnnlearn.models.layout import D_G, D_LOSS, D_M, D_N, D_O, D_OU, D_P, D_PREC, D_S, PROJECTED
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import V_ADD, V_SKIP, V_WRITE, readout_rows, readout_sgd_rows, readout_vjp_rows
from rnnlearn.optim import SGD, OptState, apply_update, apply_update_sparse
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, Minibatch, check_int,
                                      register)

# Numba compiles a callee once more for each literal constant it is passed (0, -1, True): constants that reach
# a callee go through these numpy scalars, which it types as plain int64 (0.6-1.3 s of compile each).
ZERO = np.int64(0)
ONE = np.int64(1)
NONE = np.int64(-1)

# The ring's counters, ctr[...] (one int64 array rather than five one-element ones: one argument, and the
# minibatch's counters are one (B, 5) array, ctr[b, NEWEST]). Module-level integers are compile-time
# constants to numba, so ctr[NEWEST] is as fast as ctr[1].
STEPS = 0         # steps seen (the absolute time of the next step)
NEWEST = 1        # ring slot of the newest step
FILLED = 2        # slots holding a step (at most H)
SINCE_UPDATE = 3  # steps since the last window's sweep
UNREAD = 4        # steps whose outputs and losses are not computed yet
N_COUNTERS = 5


class TBPTTState(NamedTuple):
    """Truncated BPTT's arrays, for one sequence or a minibatch of B (B = 1 for one: every per-sequence array
    has the leading batch axis, so both kernels take this one type)."""
    s: np.ndarray        # (B, S) state after the last step
    s_prev: np.ndarray   # (B, H, S) ring: state before each step
    s_next: np.ndarray   # (B, H, S) ring: state after each step
    x: np.ndarray        # (B, H, m) ring: inputs (left stale for one-hot inputs)
    xi: np.ndarray       # (B, H) ring: one-hot index or -1
    cache: np.ndarray    # (B, H, C) ring: what the derivatives need
    yhat: np.ndarray     # (B, H, o) ring: outputs
    dy: np.ndarray       # (B, H, o) ring: dL/dy_hat of each step
    dh: np.ndarray       # (B, H, n) ring: the error each step's output sends into h (dy V)
    reset: np.ndarray    # (B, H) ring: step started a sequence
    tabs: np.ndarray     # (B, H) ring: absolute time of each step
    tloc: np.ndarray     # (B, H) ring: the step's row in the chunk being run
    ctr: np.ndarray      # (B, N_COUNTERS) int64: ctr[b, STEPS], ctr[b, NEWEST], ... (above)
    delta: np.ndarray    # (B, H, G) pre-activation gradients of a sweep
    ds: np.ndarray       # (B, S) sweep workspace
    ds2: np.ndarray      # (B, S) sweep workspace
    tmp: np.ndarray      # (B, o, n) readout-gradient workspace
    g: np.ndarray        # (B, P) gradient of each sequence's last window
    gmean: np.ndarray    # (P,) their mean (minibatch; (0,) for one sequence)
    gacc: np.ndarray     # (P,) gradient summed over windows (gradient mode)
    bad: np.ndarray      # (B,) first non-finite step per sequence, or -1 (minibatch)
    gcols: np.ndarray    # (B, H) one-hot inputs: the columns of g's input block that may be non-zero, or -1
    z: np.ndarray        # (B, H, G) input pre-activations of the steps being advanced
    opt: OptState


@internal(cache=True)
def _newest_rows(newest, count, H):
    """The ring rows of the newest `count` steps as two contiguous ranges [a, b) and [c, d)."""
    first = newest - count + 1
    if first >= 0:
        return first, newest + 1, 0, 0
    return 0, newest + 1, first + H, H


@internal(cache=True)
def read_out(dims, theta, count, newest, s_next, x, xi, yhat, dy, tloc, tabs, ys, mask, losses):
    """Outputs, losses and dL/dy_hat of the newest `count` steps, the outputs as matrix products.
    Returns the absolute time of the first non-finite loss, or -1."""
    H = s_next.shape[0]
    a, b, c, d = _newest_rows(newest, count, H)
    readout_rows(dims, theta, s_next, x, xi, a, b, yhat)
    readout_rows(dims, theta, s_next, x, xi, c, d, yhat)
    bad = _loss_rows(dims, c, d, yhat, dy, tloc, tabs, ys, mask, losses, NONE)  # the older rows first
    return _loss_rows(dims, a, b, yhat, dy, tloc, tabs, ys, mask, losses, bad)


@internal(cache=True)
def _loss_rows(dims, lo, hi, yhat, dy, tloc, tabs, ys, mask, losses, bad):
    for r in range(lo, hi):
        t = tloc[r]
        lt = loss_grad(dims[D_LOSS], yhat[r], ys[t], mask[t], dy[r])
        losses[t] = lt
        if bad < 0 and not np.isfinite(lt):
            bad = tabs[r]
    return bad


@internal(cache=True)
def ring_backward(dims, aux, theta, n_inject, L, newest, s_prev, s_next, x, xi, cache, dh, reset, tabs, delta,
                  ds, ds2, g, gcols, edge=None):
    """The backward sweep over a ring of stored steps, shared by truncated BPTT (`window_backward`) and the
    EKF's truncated-BPTT Jacobian (ekf.truncated_jacobian_row): the errors dh[k] = dL/dh of the newest n_inject
    steps' outputs, each propagated back through the newest L steps (Williams and Peng 1990, eq. 5 with h = L,
    h' = n_inject; Haykin 2001 sec. 2.6.1 with n_inject = 1), by vjp_state from the newest step to the oldest;
    then g[:P_rec] = the recurrent-parameter gradient, one matrix product over the window (param_grad).
    A sequence start (reset) stops the flow: s_prev was the constant s_0; once no error is left to inject
    the sweep ends there (the older rows of delta stay zero). With one-hot inputs, g's input block is touched
    only in the columns of the words seen (gcols: the columns left non-zero by the last sweep into g).
    edge (S,), if given, is the error at the sweep's two ends: on entry dL/ds of the newest step's state from
    beyond the ring (added to the first error: DNI's synthetic gradient, the unit vectors of Schmidhuber's
    fixed-size-storage algorithm), on exit the error that reaches the state before the oldest of the L steps
    (zero when a sequence start cut the flow)."""
    H = s_prev.shape[0]
    n = dims[D_N]
    delta[:, :] = 0.0
    ds[:] = 0.0
    if edge is not None:
        for j in range(ds.shape[0]):
            ds[j] = edge[j]
    cut = False
    for age in range(L):
        k = newest - age
        if k < 0:
            k += H
        if age < n_inject:
            for j in range(n):
                ds[j] += dh[k, j]
        cell.vjp_state(dims, aux, theta, s_prev[k], x[k], xi[k], tabs[k], s_next[k], cache[k], ds,
                       delta[k], ds2)
        if reset[k]:
            if age + 1 >= n_inject:
                cut = True
                break
            ds2[:] = 0.0  # nothing flows into the previous sequence
        ds, ds2 = ds2, ds
    if edge is not None:
        for j in range(ds.shape[0]):
            edge[j] = 0.0 if cut else ds[j]
    onehot = xi[0] >= 0
    if onehot:
        clear_input_columns(dims[:], g, gcols)
    cell.param_grad(dims, aux, theta, s_prev, x, xi, cache, delta, g)
    if onehot:
        distinct_columns(xi, gcols)


@internal(cache=True)
def window_backward(dims, aux, theta, n_inject, L, newest, s_prev, s_next, x, xi, cache, dy, dh, reset, tabs,
                    delta, ds, ds2, tmp, g, gcols, sgd_lr, edge=None):
    """g = gradient of the losses of the newest n_inject steps, each propagated back through the newest L
    steps of the ring. The readout's share (g[V], g[c], and dh = dy V) is computed here for all injected
    steps at once (matrix products); the sweep is `ring_backward`.
    sgd_lr > 0 (plain SGD, state = h): the readout V is stepped here, V -= sgd_lr DY^T H as one product
    accumulating into V, and g[V] is left stale for the update to skip. edge: as in ring_backward."""
    H = s_prev.shape[0]
    P = dims[D_P]
    n, o = dims[D_N], dims[D_O]
    oc = dims[D_PREC] + o * n
    direct = s_next.shape[1] == n  # the readout product can write g[V] itself
    fused = sgd_lr > 0.0 and direct
    for q in range(dims[D_PREC] if not direct else oc, P):
        g[q] = 0.0
    a, b, c, d = _newest_rows(newest, n_inject, H)
    v_mode = V_SKIP if fused else V_WRITE if direct else V_ADD
    readout_vjp_rows(dims[:], theta, s_next, x, xi, dy, a, b, g, dh, tmp, v_mode)
    readout_vjp_rows(dims[:], theta, s_next, x, xi, dy, c, d, g, dh, tmp, V_SKIP if fused else V_ADD)
    if fused:  # after both blocks' DH, which need the old V
        readout_sgd_rows(dims[:], theta, s_next, dy, a, b, sgd_lr)
        readout_sgd_rows(dims[:], theta, s_next, dy, c, d, sgd_lr)
    ring_backward(dims, aux, theta, n_inject, L, newest, s_prev, s_next, x, xi, cache, dh, reset, tabs, delta,
                  ds, ds2, g, gcols, edge)


@internal(cache=True)
def fused_sgd_lr(dims, codes, hyper, s_next, update):
    """The learning rate window_backward steps the readout with (plain SGD on a state that is h), else 0."""
    if update and codes.shape[0] == 1 and codes[0] == SGD and s_next.shape[1] == dims[D_N]:
        return hyper[0, 0]
    return 0.0


@internal(cache=True)
def update_params(dims, codes, hyper, moments, counts, u, theta, g, xi, gcols, sgd_lr):
    """Apply the optimizer to the window's gradient g. One-hot inputs: a stateless optimizer (SGD, clipping)
    skips the input weights of the words not seen. sgd_lr > 0: V was stepped by window_backward."""
    fused = sgd_lr > 0.0
    if xi[0] < 0 and not fused:
        apply_update(codes, hyper, moments, counts, u, theta, g)
        return
    oV = dims[D_PREC]
    skip_hi = oV + dims[D_O] * dims[D_N] if fused else oV
    rows = dims[D_G] if xi[0] >= 0 else 0
    apply_update_sparse(codes, hyper, moments, counts, u, theta, g, dims[D_OU], rows, dims[D_M], gcols, oV,
                        skip_hi)


@internal(cache=True)
def advance(dims, aux, theta, xs, xis, resets, t_lo, t_hi, s, s_prev, s_next, x, xi, cache, reset, tabs, tloc,
            ctr, z):
    """Run the recurrence over rows t_lo .. t_hi-1 of a chunk, keeping each step in the ring. Dense inputs
    of more than one step get their input pre-activations from one matrix product first (z: at least
    t_hi - t_lo rows of G; pass fewer rows to go step by step)."""
    H = s_prev.shape[0]
    S = dims[D_S]
    projected = t_hi - t_lo > 1 and z.shape[0] >= t_hi - t_lo and xis[t_lo] < 0
    if projected:
        project_inputs(dims[:], theta, xs[t_lo:t_hi], z[:t_hi - t_lo])
    for t in range(t_lo, t_hi):
        k = ctr[NEWEST] + 1
        if k == H:
            k = 0
        ctr[NEWEST] = k
        if resets[t]:
            s[:] = 0.0
        reset[k] = resets[t]
        for j in range(S):  # loops, not slice copies: those cost numba about 1.5 s more to compile
            s_prev[k, j] = s[j]
        if xis[t] < 0:
            for j in range(xs.shape[1]):
                x[k, j] = xs[t, j]
        xi[k] = xis[t]
        tabs[k] = ctr[STEPS]
        tloc[k] = t
        if projected:
            cell.step(dims, aux, theta, s_prev[k], z[t - t_lo], PROJECTED, ctr[STEPS], s_next[k], cache[k])
        else:
            cell.step(dims, aux, theta, s_prev[k], xs[t], xis[t], ctr[STEPS], s_next[k], cache[k])
        for j in range(S):
            s[j] = s_next[k, j]
        ctr[STEPS] += 1
        if ctr[FILLED] < H:
            ctr[FILLED] += 1
        ctr[SINCE_UPDATE] += 1
        ctr[UNREAD] += 1


@njit(cache=True)
def tbptt_chunk(dims, aux, theta, k1, ch, update, flush, losses, st):
    """Run truncated BPTT over one chunk `ch` (ChunkArrays of one sequence) with state `st` (TBPTTState,
    B = 1). The recurrence runs step by step (`advance`); outputs, losses and the backward sweep run per
    window, and at the end of the chunk the outputs of the steps still waiting for a window, so every step's
    loss is returned.
    update: apply the optimizer after each window, else add the window's gradient into gacc.
    flush: at the end, also sweep the errors still waiting for a window. Returns (status, step)."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    s, s_prev, s_next, x, xi, cache = st.s[0], st.s_prev[0], st.s_next[0], st.x[0], st.xi[0], st.cache[0]
    yhat, dy, dh, reset, tabs, tloc = st.yhat[0], st.dy[0], st.dh[0], st.reset[0], st.tabs[0], st.tloc[0]
    ctr, delta, ds, ds2, tmp = st.ctr[0], st.delta[0], st.ds[0], st.ds2[0], st.tmp[0]
    g, gacc, gcols, z, opt = st.g[0], st.gacc, st.gcols[0], st.z[0], st.opt
    T = xs.shape[0]
    sgd_lr = fused_sgd_lr(dims[:], opt.codes, opt.hyper, s_next, update)
    t = ZERO
    while t < T:
        t_hi = min(T, t + k1 - ctr[SINCE_UPDATE])
        advance(dims, aux, theta, xs, xis, resets, t, t_hi, s, s_prev, s_next, x, xi, cache, reset, tabs, tloc,
                ctr, z)
        t = t_hi
        if ctr[SINCE_UPDATE] == k1:
            bad = read_out(dims[:], theta, ctr[UNREAD], ctr[NEWEST], s_next, x, xi, yhat, dy, tloc, tabs, ys, mask,
                           losses)
            ctr[UNREAD] = 0
            if bad >= 0:
                return NONFINITE_LOSS, bad
            window_backward(dims, aux, theta, k1, ctr[FILLED], ctr[NEWEST], s_prev, s_next, x, xi, cache, dy,
                            dh, reset, tabs, delta, ds, ds2, tmp, g, gcols, sgd_lr)
            if update:
                update_params(dims[:], opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g, xi,
                              gcols, sgd_lr)
            else:
                gacc += g
            ctr[SINCE_UPDATE] = 0
    if ctr[UNREAD] > 0:  # steps of this chunk still waiting for their window: their losses now
        bad = read_out(dims[:], theta, ctr[UNREAD], ctr[NEWEST], s_next, x, xi, yhat, dy, tloc, tabs, ys, mask, losses)
        ctr[UNREAD] = 0
        if bad >= 0:
            return NONFINITE_LOSS, bad
    if flush and ctr[SINCE_UPDATE] > 0:
        window_backward(dims, aux, theta, ctr[SINCE_UPDATE], ctr[FILLED], ctr[NEWEST], s_prev, s_next, x, xi,
                        cache, dy, dh, reset, tabs, delta, ds, ds2, tmp, g, gcols, 0.0)
        gacc += g
        ctr[SINCE_UPDATE] = 0
    return OK, ctr[STEPS]


@njit(cache=True)
def tbptt_batch_chunk(dims, aux, theta, k1, ch, update, flush, losses, st):
    """Truncated BPTT on a minibatch of B independent sequences (`ch`: ChunkArrays with a leading B axis;
    `st`: TBPTTState). The sequences advance in lockstep; at each window end each one's gradient is computed
    in parallel (prange over the batch, one core each), the mean gradient makes one update."""
    o = st.opt
    return _batch_chunk(dims, aux, theta, k1, ch.xs, ch.ys, ch.mask, ch.resets, ch.xis, update, flush, losses,
                        st.s, st.s_prev, st.s_next, st.x, st.xi, st.cache, st.yhat, st.dy, st.dh, st.reset,
                        st.tabs, st.tloc, st.ctr, st.delta, st.ds, st.ds2, st.tmp, st.g, st.gmean, st.gacc, st.bad,
                        st.gcols, st.z, o.codes, o.hyper, o.moments, o.counts, o.scratch)


@njit(cache=True, parallel=True)
def _batch_chunk(dims, aux, theta, k1, xs, ys, mask, resets, xis, update, flush, losses,
                 s, s_prev, s_next, x, xi, cache, yhat, dy, dh, reset, tabs, tloc, ctr, delta, ds, ds2, tmp,
                 g, gmean, gacc, bad, gcols, z, codes, hyper, moments, counts, u):
    """tbptt_batch_chunk's body, on the state's arrays one by one (the order of TBPTTState's fields): numba's
    parallel loops computed wrong gradients from arrays unpacked from the NamedTuple in the same function."""
    B = xs.shape[0]
    T = xs.shape[1]
    t = ZERO
    while t < T:
        t_hi = min(T, t + k1 - ctr[0, SINCE_UPDATE])
        full = ctr[0, SINCE_UPDATE] + (t_hi - t) == k1
        for b in prange(B):
            advance(dims, aux, theta, xs[b], xis[b], resets[b], t, t_hi, s[b], s_prev[b], s_next[b], x[b], xi[b],
                    cache[b], reset[b], tabs[b], tloc[b], ctr[b], z[b])
            if full:
                bad[b] = read_out(dims[:], theta, ctr[b, UNREAD], ctr[b, NEWEST], s_next[b], x[b], xi[b], yhat[b],
                                  dy[b], tloc[b], tabs[b], ys[b], mask[b], losses[b])
                ctr[b, UNREAD] = 0
                window_backward(dims, aux, theta, k1, ctr[b, FILLED], ctr[b, NEWEST], s_prev[b], s_next[b], x[b],
                                xi[b], cache[b], dy[b], dh[b], reset[b], tabs[b], delta[b], ds[b], ds2[b], tmp[b],
                                g[b], gcols[b], 0.0)
                ctr[b, SINCE_UPDATE] = 0
        t = t_hi
        if full:
            for b in range(B):
                if bad[b] >= 0:
                    return NONFINITE_LOSS, bad[b]
            _batch_mean(g, gmean)
            if update:
                apply_update(codes, hyper, moments, counts, u, theta, gmean)
            else:
                gacc += gmean
    for b in prange(B):
        bad[b] = -1
        if ctr[b, UNREAD] > 0:
            bad[b] = read_out(dims[:], theta, ctr[b, UNREAD], ctr[b, NEWEST], s_next[b], x[b], xi[b], yhat[b], dy[b],
                              tloc[b], tabs[b], ys[b], mask[b], losses[b])
            ctr[b, UNREAD] = 0
        if flush and ctr[b, SINCE_UPDATE] > 0:
            window_backward(dims, aux, theta, ctr[b, SINCE_UPDATE], ctr[b, FILLED], ctr[b, NEWEST], s_prev[b],
                            s_next[b], x[b], xi[b], cache[b], dy[b], dh[b], reset[b], tabs[b], delta[b], ds[b],
                            ds2[b], tmp[b], g[b], gcols[b], 0.0)
    for b in range(B):
        if bad[b] >= 0:
            return NONFINITE_LOSS, bad[b]
    if flush and ctr[0, SINCE_UPDATE] > 0:
        _batch_mean(g, gmean)
        gacc += gmean
        ctr[:, SINCE_UPDATE] = 0
    return OK, ctr[0, STEPS]


@internal(cache=True)
def _batch_mean(g, out):
    B = g.shape[0]
    for q in range(g.shape[1]):
        a = 0.0
        for b in range(B):
            a += g[b, q]
        out[q] = a / B


@register
class TBPTT(Minibatch, GradientLearner):
    """Truncated BPTT(k2; k1) (Williams and Peng 1990): every k1 steps, backpropagate k2 steps.

    k1 = k2: non-overlapping windows; k1 = 1: BPTT(k2) with an update every step. Requires k2 >= k1.
    batch > 1 trains on that many independent sequences at once (chunks with a leading batch axis, see
    Chunk.stack), one core per sequence, one update per window with the batch's mean gradient.
    Cost per step: O((k2/k1) n^2) time, O(k2 n + n^2) memory."""

    name = "tbptt"
    display_name = "TBPTT"
    reference = "Williams and Peng 1990"
    default_lr = 0.03
    key_params = ("k1", "k2")
    time_exponent = 2.0
    memory_exponent = 2.0
    kernel_family = "tbptt"
    compile_seconds = 10.5  # measured cold on a fresh clone

    @classmethod
    def bench_params(cls, T):
        return {"k1": 10, "k2": 10}  # windows of 10, as the numpy references in BENCHMARKS.md

    def __init__(self, k1: int = 10, k2: int = 10, batch: int = 1):
        self.k1 = k1
        self.k2 = k2
        self.batch = batch

    def check(self):
        check_int("k1", self.k1)
        check_int("k2", self.k2)
        check_int("batch", self.batch)
        if self.k2 < self.k1:
            raise ValueError(f"k2 must be >= k1 (errors of the last k1 steps travel back k2 steps), "
                             f"got k1={self.k1}, k2={self.k2}")

    @property
    def _window(self):
        return self.k1, self.k2

    def init(self, model, theta, optimizer=None, seed=0):
        from rnnlearn.optim import sgd
        self.check()
        optimizer = optimizer or sgd(0.01)
        k1, H = self._window
        S, G, C, P = model.n_state, model.n_delta, max(model.n_cache, 1), model.n_params
        n, o, m = model.n_hidden, model.n_out, model.n_in
        B = self.batch
        z = lambda *shape, dtype=np.float64: np.zeros((B,) + shape, dtype=dtype)
        ctr = z(N_COUNTERS, dtype=np.int64)
        ctr[:, NEWEST] = H - 1
        return TBPTTState(z(S), z(H, S), z(H, S), z(H, m), z(H, dtype=np.int64), z(H, C), z(H, o), z(H, o),
                          z(H, n), z(H, dtype=np.bool_), z(H, dtype=np.int64), z(H, dtype=np.int64), ctr, z(H, G),
                          z(S), z(S), z(o, n), z(P), np.zeros(P if B > 1 else 0), np.zeros(P),
                          np.full(B, -1, np.int64), np.full((B, H), -1, np.int64), z(H, G), optimizer.init(P))

    def _reset(self, model, st, seed):
        """init's values where a gradient-mode run reads them before writing: the state, the counters, the
        gradients and the one-hot columns (a sweep adds into g's columns of one-hot inputs: a dense call
        before leaves the whole input block written). The rings are read only in their FILLED newest steps."""
        st.s.fill(0.0)
        st.ctr.fill(0)
        st.ctr[:, NEWEST] = st.s_prev.shape[1] - 1
        st.g.fill(0.0)
        st.gacc.fill(0.0)
        st.gcols.fill(-1)
        return True

    def _run(self, model, theta, st, chunk, update, flush, losses):
        ch = ChunkArrays.of(chunk)
        if self.batch == 1:
            if chunk.xs.ndim != 2:
                raise ValueError("a learner with batch=1 takes a chunk of one sequence")
            status, where = tbptt_chunk(model.dims, model.aux, theta, self._window[0], ch, update, flush, losses,
                                        st)
        else:
            if chunk.xs.ndim != 3 or chunk.xs.shape[0] != self.batch:
                raise ValueError(f"batch={self.batch}: give a chunk of {self.batch} stacked sequences "
                                 "(Chunk.stack)")
            status, where = tbptt_batch_chunk(model.dims, model.aux, theta, self._window[0], ch, update, flush,
                                              losses, st)
        return int(status), int(where)
