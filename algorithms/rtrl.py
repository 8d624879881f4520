"""Real-time recurrent learning (Williams and Zipser 1989, Neural Computation 1(2), eq. 10-14).

The influence matrix M_t = ds_t/dtheta_rec (S x P_rec) is carried forward in time:
    M_t = J_t M_{t-1} + Mbar_t,        J_t = ds_t/ds_{t-1},  Mbar_t = immediate Jacobian,
and the gradient of the step's loss is dl_t/dtheta_rec = (dl_t/ds_t) M_t (plus the readout's own
gradient), applied at once: the parameters change every step while M keeps accumulating (the usual online
approximation, exact when the parameters are held fixed). J_t M_{t-1} is one BLAS matrix product into a
second buffer; the two buffers swap roles each step.

On a model whose recurrence is diagonal by unit (model.diagonal_recurrence: the eLSTM, the LRU; cell.py,
"Structured influence"), M_t's only entries that can be non-zero in the recurrent core's rows are each unit's
own parameters': the state holds them as the compact vector m (model.n_unit_influence,), and a separate
kernel (`rtrl_unit_chunk`) runs the same recursion on them, `cell.unit_influence_step`, and the gradient
`cell.unit_influence_grad` = (dl_t/ds_t) M_t: exact, O(P_rec) time and memory per step, not O(n^4) and
O(n^3). The dense path is unchanged on every model.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.models import cell
from rnnlearn.models.immediate import add_factored_immediate
from rnnlearn.models.layout import D_LOSS, D_M, D_P, D_PREC, D_S
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import OptState, apply_update
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, ExactGradient, GradientLearner, degree_in_n,
                                      register, row_form_missing)


# RTRLState.ctr[...] (module-level integers: compile-time constants to numba)
STEPS = 0    # steps seen (the absolute time of the next step)
CURRENT = 1  # which of M[0], M[1] is the current influence matrix
XI = 1       # RTRLUnitState.ctr: the one-hot index of the last step's input (-1: dense)


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


class RTRLUnitState(NamedTuple):
    """RTRL's state on a diagonal recurrence: the compact influence m instead of M, and what the last step
    saw (s_{t-1}, x_t, its cache), so that `influence` can form M_t."""
    s: np.ndarray       # (S,) state s_t
    s_prev: np.ndarray  # (S,) s_{t-1} of the last step
    x: np.ndarray       # (m,) x_t of the last step
    m: np.ndarray       # (U,) compact influence m_t (cell.py, "Structured influence")
    cache: np.ndarray   # (C,)
    yhat: np.ndarray    # (o,)
    dy: np.ndarray      # (o,)
    ds: np.ndarray      # (S,)
    ctr: np.ndarray     # int64 [STEPS, XI]
    g: np.ndarray       # (P,)
    gacc: np.ndarray    # (P,)
    opt: OptState


@internal(cache=True)
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
        readout(dims[:], theta, s, xs[t], xis[t], yhat)
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
        readout_vjp(dims[:], theta, s, xs[t], xis[t], dy, g, ds)
        np.dot(ds, Mn, g[:PR])
        if update:
            apply_update(opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g)
        else:
            gacc += g
    return OK, ctr[STEPS]


@njit(cache=True)
def rtrl_unit_chunk(dims, aux, theta, ch, update, losses, st):
    """rtrl_chunk on a diagonal recurrence (RTRLUnitState): per step, the state, m_t from m_{t-1}
    (cell.unit_influence_step), and the gradient (dl_t/ds_t) M_t from m_t (cell.unit_influence_grad)."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    s, sp, xl, m, cache, yhat, dy, ds = st.s, st.s_prev, st.x, st.m, st.cache, st.yhat, st.dy, st.ds
    ctr, g, gacc, opt = st.ctr, st.g, st.gacc, st.opt
    S = dims[D_S]
    PR = dims[D_PREC]
    P = dims[D_P]
    nx = dims[D_M]
    loss_kind = dims[D_LOSS]
    for t in range(xs.shape[0]):
        if resets[t]:
            s[:] = 0.0
            m[:] = 0.0
        for j in range(S):
            sp[j] = s[j]
        x = xs[t]
        for j in range(nx):
            xl[j] = x[j]
        ctr[XI] = xis[t]
        tg = ctr[STEPS]
        cell.step(dims, aux, theta, sp, x, xis[t], tg, s, cache)
        cell.unit_influence_step(dims, aux, theta, sp, x, xis[t], tg, s, cache, m)
        readout(dims[:], theta, s, x, xis[t], yhat)   # x: this step's row, taken once (a view a call)
        lt = loss_grad(loss_kind, yhat, ys[t], mask[t], dy)
        losses[t] = lt
        ctr[STEPS] += 1
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        if mask[t] == 0.0:
            continue
        ds[:] = 0.0
        g[:] = 0.0
        readout_vjp(dims[:], theta, s, x, xis[t], dy, g, ds)
        cell.unit_influence_grad(dims, aux, theta, sp, x, xis[t], tg, s, cache, m, ds, g)
        if update:
            apply_update(opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, g)
        else:
            gacc += g
    return OK, ctr[STEPS]


@njit(cache=True)
def unit_influence_matrix(dims, aux, theta, st, M):
    """M = M_t (S x P_rec), row i = e_i^T M_t by cell.unit_influence_grad, from the state's last step."""
    S = dims[D_S]
    PR = dims[D_PREC]
    g = np.zeros(dims[D_P])
    e = np.zeros(S)
    for i in range(S):
        g[:] = 0.0
        e[:] = 0.0
        e[i] = 1.0
        cell.unit_influence_grad(dims, aux, theta, st.s_prev, st.x, st.ctr[XI], st.ctr[STEPS] - 1, st.s,
                                 st.cache, st.m, e, g)
        M[i, :] = g[:PR]


@register
class RTRL(ExactGradient, GradientLearner):
    """Real-time recurrent learning: exact online gradient, parameters updated every step.
    Cost per step: O(n^4) time (J_t M_{t-1}), O(n^3) memory (M); on a diagonal recurrence (the structured
    path) O(P_rec) time and memory, like BPTT's per step (`model_cost_exponents`)."""

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
        """J_t M_{t-1}: 2 S^2 P_rec; structured: a multiply-add per entry of m and of the gradient, 2 (U + P)."""
        if self.structured(model):
            return 2.0 * (model.n_unit_influence + model.n_params)
        return 2.0 * model.n_state ** 2 * model.n_rec

    def model_cost_exponents(self, model):
        """On a diagonal recurrence every step touches each parameter and each entry of m (<= P_rec) a few
        times: time and memory are both of the degree in n of the parameter count (eLSTM 1, the LRU 2)."""
        if not self.structured(model):
            return self.cost_exponents()
        e = degree_in_n(model, lambda mdl: mdl.n_params + mdl.n_unit_influence)
        return e, e

    def bench_fits(self, model):
        return self.structured(model) or super().bench_fits(model)

    def structured(self, model) -> bool:
        """Whether this learner carries the compact influence m (model.diagonal_recurrence) instead of M."""
        return bool(getattr(model, "diagonal_recurrence", False))

    def __init__(self):
        pass

    def supports(self, model):
        if self.structured(model):
            return None  # the compact influence: cell.unit_influence_step
        return row_form_missing(model)  # the dense path's M += Mbar_t (add_factored_immediate)

    def init(self, model, theta, optimizer=None, seed=0):
        from rnnlearn.optim import sgd
        optimizer = optimizer or sgd(0.01)
        S, P = model.n_state, model.n_params
        if self.structured(model):
            return RTRLUnitState(np.zeros(S), np.zeros(S), np.zeros(model.n_in), np.zeros(model.n_unit_influence),
                                 np.zeros(max(model.n_cache, 1)), np.zeros(model.n_out), np.zeros(model.n_out),
                                 np.zeros(S), np.array([0, -1], dtype=np.int64), np.zeros(P), np.zeros(P),
                                 optimizer.init(P))
        return RTRLState(np.zeros(S), np.zeros(S), np.zeros((2, S, model.n_rec)), np.zeros((S, S)),
                         np.zeros(max(model.n_cache, 1)), np.zeros(model.n_out), np.zeros(model.n_out),
                         np.zeros(S), np.zeros(2, dtype=np.int64), np.zeros(P), np.zeros(P),
                         optimizer.init(P))

    def _reset(self, model, st, seed):
        """init's values where a gradient-mode run reads them before writing: the state, the current
        influence matrix, the counters, the accumulated gradient."""
        st.s.fill(0.0)
        st.gacc.fill(0.0)
        if isinstance(st, RTRLUnitState):
            st.m.fill(0.0)
            st.ctr[STEPS] = 0
            return True
        st.M[0].fill(0.0)
        st.ctr.fill(0)
        return True

    def _run(self, model, theta, st, chunk, update, flush, losses):
        kernel = rtrl_unit_chunk if isinstance(st, RTRLUnitState) else rtrl_chunk
        status, where = kernel(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)

    def influence(self, model, state, theta=None) -> np.ndarray:
        """The current influence matrix M_t = ds_t/dtheta_rec: a view into the dense state; on the structured
        state, formed (S x P_rec) from m_t and the last step (theta: the parameters of that step)."""
        if isinstance(state, RTRLUnitState):
            if theta is None:
                raise ValueError("influence: the structured RTRL state needs theta to form M_t")
            M = np.zeros((model.n_state, model.n_rec))
            unit_influence_matrix(model.dims, model.aux, theta, state, M)
            return M
        return state.M[state.ctr[CURRENT]]
