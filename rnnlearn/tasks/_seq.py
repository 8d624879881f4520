"""Helpers shared by the task modules: a stream made of whole sequences, one-hot encoding, and scoring of
next-symbol predictions against sets of legal symbols."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .base import Chunk, Stream, check_positive_int


def one_hot(indices, n: int) -> np.ndarray:
    """Rows of the n x n identity picked by `indices` (float64)."""
    indices = np.asarray(indices, dtype=np.int64)
    out = np.zeros((len(indices), n))
    out[np.arange(len(indices)), indices] = 1.0
    return out


class SequenceStream(Stream):
    """An endless stream of whole sequences, cut into chunks at any place.

    `make(rng)` returns one sequence as a Chunk (its first step has resets=True). Sequences are drawn one
    after the other from the same generator, never looking at T, so next(a) then next(b) gives the same
    data as next(a + b)."""

    def __init__(self, make: Callable[[np.random.Generator], Chunk], rng: np.random.Generator):
        self.make, self.rng = make, rng
        self._pending: list[Chunk] = []
        self._n = 0

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        while self._n < T:
            c = self.make(self.rng)
            self._pending.append(c)
            self._n += len(c)
        full = Chunk.concat(self._pending) if len(self._pending) > 1 else self._pending[0]
        out = _slice(full, 0, T)
        self._n -= T
        self._pending = [_slice(full, T, len(full))] if self._n > 0 else []
        return out


def whole_sequences(make, rng: np.random.Generator, length: int) -> Chunk:
    """Whole sequences from `make` until at least `length` steps: a test set that never cuts a sequence."""
    length = check_positive_int("length", length)
    parts, n = [], 0
    while n < length:
        c = make(rng)
        parts.append(c)
        n += len(c)
    return Chunk.concat(parts)


def _slice(c: Chunk, a: int, b: int) -> Chunk:
    return Chunk(*(np.ascontiguousarray(getattr(c, f)[a:b]) for f in ("xs", "ys", "mask", "resets", "x_index")))


def sequence_bounds(chunk: Chunk) -> list[tuple[int, int]]:
    """(start, stop) of each sequence in a chunk, split where resets is True (a chunk that does not start
    with a reset gets its first, partial, sequence as well)."""
    starts = list(np.flatnonzero(chunk.resets))
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    stops = starts[1:] + [len(chunk)]
    return list(zip(starts, stops))


def legal_set_ok(probs: np.ndarray, targets: np.ndarray, threshold: float) -> np.ndarray:
    """Per step: is every legal symbol (target > 0) predicted with probability above `threshold`, every
    illegal one below it, and, where exactly one symbol is legal, that one above 0.5 (so it is also the
    most probable symbol)?"""
    legal = targets > 0
    ok = np.all(np.where(legal, probs > threshold, probs < threshold), axis=1)
    single = legal.sum(axis=1) == 1
    ok &= ~single | (np.where(legal, probs, 0.0).sum(axis=1) > 0.5)
    return ok


def softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax (kept here so the tasks do not depend on the models package)."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mean_xent(y_hat: np.ndarray, chunk: Chunk) -> float:
    """Mean softmax cross-entropy (nats) of logits y_hat against chunk.ys over the scored steps."""
    z = y_hat - y_hat.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    per_step = -(chunk.ys * logp).sum(axis=1)
    w = chunk.mask
    return float((per_step * w).sum() / w.sum())


def check_unit_interval(name: str, value, low_open=True, high_open=True) -> float:
    """Validate a float strictly inside (0, 1) (or with closed ends); the error names the parameter."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}") from None
    lo_ok = v > 0 if low_open else v >= 0
    hi_ok = v < 1 if high_open else v <= 1
    if not (lo_ok and hi_ok) or isinstance(value, bool):
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ValueError(f"{name} must be a number in {lo}0, 1{hi}, got {value!r}")
    return v
