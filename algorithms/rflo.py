"""Random-feedback local online learning, RFLO (Murray 2019, "Local online learning in recurrent networks
with random feedback", eLife 8: e43299; its discrete-time learning rule, written as in Marschall, Cho and
Savin 2020, "A unified framework of online learning algorithms for training recurrent neural networks",
JMLR 21, their RFLO section).

Murray's network is a leaky rate network, a_t = (1 - alpha) a_{t-1} + alpha tanh(W a_{t-1} + U x_t + b)
(alpha = dt / tau). RFLO is RTRL whose state Jacobian J_t is replaced by the leak alone, (1 - alpha) I: the
recurrent weights' part of J_t is dropped, so the influence matrix stays diagonal in units and is stored as
one eligibility trace per synapse,

    B_t,ij = (1 - alpha) B_{t-1},ij + Mbar_t,ij,      Mbar_t,ij = D_t,i a_hat_t,j     (B_0 = 0)

with Mbar_t the model's immediate Jacobian in factored form (rnnlearn/models/immediate.py: row i's factor
D_t,i = ds_i/dz_i and its input vector a_hat_t = [s_{t-1}, x_t, 1]); for Murray's leaky network Mbar_t is
alpha f'(z_t,i) a_hat_t,j, so this is his trace. The gradient of step t is

    dl_t/dW_ij ~ q_t,i B_t,ij,        q_t = B_fb e_t,   e_t = dl_t/dy_hat_t,

with the output error sent back through a fixed random matrix B_fb (n x o; Murray's rule, feedback =
"random", drawn N(0, 1/n) at init from the seed) or through the readout's current transpose V^T (feedback =
"symmetric"). The readout's own gradient is exact.

Where it is defined: for rate networks, Murray's leaky units (rnnlearn.models.LeakyRNN, "leaky") and
Elman (alpha = 1, where the matched trace has no memory and symmetric RFLO is one-step truncated BPTT).
The trace's leak is the model's own (`alpha` = None, the default: 1 - alpha of the leaky network, 0 for
Elman; rnnlearn.models.rate_leak); a given `alpha` overrides it (alpha < 1 on Elman keeps Murray's low-pass
trace over a network that has no leak: B_t is then Murray's trace divided by alpha, a rescaling of the
learning rate). The gated models (LSTM, GRU) and the clockwork network are refused: RFLO's approximation
J_t ~ (1 - alpha) I is a statement about leaky rate units, and Murray gives no generalisation to gates
(their state Jacobian's diagonal is not a fixed leak).

Cost per step: O(n (n + m)) time and memory (the trace, one outer-product-like pass over it, the step).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from rnnlearn.jit import internal
from rnnlearn.algorithms.base import (NONFINITE_LOSS, OK, ChunkArrays, GradientLearner, Stochastic,
                                      check_number, register)
from rnnlearn.models import cell, rate_leak
from rnnlearn.models.layout import FAST, D_LOSS, D_M, D_N, D_O, D_P, D_PREC, D_R, D_S
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import SGD, OptState, apply_update, sgd

FEEDBACK = ("random", "symmetric")


class RFLOState(NamedTuple):
    s_prev: np.ndarray   # (S,) the state before the step
    s: np.ndarray        # (S,) after it
    cache: np.ndarray    # (C,)
    B: np.ndarray        # (R, n + m + 1) the eligibility traces, row r = unit r's synapses [W_r, U_r, b_r]
    Bfb: np.ndarray      # (n, o) the fixed random feedback matrix (unused when symmetric)
    q: np.ndarray        # (n,) the learning signal
    yhat: np.ndarray     # (o,)
    dy: np.ndarray       # (o,)
    ds: np.ndarray       # (S,) V^T dy (readout_vjp's)
    g: np.ndarray        # (P,) the step's gradient estimate
    gacc: np.ndarray     # (P,) their sum (gradient mode)
    steps: np.ndarray    # (1,) int64: steps seen
    lam: float           # trace decay 1 - alpha
    symmetric: bool
    opt: OptState


@internal(cache=True, fastmath=FAST)
def _memoryless_rows(dims, aux, theta, s_prev, x, xi, t, s, cache, q, lr, into_theta, g):
    """For every row r (unit i): c = q_i D_t,r and the row's estimate c a_hat_t, written into g's row or,
    into_theta (plain SGD), subtracted from theta's row times lr."""
    m = dims[D_M]
    for r in range(dims[D_R]):
        dh, dc = cell.row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r)
        unit, w, lo, width, u, b = cell.row_form(dims, aux, r)
        c = q[unit] * dh
        sp = s_prev[lo:lo + width]
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


@internal(cache=True, fastmath=FAST)
def _trace_rows(dims, aux, theta, s_prev, x, xi, t, s, cache, q, lam, B, scored, lr, into_theta, g):
    """For every row r (unit i): B_r = lam B_r + D_t,r a_hat_t and, when the step is scored, the row's
    estimate q_i B_r, written into g's row or, into_theta (plain SGD), subtracted from theta's times lr."""
    m = dims[D_M]
    for r in range(dims[D_R]):
        dh, dc = cell.row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r)
        unit, w, lo, width, u, b = cell.row_form(dims, aux, r)
        Br = B[r]
        sp = s_prev[lo:lo + width]
        for j in range(width):
            Br[j] = lam * Br[j] + dh * sp[j]
        for j in range(m):
            Br[width + j] = lam * Br[width + j] + dh * x[j]
        Br[width + m] = lam * Br[width + m] + dh
        if not scored:
            continue
        c = q[unit]
        if into_theta:
            c = -lr * c
            row = theta[w:w + width]
            for j in range(width):
                row[j] += c * Br[j]
            for j in range(m):
                theta[u + j] += c * Br[width + j]
            theta[b] += c * Br[width + m]
        else:
            row = g[w:w + width]
            for j in range(width):
                row[j] = c * Br[j]
            for j in range(m):
                g[u + j] = c * Br[width + j]
            g[b] = c * Br[width + m]



@njit(cache=True)
def rflo_chunk(dims, aux, theta, ch, update, losses, st):
    """Run RFLO over one chunk (ch: ChunkArrays): per step the model's step, the traces
    B_t = (1 - alpha) B_{t-1} + D_t a_hat_t^T (Murray 2019's trace; Marschall et al. 2020's RFLO), the
    signal q_t = B_fb e_t (or V^T e_t) and the estimate q_t,i B_t,ij; update: apply the optimizer every
    step (plain SGD: written into theta directly, no gradient vector), else add into gacc."""
    xs, ys, mask, resets, xis = ch
    o = st.opt
    S, PR, P, R, m, n, no = dims[D_S], dims[D_PREC], dims[D_P], dims[D_R], dims[D_M], dims[D_N], dims[D_O]
    lam = st.lam
    B = st.B
    g = st.g
    plain_sgd = update and o.codes.shape[0] == 1 and o.codes[0] == SGD
    lr = o.hyper[0, 0] if plain_sgd else 0.0
    for t in range(xs.shape[0]):
        tg = st.steps[0]
        if resets[t]:
            st.s[:] = 0.0
            B[:] = 0.0
        for j in range(S):
            st.s_prev[j] = st.s[j]
        x = xs[t]  # the dense row (one-hot rows are dense too): the trace of U is dense once it has memory
        cell.step(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache)
        st.steps[0] += 1
        readout(dims[:], theta, st.s, x, xis[t], st.yhat)
        lt = loss_grad(dims[D_LOSS], st.yhat, ys[t], mask[t], st.dy)
        losses[t] = lt
        if not np.isfinite(lt):
            return NONFINITE_LOSS, tg
        scored = mask[t] != 0.0
        if scored:
            # the learning signal, from theta as it is before this step's update
            st.ds[:] = 0.0
            for k in range(PR, P):  # the readout's exact gradient (readout_vjp adds into g[PR:])
                g[k] = 0.0
            readout_vjp(dims[:], theta, st.s, x, xis[t], st.dy, g, st.ds)
            if st.symmetric:
                for i in range(n):
                    st.q[i] = st.ds[i]
            else:
                for i in range(n):
                    a = 0.0
                    for k in range(no):
                        a += st.Bfb[i, k] * st.dy[k]
                    st.q[i] = a
        if lam == 0.0:  # memoryless trace (alpha = 1): B_t = D_t a_hat_t^T, never stored
            if scored:
                _memoryless_rows(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache, st.q,
                                 lr if plain_sgd else 1.0, plain_sgd, g)
        else:
            _trace_rows(dims, aux, theta, st.s_prev, x, xis[t], tg, st.s, st.cache, st.q, lam, B, scored,
                        lr if plain_sgd else 1.0, plain_sgd, g)
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
class RFLO(Stochastic, GradientLearner):
    """Random-feedback local online learning (Murray 2019): RTRL with the state Jacobian replaced by the
    units' leak, one eligibility trace per synapse, the output error sent back through a fixed random matrix
    (feedback = "random", Murray's) or the readout's transpose ("symmetric"). Defined for (leaky) rate
    networks: the leaky network and Elman; the gated and clockwork models are refused. O(n^2) time and
    memory per step.

    alpha     the trace's leak, B_t = (1 - alpha) B_{t-1} + Mbar_t; None (default): the model's own alpha
              (Elman: 1, memoryless)
    feedback  "random" (a fixed N(0, 1/n) matrix drawn at init from the seed) or "symmetric" (V^T)"""

    name = "rflo"
    display_name = "RFLO"
    reference = "Murray 2019"
    # add task, Elman n = 32, 20k steps, seeds 0-2 (random feedback): 0.501/0.548/0.509 at 0.02, 0.508/0.567/0.512
    # at 0.01, 0.532/0.570/0.534 at 0.003, diverging towards 0.65 at 0.1
    default_lr = 0.02
    key_params = ("feedback",)
    time_exponent = 2.0
    memory_exponent = 2.0
    kernel_family = "rflo"
    compile_seconds = 3.0

    def __init__(self, alpha: float | None = None, feedback: str = "random"):
        self.alpha = alpha
        self.feedback = feedback

    def check(self):
        if self.alpha is not None:
            check_number("alpha", self.alpha, 0.0, 1.0, lo_open=True)
        if self.feedback not in FEEDBACK:
            raise ValueError(f"feedback must be one of {FEEDBACK}, got {self.feedback!r}")

    def supports(self, model):
        if rate_leak(model) is None:
            return ("RFLO (Murray 2019) is defined for leaky rate units; its trace approximates the state "
                    "Jacobian by the leak, which gated/clocked units do not have")
        return None

    def flops_per_step(self, model):
        n, m = model.n_hidden, model.n_in
        return 2.0 * n * n + 4.0 * n * (n + m + 1)

    def init(self, model, theta, optimizer=None, seed=0, feedback_matrix=None):
        """Fresh state; `feedback_matrix` (n x o), if given, replaces the random draw (the tests)."""
        self.check()
        self.check_model(model)
        optimizer = optimizer or sgd(0.01)
        S, C, P, R = model.n_state, max(model.n_cache, 1), model.n_params, model.dims[D_R]
        n, m, no = model.n_hidden, model.n_in, model.n_out
        if feedback_matrix is not None:
            Bfb = np.array(feedback_matrix, dtype=np.float64, order="C")
            if Bfb.shape != (n, no):
                raise ValueError(f"feedback_matrix must have shape ({n}, {no}), got {Bfb.shape}")
        elif self.feedback == "random":
            Bfb = self.make_rng(seed).normal(0.0, 1.0 / np.sqrt(n), size=(n, no))
        else:
            Bfb = np.zeros((n, no))
        z = np.zeros
        return RFLOState(z(S), z(S), z(C), z((R, n + m + 1)), Bfb, z(n), z(no), z(no), z(S), z(P), z(P),
                         z(1, np.int64), self.trace_decay(model),
                         bool(self.feedback == "symmetric" and feedback_matrix is None), optimizer.init(P))

    def trace_decay(self, model) -> float:
        """The trace's decay 1 - alpha: the model's leak unless alpha is given."""
        return float(rate_leak(model) if self.alpha is None else 1.0 - self.alpha)

    def _run(self, model, theta, st, chunk, update, flush, losses):
        status, where = rflo_chunk(model.dims, model.aux, theta, ChunkArrays.of(chunk), update, losses, st)
        return int(status), int(where)
