"""a^n b^n c^n next-symbol prediction, a context-sensitive language (Gers & Schmidhuber 2001, "LSTM recurrent
networks learn simple context-free and context-sensitive languages", IEEE Trans. Neural Networks 12(6)).

A string is S a^n b^n c^n T with n uniform in {1, ..., n_max}. Symbols S, a, b, c, T are one-hot (5 units;
x_index filled). A string gives 3n + 1 steps: step t reads symbol t (S, the a's, b's and c's; T is never an
input) and is scored on what may follow. The legal next symbols are:

    after S: a;   after an a: a or b;   after the k-th b: b if k < n, else c;
    after the k-th c: c if k < n, else T.

Only the a's leave a choice; once the first b arrives every later symbol is determined, which is what makes
the language context-sensitive: the network must count the a's and count down twice.

Targets and loss: the target is the uniform distribution over the legal set (1/2 on a and b in the a-block,
one-hot elsewhere), with softmax cross-entropy ("xent"). Why not Gers & Schmidhuber's independent sigmoid
outputs with squared error: our models have a linear readout shared by all tasks and the two losses
"mse"/"xent"; the legal set here has at most two members, so the softmax target keeps them both clearly
above any threshold below 1/2, and because the target does not depend on the sampled continuation (no label
noise) the optimum of the loss is exactly the legal-set prediction. The multi-hot legal set is recovered as
ys > 0. Each string starts with resets=True; every step is scored.

Success (as in the paper, adapted to softmax outputs): a string is predicted correctly if at every step all
legal symbols get probability above `threshold` and all illegal ones below it, and at steps where exactly
one symbol is legal (all steps but the a's) that symbol gets more than 1/2. `largest_n_correct` reports the
largest n such that the strings of every n' <= n are predicted correctly (the paper's generalisation test).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Chunk, Stream, Task, check_positive_int
from ._seq import SequenceStream, check_unit_interval, legal_set_ok, one_hot, sequence_bounds, softmax_rows

SYMBOLS = "SabcT"
S, A, B, C, T_ = range(5)


def anbncn_legal_sets(n: int) -> list[str]:
    """The legal next-symbol set after each input symbol of S a^n b^n c^n (3n + 1 sets)."""
    return ["a"] + ["ab"] * n + ["b"] * (n - 1) + ["c"] + ["c"] * (n - 1) + ["T"]


def encode_anbncn(n: int) -> Chunk:
    """The chunk of the string S a^n b^n c^n T (inputs S a^n b^n c^n; targets uniform over the legal sets)."""
    n = check_positive_int("n", n)
    idx = np.array([S] + [A] * n + [B] * n + [C] * n, dtype=np.int64)
    ys = np.zeros((len(idx), 5))
    for t, legal in enumerate(anbncn_legal_sets(n)):
        for ch in legal:
            ys[t, SYMBOLS.index(ch)] = 1.0 / len(legal)
    resets = np.zeros(len(idx), dtype=bool)
    resets[0] = True
    return Chunk.make(one_hot(idx, 5), ys, resets=resets, x_index=idx)


def string_correct(y_hat: np.ndarray, chunk: Chunk, threshold: float = 0.3) -> bool:
    """Is every step of one string's chunk predicted correctly (see the module docstring)?"""
    return bool(legal_set_ok(softmax_rows(y_hat), chunk.ys, threshold).all())


def largest_n_correct(model, theta, n_limit: int, threshold: float = 0.3) -> int:
    """The largest n <= n_limit such that the strings a^k b^k c^k of every k = 1..n are all predicted
    correctly (0 if n = 1 already fails). Each string is run from the zero state."""
    n_limit = check_positive_int("n_limit", n_limit)
    for n in range(1, n_limit + 1):
        c = encode_anbncn(n)
        _, y_hat = model.forward(theta, c)
        if not string_correct(y_hat, c, threshold):
            return n - 1
    return n_limit


@dataclass
class AnBnCnTask(Task):
    """a^n b^n c^n next-symbol prediction with n uniform in 1..n_max; `n_test` bounds the generalisation test."""

    n_max: int = 10
    threshold: float = 0.3
    n_test: int = 50

    name = "anbncn"
    loss = "xent"

    def __post_init__(self):
        self.n_max = check_positive_int("n_max", self.n_max)
        self.threshold = check_unit_interval("threshold", self.threshold)
        if self.threshold >= 0.5:
            raise ValueError(f"threshold must be below 0.5 (two symbols can be legal), got {self.threshold!r}")
        self.n_test = check_positive_int("n_test", self.n_test)

    @property
    def n_in(self) -> int:
        return 5

    @property
    def n_out(self) -> int:
        return 5

    def _make(self, rng) -> Chunk:
        return encode_anbncn(int(rng.integers(1, self.n_max + 1)))

    def stream(self, seed: int) -> Stream:
        return SequenceStream(self._make, np.random.default_rng(seed))

    def test_set(self, seed: int, length: int = 0) -> Chunk:
        """Every training string once, n = 1..n_max (the set is fixed; seed and length are not needed)."""
        return Chunk.concat(encode_anbncn(n) for n in range(1, self.n_max + 1))

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        ok = legal_set_ok(softmax_rows(y_hat), chunk.ys, self.threshold)
        strings = [bool(ok[a:b].all()) for a, b in sequence_bounds(chunk)]
        out = {"strings_correct": float(np.mean(strings))}
        if model is not None:
            out["largest_n_correct"] = float(largest_n_correct(model, theta, self.n_test, self.threshold))
        return out

    def reference_levels(self) -> dict[str, float]:
        """Mean cross-entropy per step (nats) over strings with n uniform in 1..n_max: uniform guessing, and
        the optimum (log 2 at each of the n a-steps of a string of 3n + 1 steps)."""
        en = (self.n_max + 1) / 2
        return {"chance": float(np.log(5)), "optimal": float(np.log(2) * en / (3 * en + 1))}


AnBnCnTask.__doc__ = f"{AnBnCnTask.__doc__}\n\n{__doc__}"  # help() shows the full description
