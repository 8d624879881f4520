"""Sine-wave generation after a cue: an autonomous oscillation task in the spirit of Williams & Zipser's
oscillation experiments (Williams & Zipser 1989, "A learning algorithm for continually running fully
recurrent neural networks", Neural Computation 1(2), and "Experimental analysis of the real-time recurrent
learning algorithm", Connection Science 1(1); sinusoid targets also in Pearlmutter 1989). Their exact
settings (periods, teacher forcing) are not reproduced: this is our fixed, documented version.

Each sequence has `length` steps. At its first step the input is the cue (cos phi, sin phi); after that the
input is (0, 0), so the network must keep generating the wave on its own. The target is

    y_t = amplitude * sin(2 pi t / period + phi),   t = 0, ..., length - 1.

phi = 0 for every sequence (the classic task: one fixed wave), or, with random_phase=True, uniform in
[0, 2 pi) per sequence, so the network must also set the wave's phase from the cue. Sequences start with
resets=True; every step is scored. Loss "mse". Metrics: NRMSE over the test set and over the last period of
each sequence (does the oscillation persist?). Reference level: the zero predictor, 0.5 * amplitude^2 / 2
(for whole periods).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import MAX_STEPS, Chunk, Stream, Task, _test_seed, check_positive_int
from ._seq import SequenceStream, sequence_bounds, whole_sequences


@dataclass
class SineTask(Task):
    """Sine generation after a cue: `period` in steps (> 2), `length` steps per sequence."""

    period: float = 20.0
    length: int = 100
    amplitude: float = 0.8
    random_phase: bool = False

    name = "sine"
    loss = "mse"

    def __post_init__(self):
        try:
            self.period = float(self.period)
        except (TypeError, ValueError):
            raise ValueError(f"period must be a number > 2 (steps per cycle), got {self.period!r}") from None
        if not self.period > 2:
            raise ValueError(f"period must be a number > 2 (steps per cycle), got {self.period!r}")
        self.length = check_positive_int("length", self.length, 2, MAX_STEPS)
        try:
            self.amplitude = float(self.amplitude)
        except (TypeError, ValueError):
            raise ValueError(f"amplitude must be a positive number, got {self.amplitude!r}") from None
        if not self.amplitude > 0 or not np.isfinite(self.amplitude):
            raise ValueError(f"amplitude must be a positive number, got {self.amplitude!r}")
        if not isinstance(self.random_phase, (bool, np.bool_)):
            raise ValueError(f"random_phase must be True or False, got {self.random_phase!r}")

    @property
    def n_in(self) -> int:
        return 2

    @property
    def n_out(self) -> int:
        return 1

    def _make(self, rng) -> Chunk:
        T = self.length
        phi = rng.uniform(0.0, 2 * np.pi) if self.random_phase else 0.0
        xs = np.zeros((T, 2))
        xs[0] = np.cos(phi), np.sin(phi)
        ys = self.amplitude * np.sin(2 * np.pi * np.arange(T) / self.period + phi)
        resets = np.zeros(T, dtype=bool)
        resets[0] = True
        return Chunk.make(xs, ys[:, None], resets=resets)

    def stream(self, seed: int) -> Stream:
        return SequenceStream(self._make, np.random.default_rng(seed))

    def sequence_steps(self) -> int:
        return self.length

    def test_set(self, seed: int, length: int = 2000) -> Chunk:
        return whole_sequences(self._make, np.random.default_rng(_test_seed(seed)), length)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        y = chunk.ys[:, 0]
        var = self.amplitude ** 2 / 2
        last = np.zeros(len(chunk), dtype=bool)
        P = int(np.ceil(self.period))
        for a, b in sequence_bounds(chunk):
            last[max(a, b - P):b] = True
        err2 = (y_hat[:, 0] - y) ** 2
        return {"nrmse": float(np.sqrt(err2.mean() / var)),
                "nrmse_last_period": float(np.sqrt(err2[last].mean() / var))}

    def reference_levels(self) -> dict[str, float]:
        return {"zero predictor": 0.5 * self.amplitude ** 2 / 2}


SineTask.__doc__ = f"{SineTask.__doc__}\n\n{__doc__}"  # help() shows the full description
