"""e-prop (Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking
neurons", Nat. Commun. 11: 3625): the gradient factorised into a learning signal and eligibility traces.

Bellec et al. split a neuron's state into a hidden state h_j^t, which only the neuron itself sees, and an
observable state z_j^t that the other neurons and the readout see: h^t = M(h^{t-1}, z^{t-1}, x^t). Then
(their eq. 1)

    dE/dtheta_ji = sum_t dE/dz_j^t [dz_j^t/dtheta_ji]_local

exactly, where dE/dz_j^t is the total derivative of the loss with respect to z_j^t (its readout and its
synapses into later steps) and the local factor is the eligibility trace, computed forward (Methods, eq. 14)

    eps^t = dh_j^t/dh_j^{t-1} eps^{t-1} + dh_j^t/dtheta,      e^t = dz_j^t/dh_j^t eps^t (+ dz_j^t/dtheta),

all partial derivatives taken with z^{t-1} fixed, so only the neuron's own (diagonal) hidden-state Jacobian
enters. e-prop replaces the total derivative by an online learning signal, L_j^t = sum_k B_jk (y_k^t -
y*_k^t) (their eq. 4): the output error through the readout's transpose, B = V^T (feedback = "symmetric",
"symmetric e-prop"), or through a fixed random matrix (feedback = "random", "random e-prop"; drawn N(0, 1/n)
at init from the seed). The readout's own gradient is exact.

Where it is defined, on the models of rnnlearn (the state read through the model interface):
  Elman   z_t = h_t and no hidden state of its own: the trace has no memory, e^t = Mbar_t (the immediate
          Jacobian, D_t a_hat_t^T in factored form). Symmetric e-prop on Elman is then one-step truncated BPTT.
  leaky   the leaky rate network a_t = (1 - alpha) a_{t-1} + alpha tanh(W a_{t-1} + U x_t + b)
          (rnnlearn.models.LeakyRNN), in Bellec et al.'s form h_t = z_t = a_t: with z_{t-1} fixed, the
          neuron's own Jacobian dh_j^t/dh_j^{t-1} is the leak 1 - alpha, so per row r (unit k)
              e^t_r = eps^t_r = (1 - alpha) eps^{t-1}_r + D[0, r] a_hat_t,    D[0, r] = alpha f'(z_t,k)
          (their Methods' trace for leaky units; the leak from rnnlearn.models.rate_leak). The trace and
          the signal are then RFLO's (Marschall et al. 2020): symmetric e-prop is symmetric RFLO.
  LSTM    Bellec et al.'s Methods ("e-prop for LSTM"): the hidden state is the cell c_t, the observable
          the output h_t. dc_t/dc_{t-1} is diagonal (f, plus the input and forget peepholes' terms) and
          c_{t-1} reaches h_t only through c_t (dh_t/dc_{t-1} = e_c,t dc_t/dc_{t-1}), so per pre-activation
          row r of unit k (gates i, f, o, g; models/immediate.py's row form, factors D[0, r] = dh_k/dz_r,
          D[1, r] = dc_k/dz_r, input vector a_hat_t = [h_{t-1}, x_t, 1])
              e^t_r   = (dh_k/dc_{k,t-1}) eps^{t-1}_r + D[0, r] a_hat_t      (the trace of h_k)
              eps^t_r = (dc_k/dc_{k,t-1}) eps^{t-1}_r + D[1, r] a_hat_t      (the trace of c_k)
          and likewise for the peepholes (scalars, with the extras' factors E). The two diagonal Jacobian
          entries are the c_{t-1} columns of J_t, read as one Jacobian-vector product J_t (0, 1).
  GRU, clockwork  refused: their state is all observable (h_t is what the readout and the other units see),
          with no hidden/observable split in Bellec et al.'s sense; separating a unit's own leak from its
          recurrent input (as for leaky rate units) needs model kernels rnnlearn does not have.

`gradient_with_learning_signal` takes the learning signals L (T, n) as given: with L[t] = dE/dh_t (BPTT's
adjoint of the observable state), eq. 1 makes the result BPTT's gradient, which the tests assert.

Cost per step: O(n (n + m)) time and memory (Elman no trace at all; leaky n (n + m + 1), LSTM 4n (n + m + 1)
traces). Elman trained with plain SGD takes a fast path (`_elman_sgd_chunk`, tested equal to the general
kernel): the gradient and the SGD step are one update of W's rows, made during the next step's forward pass.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, Stochastic,
                                      raise_status, register)
from rnnlearn.algorithms.rflo import _trace_rows  # per row: e = lam e + D a_hat, the estimate L e (leaky units)
from rnnlearn.algorithms.rtrl import RTRL  # exact on a diagonal recurrence: its compact influence
from rnnlearn.models import cell, rate_leak
from rnnlearn.models.immediate import immediate_factors
from rnnlearn.models.layout import (FAST, D_LOSS, D_M, D_N, D_NX, D_O, D_OB, D_OU, D_OW, D_P, D_PREC, D_R, D_S,
                                   ElmanDims)
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.models.vecmath import tanh_inplace
from rnnlearn.optim import SGD, OptState, apply_update, sgd

FEEDBACK = ("symmetric", "random")


class EPropState(NamedTuple):
    s_prev: np.ndarray   # (S,) the state before the step
    s: np.ndarray        # (S,) after it
    cache: np.ndarray    # (C,)
    D: np.ndarray        # (2, R) the immediate Jacobian's row factors
    E: np.ndarray        # (2, NX) its extras' (LSTM's peepholes)
    eps: np.ndarray      # (R, n + m + 1) the hidden state's traces (LSTM: of c; leaky: of a; unused for Elman)
    epsx: np.ndarray     # (NX,) the peepholes' traces
    ones_c: np.ndarray   # (S,) (0, 1): J_t ones_c = the c_{t-1} columns' diagonals
    jc: np.ndarray       # (S,) J_t ones_c = (dh_k/dc_{k,t-1}, dc_k/dc_{k,t-1})
    Bfb: np.ndarray      # (n, o) the fixed random feedback matrix
    L: np.ndarray        # (n,) the step's learning signal
    c: np.ndarray        # (n,) Elman's fast path: the pending row update's coefficients
    z: np.ndarray        # (n,) Elman's fast path: the next step's h
    signals: np.ndarray  # (K, n) given learning signals for steps 0..K-1 (K = 0: online)
    yhat: np.ndarray     # (o,)
    dy: np.ndarray       # (o,)
    ds: np.ndarray       # (S,) V^T dy (readout_vjp's)
    g: np.ndarray        # (P,) the step's gradient estimate
    gacc: np.ndarray     # (P,) their sum (gradient mode)
    steps: np.ndarray    # (1,) int64: steps seen
    symmetric: bool
    lam: float           # the leak 1 - alpha of a leaky rate network's units (0: Elman; unused for LSTM)
    opt: OptState


@internal(cache=True, fastmath=FAST)
def _rows(dims, aux, D, E, eps, epsx, jc, s_prev, x, xi, t, s, cache, L, scored, memory, lr, into_theta, g,
          theta):
    """Per row r of unit k: the trace of the observable state e_r = jc[k] eps_r + D[0, r] a_hat_t and the
    hidden state's eps_r = jc[n + k] eps_r + D[1, r] a_hat_t (memory: LSTM; else e_r = D[0, r] a_hat_t);
    when scored, the row's estimate L_k e_r into g's row, or (into_theta, plain SGD) -lr times it into
    theta's. Then the extras (peepholes), likewise."""
    m, n = dims[D_M], dims[D_N]
    for r in range(dims[D_R]):
        unit, w, lo, width, u, b = cell.row_form(dims, aux, r)
        sp = s_prev[lo:lo + width]
        if memory:
            d0 = D[0, r]
            d1 = D[1, r]
            ah = jc[unit]
            ac = jc[n + unit]
            er = eps[r]
            c = L[unit] * (-lr if into_theta else 1.0)
            dst = theta if into_theta else g
            row = dst[w:w + width]
            for j in range(width):
                e = ah * er[j] + d0 * sp[j]
                er[j] = ac * er[j] + d1 * sp[j]
                if into_theta:
                    row[j] += c * e
                elif scored:
                    row[j] = c * e
            for j in range(m):
                e = ah * er[width + j] + d0 * x[j]
                er[width + j] = ac * er[width + j] + d1 * x[j]
                if into_theta:
                    dst[u + j] += c * e
                elif scored:
                    dst[u + j] = c * e
            e = ah * er[width + m] + d0
            er[width + m] = ac * er[width + m] + d1
            if into_theta:
                dst[b] += c * e
            elif scored:
                dst[b] = c * e
        elif scored:  # no hidden state (Elman): the factor inline, D not stored
            dh, dc = cell.row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r)
            c = L[unit] * dh
            if into_theta:
                c = -lr * c
                row = theta[w:w + width]
                for j in range(width):
                    row[j] += c * sp[j]
                for j in range(m):
                    theta[u + j] += c * x[j]
                theta[b] += c
            else:
                row = g[w:w + width]
                for j in range(width):
                    row[j] = c * sp[j]
                for j in range(m):
                    g[u + j] = c * x[j]
                g[b] = c
    for j in range(dims[D_NX]):
        unit, idx = cell.extra_form(dims, aux, j)
        if memory:
            e = jc[unit] * epsx[j] + E[0, j]
            epsx[j] = jc[n + unit] * epsx[j] + E[1, j]
        else:
            e = cell.extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j)[0]
        if into_theta:
            theta[idx] -= lr * L[unit] * e
        elif scored:
            g[idx] = L[unit] * e


@njit(cache=True)
def eprop_chunk(dims, aux, theta, ch, update, losses, st):
    """Run e-prop over one chunk (ch: ChunkArrays), any model, any optimizer: per step the model's step, its
    immediate Jacobian's factors, the diagonal hidden-state Jacobian (LSTM), the traces and the estimate
    L_t,k e^t (Bellec et al. 2020, eq. 1, 3 and Methods 14); update: apply the optimizer every step (plain
    SGD: into theta directly), else add into gacc. Elman with plain SGD runs `_elman_sgd_chunk` instead
    (`elman_fast_path`; tested equal)."""
    xs, ys, mask, resets, xis = ch
    o = st.opt
    S, PR, P, n, no = dims[D_S], dims[D_PREC], dims[D_P], dims[D_N], dims[D_O]
    memory = S > n
    g = st.g
    plain_sgd = update and o.codes.shape[0] == 1 and o.codes[0] == SGD
    lr = o.hyper[0, 0] if plain_sgd else 0.0
    K = st.signals.shape[0]
    for t in range(xs.shape[0]):
        tg = st.steps[0]
        if resets[t]:
            st.s[:] = 0.0
            st.eps[:] = 0.0
            st.epsx[:] = 0.0
        for j in range(S):
            st.s_prev[j] = st.s[j]
        x = xs[t]
        cell.step(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache)
        if memory:
            immediate_factors(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache, st.D, st.E)
            cell.jvp_state(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache, st.ones_c, st.jc)
        st.steps[0] += 1
        readout(dims[:], theta, st.s, x, xis[t], st.yhat)
        lt = loss_grad(dims[D_LOSS], st.yhat, ys[t], mask[t], st.dy)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        given = tg < K
        scored = mask[t] != 0.0 or given
        if scored:
            st.ds[:] = 0.0
            for k in range(PR, P):
                g[k] = 0.0
            readout_vjp(dims[:], theta, st.s, x, xis[t], st.dy, g, st.ds)
            if given:
                for i in range(n):
                    st.L[i] = st.signals[tg, i]
            elif st.symmetric:
                for i in range(n):
                    st.L[i] = st.ds[i]
            else:
                for i in range(n):
                    a = 0.0
                    for k in range(no):
                        a += st.Bfb[i, k] * st.dy[k]
                    st.L[i] = a
        if st.lam == 0.0:  # Elman, LSTM
            _rows(dims, aux, st.D, st.E, st.eps, st.epsx, st.jc, st.s_prev, x, xis[t], tg, st.s, st.cache, st.L,
                  scored, memory, lr, plain_sgd and scored, g, theta)
        else:  # leaky rate units: the leak is the hidden state's own Jacobian, e = eps (RFLO's trace)
            _trace_rows(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache, st.L, st.lam, st.eps, scored,
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


@internal(cache=True, fastmath=FAST)
def _elman_sgd_rows(dims, theta, h_prev, h, x, xi, L, lr):
    """Elman's e-prop step fused with plain SGD, one pass over the rows: unit k's estimate is
    L_k (1 - h_k^2) a_hat_t (the memoryless trace, e^t = Mbar_t), so (W_k, U_k, b_k) += c_k a_hat_t with
    c_k = -lr L_k (1 - h_k^2); a one-hot x_t (xi >= 0) touches U's column xi only."""
    m, n = dims[D_M], dims[D_N]
    oW, oU, ob = dims[D_OW], dims[D_OU], dims[D_OB]
    W = theta[oW:oW + n * n]
    U = theta[oU:oU + n * m]
    bias = theta[ob:ob + n]
    hp = h_prev[:n]
    xx = x[:m]
    for k in range(n):
        c = -lr * L[k] * (1.0 - h[k] * h[k])
        row = W[k * n:k * n + n]
        for j in range(n):
            row[j] += c * hp[j]
        if xi >= 0:
            U[k * m + xi] += c
        else:
            urow = U[k * m:k * m + m]
            for j in range(m):
                urow[j] += c * xx[j]
        bias[k] += c


@internal(cache=True, fastmath=FAST)
def _elman_sgd_forward(dims, theta, c, h_prev, x_prev, xi_prev, h, x, xi, z):
    """`_elman_sgd_rows` of the previous step (a_hat = [h_prev, x_prev, 1], coefficients c) fused with
    Elman's next step, z = tanh(W h + U x + b) with the updated rows (models/elman.py's step, one-hot x at
    xi >= 0 a column), read while each row is in cache: one pass over W per step instead of two, two rows
    at a time (they share the loads of h_prev and h; 20% faster than one at n = 32 and 128)."""
    m, n = dims[D_M], dims[D_N]
    oW, oU, ob = dims[D_OW], dims[D_OU], dims[D_OB]
    W = theta[oW:oW + n * n]
    U = theta[oU:oU + n * m]
    bias = theta[ob:ob + n]
    hp = h_prev[:n]
    hh = h[:n]
    xp = x_prev[:m]
    xx = x[:m]
    k = 0
    while k + 2 <= n:
        c0 = c[k]
        c1 = c[k + 1]
        r0 = W[k * n:k * n + n]
        r1 = W[k * n + n:k * n + 2 * n]
        a0 = 0.0
        a1 = 0.0
        for j in range(n):
            p = hp[j]
            v = hh[j]
            w0 = r0[j] + c0 * p
            w1 = r1[j] + c1 * p
            r0[j] = w0
            r1[j] = w1
            a0 += w0 * v
            a1 += w1 * v
        z[k] = a0
        z[k + 1] = a1
        k += 2
    if k < n:
        ck = c[k]
        row = W[k * n:k * n + n]
        a = 0.0
        for j in range(n):
            w = row[j] + ck * hp[j]
            row[j] = w
            a += w * hh[j]
        z[k] = a
    for k in range(n):  # U and b in a loop of their own (inside the W loop: 1.3x slower at n = 128)
        ck = c[k]
        urow = U[k * m:k * m + m]
        if xi_prev >= 0:
            urow[xi_prev] += ck
        else:
            for j in range(m):
                urow[j] += ck * xp[j]
        b = bias[k] + ck
        bias[k] = b
        if xi >= 0:
            z[k] += b + urow[xi]
        else:
            a = b
            for j in range(m):
                a += urow[j] * xx[j]
            z[k] += a
    tanh_inplace(z[:n])


@njit(cache=True)
def _elman_sgd_chunk(dims, aux, theta, ch, losses, st, lr):
    """e-prop on Elman with plain SGD after every scored step (what `eprop_chunk` does there, without
    its trace and optimizer branches): the step, the readout and the loss, the learning signal (V^T dy or
    B dy) and the readout's exact SGD step; the recurrent rows' update (`_elman_sgd_rows`) is made in the
    next step's forward pass (`_elman_sgd_forward`), and at the chunk's end, so theta is as the general
    kernel leaves it at every step that reads it."""
    xs, ys, mask, resets, xis = ch
    PR, P, n, no = dims[D_PREC], dims[D_P], dims[D_N], dims[D_O]
    g = st.g
    T = xs.shape[0]
    pending = False  # the previous step's row update is still to be made (it was scored)
    for t in range(T):
        tg = st.steps[0]
        if resets[t]:
            if pending:  # its factors 1 - h^2 read h before the reset
                _elman_sgd_rows(dims, theta, st.s_prev, st.s, xs[t - 1], xis[t - 1], st.L, lr)
                pending = False
            st.s[:] = 0.0
        x = xs[t]
        if pending:
            _elman_sgd_forward(dims, theta, st.c, st.s_prev, xs[t - 1], xis[t - 1], st.s, x, xis[t], st.z)
            for j in range(n):
                st.s_prev[j] = st.s[j]
                st.s[j] = st.z[j]
        else:
            for j in range(n):
                st.s_prev[j] = st.s[j]
            cell.step(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache)
        pending = False
        st.steps[0] += 1
        readout(dims[:], theta, st.s, x, xis[t], st.yhat)
        lt = loss_grad(dims[D_LOSS], st.yhat, ys[t], mask[t], st.dy)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        if mask[t] == 0.0:
            continue
        st.ds[:] = 0.0
        for k in range(PR, P):
            g[k] = 0.0
        readout_vjp(dims[:], theta, st.s, x, xis[t], st.dy, g, st.ds)
        if st.symmetric:
            for i in range(n):
                st.L[i] = st.ds[i]
        else:  # L = B dy by B's columns (o of them), each a pass over L
            for i in range(n):
                st.L[i] = 0.0
            for k in range(no):
                d = st.dy[k]
                for i in range(n):
                    st.L[i] += st.Bfb[i, k] * d
        for i in range(n):  # the row update's coefficients, as in _elman_sgd_rows
            st.c[i] = -lr * st.L[i] * (1.0 - st.s[i] * st.s[i])
        pending = True
        for k in range(PR, P):
            theta[k] -= lr * g[k]
    if pending:
        _elman_sgd_rows(dims, theta, st.s_prev, st.s, xs[T - 1], xis[T - 1], st.L, lr)
    return OK, st.steps[0]


def elman_fast_path(model, update: bool, st) -> bool:
    """Whether a chunk runs `_elman_sgd_chunk`: Elman, training (update) with plain SGD, no given learning
    signals left. Chosen per chunk in Python, so a run compiles only the kernel it uses."""
    o = st.opt
    plain_sgd = update and o.codes.shape[0] == 1 and o.codes[0] == SGD
    return type(model.dims) is ElmanDims and plain_sgd and int(st.steps[0]) >= st.signals.shape[0]


@register
class EProp(Stochastic, GradientLearner):
    """e-prop (Bellec et al. 2020): eligibility traces of each neuron's own hidden state times an online
    learning signal, the output error sent back through the readout's transpose (feedback = "symmetric")
    or a fixed random matrix ("random", drawn at init from the seed). Defined with Bellec et al.'s
    hidden/observable split: Elman (no hidden state: memoryless traces), the leaky network (the leak as
    the hidden state's own Jacobian) and LSTM (hidden state c, their Methods); GRU and clockwork are
    refused. O(n^2) time and memory per step.

    feedback  "symmetric" (V^T) or "random" (a fixed N(0, 1/n) matrix)"""

    name = "eprop"
    display_name = "e-prop"
    reference = "Bellec et al. 2020"
    # add task, Elman n = 32, 20k steps, seeds 0-2 (symmetric; = symmetric RFLO on Elman): 0.500/0.518/0.506 at
    # 0.01, 0.508/0.526/0.538 at 0.02, 0.503/0.531/0.510 at 0.003, 0.60 at 0.1
    default_lr = 0.01
    key_params = ("feedback",)
    time_exponent = 2.0
    memory_exponent = 2.0
    kernel_family = "eprop"
    compile_seconds = 4.0

    def __init__(self, feedback: str = "symmetric"):
        self.feedback = feedback

    def check(self):
        if self.feedback not in FEEDBACK:
            raise ValueError(f"feedback must be one of {FEEDBACK}, got {self.feedback!r}")

    def supports(self, model):
        if model.name == "lstm" or rate_leak(model) is not None:
            return None
        if getattr(model, "diagonal_recurrence", False):
            if self.feedback == "symmetric":
                return None  # exact: RTRL's compact influence (`_exact_unit`)
            return ("e-prop with random feedback on a diagonal recurrence is not implemented here (with "
                    "symmetric feedback it is RTRL's compact influence)")
        return ("e-prop (Bellec et al. 2020) needs a hidden/observable state split; this model's state is "
                "all observable and its own-state Jacobian is not available from the model interface")

    def _exact_unit(self, model) -> bool:
        """On a diagonal recurrence (the eLSTM, the LRU) every unit's state depends on its own past only, so
        e-prop's eligibility traces (Bellec et al. 2020, eq. 13-14: the own-state Jacobian's product) are the
        whole influence and, with symmetric feedback, its learning signal dE_t/dh_t is RTRL's dl_t/ds_t: e-prop
        is exact RTRL there and runs RTRL's compact-influence kernel (tested equal)."""
        return bool(getattr(model, "diagonal_recurrence", False)) and self.feedback == "symmetric"

    def model_cost_exponents(self, model):
        if self._exact_unit(model):
            return RTRL().model_cost_exponents(model)
        return self.cost_exponents()

    def flops_per_step(self, model):
        if self._exact_unit(model):
            return RTRL().flops_per_step(model)
        R, k = model.dims[D_R], model.n_hidden + model.n_in + 1
        per = 6 if model.n_state > model.n_hidden else (4 if rate_leak(model) else 2)
        return 2.0 * R * model.n_hidden + per * R * k

    def init(self, model, theta, optimizer=None, seed=0, feedback_matrix=None, signals=None):
        """Fresh state; `feedback_matrix` (n x o), if given, replaces the random draw, and `signals` (K, n),
        if given, are the learning signals of steps 0..K-1 (gradient_with_learning_signal)."""
        if self._exact_unit(model):
            self.check()
            if feedback_matrix is not None or signals is not None:
                raise ValueError("e-prop on a diagonal recurrence is RTRL's compact influence: it takes no "
                                 "feedback matrix or given learning signals")
            return RTRL().init(model, theta, optimizer)
        self.check()
        self.check_model(model)
        optimizer = optimizer or sgd(0.01)
        S, C, P, R, NX = model.n_state, max(model.n_cache, 1), model.n_params, model.dims[D_R], model.dims[D_NX]
        n, m, no = model.n_hidden, model.n_in, model.n_out
        if feedback_matrix is not None:
            Bfb = np.array(feedback_matrix, dtype=np.float64, order="C")
            if Bfb.shape != (n, no):
                raise ValueError(f"feedback_matrix must have shape ({n}, {no}), got {Bfb.shape}")
        elif self.feedback == "random":
            Bfb = self.make_rng(seed).normal(0.0, 1.0 / np.sqrt(n), size=(n, no))
        else:
            Bfb = np.zeros((n, no))
        sig = np.zeros((0, n)) if signals is None else np.array(signals, dtype=np.float64, order="C")
        if sig.ndim != 2 or sig.shape[1] != n:
            raise ValueError(f"signals must have shape (T, {n}), got {sig.shape}")
        z = np.zeros
        ones_c = z(S)
        ones_c[n:] = 1.0
        memory = S > n
        lam = 0.0 if memory else float(rate_leak(model))
        return EPropState(z(S), z(S), z(C), z((2, R)), z((2, NX)), z((R if memory or lam else 1, n + m + 1)),
                          z(NX), ones_c, z(S), Bfb, z(n), z(n), z(n), sig, z(no), z(no), z(S), z(P), z(P),
                          z(1, np.int64),
                          bool(self.feedback == "symmetric" and feedback_matrix is None), lam, optimizer.init(P))

    def _run(self, model, theta, st, chunk, update, flush, losses):
        if self._exact_unit(model):
            return RTRL()._run(model, theta, st, chunk, update, flush, losses)
        if elman_fast_path(model, update, st):
            status, where = _elman_sgd_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), losses, st,
                                             st.opt.hyper[0, 0])
        else:
            status, where = eprop_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)

    def gradient_with_learning_signal(self, model, theta, xs, ys, L, mask=None, resets=None, x_index=None,
                                      pieces=1):
        """(loss, gradient) of one sequence with theta fixed and the learning signal of step t given, L[t]
        (T, n) in place of the online one (with L[t] = dE/dh_t, BPTT's adjoint of h_t, eq. 1 makes it
        BPTT's gradient); the sequence fed in `pieces` chunks to one state."""
        from rnnlearn.tasks.base import Chunk
        model._check_theta(theta)
        theta = theta.copy()
        state = self.init(model, theta, sgd(1.0), signals=L)
        losses = []
        for part in np.array_split(np.arange(len(xs)), pieces):
            pick = (lambda a: None if a is None else np.asarray(a)[part])
            chunk = Chunk.make(xs[part], ys[part], pick(mask), pick(resets), pick(x_index))
            model.check_chunk(chunk)
            ls = np.empty(len(part))
            raise_status(*self._run(model, theta, state, chunk, False, True, ls))
            losses.append(ls)
        return float(np.concatenate(losses).sum()), state.gacc.copy()
