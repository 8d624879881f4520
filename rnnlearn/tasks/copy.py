"""The copy task as Zucchet, Meier, Schug, Mujika and Sacramento (2023, "Online learning of long-range
dependencies", NeurIPS) use it, scaled to batch-1 streams: memorise a pattern of k symbols, wait, then
reproduce it.

Each sequence has k + delay + k steps. Inputs are one-hot over n_symbols + 2 channels (x_index filled):
steps 0..k-1 show the pattern, k symbols drawn uniformly and independently from n_symbols; the next
`delay` steps show the "blank" channel (n_symbols); the last k steps show the "recall" channel
(n_symbols + 1), the cue to reproduce. The target of recall step j is pattern symbol j, one-hot over the
n_symbols outputs; only the recall steps are scored (mask 1 there, 0 elsewhere; their unscored targets are
uniform). Loss: softmax cross-entropy ("xent"). Each sequence starts with resets=True. The dependency to
learn spans delay + k steps (pattern symbol j is recalled delay + k steps after it was shown).

Metrics: the fraction of recall steps and of whole patterns reproduced (arg-max correct).
Reference levels (test loss per scored step): chance log(n_symbols), the optimum 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import MAX_STEPS, Chunk, Stream, Task, _test_seed, check_positive_int
from ._seq import SequenceStream, one_hot, sequence_bounds, whole_sequences


@dataclass
class CopyTask(Task):
    """Copy task (Zucchet et al. 2023): show k symbols, wait `delay` steps, reproduce them."""

    k: int = 5
    n_symbols: int = 4
    delay: int = 10

    name = "copy"
    loss = "xent"

    def __post_init__(self):
        self.k = check_positive_int("k", self.k, 1, MAX_STEPS)
        self.n_symbols = check_positive_int("n_symbols", self.n_symbols, 2, 100_000)
        self.delay = check_positive_int("delay", self.delay, 0, MAX_STEPS)

    @property
    def n_in(self) -> int:
        return self.n_symbols + 2  # the symbols, blank, recall

    @property
    def n_out(self) -> int:
        return self.n_symbols

    @property
    def blank(self) -> int:
        return self.n_symbols

    @property
    def recall(self) -> int:
        return self.n_symbols + 1

    def sequence_steps(self) -> int:
        return 2 * self.k + self.delay

    def _make(self, rng: np.random.Generator) -> Chunk:
        k, d, s = self.k, self.delay, self.n_symbols
        pattern = rng.integers(0, s, size=k)
        sym = np.concatenate([pattern, np.full(d, self.blank), np.full(k, self.recall)]).astype(np.int64)
        T = len(sym)
        ys = np.full((T, s), 1.0 / s)
        ys[k + d:] = one_hot(pattern, s)
        mask = np.zeros(T)
        mask[k + d:] = 1.0
        resets = np.zeros(T, dtype=bool)
        resets[0] = True
        return Chunk.make(one_hot(sym, s + 2), ys, mask=mask, resets=resets, x_index=sym)

    def stream(self, seed: int) -> Stream:
        return SequenceStream(self._make, np.random.default_rng(seed))

    def test_set(self, seed: int, length: int = 5000) -> Chunk:
        """Whole sequences totalling at least `length` steps."""
        return whole_sequences(self._make, np.random.default_rng(_test_seed(seed)), length)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        scored = chunk.mask > 0
        ok = np.argmax(y_hat, axis=1) == np.argmax(chunk.ys, axis=1)
        whole = [bool(ok[a:b][scored[a:b]].all()) for a, b in sequence_bounds(chunk) if scored[a:b].any()]
        return {"symbols_correct": float(ok[scored].mean()), "patterns_correct": float(np.mean(whole))}

    def reference_levels(self) -> dict[str, float]:
        return {"chance": float(np.log(self.n_symbols)), "optimal": 0.0}


CopyTask.__doc__ = f"{CopyTask.__doc__}\n\n{__doc__}"  # help() shows the full description
