"""Schmidhuber's fixed-size-storage exact online algorithm (Schmidhuber 1992, "A fixed size storage O(n^3)
time complexity learning algorithm for fully recurrent continually running networks", Neural Computation
4(2): 243-248).

The stream is cut into blocks of h steps (hyperparameter `block`, default h = S, the state size, which
gives the title's O(n^3) average time per step). Within a block the steps are kept (truncated BPTT's ring,
algorithms/tbptt.py); across blocks only RTRL's influence matrix at the block's start, M_{t0} =
ds_{t0}/dtheta_rec (S x P_rec; Williams and Zipser's p^k_ij), is carried. At the block's end t1:

    dE_block/dtheta_rec = sum_{t in block} delta_t^T Mbar_t + delta_{t0}^T M_{t0}                     (1)

with delta_t the block's errors backpropagated within the block (BPTT) and delta_{t0} = dE_block/ds_{t0}
what reaches the carried state; and the influence matrix at the block's end by S more backward passes
through the block, one per state unit k, each started from the unit vector e_k at s_{t1}:

    M_{t1}[k] = ds_{t1,k}/dtheta_rec = sum_{t in block} gamma^k_t^T Mbar_t + gamma^k_{t0}^T M_{t0},   (2)
    gamma^k_{t1} = e_k,   gamma^k_{t-1} = J_t^T gamma^k_t,

i.e. M_{t1} = (the block's immediate part, row by row) + Gamma M_{t0} with Gamma = ds_{t1}/ds_{t0} (S x S)
the block's Jacobian, one BLAS product. With h = S: S passes of O(h n^2) plus param_grad products of
O(h n^2) each, and the S^2 P_rec product, all O(n^4) per block of n steps, O(n^3) per step on average;
storage O(n^3) (M) plus the ring of h states. With the parameters fixed, the gradient of every step's loss
is available exactly at the end of its block (RTRL's and BPTT's gradient: tests/test_fss.py).

Update timing (a choice; the paper's point is the exact online gradient at the block boundaries): the
parameters are updated once per block, at its end, with the block's summed gradient (1), after M_{t1} has
been computed with the parameters that ran the block. Afterwards M_{t1} is carried into the next block
computed with the new parameters, as RTRL carries M_t across its per-step updates (exact only for fixed
parameters). At the end of a sequence given to `gradient` (flush) the shorter last block is closed the
same way.

Everything is written over the model interface (vjp_state and param_grad through truncated BPTT's sweep,
`ring_backward`, whose `edge` argument starts a pass from e_k and returns gamma^k_{t0}), so it trains every
model; a sequence start inside a block cuts the passes there (M of the reset state is zero).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import NONFINITE_LOSS, OK, ChunkArrays, ExactGradient, GradientLearner, \
    check_int, register
from rnnlearn.algorithms.tbptt import (NEWEST, SINCE_UPDATE, STEPS, UNREAD, ZERO, TBPTT, TBPTTState, advance,
                                       fused_sgd_lr, read_out, ring_backward, update_params, window_backward)
from rnnlearn.blas import gemm
from rnnlearn.models.layout import D_G, D_M, D_OU, D_PREC, D_S


class FSSState(NamedTuple):
    tb: TBPTTState      # truncated BPTT's ring of the block's steps (B = 1), its gradient g and counters
    M: np.ndarray       # (2, S, P_rec): the influence matrix at the block's start and the next one's
    cur: np.ndarray     # (1,) int64: which of M[0], M[1] is current
    Gam: np.ndarray     # (S, S): the block's Jacobian ds_{t1}/ds_{t0}, row k = gamma^k_{t0}
    edge: np.ndarray    # (S,) the error at a pass's two ends
    gk: np.ndarray      # (P,) one unit's pass: its recurrent-parameter gradient (row k of M_{t1}'s block part)
    gcols: np.ndarray   # (H,) int64: one-hot columns of gk left non-zero by the last pass
    gacc: np.ndarray    # (P,) the gradient summed over blocks (gradient mode; tb.gacc itself)
    dense: np.ndarray   # (1,) int64 [-1]: tells update_params to update every input weight (one-hot too)


@internal(cache=True)
def close_block(dims, aux, theta, L, st, sgd_lr):
    """The end of a block of the newest L steps: tb.g = the block's gradient (1), then M_{t1} by (2) into
    the other M buffer, which becomes current."""
    tb = st.tb
    s_prev, s_next, x, xi, cache = tb.s_prev[0], tb.s_next[0], tb.x[0], tb.xi[0], tb.cache[0]
    dy, dh, reset, tabs, delta = tb.dy[0], tb.dh[0], tb.reset[0], tb.tabs[0], tb.delta[0]
    ds, ds2, tmp, g, gcols, newest = tb.ds[0], tb.ds2[0], tb.tmp[0], tb.g[0], tb.gcols[0], tb.ctr[0, NEWEST]
    S, PR = dims[D_S], dims[D_PREC]
    M = st.M[st.cur[0]]
    Mn = st.M[1 - st.cur[0]]
    edge, gk = st.edge, st.gk
    # (1): the block's losses backpropagated within the block, then through the carried influence matrix.
    # One-hot inputs: M reaches the input weights of earlier blocks' words, so g's input block is not
    # sparse in this block's words (as truncated BPTT's is): cleared whole, updated whole (st.dense).
    if xi[0] >= 0:
        oU = dims[D_OU]
        for q in range(oU, oU + dims[D_G] * dims[D_M]):
            g[q] = 0.0
    edge[:] = 0.0
    window_backward(dims, aux, theta, L, L, newest, s_prev, s_next, x, xi, cache, dy, dh, reset, tabs, delta,
                    ds, ds2, tmp, g, gcols, sgd_lr, edge)
    np.dot(edge, M, Mn[0])  # Mn[0] as scratch: the first pass below overwrites it
    Mn0 = Mn[0]
    for q in range(PR):
        g[q] += Mn0[q]
    # (2): one backward pass per state unit, from e_k at s_{t1}
    for k in range(S):
        edge[:] = 0.0
        edge[k] = 1.0
        ring_backward(dims, aux, theta, ZERO, L, newest, s_prev, s_next, x, xi, cache, dh, reset, tabs, delta,
                      ds, ds2, gk, st.gcols, edge)
        Mk = Mn[k]
        for q in range(PR):
            Mk[q] = gk[q]
        for j in range(S):
            st.Gam[k, j] = edge[j]
    gemm(1.0, st.Gam, M, 1.0, Mn)  # + Gamma M_{t0}
    st.cur[0] = 1 - st.cur[0]


@njit(cache=True)
def fss_chunk(dims, aux, theta, h, ch, update, flush, losses, st):
    """Run the fixed-size-storage algorithm over one chunk `ch` (ChunkArrays of one sequence) with state `st`
    (FSSState), blocks of h steps. update: apply the optimizer at each block's end, else add the block's
    gradient into gacc. flush: at the end, close the block still open. Returns (status, step)."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    tb = st.tb
    s, s_prev, s_next, x, xi, cache = tb.s[0], tb.s_prev[0], tb.s_next[0], tb.x[0], tb.xi[0], tb.cache[0]
    yhat, dy, reset, tabs, tloc = tb.yhat[0], tb.dy[0], tb.reset[0], tb.tabs[0], tb.tloc[0]
    ctr, g, gacc, gcols, z, opt = tb.ctr[0], tb.g[0], tb.gacc, tb.gcols[0], tb.z[0], tb.opt
    T = xs.shape[0]
    sgd_lr = fused_sgd_lr(dims[:], opt.codes, opt.hyper, s_next, update)
    t = ZERO
    while t < T:
        t_hi = min(T, t + h - ctr[SINCE_UPDATE])
        advance(dims, aux, theta, xs, xis, resets, t, t_hi, s, s_prev, s_next, x, xi, cache, reset, tabs, tloc,
                ctr, z)
        t = t_hi
        if ctr[SINCE_UPDATE] == h:
            bad = read_out(dims[:], theta, ctr[UNREAD], ctr[NEWEST], s_next, x, xi, yhat, dy, tloc, tabs, ys, mask,
                           losses)
            ctr[UNREAD] = 0
            if bad >= 0:
                return NONFINITE_LOSS, bad
            close_block(dims, aux, theta, h, st, sgd_lr)
            if update:
                update_params(dims[:], opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g,
                              st.dense, gcols, sgd_lr)
            else:
                gacc += g
            ctr[SINCE_UPDATE] = 0
    if ctr[UNREAD] > 0:  # steps still waiting for their block's end: their losses now
        bad = read_out(dims[:], theta, ctr[UNREAD], ctr[NEWEST], s_next, x, xi, yhat, dy, tloc, tabs, ys, mask, losses)
        ctr[UNREAD] = 0
        if bad >= 0:
            return NONFINITE_LOSS, bad
    if flush and ctr[SINCE_UPDATE] > 0:
        close_block(dims, aux, theta, ctr[SINCE_UPDATE], st, 0.0)
        gacc += g
        ctr[SINCE_UPDATE] = 0
    return OK, ctr[STEPS]


@register
class FSS(ExactGradient, GradientLearner):
    """Schmidhuber's fixed-size-storage algorithm: blocks of `block` steps of BPTT joined by RTRL's influence
    matrix, carried only at block boundaries and advanced there by S backward passes through the block.
    The exact online gradient; parameters updated at each block's end with the block's summed gradient.

    block  steps per block (None: the state size S, the paper's h = n, O(n^3) time per step on average).
    Cost per step: O(n^3) time (average) and memory with block = S; O(n^4 / h) time with a fixed h."""

    name = "fss"
    display_name = "FSS"
    reference = "Schmidhuber 1992"
    # add task, Elman n = 32, 20k steps, final test loss over seeds 0-2: 0.456-0.462 at 0.03, 0.458-0.462 at
    # 0.02, 0.462-0.471 at 0.01; 0.05 and 0.1 diverge to losses above 3
    default_lr = 0.03
    time_exponent = 3.0
    memory_exponent = 3.0
    bench_max_n = 128
    kernel_family = "fss"
    compile_seconds = 14.0  # 42 s cold here, where truncated BPTT's family (declared 9 s) took 26 s

    def compiles_after(self):
        """Its chunk kernel drives truncated BPTT's ring code."""
        return ("tbptt",)

    def __init__(self, block: int | None = None):
        self.block = block

    def check(self):
        if self.block is not None:
            check_int("block", self.block)

    def cost_exponents(self):
        return (3.0, 3.0) if self.block is None else (4.0, 3.0)

    def block_length(self, model) -> int:
        return model.n_state if self.block is None else int(self.block)

    def update_period(self, model) -> int:
        return self.block_length(model)

    def flops_per_step(self, model):
        """Per block of h steps: S param_grad products over the block (2 h G (S + m) each), Gamma M_{t0}
        (2 S^2 P_rec) and the block's loss gradient; divided by h."""
        S, G, m, h = model.n_state, model.n_delta, model.n_in, self.block_length(model)
        return 2.0 * S * G * (S + m + 1) + 2.0 * S * S * model.n_rec / h

    def init(self, model, theta, optimizer=None, seed=0):
        from rnnlearn.optim import sgd
        self.check()
        h = self.block_length(model)
        tb = TBPTT(k1=h, k2=h).init(model, theta, optimizer or sgd(0.01))
        S, P = model.n_state, model.n_params
        return FSSState(tb, np.zeros((2, S, model.n_rec)), np.zeros(1, np.int64), np.zeros((S, S)), np.zeros(S),
                        np.zeros(P), np.full(h, -1, np.int64), tb.gacc, np.full(1, -1, np.int64))

    def _reset(self, model, st, seed):
        TBPTT._reset(self, model, st.tb, seed)
        st.M[st.cur[0]].fill(0.0)
        st.gcols.fill(-1)
        st.gk.fill(0.0)
        return True

    def _run(self, model, theta, st, chunk, update, flush, losses):
        if chunk.xs.ndim != 2:
            raise ValueError("fss takes a chunk of one sequence")
        status, where = fss_chunk(model.dims, model.aux, theta, self.block_length(model), ChunkArrays.of(chunk),
                                  update, flush, losses, st)
        return int(status), int(where)

    def influence(self, model, state) -> np.ndarray:
        """The influence matrix M_{t0} = ds_{t0}/dtheta_rec at the start of the open block (a view)."""
        return state.M[state.cur[0]]
