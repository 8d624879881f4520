"""The add task of Pitis (2016), as used by Marschall, Cho and Savin (2020, JMLR 21, section 5.1).

x_t ~ Bernoulli(0.5), fed as a one-hot pair; the target is a two-class distribution with
P(y_t = 1) = 0.5 + 0.5 x_{t-t1} - 0.25 x_{t-t2}. The loss is softmax cross-entropy. Training targets are
the probabilities themselves ("soft", as the published reference code does) or labels sampled from them
("sampled"); the test set always holds the probabilities, so its cross-entropy is measured against the
truth and its floor is the entropy E[H(p_t)].

Reference levels (test cross-entropy): a predictor that learns nothing (the marginal), one that learns
only the t1 dependency, and the optimal one; 0.662, 0.520 and 0.454 for t1 = 5, t2 = 9.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from .base import MAX_STEPS, Chunk, Stream, Task, check_positive_int


def _prob(x1, x2):
    return 0.5 + 0.5 * x1 - 0.25 * x2


def _xent(p, q):
    """Cross-entropy of Bernoulli(q) under Bernoulli(p), in nats (0 log 0 = 0)."""
    out = 0.0
    if p > 0:
        out -= p * np.log(q)
    if p < 1:
        out -= (1 - p) * np.log(1 - q)
    return out


@dataclass
class AddTask(Task):
    """Add task: t1, t2 are the lags (1 <= t1 < t2); labels is "soft" or "sampled"."""

    t1: int = 5
    t2: int = 9
    labels: str = "soft"

    name = "add"
    loss = "xent"

    def __post_init__(self):
        self.t1 = check_positive_int("t1", self.t1, 1, MAX_STEPS)
        self.t2 = check_positive_int("t2", self.t2, 1, MAX_STEPS)
        if self.t2 <= self.t1:
            raise ValueError(f"t2 must be greater than t1, got t1={self.t1}, t2={self.t2}")
        if self.labels not in ("soft", "sampled"):
            raise ValueError(f"labels must be 'soft' or 'sampled', got {self.labels!r}")

    @property
    def n_in(self) -> int:
        return 2

    @property
    def n_out(self) -> int:
        return 2

    def stream(self, seed: int) -> Stream:
        return _AddStream(self.t1, self.t2, self.labels == "sampled", np.random.default_rng(seed))

    def test_set(self, seed: int, length: int = 5000) -> Chunk:
        from .base import _test_seed
        return _AddStream(self.t1, self.t2, False, np.random.default_rng(_test_seed(seed))).next(length)

    def reference_levels(self) -> dict[str, float]:
        """Test cross-entropies of three predictors, exact from the task's definition (x's are iid fair)."""
        cases = list(product((0, 1), repeat=2))  # (x_{t-t1}, x_{t-t2}), each with probability 1/4
        p_marg = np.mean([_prob(a, b) for a, b in cases])
        nothing = np.mean([_xent(_prob(a, b), p_marg) for a, b in cases])
        q1 = {a: np.mean([_prob(a, b) for b in (0, 1)]) for a in (0, 1)}
        t1_only = np.mean([_xent(_prob(a, b), q1[a]) for a, b in cases])
        optimal = np.mean([_xent(_prob(a, b), _prob(a, b)) for a, b in cases])
        return {"learns nothing": float(nothing), f"learns t-{self.t1} only": float(t1_only),
                "optimal": float(optimal)}


class _AddStream(Stream):
    def __init__(self, t1, t2, sampled, rng):
        self.t1, self.t2, self.sampled, self.rng = t1, t2, sampled, rng
        self.history = rng.integers(0, 2, size=t2)  # x_{t-t2} .. x_{t-1}, drawn so the stream is stationary

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        new = self.rng.integers(0, 2, size=T)
        x = np.concatenate([self.history, new])
        k = self.t2
        p = _prob(x[k - self.t1:k - self.t1 + T], x[0:T])
        if self.sampled:
            y1 = (self.rng.random(T) < p).astype(np.float64)
        else:
            y1 = p
        self.history = x[-self.t2:]
        xs = np.stack([new, 1 - new], axis=1).astype(np.float64)
        ys = np.stack([y1, 1 - y1], axis=1)
        return Chunk.make(xs, ys, x_index=1 - new)
