"""The adding problem (Hochreiter & Schmidhuber 1997, "Long short-term memory", Neural Computation 9(8),
experiment 4).

Each step's input is a pair (value, marker). Values are uniform in [-1, 1]. Exactly two steps are marked
(marker 1); at the last step of the sequence the target is

    y = 0.5 + (X1 + X2) / 4,

the sum of the two marked values scaled into [0, 1], as in the paper. Only the last step is scored
(mask = 1 there, 0 elsewhere); the loss is "mse" (0.5 (y_hat - y)^2). A sequence is processed correctly if
the absolute error at its end is below 0.04 (the paper's criterion); `metrics` reports that fraction.

Two marker placements (`variant`):

- "halves" (default): sequences of exactly `length` steps; one marked step uniform in the first half and
  one uniform in the second half (the placement used by most later work, e.g. Le, Jaitly and Hinton 2015,
  with the 1997 values and target). Markers are 0 or 1.
- "hs97": the paper's own protocol: lengths uniform in [length, length + length // 10]; X1 is one of the
  first ten steps, X2 one of the first length/2 - 1 steps not yet marked; the marker of every other step is
  0 except the first and the last step, whose marker is -1. "In the rare case where the first pair of the
  sequence gets marked, we set X1 to zero": we read this as "a marked first pair contributes 0 to the
  target", whichever of the two draws marked it (its input value is left as drawn). Needs length >= 22.

Each sequence starts with resets=True.
Reference levels (test loss): the constant 0.5 predictor (0.5 Var y = 1/48 for "halves") and a predictor
that remembers only one of the two values (1/96); the optimum is 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import MAX_STEPS, Chunk, Stream, Task, _test_seed, check_positive_int
from ._seq import SequenceStream, sequence_bounds, whole_sequences

TOLERANCE = 0.04


@dataclass
class AddingTask(Task):
    """Adding problem of Hochreiter & Schmidhuber (1997); `length` is their minimal sequence length T."""

    length: int = 100
    variant: str = "halves"

    name = "adding"
    loss = "mse"

    def __post_init__(self):
        if self.variant not in ("halves", "hs97"):
            raise ValueError(f"variant must be 'halves' or 'hs97', got {self.variant!r}")
        self.length = check_positive_int("length", self.length, 2 if self.variant == "halves" else 22, MAX_STEPS)

    @property
    def n_in(self) -> int:
        return 2

    @property
    def n_out(self) -> int:
        return 1

    def _make(self, rng: np.random.Generator) -> Chunk:
        T = self.length
        if self.variant == "halves":
            h = T // 2
            i1, i2 = rng.integers(0, h), rng.integers(h, T)
            marker = np.zeros(T)
        else:
            T = int(rng.integers(T, T + T // 10 + 1))
            i1 = int(rng.integers(0, 10))
            i2 = int(rng.choice([i for i in range(self.length // 2 - 1) if i != i1]))
            marker = np.zeros(T)
            marker[0] = marker[-1] = -1.0
        values = rng.uniform(-1.0, 1.0, size=T)
        marker[i1] = marker[i2] = 1.0
        x1, x2 = values[i1], values[i2]
        if self.variant == "hs97":  # a marked first pair counts as 0
            x1, x2 = (0.0 if i1 == 0 else x1), (0.0 if i2 == 0 else x2)
        ys = np.zeros((T, 1))
        ys[-1, 0] = 0.5 + (x1 + x2) / 4.0
        mask = np.zeros(T)
        mask[-1] = 1.0
        resets = np.zeros(T, dtype=bool)
        resets[0] = True
        return Chunk.make(np.stack([values, marker], axis=1), ys, mask=mask, resets=resets)

    def sequence_steps(self) -> int:
        return self.length + (self.length // 10 if self.variant == "hs97" else 0)

    def stream(self, seed: int) -> Stream:
        return SequenceStream(self._make, np.random.default_rng(seed))

    def test_set(self, seed: int, length: int = 20000) -> Chunk:
        """Whole sequences totalling at least `length` steps (200 sequences of the default length)."""
        return whole_sequences(self._make, np.random.default_rng(_test_seed(seed)), length)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        scored = chunk.mask > 0
        err = np.abs(y_hat[scored, 0] - chunk.ys[scored, 0])
        return {"fraction_correct": float(np.mean(err < TOLERANCE)), "mean_abs_error": float(np.mean(err)),
                "sequences": float(len(sequence_bounds(chunk)))}

    def reference_levels(self) -> dict[str, float]:
        # Var(U[-1,1]) = 1/3; y = 0.5 + (X1 + X2)/4. In "hs97" the first pair is marked by the first draw
        # with probability 1/10 and by the second with probability 0.9 / (length/2 - 2); it then counts 0.
        if self.variant == "halves":
            var_y = (2 / 3) / 16
        else:
            p0 = 0.1 + 0.9 / (self.length // 2 - 2)
            var_y = (2 - p0) / 3 / 16
        return {"predicts 0.5": 0.5 * var_y, "remembers one value": 0.5 * (1 / 3) / 16, "optimal": 0.0}


AddingTask.__doc__ = f"{AddingTask.__doc__}\n\n{__doc__}"  # help() shows the full description
