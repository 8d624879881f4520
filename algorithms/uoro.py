"""Unbiased online recurrent optimisation, UORO (Tallec and Ollivier 2017, "Unbiased online recurrent
optimization", ICLR 2018, Algorithm 1).

RTRL's influence matrix M_t = ds_t/dtheta_rec (S x P_rec, O(n^3) memory, O(n^4) time per step) is replaced
by a rank-one estimate u_t v_t^T whose expectation is M_t:

    u_t = rho_0 J_t u_{t-1} + rho_1 nu_t,          v_t = v_{t-1} / rho_0 + nu_t^T Mbar_t / rho_1,
    rho_0 = sqrt(|v_{t-1}| / |J_t u_{t-1}|),       rho_1 = sqrt(|nu_t^T Mbar_t| / |nu_t|)     (sec. 3, eq. 7-8)

with nu_t a vector of independent random signs. E[nu nu^T] = I and the cross terms are odd in nu, so
E[u_t v_t^T] = J_t E[u_{t-1} v_{t-1}^T] + Mbar_t: with the parameters held fixed, the mean over all sign
patterns of the gradient estimate (dl_t/ds_t . u_t) v_t is RTRL's gradient exactly (tests/test_uoro.py
enumerates them). rho_0 and rho_1 minimise the variance of the two cross terms (Tallec and Ollivier, prop. 1).

Everything is written over the model interface, so UORO trains every model: J_t u by the state Jacobian,
and nu^T Mbar_t as the vector-Jacobian product of one step with s_{t-1} held fixed (vjp_state with
ds = nu, then param_grad over a one-row window). Cost per step: O(n^2) time and memory.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, Stochastic,
                                      check_number, register)
from rnnlearn.models import cell
from rnnlearn.models.common import clear_input_columns
from rnnlearn.models.layout import D_LOSS, D_M, D_P, D_PREC, D_S
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import OptState, apply_update, sgd


class UOROState(NamedTuple):
    s_prev: np.ndarray   # (1, S) the state before the step (a one-row window for param_grad)
    s: np.ndarray        # (S,) the state after it
    x: np.ndarray        # (1, m) the step's input
    xi: np.ndarray       # (1,) int64 its one-hot index or -1
    cache: np.ndarray    # (1, C) what the derivatives need
    J: np.ndarray        # (S, S) state Jacobian
    u: np.ndarray        # (S,) the rank-one influence estimate M ~ u v^T ...
    v: np.ndarray        # (P,) ... (its first P_rec entries; the rest is workspace)
    Ju: np.ndarray       # (S,) J_t u_{t-1}
    nu: np.ndarray       # (S,) the step's random signs
    nuM: np.ndarray      # (P,) nu^T Mbar_t (its first P_rec entries)
    delta: np.ndarray    # (1, G) pre-activation gradient of nu
    ds_prev: np.ndarray  # (S,) workspace of vjp_state
    yhat: np.ndarray     # (o,)
    dy: np.ndarray       # (o,)
    ds: np.ndarray       # (S,) dl_t/ds_t
    g: np.ndarray        # (P,) the step's gradient estimate
    gacc: np.ndarray     # (P,) their sum (gradient mode)
    steps: np.ndarray    # (1,) int64: steps seen
    signs: np.ndarray    # (K, S) fixed signs for steps 0..K-1 (K = 0: drawn from rng)
    rng: np.random.Generator
    eps: float
    opt: OptState


@njit(cache=True)
def _norm(v, k):
    a = 0.0
    for i in range(k):
        a += v[i] * v[i]
    return np.sqrt(a)


@njit(cache=True)
def uoro_chunk(dims, aux, theta, ch, update, losses, st):
    """Run UORO over one chunk (ch: ChunkArrays); update: apply the optimizer every step, else add into gacc."""
    xs, ys, mask, resets, xis = ch
    o = st.opt
    S, PR, P = dims[D_S], dims[D_PREC], dims[D_P]
    m = dims[D_M]
    eps = st.eps
    s_prev = st.s_prev[0]
    for t in range(xs.shape[0]):
        tg = st.steps[0]
        if resets[t]:
            st.s[:] = 0.0
            st.u[:] = 0.0
            st.v[:] = 0.0
        for j in range(S):
            s_prev[j] = st.s[j]
        if xis[t] < 0:
            for j in range(m):
                st.x[0, j] = xs[t, j]
        st.xi[0] = xis[t]
        cell.step(dims, aux, theta, s_prev, xs[t], xis[t], tg, st.s, st.cache[0])
        cell.jac_state(dims, aux, theta, s_prev, xs[t], xis[t], tg, st.s, st.cache[0], st.J)
        np.dot(st.J, st.u, st.Ju)
        if tg < st.signs.shape[0]:
            for j in range(S):
                st.nu[j] = st.signs[tg, j]
        else:
            for j in range(S):
                st.nu[j] = 1.0 if st.rng.random() < 0.5 else -1.0
        # nu^T Mbar_t: the step's vector-Jacobian product with s_{t-1} held fixed
        cell.vjp_state(dims, aux, theta, s_prev, xs[t], xis[t], tg, st.s, st.cache[0], st.nu, st.delta[0],
                       st.ds_prev)
        cell.param_grad(dims, aux, theta, st.s_prev, st.x, st.xi, st.cache, st.delta, st.nuM)
        rho0 = np.sqrt((_norm(st.v, PR) + eps) / (_norm(st.Ju, S) + eps))
        rho1 = np.sqrt((_norm(st.nuM, PR) + eps) / (_norm(st.nu, S) + eps))
        for j in range(S):
            st.u[j] = rho0 * st.Ju[j] + rho1 * st.nu[j]
        a0 = 1.0 / rho0
        a1 = 1.0 / rho1
        for q in range(PR):
            st.v[q] = a0 * st.v[q] + a1 * st.nuM[q]
        if xis[t] >= 0:  # one-hot input: param_grad added into this column only; leave the block zero
            clear_input_columns(dims[:], st.nuM, st.xi)
        st.steps[0] += 1
        readout(dims[:], theta, st.s, st.yhat)
        lt = loss_grad(dims[D_LOSS], st.yhat, ys[t], mask[t], st.dy)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        if mask[t] == 0.0:
            continue
        st.ds[:] = 0.0
        for q in range(PR, P):
            st.g[q] = 0.0
        readout_vjp(dims[:], theta, st.s, st.dy, st.g, st.ds)
        c = 0.0
        for j in range(S):
            c += st.ds[j] * st.u[j]
        for q in range(PR):
            st.g[q] = c * st.v[q]
        if update:
            apply_update(o.codes, o.hyper, o.moments, o.counts, o.scratch, theta, st.g)
        else:
            for q in range(P):
                st.gacc[q] += st.g[q]
    return OK, st.steps[0]


@register
class UORO(Stochastic, GradientLearner):
    """Unbiased online recurrent optimisation: a rank-one, unbiased estimate of RTRL's influence matrix,
    updated every step with random signs. Works on every model. Cost per step: O(n^2) time and memory.

    eps  guards rho_0 and rho_1 against 0/0 at the start of a sequence (u = v = 0)."""

    name = "uoro"
    display_name = "UORO"
    reference = "Tallec and Ollivier 2017"
    default_lr = 0.001  # add task, Elman n = 32, 20k steps: 0.50-0.57 at 0.001 (3 seeds); 0.002 and above fall back to 0.66
    time_exponent = 2.0
    memory_exponent = 2.0
    kernel_family = "uoro"
    compile_seconds = 4.0

    def __init__(self, eps: float = 1e-7):
        self.eps = eps

    def check(self):
        check_number("eps", self.eps, 0.0, lo_open=True)

    def init(self, model, theta, optimizer=None, seed=0, signs=None):
        """Fresh state; `signs` (K, S), if given, fixes the signs of the first K steps (the exhaustive
        unbiasedness test), the rest are drawn from a Generator seeded with `seed`."""
        self.check()
        optimizer = optimizer or sgd(0.01)
        S, G, C, P = model.n_state, model.n_delta, max(model.n_cache, 1), model.n_params
        fixed = np.zeros((0, S)) if signs is None else np.ascontiguousarray(signs, dtype=np.float64)
        if fixed.ndim != 2 or fixed.shape[1] != S:
            raise ValueError(f"signs must have shape (K, {S}), got {fixed.shape}")
        z = np.zeros
        return UOROState(z((1, S)), z(S), z((1, model.n_in)), np.full(1, -1, np.int64), z((1, C)), z((S, S)),
                         z(S), z(P), z(S), z(S), z(P), z((1, G)), z(S), z(model.n_out), z(model.n_out), z(S),
                         z(P), z(P), z(1, np.int64), fixed, self.make_rng(seed), float(self.eps),
                         optimizer.init(P))

    def _run(self, model, theta, st, chunk, update, flush, losses):
        status, where = uoro_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)

    def gradient_with_signs(self, model, theta, xs, ys, signs, mask=None, resets=None, x_index=None):
        """(loss, gradient estimate) of one sequence with theta fixed and the signs nu_t = signs[t] given."""
        from rnnlearn.algorithms.base import raise_status
        from rnnlearn.tasks.base import Chunk
        model._check_theta(theta)
        chunk = Chunk.make(xs, ys, mask, resets, x_index)
        model.check_chunk(chunk)
        theta = theta.copy()
        state = self.init(model, theta, sgd(1.0), signs=signs)
        losses = np.empty(chunk.mask.shape)
        raise_status(*self._run(model, theta, state, chunk, False, True, losses))
        return float(losses.sum()), state.gacc.copy()
