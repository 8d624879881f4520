"""Kernel RNN learning, KeRNL (Roth, Kanitscheider and Fiete 2019, "Kernel RNN learning (KeRNL)", ICLR;
its factorised ansatz for the sensitivity tensor and Algorithm 1; the equations as in tests/naive_local.py,
leaky_kernl and leaky_kernl_perturbation).

KeRNL approximates the influence of a unit's past on the present by a learned sensitivity matrix beta
(n x n) and per-unit timescales gamma (n,),

    ds_t,k / ds_s,i ~ beta_ki exp(-gamma_i (t - s)),

so the influence matrix is ds_t,k/dW_ij ~ beta_ki e_t,ij with one eligibility trace per synapse,

    e_t,ij = exp(-gamma_i) e_{t-1},ij + Mbar_t,ij,        Mbar_t,ij = D_t,i a_hat_t,j    (e_0 = 0),

Mbar_t the model's immediate Jacobian in factored form (models/immediate.py; for a leaky rate network it is
alpha f'(z_t,i) a_hat_t,j), and the gradient estimate of step t

    dl_t/dW_ij ~ (beta^T q_t)_i e_t,ij,        q_t = dl_t/ds_t = V^T e_t   (e_t = dl_t/dy_hat_t).

beta and gamma are learned online by node perturbation (Algorithm 1): a copy of the network runs alongside
with noise xi_t ~ N(0, sigma^2) added to its state, s~_t = f(s~_{t-1}, x_t) + xi_t; the noise is filtered
by the kernel, omega_t = exp(-gamma) omega_{t-1} + xi_t (with d omega_t/d gamma = exp(-gamma)
(d omega_{t-1}/d gamma - omega_{t-1}) carried forward), and beta, gamma descend the regression loss
1/2 |beta omega_t - (s~_t - s_t)|^2 with their own learning rate lr_kernel, every step:

    beta  -= lr_kernel r_t omega_t^T,     gamma -= lr_kernel (beta^T r_t) * d omega_t/d gamma,
    r_t = beta omega_t - (s~_t - s_t).

gamma is kept >= 0 (a kernel that does not grow). beta starts at the identity, exp(-gamma) at decay0. The
noise is drawn from the state's numpy Generator (Stochastic); `gradient_with_noise` fixes it for the tests.

Reduction (Marschall, Cho and Savin 2020's test "KeRNL reduces to RFLO in special case"): beta = I,
exp(-gamma_i) = 1 - alpha (decay0 = 1 - alpha) and lr_kernel = 0 give RFLO with symmetric feedback and
trace leak alpha (algorithms/rflo.py); for Elman (alpha = 1) decay0 = 0, gamma = inf.

On the leaky network (rnnlearn.models.LeakyRNN) the reduction is at decay0 = 1 - alpha of the model.

Where it is defined: Roth et al. derive it for rate RNNs (units with or without a leak): the leaky network
and Elman (rnnlearn.models.rate_leak); written over the model interface, so the trace's Mbar_t and the
perturbed copy's step are the model's own. The other models are refused: the ansatz of one timescale per
unit and a state of n units does not say what to do with the LSTM's (h, c) or the GRU's gates, and the
clockwork network's idle modules would need their own kernel. Cost per step: O(n (n + m)) time and memory (the traces,
beta^T q, beta omega, the perturbed copy's step and the outer product r omega^T).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import (LR_SPAN, NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, Range,
                                      Stochastic, check_number, raise_status, register)
from rnnlearn.models import cell, rate_leak
from rnnlearn.models.layout import FAST, D_LOSS, D_M, D_N, D_P, D_PREC, D_R, D_S
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import SGD, OptState, apply_update, sgd


class KeRNLState(NamedTuple):
    s_prev: np.ndarray   # (S,) the state before the step
    s: np.ndarray        # (S,) after it
    cache: np.ndarray    # (C,)
    e: np.ndarray        # (R, n + m + 1) the eligibility traces, row r = unit r's synapses [W_r, U_r, b_r]
    beta: np.ndarray     # (n, n) the sensitivity matrix
    gamma: np.ndarray    # (n,) the timescales
    lam: np.ndarray      # (n,) exp(-gamma)
    q: np.ndarray        # (n,) V^T e_t
    qb: np.ndarray       # (n,) beta^T q_t
    pp: np.ndarray       # (S,) the perturbed copy's state before the step
    ps: np.ndarray       # (S,) after it
    pcache: np.ndarray   # (C,)
    xi: np.ndarray       # (n,) the step's noise
    omega: np.ndarray    # (n,) the filtered noise
    domega: np.ndarray   # (n,) d omega / d gamma
    res: np.ndarray      # (n,) r_t = beta omega_t - (s~_t - s_t)
    br: np.ndarray       # (n,) beta^T r_t
    kacc: np.ndarray     # (1,) the regression loss summed (gradient mode)
    gbeta: np.ndarray    # (n, n) its gradient summed (gradient mode)
    ggamma: np.ndarray   # (n,)
    noises: np.ndarray   # (K, n) fixed noise for steps 0..K-1 (K = 0: drawn from rng)
    yhat: np.ndarray     # (o,)
    dy: np.ndarray       # (o,)
    g: np.ndarray        # (P,) the step's gradient estimate
    gacc: np.ndarray     # (P,) their sum (gradient mode)
    steps: np.ndarray    # (1,) int64
    rng: np.random.Generator
    sigma: float
    lr_kernel: float
    opt: OptState


@internal(cache=True, fastmath=FAST)
def _trace_rows(dims, aux, theta, s_prev, x, xi, t, s, cache, lam, e, qb, scored, lr, into_theta, g):
    """Per row r (unit i): e_r = exp(-gamma_i) e_r + D_t,r a_hat_t and, when scored, the estimate
    (beta^T q)_i e_r into g's row, or (into_theta, plain SGD) -lr times it into theta's."""
    m = dims[D_M]
    for r in range(dims[D_R]):
        dh, dc = cell.row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r)
        unit, w, lo, width, u, b = cell.row_form(dims, aux, r)
        er = e[r]
        sp = s_prev[lo:lo + width]
        lk = lam[unit]
        for j in range(width):
            er[j] = lk * er[j] + dh * sp[j]
        for j in range(m):
            er[width + j] = lk * er[width + j] + dh * x[j]
        er[width + m] = lk * er[width + m] + dh
        if not scored:
            continue
        c = qb[unit]
        if into_theta:
            c = -lr * c
            row = theta[w:w + width]
            for j in range(width):
                row[j] += c * er[j]
            for j in range(m):
                theta[u + j] += c * er[width + j]
            theta[b] += c * er[width + m]
        else:
            row = g[w:w + width]
            for j in range(width):
                row[j] = c * er[j]
            for j in range(m):
                g[u + j] = c * er[width + j]
            g[b] = c * er[width + m]


@internal(cache=True, fastmath=FAST)
def _perturbation(dims, aux, theta, x, xi, t, st, accumulate):
    """One step of the perturbed copy and of beta, gamma's regression (Roth et al. 2019, Algorithm 1):
    s~_t = f(s~_{t-1}) + xi_t, omega_t, d omega_t/d gamma, r_t, and (lr_kernel > 0) the descent step of
    beta and gamma; accumulate: add the regression loss and its gradients (beta, gamma fixed) into kacc,
    gbeta, ggamma."""
    n = dims[D_N]
    S = dims[D_S]
    for j in range(S):
        st.pp[j] = st.ps[j]
    cell.step(dims, aux, theta, st.pp, x, xi, t, st.ps, st.pcache)
    if t < st.noises.shape[0]:
        for i in range(n):
            st.xi[i] = st.noises[t, i]
    else:
        for i in range(n):
            st.xi[i] = st.sigma * st.rng.standard_normal()
    for i in range(n):
        st.ps[i] += st.xi[i]
        lk = st.lam[i]
        st.domega[i] = lk * (st.domega[i] - st.omega[i])
        st.omega[i] = lk * st.omega[i] + st.xi[i]
    beta = st.beta
    for k in range(n):
        a = 0.0
        for i in range(n):
            a += beta[k, i] * st.omega[i]
        st.res[k] = a - (st.ps[k] - st.s[k])
    for i in range(n):
        st.br[i] = 0.0
    for k in range(n):
        rk = st.res[k]
        for i in range(n):
            st.br[i] += beta[k, i] * rk
    if accumulate:
        a = 0.0
        for k in range(n):
            a += st.res[k] * st.res[k]
            for i in range(n):
                st.gbeta[k, i] += st.res[k] * st.omega[i]
        st.kacc[0] += 0.5 * a
        for i in range(n):
            st.ggamma[i] += st.br[i] * st.domega[i]
    lr = st.lr_kernel
    if lr > 0.0:
        for k in range(n):
            c = lr * st.res[k]
            for i in range(n):
                beta[k, i] -= c * st.omega[i]
        for i in range(n):
            gi = st.gamma[i] - lr * st.br[i] * st.domega[i]
            st.gamma[i] = gi if gi > 0.0 else 0.0


@njit(cache=True)
def kernl_chunk(dims, aux, theta, ch, update, losses, st):
    """Run KeRNL over one chunk (ch: ChunkArrays): per step the model's step, the traces with the kernel
    exp(-gamma), the estimate (beta^T V^T e_t)_i e_t,ij, then the perturbed copy and the learning of beta
    and gamma; update: apply the optimizer every step (plain SGD: into theta directly), else add into gacc."""
    xs, ys, mask, resets, xis = ch
    o = st.opt
    S, PR, P, n = dims[D_S], dims[D_PREC], dims[D_P], dims[D_N]
    g = st.g
    plain_sgd = update and o.codes.shape[0] == 1 and o.codes[0] == SGD
    lr = o.hyper[0, 0] if plain_sgd else 0.0
    perturb = st.lr_kernel > 0.0 or not update
    for t in range(xs.shape[0]):
        tg = st.steps[0]
        if resets[t]:
            st.s[:] = 0.0
            st.e[:] = 0.0
            st.ps[:] = 0.0
            st.omega[:] = 0.0
            st.domega[:] = 0.0
        for j in range(S):
            st.s_prev[j] = st.s[j]
        x = xs[t]
        cell.step(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache)
        for i in range(n):
            st.lam[i] = np.exp(-st.gamma[i])
        st.steps[0] += 1
        readout(dims[:], theta, st.s, x, xis[t], st.yhat)
        lt = loss_grad(dims[D_LOSS], st.yhat, ys[t], mask[t], st.dy)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        scored = mask[t] != 0.0
        if scored:
            st.q[:] = 0.0
            for k in range(PR, P):
                g[k] = 0.0
            readout_vjp(dims[:], theta, st.s, x, xis[t], st.dy, g, st.q)
            for i in range(n):
                a = 0.0
                for k in range(n):
                    a += st.beta[k, i] * st.q[k]
                st.qb[i] = a
        if perturb:  # with theta, beta and exp(-gamma) as this step saw them; beta, gamma then step
            _perturbation(dims, aux, theta, x, xis[t], tg, st, not update)
        _trace_rows(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache, st.lam, st.e, st.qb, scored,
                    lr, plain_sgd and scored, g)
        if not scored:
            continue
        if plain_sgd:
            for k in range(PR, P):
                theta[k] -= lr * g[k]
        elif update:
            apply_update(o.codes, o.hyper, o.moments, o.counts, o.scratch, theta, g)
        else:
            for k in range(P):
                st.gacc[k] += g[k]
    return OK, st.steps[0]


@register
class KeRNL(Stochastic, GradientLearner):
    """Kernel RNN learning (Roth, Kanitscheider and Fiete 2019): eligibility traces with learned per-unit
    timescales, sent through a learned sensitivity matrix; both learned online by node perturbation of a
    copy of the network. Rate networks only (leaky, Elman). O(n^2) time and memory per step.

    lr_kernel  learning rate of beta and gamma (0: fixed at their initial values)
    sigma      standard deviation of the perturbation noise
    decay0     initial exp(-gamma), in [0, 1) (0: memoryless, gamma = inf)"""

    name = "kernl"
    display_name = "KeRNL"
    reference = "Roth et al. 2019"
    # add task, Elman n = 32, 20k steps, seeds 0-2: 0.492/0.536/0.502 at 0.01, 0.506/0.530/0.500 at 0.02,
    # 0.504/0.541/0.517 at 0.003, 0.68 at 0.1
    default_lr = 0.01
    time_exponent = 2.0
    memory_exponent = 2.0
    kernel_family = "kernl"
    compile_seconds = 4.0

    def __init__(self, lr_kernel: float = 0.01, sigma: float = 0.01, decay0: float = 0.5):
        self.lr_kernel = lr_kernel
        self.sigma = sigma
        self.decay0 = decay0

    def search_space(self):
        """The SGD rate and the kernel's own rate (beta's and gamma's), each over three decades around its
        default: both are the learner's learning rates (a kernel held fixed, lr_kernel = 0, stays fixed)."""
        space = super().search_space()
        if self.lr_kernel > 0:
            space["lr_kernel"] = Range(self.lr_kernel / LR_SPAN, self.lr_kernel * LR_SPAN)
        return space

    def check(self):
        check_number("lr_kernel", self.lr_kernel, 0.0)
        check_number("sigma", self.sigma, 0.0, lo_open=True)
        check_number("decay0", self.decay0, 0.0, 1.0)
        if self.decay0 >= 1.0:
            raise ValueError(f"decay0 must be < 1 (gamma > 0), got {self.decay0!r}")

    def supports(self, model):
        if rate_leak(model) is None:
            return ("KeRNL (Roth et al. 2019) is defined for rate RNNs with one state per unit; this model's "
                    "gated or clocked state has no such kernel")
        return None

    def flops_per_step(self, model):
        n, m = model.n_hidden, model.n_in
        return 4.0 * n * n + 4.0 * n * (n + m + 1) + 6.0 * n * n

    def init(self, model, theta, optimizer=None, seed=0, noises=None, beta=None, gamma=None):
        """Fresh state; `noises` (K, n) fixes the perturbation noise of steps 0..K-1, `beta` (n, n) and
        `gamma` (n,) replace the initial sensitivity matrix and timescales (the tests)."""
        self.check()
        self.check_model(model)
        optimizer = optimizer or sgd(0.01)
        S, C, P, R = model.n_state, max(model.n_cache, 1), model.n_params, model.dims[D_R]
        n, m, no = model.n_hidden, model.n_in, model.n_out
        fixed = np.zeros((0, n)) if noises is None else np.array(noises, dtype=np.float64, order="C")
        if fixed.ndim != 2 or fixed.shape[1] != n:
            raise ValueError(f"noises must have shape (K, {n}), got {fixed.shape}")
        b = np.eye(n) if beta is None else np.array(beta, dtype=np.float64, order="C")
        if gamma is None:
            gm = np.full(n, np.inf if self.decay0 == 0.0 else -np.log(self.decay0))
        else:
            gm = np.array(gamma, dtype=np.float64)
        if b.shape != (n, n) or gm.shape != (n,):
            raise ValueError(f"beta must be ({n}, {n}) and gamma ({n},)")
        z = np.zeros
        return KeRNLState(z(S), z(S), z(C), z((R, n + m + 1)), b, gm, z(n), z(n), z(n), z(S), z(S), z(C), z(n),
                          z(n), z(n), z(n), z(n), z(1), z((n, n)), z(n), fixed, z(no), z(no), z(P), z(P),
                          z(1, np.int64), self.make_rng(seed), float(self.sigma), float(self.lr_kernel),
                          optimizer.init(P))

    def _run(self, model, theta, st, chunk, update, flush, losses):
        status, where = kernl_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)

    def gradient_with_noise(self, model, theta, xs, ys, noises, beta=None, gamma=None, pieces=1,
                            mask=None, resets=None, x_index=None):
        """(loss, gradient, state) of one sequence with theta fixed, the perturbation noise of step t
        noises[t], and beta, gamma if given; fed in `pieces` chunks. The state holds the regression loss
        and its gradients summed (kacc, gbeta, ggamma) and beta, gamma after the sequence."""
        from rnnlearn.tasks.base import Chunk
        model._check_theta(theta)
        theta = theta.copy()
        state = self.init(model, theta, sgd(1.0), noises=noises, beta=beta, gamma=gamma)
        losses = []
        for part in np.array_split(np.arange(len(xs)), pieces):
            pick = (lambda a: None if a is None else np.asarray(a)[part])
            chunk = Chunk.make(xs[part], ys[part], pick(mask), pick(resets), pick(x_index))
            model.check_chunk(chunk)
            ls = np.empty(len(part))
            raise_status(*self._run(model, theta, state, chunk, False, True, ls))
            losses.append(ls)
        return float(np.concatenate(losses).sum()), state.gacc.copy(), state
