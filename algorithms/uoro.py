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

Everything is written over the model interface, so UORO trains every model: J_t u by the state Jacobian's
product (`cell.jvp_state`, O(S n), J_t never formed), and nu^T Mbar_t from the factored immediate Jacobian
(models/immediate.py): row r's block of Mbar_t is D_t[:, r] a_r,t^T, so nu^T Mbar_t = e_r a_r,t^T on row r's
parameters with e_r = nu . D_t[:, r] (two terms, its unit's rows), and |nu^T Mbar_t|^2 = sum_r e_r^2
|a_r,t|^2 (the |s_{t-1}[lo:lo + width]|^2 from prefix sums). So nu^T Mbar_t is never written: one fused
pass over the rows updates v, takes |v_t| for the next step's rho_0 and writes the gradient estimate
(dl_t/ds_t . u_t) v_t. The signs come from a SplitMix64 state in the learner's state (algorithms/signs.py),
one draw per 64 signs. Cost per step: O(n^2) time and memory.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, Stochastic,
                                      check_number, register)
from rnnlearn.algorithms.signs import fill_signs, reseed, sign_state
from rnnlearn.models import cell
from rnnlearn.models.immediate import immediate_factors
from rnnlearn.models.layout import D_LOSS, D_M, D_N, D_NX, D_P, D_PREC, D_R, D_S, FAST
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import OptState, apply_update, plain_sgd_rate, sgd


class UOROState(NamedTuple):
    s_prev: np.ndarray   # (S,) the state before the step
    s: np.ndarray        # (S,) the state after it
    cache: np.ndarray    # (C,) what the derivatives need
    u: np.ndarray        # (S,) the rank-one influence estimate M ~ u v^T ...
    v: np.ndarray        # (P_rec,) ...
    vn2: np.ndarray      # (1,) |v|^2 (taken in the pass that writes v)
    Ju: np.ndarray       # (S,) J_t u_{t-1}
    nu: np.ndarray       # (S,) the step's random signs
    D: np.ndarray        # (2, R) the immediate factors (models/immediate.py)
    E: np.ndarray        # (2, max(NX, 1)) those of the extras
    e: np.ndarray        # (R + NX,) nu . D_t[:, r] per row, then per extra
    cs: np.ndarray       # (S + 1,) prefix sums of s_{t-1}^2
    yhat: np.ndarray     # (o,)
    dy: np.ndarray       # (o,)
    ds: np.ndarray       # (S,) dl_t/ds_t
    g: np.ndarray        # (P,) the step's gradient estimate
    gacc: np.ndarray     # (P,) their sum (gradient mode)
    steps: np.ndarray    # (1,) int64: steps seen
    signs: np.ndarray    # (K, S) fixed signs for steps 0..K-1 (K = 0: drawn from rng)
    rng: np.ndarray      # (1,) uint64 the SplitMix64 state (algorithms/signs.py)
    # the path of a model without the row form (uoro_vjp_chunk; zero-sized otherwise):
    Sw: np.ndarray       # (1, S) s_{t-1} as a one-row window
    Xw: np.ndarray       # (1, m) x_t
    XIw: np.ndarray      # (1,) int64 its one-hot index or -1
    Cw: np.ndarray       # (1, C) the step's cache
    delta: np.ndarray    # (1, G) vjp_state's pre-activation gradient for ds = nu
    dsp: np.ndarray      # (S,) its dL/ds_{t-1} (unused)
    nuM: np.ndarray      # (P_rec,) nu^T Mbar_t
    eps: float
    opt: OptState


@internal(cache=True, fastmath=FAST)
def _sumsq(v):
    a = 0.0
    for i in range(v.shape[0]):
        a += v[i] * v[i]
    return a


@internal(cache=True, fastmath=FAST)
def _nu_mbar(dims, aux, st, x, xi):
    """st.e = nu . D_t[:, r] for every row r (then nu . E_t[:, j] for every extra j) and |nu^T Mbar_t|^2 =
    sum_r e_r^2 |a_r,t|^2 + sum_j e_j^2, with a_r,t = [s_{t-1}[lo:lo + width], x_t (if the row has U), 1 (if
    it has a bias)]."""
    n, S, R, m = dims[D_N], dims[D_S], dims[D_R], dims[D_M]
    two = S > n
    nu, D, E, e, cs = st.nu, st.D, st.E, st.e, st.cs
    acc = 0.0
    for j in range(S):
        v = st.s_prev[j]
        acc += v * v
        cs[j + 1] = acc
    if xi >= 0:
        xx = 1.0
    else:
        xx = 0.0
        for j in range(m):
            xx += x[j] * x[j]
    tot = 0.0
    for r in range(R):
        k, w, lo, width, u, b = cell.row_form(dims, aux, r)
        c = nu[k] * D[0, r]
        if two:
            c += nu[n + k] * D[1, r]
        e[r] = c
        a2 = cs[lo + width] - cs[lo]
        if u >= 0:
            a2 += xx
        if b >= 0:
            a2 += 1.0
        tot += c * c * a2
    for j in range(dims[D_NX]):
        k, p = cell.extra_form(dims, aux, j)
        c = nu[k] * E[0, j]
        if two:
            c += nu[n + k] * E[1, j]
        e[R + j] = c
        tot += c * c
    return tot


@internal(cache=True, fastmath=FAST)
def _v_and_gradient(dims, aux, st, x, xi, a0, a1, out, fo):
    """v_t = a0 v_{t-1} + a1 nu^T Mbar_t (from e and the row form) and out[:P_rec] += fo v_t, in one pass over
    the rows; returns |v_t|^2. out is theta (plain SGD folded in: fo = -lr c), gacc (gradient mode: fo = c)
    or the zeroed g (other optimizers: fo = c)."""
    R, m = dims[D_R], dims[D_M]
    v, e, sp = st.v, st.e, st.s_prev
    acc = 0.0
    for r in range(R):
        k, w, lo, width, u, b = cell.row_form(dims, aux, r)
        f = a1 * e[r]
        vw = v[w:w + width]  # slices: no wraparound checks, so the loop vectorises (no `if width > 0`
        ow = out[w:w + width]  # around it either: with that branch it ran 5x slower, measured)
        sw = sp[lo:lo + width]
        for j in range(width):
            q = a0 * vw[j] + f * sw[j]
            vw[j] = q
            ow[j] += fo * q
            acc += q * q
        if u >= 0:
            for j in range(m):
                if xi >= 0:
                    aj = 1.0 if j == xi else 0.0
                else:
                    aj = x[j]
                q = a0 * v[u + j] + f * aj
                v[u + j] = q
                out[u + j] += fo * q
                acc += q * q
        if b >= 0:
            q = a0 * v[b] + f
            v[b] = q
            out[b] += fo * q
            acc += q * q
    for j in range(dims[D_NX]):
        k, p = cell.extra_form(dims, aux, j)
        q = a0 * v[p] + a1 * e[R + j]
        v[p] = q
        out[p] += fo * q
        acc += q * q
    return acc


@njit(cache=True, fastmath=FAST)
def uoro_chunk(dims, aux, theta, ch, update, losses, st):
    """Run UORO over one chunk (ch: ChunkArrays); update: apply the optimizer every step, else add into gacc.
    Per step: s_t, J_t u_{t-1} (jvp_state), the signs, the immediate factors and |nu^T Mbar_t|, rho_0 and
    rho_1, u_t, the readout's dl_t/ds_t, then one pass writing v_t and the gradient (Tallec and Ollivier,
    Algorithm 1)."""
    xs, ys, mask, resets, xis = ch
    o = st.opt
    S, PR, P = dims[D_S], dims[D_PREC], dims[D_P]
    eps = st.eps
    s_prev, s, cache, u, Ju, nu = st.s_prev, st.s, st.cache, st.u, st.Ju, st.nu
    sgd_lr = plain_sgd_rate(o.codes, o.hyper)
    for t in range(xs.shape[0]):
        tg = st.steps[0]
        if resets[t]:
            s[:] = 0.0
            u[:] = 0.0
            st.v[:] = 0.0
            st.vn2[0] = 0.0
        for j in range(S):
            s_prev[j] = s[j]
        x = xs[t]
        xi = xis[t]
        cell.step(dims, aux, theta, s_prev, x, xi, tg, s, cache)
        cell.jvp_state(dims, aux, theta, s_prev, x, xi, tg, s, cache, u, Ju)
        if tg < st.signs.shape[0]:
            for j in range(S):
                nu[j] = st.signs[tg, j]
        else:
            fill_signs(st.rng, nu, S)
        immediate_factors(dims, aux, theta, s_prev, x, xi, tg, s, cache, st.D, st.E)
        nm2 = _nu_mbar(dims, aux, st, x, xi)
        rho0 = np.sqrt((np.sqrt(st.vn2[0]) + eps) / (np.sqrt(_sumsq(Ju)) + eps))
        rho1 = np.sqrt((np.sqrt(nm2) + eps) / (np.sqrt(_sumsq(nu)) + eps))
        for j in range(S):
            u[j] = rho0 * Ju[j] + rho1 * nu[j]
        st.steps[0] += 1
        readout(dims[:], theta, s, x, xi, st.yhat)
        lt = loss_grad(dims[D_LOSS], st.yhat, ys[t], mask[t], st.dy)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        want = mask[t] != 0.0
        a0 = 1.0 / rho0
        a1 = 1.0 / rho1
        if not want:  # v_t only (g is scratch here)
            st.vn2[0] = _v_and_gradient(dims, aux, st, x, xi, a0, a1, st.g, 0.0)
            continue
        st.ds[:] = 0.0
        for q in range(PR, P):
            st.g[q] = 0.0
        readout_vjp(dims[:], theta, s, x, xi, st.dy, st.g, st.ds)
        c = 0.0
        for j in range(S):
            c += st.ds[j] * u[j]
        if not update:
            st.vn2[0] = _v_and_gradient(dims, aux, st, x, xi, a0, a1, st.gacc, c)
            for q in range(PR, P):
                st.gacc[q] += st.g[q]
        elif sgd_lr >= 0.0:  # plain SGD folded into the pass: theta -= lr c v_t, then the readout's part
            st.vn2[0] = _v_and_gradient(dims, aux, st, x, xi, a0, a1, theta, -sgd_lr * c)
            for q in range(PR, P):
                theta[q] -= sgd_lr * st.g[q]
        else:
            for q in range(PR):
                st.g[q] = 0.0
            st.vn2[0] = _v_and_gradient(dims, aux, st, x, xi, a0, a1, st.g, c)
            apply_update(o.codes, o.hyper, o.moments, o.counts, o.scratch, theta, st.g)
    return OK, st.steps[0]


@njit(cache=True, fastmath=FAST)
def uoro_vjp_chunk(dims, aux, theta, ch, update, losses, st):
    """uoro_chunk for a model without the row form (the LRU): nu^T Mbar_t as the vector-Jacobian product of
    one step with s_{t-1} held fixed (vjp_state with ds = nu, then param_grad over a one-row window), the rest
    as there (Tallec and Ollivier, Algorithm 1). O(P) a step beside the model's own products."""
    xs, ys, mask, resets, xis = ch
    o = st.opt
    S, PR, P, m = dims[D_S], dims[D_PREC], dims[D_P], dims[D_M]
    eps = st.eps
    s, u, v, Ju, nu, nuM, g = st.s, st.u, st.v, st.Ju, st.nu, st.nuM, st.g
    sp, cache = st.Sw[0], st.Cw[0]
    for t in range(xs.shape[0]):
        tg = st.steps[0]
        if resets[t]:
            s[:] = 0.0
            u[:] = 0.0
            v[:] = 0.0
            st.vn2[0] = 0.0
        for j in range(S):
            sp[j] = s[j]
        x = xs[t]
        xi = xis[t]
        for j in range(m):
            st.Xw[0, j] = x[j]
        st.XIw[0] = xi
        cell.step(dims, aux, theta, sp, x, xi, tg, s, cache)
        cell.jvp_state(dims, aux, theta, sp, x, xi, tg, s, cache, u, Ju)
        if tg < st.signs.shape[0]:
            for j in range(S):
                nu[j] = st.signs[tg, j]
        else:
            fill_signs(st.rng, nu, S)
        cell.vjp_state(dims, aux, theta, sp, x, xi, tg, s, cache, nu, st.delta[0], st.dsp)
        nuM[:] = 0.0
        cell.param_grad(dims, aux, theta, st.Sw, st.Xw, st.XIw, st.Cw, st.delta, nuM)
        rho0 = np.sqrt((np.sqrt(st.vn2[0]) + eps) / (np.sqrt(_sumsq(Ju)) + eps))
        rho1 = np.sqrt((np.sqrt(_sumsq(nuM)) + eps) / (np.sqrt(_sumsq(nu)) + eps))
        for j in range(S):
            u[j] = rho0 * Ju[j] + rho1 * nu[j]
        a0, a1 = 1.0 / rho0, 1.0 / rho1
        vn2 = 0.0
        for q in range(PR):
            w = a0 * v[q] + a1 * nuM[q]
            v[q] = w
            vn2 += w * w
        st.vn2[0] = vn2
        st.steps[0] += 1
        readout(dims[:], theta, s, x, xi, st.yhat)
        lt = loss_grad(dims[D_LOSS], st.yhat, ys[t], mask[t], st.dy)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        if mask[t] == 0.0:
            continue
        st.ds[:] = 0.0
        for q in range(PR, P):
            g[q] = 0.0
        readout_vjp(dims[:], theta, s, x, xi, st.dy, g, st.ds)
        c = 0.0
        for j in range(S):
            c += st.ds[j] * u[j]
        for q in range(PR):
            g[q] = c * v[q]
        if update:
            apply_update(o.codes, o.hyper, o.moments, o.counts, o.scratch, theta, g)
        else:
            for q in range(P):
                st.gacc[q] += g[q]
    return OK, st.steps[0]


@register
class UORO(Stochastic, GradientLearner):
    """Unbiased online recurrent optimisation: a rank-one, unbiased estimate of RTRL's influence matrix,
    updated every step with random signs. Works on every model (on one without the row form, the LRU, through
    vector-Jacobian products: uoro_vjp_chunk). Cost per step: O(n^2) time and memory.

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
        unbiasedness test), the rest are drawn from a SplitMix64 state seeded with `seed` (signs.py)."""
        self.check()
        optimizer = optimizer or sgd(0.01)
        S, C, P, PR = model.n_state, max(model.n_cache, 1), model.n_params, model.n_rec
        R, NX = model.dims[D_R], model.dims[D_NX]
        fixed = np.zeros((0, S)) if signs is None else np.ascontiguousarray(signs, dtype=np.float64)
        if fixed.ndim != 2 or fixed.shape[1] != S:
            raise ValueError(f"signs must have shape (K, {S}), got {fixed.shape}")
        z = np.zeros
        k = 0 if model.has_row_form else 1  # the vector-Jacobian path's workspaces (uoro_vjp_chunk)
        return UOROState(z(S), z(S), z(C), z(S), z(PR), z(1), z(S), z(S), z((2, R)), z((2, max(NX, 1))),
                         z(R + NX), z(S + 1), z(model.n_out), z(model.n_out), z(S), z(P), z(P), z(1, np.int64),
                         fixed, sign_state(seed), z((k, S)), z((k, model.n_in)), z(k, np.int64), z((k, C)),
                         z((k, model.n_delta)), z(S * k), z(PR * k), float(self.eps), optimizer.init(P))

    def _reset(self, model, st, seed):
        """init's values where a gradient-mode run reads them before writing (the signs' state reseeded)."""
        if st.signs.shape[0]:
            return False
        st.s.fill(0.0)
        st.u.fill(0.0)
        st.v.fill(0.0)
        st.vn2.fill(0.0)
        st.steps.fill(0)
        st.gacc.fill(0.0)
        reseed(st.rng, seed)
        return True

    def _run(self, model, theta, st, chunk, update, flush, losses):
        kernel = uoro_chunk if model.has_row_form else uoro_vjp_chunk
        status, where = kernel(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
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
