"""Decoupled neural interfaces with synthetic gradients, DNI (Jaderberg et al. 2017, "Decoupled neural
interfaces using synthetic gradients", ICML, sec. 3.1 and 3.3, its recurrent-network use; the form of
Marschall, Cho and Savin 2020, "A unified framework of online learning algorithms for training recurrent
neural networks", JMLR 21, their DNI section).

Truncated BPTT over non-overlapping windows of k steps (k1 = k2 = k, algorithms/tbptt.py), the error from
beyond each window's last step t1 bootstrapped with a learned synthetic gradient of the state,

    sg(s_{t1}) = A [s_{t1}; 1] ~ dL_{>t1}/ds_{t1},        A: S x (S + 1), initialised to zero,     (1)

added to dL/ds_{t1} before the window is backpropagated (Jaderberg et al., eq. 2 and Fig. 3: BPTT within
the window, with the synthetic gradient injected at its end). The window's parameter gradient is thus
truncated BPTT's plus the synthetic gradient's, sg(s_{t1})^T ds_{t1}/dtheta through the window's steps;
and the module is trained by regression (Jaderberg et al., sec. 3.1: the synthetic gradient is trained
towards the bootstrapped gradient): the target at the window's boundary state s_{t0} (the previous window's
last state) is the error that reaches it, delta_{t0} = dL_window/ds_{t0} including the bootstrapped
sg(s_{t1}) (a constant: no gradient flows into A through it), and

    gA = (A [s_{t0}; 1] - delta_{t0}) [s_{t0}; 1]^T,   A <- A - sg_lr gA,                          (2)

the gradient of 1/2 |sg(s_{t0}) - delta_{t0}|^2, with its own plain-SGD rate sg_lr, once per window. The
first window of a stream has no previous window (s_{t0} = s_0): no regression there. A sequence start inside
the window cuts the flow, and its target is then zero (the true future gradient of the state before a
sequence start). At the end of a sequence given to `gradient` (flush) the future is empty: no synthetic
gradient there, and the shorter last window is backpropagated within itself.

With A = 0 it is truncated BPTT(k; k); with the synthetic gradient held at the true dL_{>t1}/ds_{t1}
(`gradient_with_synthetic`) it is BPTT's gradient exactly (tests/test_dni.py). The synthetic gradient is
over the whole state s (an LSTM's c too), so DNI trains every model. Cost per step: truncated BPTT's
O(n^2), plus O(S^2 / k) for (1) and (2).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, check_int, check_number,
                                      register, raise_status)
from rnnlearn.algorithms.tbptt import (NEWEST, SINCE_UPDATE, STEPS, UNREAD, ZERO, TBPTT, TBPTTState, advance,
                                       fused_sgd_lr, read_out, update_params, window_backward)
from rnnlearn.models.layout import D_S
from rnnlearn.optim import sgd


class DNIState(NamedTuple):
    tb: TBPTTState      # truncated BPTT's ring of the window's steps (B = 1), its gradient g and counters
    A: np.ndarray       # (S, S + 1) the synthetic-gradient module
    gA: np.ndarray      # (S, S + 1) its regression gradient (2) of the last window
    gAacc: np.ndarray   # (S, S + 1) their sum (gradient mode)
    edge: np.ndarray    # (S,) sg(s_{t1}) on the way in, delta_{t0} on the way out
    z0: np.ndarray      # (S + 1,) [s_{t0}; 1]
    fixed: np.ndarray   # (K, S) synthetic gradients held at given values for windows ending at steps < K
    sg_lr: float
    gacc: np.ndarray    # (P,) the gradient summed over windows (gradient mode; tb.gacc itself)


@internal(cache=True)
def close_window(dims, aux, theta, L, st, bootstrap, update, sgd_lr):
    """The end of a window of the newest L steps: tb.g = its gradient with sg(s_{t1}) at its end (1) when
    `bootstrap`, then the module's regression (2): gA, and A stepped (update) or gA summed into gAacc."""
    tb = st.tb
    s_prev, s_next, x, xi, cache = tb.s_prev[0], tb.s_next[0], tb.x[0], tb.xi[0], tb.cache[0]
    dy, dh, reset, tabs, delta = tb.dy[0], tb.dh[0], tb.reset[0], tb.tabs[0], tb.delta[0]
    ds, ds2, tmp, g, gcols, newest = tb.ds[0], tb.ds2[0], tb.tmp[0], tb.g[0], tb.gcols[0], tb.ctr[0, NEWEST]
    H = s_prev.shape[0]
    S = dims[D_S]
    A, edge, z0 = st.A, st.edge, st.z0
    oldest = newest - L + 1
    if oldest < 0:
        oldest += H
    for j in range(S):  # the boundary state before the sweep (which leaves the ring as it is)
        z0[j] = s_prev[oldest, j]
    z0[S] = 1.0
    edge[:] = 0.0
    if bootstrap:
        t1 = tabs[newest]
        if t1 < st.fixed.shape[0]:
            for j in range(S):
                edge[j] = st.fixed[t1, j]
        else:
            s1 = s_next[newest]
            for i in range(S):
                a = A[i, S]
                for j in range(S):
                    a += A[i, j] * s1[j]
                edge[i] = a
    window_backward(dims, aux, theta, L, L, newest, s_prev, s_next, x, xi, cache, dy, dh, reset, tabs, delta,
                    ds, ds2, tmp, g, gcols, sgd_lr, edge)
    if tabs[oldest] == 0:  # the stream's first window: s_{t0} = s_0, no previous window to train
        return
    for i in range(S):
        r = -edge[i]
        for j in range(S + 1):
            r += A[i, j] * z0[j]
        for j in range(S + 1):
            st.gA[i, j] = r * z0[j]
    if update:
        lr = st.sg_lr
        if lr > 0.0:
            for i in range(S):
                for j in range(S + 1):
                    A[i, j] -= lr * st.gA[i, j]
    else:
        gAacc = st.gAacc
        gAacc += st.gA


@njit(cache=True)
def dni_chunk(dims, aux, theta, k, ch, update, flush, losses, st):
    """Run DNI over one chunk `ch` (ChunkArrays of one sequence) with state `st` (DNIState), windows of k
    steps. update: apply the optimizer and step A after each window, else sum the gradients into gacc and
    gAacc. flush: the chunk ends the sequence (no synthetic gradient at its end; the open window closed).
    Returns (status, step)."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    tb = st.tb
    s, s_prev, s_next, x, xi, cache = tb.s[0], tb.s_prev[0], tb.s_next[0], tb.x[0], tb.xi[0], tb.cache[0]
    yhat, dy, reset, tabs, tloc = tb.yhat[0], tb.dy[0], tb.reset[0], tb.tabs[0], tb.tloc[0]
    ctr, g, gacc, gcols, z, opt = tb.ctr[0], tb.g[0], tb.gacc, tb.gcols[0], tb.z[0], tb.opt
    T = xs.shape[0]
    sgd_lr = fused_sgd_lr(dims[:], opt.codes, opt.hyper, s_next, update)
    t = ZERO
    while t < T:
        t_hi = min(T, t + k - ctr[SINCE_UPDATE])
        advance(dims, aux, theta, xs, xis, resets, t, t_hi, s, s_prev, s_next, x, xi, cache, reset, tabs, tloc,
                ctr, z)
        t = t_hi
        if ctr[SINCE_UPDATE] == k:
            bad = read_out(dims[:], theta, ctr[UNREAD], ctr[NEWEST], s_next, x, xi, yhat, dy, tloc, tabs, ys, mask,
                           losses)
            ctr[UNREAD] = 0
            if bad >= 0:
                return NONFINITE_LOSS, bad
            close_window(dims, aux, theta, k, st, not (flush and t == T), update, sgd_lr)
            if update:
                update_params(dims[:], opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g, xi,
                              gcols, sgd_lr)
            else:
                gacc += g
            ctr[SINCE_UPDATE] = 0
    if ctr[UNREAD] > 0:  # steps still waiting for their window's end: their losses now
        bad = read_out(dims[:], theta, ctr[UNREAD], ctr[NEWEST], s_next, x, xi, yhat, dy, tloc, tabs, ys, mask, losses)
        ctr[UNREAD] = 0
        if bad >= 0:
            return NONFINITE_LOSS, bad
    if flush and ctr[SINCE_UPDATE] > 0:
        close_window(dims, aux, theta, ctr[SINCE_UPDATE], st, False, False, 0.0)
        gacc += g
        ctr[SINCE_UPDATE] = 0
    return OK, ctr[STEPS]


@register
class DNI(GradientLearner):
    """DNI: truncated BPTT over windows of k steps, the error from beyond each window bootstrapped with a
    linear synthetic gradient sg(s) = A [s; 1] of the state, A (initialised to zero) trained by regression
    onto the bootstrapped gradient reaching the window's start, by plain SGD at its own rate sg_lr.
    Works on every model. Cost per step: O(n^2) time and memory (truncated BPTT's, plus A).

    k      window length (steps backpropagated, and steps between updates)
    sg_lr  learning rate of the synthetic-gradient module A (0: A stays zero, truncated BPTT(k; k))"""

    name = "dni"
    display_name = "DNI"
    reference = "Jaderberg et al. 2017"
    # add task, Elman n = 32, 20k steps, k = 10, sg_lr = 0.01, final test loss over seeds 0-2: 0.459-0.464 at
    # 0.03, 0.469-0.472 at 0.01, 1.6-10.6 at 0.1. With k = 4: 0.467-0.480 (sg_lr 0.01) against 0.498-0.608
    # with the module off (sg_lr 0, truncated BPTT(4; 4)); sg_lr 0.1 diverges
    default_lr = 0.03
    key_params = ("k",)
    time_exponent = 2.0
    memory_exponent = 2.0
    kernel_family = "dni"
    compile_seconds = 12.0  # 36 s cold here, where truncated BPTT's family (declared 9 s) took 26 s

    def compiles_after(self):
        """Its chunk kernel drives truncated BPTT's ring code."""
        return ("tbptt",)

    def __init__(self, k: int = 10, sg_lr: float = 0.01):
        self.k = k
        self.sg_lr = sg_lr

    def check(self):
        check_int("k", self.k)
        check_number("sg_lr", self.sg_lr, 0.0)

    def init(self, model, theta, optimizer=None, seed=0, A=None, synthetic=None):
        """Fresh state. A (S, S + 1), if given, is the module's starting value (else zero); `synthetic`
        (K, S), if given, holds the synthetic gradient of the windows ending at steps t < K at synthetic[t]
        (the property test: the true dL_{>t}/ds_t), A still learning from its targets."""
        self.check()
        S = model.n_state
        tb = TBPTT(k1=self.k, k2=self.k).init(model, theta, optimizer or sgd(0.01))
        A0 = np.zeros((S, S + 1)) if A is None else np.array(A, dtype=np.float64, order="C")
        fixed = np.zeros((0, S)) if synthetic is None else np.ascontiguousarray(synthetic, dtype=np.float64)
        if A0.shape != (S, S + 1):
            raise ValueError(f"A must have shape ({S}, {S + 1}), got {A0.shape}")
        if fixed.ndim != 2 or fixed.shape[1] != S:
            raise ValueError(f"synthetic must have shape (K, {S}), got {fixed.shape}")
        return DNIState(tb, A0, np.zeros((S, S + 1)), np.zeros((S, S + 1)), np.zeros(S), np.zeros(S + 1), fixed,
                        float(self.sg_lr), tb.gacc)

    def _reset(self, model, st, seed):
        TBPTT._reset(self, model, st.tb, seed)
        st.A.fill(0.0)
        st.gAacc.fill(0.0)
        return True

    def update_period(self, model):
        return int(self.k)

    def end_window(self, model, st):
        """The module's regression steps (2) summed over the window (gAacc), applied: A -= sg_lr sum gA."""
        if self.sg_lr > 0.0:
            st.A[...] -= self.sg_lr * st.gAacc
        st.gAacc.fill(0.0)

    def _run(self, model, theta, st, chunk, update, flush, losses):
        if chunk.xs.ndim != 2:
            raise ValueError("dni takes a chunk of one sequence")
        status, where = dni_chunk(model.dims, model.aux, theta, self.k, ChunkArrays.of(chunk), update, flush,
                                  losses, st)
        return int(status), int(where)

    def gradient_with_synthetic(self, model, theta, xs, ys, sg_values, A=None, mask=None, resets=None,
                                x_index=None):
        """(loss, gradient) of one sequence with theta fixed and the synthetic gradient of the window ending
        at step t held at sg_values[t] (T or fewer rows of S: dL_{>t}/ds_t; only the windows' last steps are
        read), A (default zero) for the windows past the given rows."""
        from rnnlearn.tasks.base import Chunk
        self.check()
        model._check_theta(theta)
        chunk = Chunk.make(xs, ys, mask, resets, x_index)
        model.check_chunk(chunk)
        state = self.init(model, theta, sgd(1.0), A=A, synthetic=sg_values)
        losses = np.empty(chunk.mask.shape)
        raise_status(*self._run(model, theta, state, chunk, False, True, losses))
        return float(losses.sum()), state.gacc.copy()
