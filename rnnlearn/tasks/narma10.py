"""NARMA-10 system identification (Atiya & Parlos 2000, IEEE Trans. Neural Networks 11(3), eq. for the
10th-order nonlinear autoregressive moving-average system; a standard reservoir-computing benchmark since
Jaeger 2003):

    y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t) + 0.1,   u(t) ~ U[0, 0.5] iid.

Encoding: input u(t), target y(t+1) (both raw, as in the paper); one continuous sequence, no resets, every
step scored. The system starts from y = 0, u = 0 history and runs `washout` steps before the stream starts,
so the stream is stationary.

With u ~ U[0, 0.5] the system occasionally diverges (about once in 10^5 - 10^6 steps). The stream is
therefore drawn in blocks of 500 steps, and a block in which y exceeds 1.25 (stable stretches stay below
about 1.1) is drawn again with fresh inputs from the same state; if that fails 20 times the system restarts
from rest (after a new washout) and that block starts with resets=True. The stream is thus NARMA-10
conditioned on not diverging, and stays finite. Loss "mse". Metric: NMSE = mean (y_hat - y)^2 / Var(y) on the test set (the
benchmark's usual figure; 1 for the mean predictor).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from .base import MAX_STEPS, Chunk, Stream, Task, _test_seed, check_positive_int

ORDER = 10


BLOCK = 500          # the stream is made in blocks of this many steps
BOUND = 1.25         # a block whose y exceeds this is drawn again (see the module docstring)
MAX_TRIES = 20       # after this many rejected draws, the system restarts from rest


@njit(cache=True)
def _narma_run(u, y):
    """y[ORDER-1] = y(t) and y[:ORDER] the last ORDER outputs; u[:ORDER] = u(t-ORDER)..u(t-1) and
    u[ORDER + k] = u(t+k). Fills y[ORDER + k] = y(t+k+1); returns the largest new |y| (inf if not finite)."""
    T = u.shape[0] - ORDER
    top = 0.0
    for k in range(T):
        t = ORDER - 1 + k
        acc = 0.0
        for i in range(ORDER):
            acc += y[t - i]
        v = 0.3 * y[t] + 0.05 * y[t] * acc + 1.5 * u[t + 1 - 9] * u[t + 1] + 0.1
        y[t + 1] = v
        if not np.isfinite(v):
            return np.inf
        if abs(v) > top:
            top = abs(v)
    return top


class _NarmaStream(Stream):
    def __init__(self, rng, washout):
        self.rng, self.washout = rng, washout
        self._start()
        self._pending: list[Chunk] = []
        self._n = 0

    def _start(self):
        self.y = np.zeros(ORDER)   # y(t-9) .. y(t)
        self.u = np.zeros(ORDER)   # u(t-10) .. u(t-1)
        if self.washout:
            u, y, _ = self._draw(self.washout)
            self._accept(u, y)

    def _draw(self, T):
        u = np.concatenate([self.u, self.rng.uniform(0.0, 0.5, size=T)])
        y = np.concatenate([self.y, np.empty(T)])
        top = _narma_run(u, y)
        return u, y, top

    def _accept(self, u, y, *_):
        self.u, self.y = u[-ORDER:], y[-ORDER:]

    def _block(self) -> Chunk:
        restarted = False
        for _ in range(MAX_TRIES):
            u, y, top = self._draw(BLOCK)
            if top <= BOUND:
                break
        else:
            self._start()
            restarted = True
            u, y, top = self._draw(BLOCK)
        self._accept(u, y)
        resets = np.zeros(BLOCK, dtype=bool)
        resets[0] = restarted
        return Chunk.make(u[ORDER:, None], y[ORDER:, None], resets=resets)

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        while self._n < T:
            c = self._block()
            self._pending.append(c)
            self._n += len(c)
        full = Chunk.concat(self._pending)
        take = [np.ascontiguousarray(getattr(full, f)[:T]) for f in ("xs", "ys", "mask", "resets", "x_index")]
        rest = [np.ascontiguousarray(getattr(full, f)[T:]) for f in ("xs", "ys", "mask", "resets", "x_index")]
        self._n -= T
        self._pending = [Chunk(*rest)] if self._n else []
        return Chunk(*take)


@lru_cache(maxsize=4)
def _target_var(washout):
    return float(np.var(_NarmaStream(np.random.default_rng(2468), washout).next(20000).ys))


@dataclass
class Narma10Task(Task):
    """NARMA-10; `washout` steps are run and discarded before the stream starts."""

    washout: int = 200

    name = "narma10"
    loss = "mse"

    def __post_init__(self):
        self.washout = check_positive_int("washout", self.washout, 0, MAX_STEPS)

    @property
    def n_in(self) -> int:
        return 1

    @property
    def n_out(self) -> int:
        return 1

    def stream(self, seed: int) -> Stream:
        return _NarmaStream(np.random.default_rng(seed), self.washout)

    def test_set(self, seed: int, length: int = 2000) -> Chunk:
        return self.stream(_test_seed(seed)).next(length)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        y = chunk.ys[:, 0]
        return {"nmse": float(np.mean((y_hat[:, 0] - y) ** 2) / np.var(y))}

    def reference_levels(self) -> dict[str, float]:
        """Test loss (0.5 x squared error) of the mean predictor (NMSE 1)."""
        return {"mean predictor": 0.5 * _target_var(self.washout)}


Narma10Task.__doc__ = f"{Narma10Task.__doc__}\n\n{__doc__}"  # help() shows the full description
