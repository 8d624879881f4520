"""Delayed XOR (Williams & Zipser 1989, "A learning algorithm for continually running fully recurrent
neural networks", Neural Computation 1(2): the "pipelined XOR"): random bits arrive at every step and the
output must be the XOR of bits seen some steps ago.

With `lines` = 2 (the default, Williams & Zipser's setting) two independent fair bit streams a_t, b_t are the
inputs and y_t = a_{t-d1} XOR b_{t-d2}; d1 = d2 = 2 is their pipelined XOR (the XOR of the pair presented two
steps earlier, so a computation pipelined over time). With `lines` = 1 a single bit stream x_t is the input
and y_t = x_{t-d1} XOR x_{t-d2} (d1 != d2): the XOR of the same line at two lags, like the add task's
dependencies but without a linear shortcut (neither bit alone says anything about y).

Inputs are the raw bits (0/1, not one-hot). The output is a two-class softmax, loss "xent", target one-hot
over (0, 1). One endless sequence; the history before the stream starts is drawn too, so every step is
scored. Metric: accuracy. Reference levels: chance (log 2) and optimal (0); every predictor that ignores one
of the two bits is at chance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import MAX_STEPS, Chunk, Stream, Task, check_positive_int


class _XorStream(Stream):
    def __init__(self, lines, d1, d2, rng):
        self.lines, self.d1, self.d2, self.rng = lines, d1, d2, rng
        self.k = max(d1, d2)
        self.history = rng.integers(0, 2, size=(self.k, lines))  # bits at t-k .. t-1

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        new = self.rng.integers(0, 2, size=(T, self.lines))
        x = np.concatenate([self.history, new])
        k = self.k
        a = x[k - self.d1:k - self.d1 + T, 0]
        b = x[k - self.d2:k - self.d2 + T, self.lines - 1]
        y = (a ^ b).astype(np.float64)
        self.history = x[len(x) - k:] if k else x[:0]
        return Chunk.make(new.astype(np.float64), np.stack([1 - y, y], axis=1))


@dataclass
class DelayedXORTask(Task):
    """Delayed XOR: y_t = line1_{t-d1} XOR line2_{t-d2} (lines=2) or x_{t-d1} XOR x_{t-d2} (lines=1)."""

    d1: int = 2
    d2: int = 2
    lines: int = 2

    name = "delayed_xor"
    loss = "xent"

    def __post_init__(self):
        self.d1 = check_positive_int("d1", self.d1, 0, MAX_STEPS)
        self.d2 = check_positive_int("d2", self.d2, 0, MAX_STEPS)
        if isinstance(self.lines, bool) or self.lines not in (1, 2):
            raise ValueError(f"lines must be 1 or 2, got {self.lines!r}")
        if self.lines == 1 and self.d1 == self.d2:
            raise ValueError(f"d2 must differ from d1 when lines=1 (x XOR x is always 0), got d1=d2={self.d1}")

    @property
    def n_in(self) -> int:
        return self.lines

    @property
    def n_out(self) -> int:
        return 2

    def stream(self, seed: int) -> Stream:
        return _XorStream(self.lines, self.d1, self.d2, np.random.default_rng(seed))

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        ok = np.argmax(y_hat, axis=1) == np.argmax(chunk.ys, axis=1)
        return {"accuracy": float(ok[chunk.mask > 0].mean())}

    def reference_levels(self) -> dict[str, float]:
        return {"chance": float(np.log(2)), "optimal": 0.0}


DelayedXORTask.__doc__ = f"{DelayedXORTask.__doc__}\n\n{__doc__}"  # help() shows the full description
