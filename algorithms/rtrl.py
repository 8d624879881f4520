"""Real-time recurrent learning (Williams and Zipser 1989, Neural Computation 1(2), eq. 10-14).

The influence matrix M_t = ds_t/dtheta_rec (S x P_rec) is carried forward in time:
    M_t = J_t M_{t-1} + Mbar_t,        J_t = ds_t/ds_{t-1},  Mbar_t = immediate Jacobian,
and the gradient of the step's loss is dl_t/dtheta_rec = (dl_t/ds_t) M_t (plus the readout's own
gradient), applied at once: the parameters change every step while M keeps accumulating (the usual online
approximation, exact when the parameters are held fixed). J_t M_{t-1} is one BLAS matrix product into a
second buffer; the two buffers swap roles each step.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.models import cell
from rnnlearn.models.immediate import add_factored_immediate
from rnnlearn.models.layout import D_LOSS, D_P, D_PREC, D_S
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import OptState, apply_update
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, ExactGradient, GradientLearner, register,
                                      row_form_missing)


# RTRLState.ctr[...] (module-level integers: compile-time constants to numba)
STEPS = 0    # steps seen (the absolute time of the next step)
CURRENT = 1  # which of M[0], M[1] is the current influence matrix


class RTRLState(NamedTuple):
    s: np.ndarray      # (S,) state
    s_new: np.ndarray  # (S,)
    M: np.ndarray      # (2, S, P_rec): the influence matrix and its next value; ctr[CURRENT] says which is current
    J: np.ndarray      # (S, S)
    cache: np.ndarray  # (C,)
    yhat: np.ndarray   # (o,)
    dy: np.ndarray     # (o,)
    ds: np.ndarray     # (S,)
    ctr: np.ndarray    # int64 [STEPS, CURRENT]
    g: np.ndarray      # (P,)
    gacc: np.ndarray   # (P,)
    opt: OptState


@njit(cache=True)
def influence_step(dims, aux, theta, s, x, xi, t, s_new, cache, J, M, Mn):
    """One step of the state and of the influence matrix (Williams and Zipser 1989, eq. 12-13):
    s_new = f(s, x_t) and Mn = J_t M + Mbar_t, with J_t = ds_t/ds_{t-1} and J_t M one BLAS product."""
    cell.step(dims, aux, theta, s, x, xi, t, s_new, cache)
    cell.jac_state(dims, aux, theta, s, x, xi, t, s_new, cache, J)
    np.dot(J, M, Mn)
    add_factored_immediate(dims, aux, theta, s, x, xi, t, s_new, cache, Mn)


@njit(cache=True)
def rtrl_chunk(dims, aux, theta, ch, update, losses, st):
    """Run RTRL over one chunk `ch` (ChunkArrays) with state `st` (RTRLState); update: apply the optimizer
    every step, else add into gacc."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    s, s_new, Mb, J, cache, yhat, dy, ds = st.s, st.s_new, st.M, st.J, st.cache, st.yhat, st.dy, st.ds
    ctr, g, gacc, opt = st.ctr, st.g, st.gacc, st.opt
    S = dims[D_S]
    PR = dims[D_PREC]
    P = dims[D_P]
    loss_kind = dims[D_LOSS]
    for t in range(xs.shape[0]):
        M = Mb[ctr[CURRENT]]
        Mn = Mb[1 - ctr[CURRENT]]
        if resets[t]:
            s[:] = 0.0
            M[:, :] = 0.0
        tg = ctr[STEPS]
        influence_step(dims, aux, theta, s, xs[t], xis[t], tg, s_new, cache, J, M, Mn)
        ctr[CURRENT] = 1 - ctr[CURRENT]
        for j in range(S):
            s[j] = s_new[j]
        readout(dims[:], theta, s, yhat)
        lt = loss_grad(loss_kind, yhat, ys[t], mask[t], dy)
        losses[t] = lt
        ctr[STEPS] += 1
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        if mask[t] == 0.0:
            continue  # no error at this step: nothing to learn, M already moved on
        ds[:] = 0.0
        for q in range(PR, P):
            g[q] = 0.0
        readout_vjp(dims[:], theta, s, dy, g, ds)
        np.dot(ds, Mn, g[:PR])
        if update:
            apply_update(opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g)
        else:
            gacc += g
    return OK, ctr[STEPS]


@register
class RTRL(ExactGradient, GradientLearner):
    """Real-time recurrent learning: exact online gradient, parameters updated every step.
    Cost per step: O(n^4) time (J_t M_{t-1}), O(n^3) memory (M)."""

    name = "rtrl"
    display_name = "RTRL"
    reference = "Williams and Zipser 1989"
    default_lr = 0.03
    time_exponent = 4.0
    memory_exponent = 3.0
    bench_max_n = 128
    kernel_family = "rtrl"
    compile_seconds = 4.0  # after truncated BPTT's and the EKF's, with which it shares most callees

    def flops_per_step(self, model):
        """J_t M_{t-1}: 2 S^2 P_rec."""
        return 2.0 * model.n_state ** 2 * model.n_rec

    def __init__(self):
        pass

    def supports(self, model):
        return row_form_missing(model)  # the dense path's M += Mbar_t (add_factored_immediate)

    def init(self, model, theta, optimizer=None, seed=0):
        from rnnlearn.optim import sgd
        optimizer = optimizer or sgd(0.01)
        S, P = model.n_state, model.n_params
        return RTRLState(np.zeros(S), np.zeros(S), np.zeros((2, S, model.n_rec)), np.zeros((S, S)),
                         np.zeros(max(model.n_cache, 1)), np.zeros(model.n_out), np.zeros(model.n_out),
                         np.zeros(S), np.zeros(2, dtype=np.int64), np.zeros(P), np.zeros(P),
                         optimizer.init(P))

    def _reset(self, model, st, seed):
        """init's values where a gradient-mode run reads them before writing: the state, the current
        influence matrix, the counters, the accumulated gradient."""
        st.s.fill(0.0)
        st.M[0].fill(0.0)
        st.ctr.fill(0)
        st.gacc.fill(0.0)
        return True

    def _run(self, model, theta, st, chunk, update, flush, losses):
        status, where = rtrl_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)

    def influence(self, model, state) -> np.ndarray:
        """The current influence matrix M_t = ds_t/dtheta_rec (a view into the state)."""
        return state.M[state.ctr[CURRENT]]
