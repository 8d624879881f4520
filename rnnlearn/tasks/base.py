"""The task interface: a seeded, endless stream of (x_t, y_t) chunks with a held-out test set.

A task knows its input and output sizes, the loss the model must use, how to make a training stream and a
fixed test set from a seed, and how to score a model's outputs on that test set. Learners only ever see
`Chunk` arrays, so any task runs with any learner.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class Chunk:
    """A contiguous piece of a task's stream; every array has T rows.

    xs      (T, m) float64  inputs (for one-hot inputs, the dense one-hot rows)
    ys      (T, o) float64  targets: values for "mse", probabilities (one-hot or soft) for "xent"
    mask    (T,)   float64  weight of step t's loss (0 where the step is not scored)
    resets  (T,)   bool     True where a new sequence starts: the state is set to s_0 = 0 before step t
    x_index (T,)   int64    index of the hot input unit when xs rows are one-hot, else -1 (lets kernels
                            replace U x by a column lookup)
    """

    xs: np.ndarray
    ys: np.ndarray
    mask: np.ndarray
    resets: np.ndarray
    x_index: np.ndarray

    @classmethod
    def make(cls, xs, ys, mask=None, resets=None, x_index=None) -> "Chunk":
        """Build a chunk with the right dtypes and memory layout; missing fields get neutral values.
        Arrays with a leading batch axis (xs of shape (B, T, m)) make a stacked batch of B sequences."""
        if np.ndim(xs) == 3:
            B = len(xs)
            pick = lambda a, b: None if a is None else a[b]
            return cls.stack([cls.make(xs[b], ys[b], pick(mask, b), pick(resets, b), pick(x_index, b))
                              for b in range(B)])
        xs = np.ascontiguousarray(xs, dtype=np.float64)
        ys = np.ascontiguousarray(ys, dtype=np.float64)
        if xs.ndim != 2 or ys.ndim != 2 or len(xs) != len(ys):
            raise ValueError(f"xs and ys must be 2-D with equal rows, got {xs.shape} and {ys.shape}")
        T = len(xs)
        mask = np.ones(T) if mask is None else np.ascontiguousarray(mask, dtype=np.float64)
        resets = np.zeros(T, dtype=np.bool_) if resets is None else np.ascontiguousarray(resets, dtype=np.bool_)
        x_index = (np.full(T, -1, dtype=np.int64) if x_index is None
                   else np.ascontiguousarray(x_index, dtype=np.int64))
        for name, arr in (("mask", mask), ("resets", resets), ("x_index", x_index)):
            if arr.shape != (T,):
                raise ValueError(f"{name} must have shape ({T},), got {arr.shape}")
        return cls(xs, ys, mask, resets, x_index)

    def __len__(self) -> int:
        """Number of time steps (for a stacked batch too)."""
        return self.xs.shape[-2]

    @staticmethod
    def stack(chunks) -> "Chunk":
        """B chunks of equal length as one batch: every array gains a leading axis of size B."""
        chunks = list(chunks)
        if len({len(c) for c in chunks}) != 1:
            raise ValueError("the chunks of a batch must have equal lengths")
        return Chunk(*(np.ascontiguousarray(np.stack([getattr(c, f) for c in chunks]))
                       for f in ("xs", "ys", "mask", "resets", "x_index")))

    @staticmethod
    def concat(chunks) -> "Chunk":
        chunks = list(chunks)
        return Chunk(*(np.ascontiguousarray(np.concatenate([getattr(c, f) for c in chunks]))
                       for f in ("xs", "ys", "mask", "resets", "x_index")))


class Stream:
    """An endless, seeded source of chunks. `next(T)` continues exactly where the last call stopped, so the
    concatenation of next(a) and next(b) is the same data as next(a + b)."""

    def next(self, T: int) -> Chunk:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Task:
    """Base class of all tasks. Subclasses are dataclasses whose fields are the task's parameters.

    Subclasses set `name`, `loss` ("mse" or "xent"), and implement `n_in`, `n_out`, `stream`,
    and optionally `test_set`, `metrics` and `reference_levels`.
    Parameter errors raise ValueError with a message that starts with the parameter's name.
    """

    name: ClassVar[str] = ""
    loss: ClassVar[str] = "mse"

    @property
    def n_in(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def n_out(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def stream(self, seed: int) -> Stream:  # pragma: no cover - interface
        raise NotImplementedError

    def test_set(self, seed: int, length: int = 2000) -> Chunk:
        """A fixed held-out chunk. Its random numbers never overlap the training stream's."""
        return self.stream(_test_seed(seed)).next(length)

    def metrics(self, y_hat: np.ndarray, chunk: Chunk, model=None, theta=None) -> dict[str, float]:
        """Task-specific success measures of outputs y_hat (T, o) on a test chunk (beyond the mean loss)."""
        return {}

    def reference_levels(self) -> dict[str, float]:
        """Named test-loss levels to draw on convergence plots (e.g. 'chance')."""
        return {}

    # ---- what the memory check and the divergence criterion read --------------------------------------
    #: a run whose test loss exceeds this many times the task's "learns nothing" level has diverged
    divergence_factor: ClassVar[float] = 10.0

    def learns_nothing(self) -> float | None:
        """The test loss of a predictor that learns nothing: the largest of the reference levels (the
        marginal, chance, the constant predictor); None when the task declares none."""
        levels = [float(v) for v in self.reference_levels().values() if np.isfinite(v) and v > 0]
        return max(levels) if levels else None

    def divergence_bound(self) -> float | None:
        """The test loss above which a run counts as diverged: `divergence_factor` times `learns_nothing`
        (None: the training loop uses that factor times the run's own loss at step 0)."""
        base = self.learns_nothing()
        return None if base is None else self.divergence_factor * base

    def test_steps(self) -> int:
        """Rows of `test_set(seed)`, estimated without building it (for the memory check): its default
        length, plus one sequence for tasks whose test set holds whole sequences."""
        import inspect
        p = inspect.signature(self.test_set).parameters.get("length")
        v = p.default if p is not None else None
        base = int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 20000
        return base + self.sequence_steps()

    def sequence_steps(self) -> int:
        """The longest sequence the task's streams build at once (1 for a stream built step by step)."""
        return 1

    def params(self) -> dict:
        """The task's parameters, as given to its constructor."""
        from dataclasses import asdict
        return asdict(self)


def _test_seed(seed: int) -> int:
    """Seed of the held-out set: a different stream of random numbers from the training seed's."""
    return int(np.random.SeedSequence([int(seed), 0x7E57]).generate_state(1)[0])


#: the largest value a task parameter that sets a buffer's length may take (a sequence length, a delay, a
#: washout): larger ones are refused before anything is built
MAX_STEPS = 1_000_000


def check_positive_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Validate an integer parameter (in [minimum, maximum] when maximum is given); the error names it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum:,}] (it sets the length of the "
                         f"task's buffers), got {value!r}")
    return int(value)
