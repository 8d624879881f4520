"""Mackey-Glass chaotic time series, one-step-ahead prediction (Mackey & Glass 1977, Science 197; the
tau = 17 benchmark of Lapedes & Farber 1987 and of Jaeger & Haas 2004, Science 304, whose free-running
84-step NRMSE is reported here).

    dx/dt = beta x(t - tau) / (1 + x(t - tau)^p) - gamma x(t),  beta = 0.2, gamma = 0.1, p = 10, tau = 17.

Integration: classical 4th-order Runge-Kutta with step h = 1/substeps (default 0.1, so tau is a whole number
of steps). The delayed term at the grid points is read from the stored solution; at RK4's half steps it is
the cubic Hermite interpolant between the two neighbouring grid points, which uses the stored values and
derivatives (x_mid = (x0 + x1)/2 + h (f0 - f1)/8). The history is constant, x(t) = x0 for t <= 0, with x0
uniform in [0.5, 1.5] drawn from the seed; the first `washout` time units are discarded so the stream lies
on the attractor. The series is sampled at unit time intervals. The scheme is checked in the tests against
an independent high-accuracy solution (scipy's DOP853 with the method of steps).

Encoding: input x(t) - 1, target x(t + 1) - 1 (the shift centres the series, which lies roughly in
[0.4, 1.4]; NRMSEs are unchanged by it). One continuous sequence, no resets, every step scored.
Loss "mse". Metrics: one-step NRMSE, and, when a model is given, free-running generation: from `n_trials`
points of the test series the model is driven by the true series (teacher forcing), then fed its own
output back as input for `horizon` (84) steps; NRMSE84 = sqrt(mean over trials of the squared error of the
84th generated value / variance of the series), as in Jaeger & Haas 2004; also the NRMSE over the whole
generated stretch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from .base import MAX_STEPS, Chunk, Stream, Task, _test_seed, check_positive_int

BETA, GAMMA, POWER = 0.2, 0.1, 10.0
SHIFT = 1.0


@njit(cache=True)
def _mg_rhs(x, xd):
    return BETA * xd / (1.0 + xd ** POWER) - GAMMA * x


@njit(cache=True)
def _mg_advance(buf_x, buf_f, state, out, sub, h, x0):
    """Advance the integration by len(out) unit time intervals, writing x at each whole time into out.

    buf_x, buf_f: ring buffers (length D + 1, D = tau/h) of x and dx/dt at the last D + 1 grid points;
    state = [k (steps taken), x_k]. Grid point j lives at index j % (D + 1)."""
    D1 = buf_x.shape[0]
    D = D1 - 1
    k = int(state[0])
    x = state[1]
    for i in range(out.shape[0]):
        for _ in range(sub):
            if k < D:  # the delayed time is still in the constant history
                xd0 = x0
                xdm = x0
                xd1 = x0
            else:
                a = (k - D) % D1
                b = (k - D + 1) % D1
                xd0 = buf_x[a]
                xd1 = buf_x[b]
                xdm = 0.5 * (xd0 + xd1) + h * (buf_f[a] - buf_f[b]) / 8.0
            f0 = _mg_rhs(x, xd0)
            buf_x[k % D1] = x
            buf_f[k % D1] = f0
            k2 = _mg_rhs(x + 0.5 * h * f0, xdm)
            k3 = _mg_rhs(x + 0.5 * h * k2, xdm)
            k4 = _mg_rhs(x + h * k3, xd1)
            x = x + h * (f0 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
            k += 1
        out[i] = x
    state[0] = k
    state[1] = x


class MackeyGlassIntegrator:
    """Stateful integrator: `advance(n)` returns x at the next n whole times (x(1), x(2), ... at first)."""

    def __init__(self, x0: float, tau: int = 17, substeps: int = 10):
        tau = check_positive_int("tau", tau)
        substeps = check_positive_int("substeps", substeps, 2)
        D = tau * substeps
        self.x0, self.sub, self.h = float(x0), int(substeps), 1.0 / substeps
        self.buf_x = np.zeros(D + 1)
        self.buf_f = np.zeros(D + 1)
        self.state = np.array([0.0, self.x0])

    def advance(self, n: int) -> np.ndarray:
        out = np.empty(n)
        if n:
            _mg_advance(self.buf_x, self.buf_f, self.state, out, self.sub, self.h, self.x0)
        return out


def mackey_glass_series(n: int, x0: float = 1.2, tau: int = 17, substeps: int = 10,
                        washout: int = 0) -> np.ndarray:
    """x(washout), x(washout + 1), ..., n values at unit intervals, from the history x(t) = x0, t <= 0."""
    it = MackeyGlassIntegrator(x0, tau, substeps)
    first = np.array([x0]) if washout == 0 else it.advance(washout)[-1:]
    return np.concatenate([first, it.advance(n - 1)])


class _MGStream(Stream):
    def __init__(self, rng, tau, substeps, washout):
        x0 = rng.uniform(0.5, 1.5)
        self.it = MackeyGlassIntegrator(x0, tau, substeps)
        self.prev = x0 if washout == 0 else self.it.advance(washout)[-1]

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        new = self.it.advance(T)
        x = np.concatenate([[self.prev], new])
        self.prev = new[-1]
        return Chunk.make(x[:-1, None] - SHIFT, x[1:, None] - SHIFT)


@lru_cache(maxsize=16)
def _reference_stats(tau, substeps, washout):
    x = _MGStream(np.random.default_rng(12345), tau, substeps, washout).next(20000)
    v = x.xs[:, 0]
    return float(np.var(v)), float(np.mean((x.ys[:, 0] - v) ** 2))


@dataclass
class MackeyGlassTask(Task):
    """Mackey-Glass one-step prediction; `horizon` and `n_trials` set the free-running NRMSE metric."""

    tau: int = 17
    substeps: int = 10
    washout: int = 1000
    horizon: int = 84
    n_trials: int = 20

    name = "mackey_glass"
    loss = "mse"

    def __post_init__(self):
        self.tau = check_positive_int("tau", self.tau, 1, MAX_STEPS)
        self.substeps = check_positive_int("substeps", self.substeps, 2, 1000)
        self.washout = check_positive_int("washout", self.washout, 0, MAX_STEPS)
        self.horizon = check_positive_int("horizon", self.horizon, 1, MAX_STEPS)
        self.n_trials = check_positive_int("n_trials", self.n_trials, 1, 10_000)

    @property
    def n_in(self) -> int:
        return 1

    @property
    def n_out(self) -> int:
        return 1

    def stream(self, seed: int) -> Stream:
        return _MGStream(np.random.default_rng(seed), self.tau, self.substeps, self.washout)

    def test_set(self, seed: int, length: int = 3000) -> Chunk:
        return self.stream(_test_seed(seed)).next(length)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        y = chunk.ys[:, 0]
        var = float(np.var(y))
        out = {"nrmse": float(np.sqrt(np.mean((y_hat[:, 0] - y) ** 2) / var))}
        if model is not None:
            out.update(self.free_run_nrmse(model, theta, chunk))
        return out

    def free_run_nrmse(self, model, theta, chunk: Chunk, warmup: int = 200) -> dict[str, float]:
        """Teacher-force the model up to each of `n_trials` start points spread over the chunk, then let it
        run on its own output for `horizon` steps."""
        T, H = len(chunk), self.horizon
        if T < warmup + H + 1:
            raise ValueError(f"chunk must have at least {warmup + H + 1} steps for free-running generation, got {T}")
        states, y_hat = model.forward(theta, chunk)
        starts = np.linspace(warmup, T - H - 1, self.n_trials).astype(int)
        series = chunk.ys[:, 0]
        var = float(np.var(series))
        err_last, err_all = [], []
        for s0 in starts:
            # states[s0] has read x_{s0}; y_hat[s0] predicts x_{s0+1} = ys[s0]
            s = np.array(states[s0], dtype=np.float64)
            y = float(y_hat[s0, 0])
            gen = [y]
            for j in range(1, H):
                s, out = model.step(theta, s, np.array([y]), -1, s0 + j)
                y = float(np.asarray(out).ravel()[0])
                gen.append(y)
            true = series[s0:s0 + H]
            err = np.asarray(gen) - true
            err_last.append(err[-1] ** 2)
            err_all.append(np.mean(err ** 2))
        return {f"nrmse{H}": float(np.sqrt(np.mean(err_last) / var)),
                f"nrmse_1to{H}": float(np.sqrt(np.mean(err_all) / var))}

    def reference_levels(self) -> dict[str, float]:
        """Test-loss levels (0.5 x squared error) of predicting the mean and of predicting x(t+1) = x(t)."""
        var, persist = _reference_stats(self.tau, self.substeps, self.washout)
        return {"mean predictor": 0.5 * var, "persistence": 0.5 * persist}


MackeyGlassTask.__doc__ = f"{MackeyGlassTask.__doc__}\n\n{__doc__}"  # help() shows the full description
