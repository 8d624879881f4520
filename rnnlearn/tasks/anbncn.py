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

outputs="sigmoid" is Gers and Schmidhuber's (2001) and Perez-Ortiz et al.'s (2003) output layer instead:
one independent sigmoid unit per symbol, target 1 for every legal next symbol and 0 for the others, squared
error (loss "sigmoid_mse"), and a step is correct when every unit is on the right side of 0.5 (legal above,
illegal below). `threshold` is then not used.

Success (as in the paper, adapted to softmax outputs): a string is predicted correctly if at every step all
legal symbols get probability above `threshold` and all illegal ones below it, and at steps where exactly
one symbol is legal (all steps but the a's) that symbol gets more than 1/2. `largest_n_correct` reports the
largest n such that the strings of every n' <= n are predicted correctly (the paper's generalisation test).

The generalisation test runs each string from the zero state. Strings n = 1..n_exact (default: all of them up
to n_test) are tested one by one, stopping at the first failure; past n_exact, if all passed, it gallops
(n_exact * 2, * 4, ... up to n_test) and then bisects between the last pass and the first failure, which
assumes that once a string fails all longer ones do (it tests about 2 log2(n_test / n_exact) strings of up
to 3 n_test + 1 steps instead of every one: a test to n = 10,000 costs ~10^6 steps, not 1.5 10^8).
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


OUTPUTS = ("softmax", "sigmoid")


def encode_anbncn(n: int, outputs: str = "softmax") -> Chunk:
    """The chunk of the string S a^n b^n c^n T (inputs S a^n b^n c^n; targets uniform over the legal sets,
    or 1 on every legal symbol with outputs="sigmoid")."""
    n = check_positive_int("n", n)
    idx = np.array([S] + [A] * n + [B] * n + [C] * n, dtype=np.int64)
    ys = np.zeros((len(idx), 5))
    # the legal sets by blocks (anbncn_legal_sets, without a Python loop over 3n + 1 steps)
    ys[0, A] = 1.0
    ys[1:n + 1, A] = ys[1:n + 1, B] = 1.0
    ys[n + 1:2 * n, B] = 1.0
    ys[2 * n:3 * n, C] = 1.0
    ys[3 * n, C] = 0.0
    ys[3 * n, T_] = 1.0
    if outputs == "softmax":
        ys /= ys.sum(axis=1, keepdims=True)
    elif outputs != "sigmoid":
        raise ValueError(f"outputs must be one of {OUTPUTS}, got {outputs!r}")
    resets = np.zeros(len(idx), dtype=bool)
    resets[0] = True
    return Chunk.make(one_hot(idx, 5), ys, resets=resets, x_index=idx)


def steps_ok(y_hat: np.ndarray, ys: np.ndarray, threshold: float = 0.3, outputs: str = "softmax") -> np.ndarray:
    """Per step: is the prediction correct (module docstring)? Sigmoid outputs: every unit on the right side
    of 0.5 (y_hat > 0 exactly where the symbol is legal)."""
    if outputs == "sigmoid":
        return np.all((y_hat > 0.0) == (ys > 0), axis=1)
    return legal_set_ok(softmax_rows(y_hat), ys, threshold)


def string_correct(y_hat: np.ndarray, chunk: Chunk, threshold: float = 0.3, outputs: str = "softmax") -> bool:
    """Is every step of one string's chunk predicted correctly (see the module docstring)?"""
    return bool(steps_ok(y_hat, chunk.ys, threshold, outputs).all())


def largest_n_correct(model, theta, n_limit: int, threshold: float = 0.3, outputs: str = "softmax",
                      n_exact: int | None = None) -> int:
    """The largest n <= n_limit such that the strings a^k b^k c^k of every k = 1..n are all predicted
    correctly (0 if n = 1 already fails). Each string is run from the zero state. Every k <= n_exact (default
    n_limit) is tested; beyond, galloping and bisection, assuming monotonicity (module docstring)."""
    n_limit = check_positive_int("n_limit", n_limit)
    n_exact = n_limit if n_exact is None else min(check_positive_int("n_exact", n_exact), n_limit)

    def ok(n):
        c = encode_anbncn(n, outputs)
        _, y_hat = model.forward(theta, c)
        return string_correct(y_hat, c, threshold, outputs)

    for n in range(1, n_exact + 1):
        if not ok(n):
            return n - 1
    good, bad = n_exact, None
    while bad is None and good < n_limit:
        n = min(2 * good, n_limit)
        if ok(n):
            good = n
        else:
            bad = n
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good


@dataclass
class AnBnCnTask(Task):
    """a^n b^n c^n next-symbol prediction with n uniform in 1..n_max; `n_test` bounds the generalisation test,
    `n_exact` (0: n_test) how far it tests every string; outputs "softmax" (loss "xent") or "sigmoid" (loss
    "sigmoid_mse", the papers' output layer)."""

    n_max: int = 10
    threshold: float = 0.3
    n_test: int = 50
    outputs: str = "softmax"
    n_exact: int = 0

    name = "anbncn"
    loss = "xent"

    def __post_init__(self):
        self.n_max = check_positive_int("n_max", self.n_max)
        self.threshold = check_unit_interval("threshold", self.threshold)
        if self.threshold >= 0.5:
            raise ValueError(f"threshold must be below 0.5 (two symbols can be legal), got {self.threshold!r}")
        self.n_test = check_positive_int("n_test", self.n_test)
        if self.outputs not in OUTPUTS:
            raise ValueError(f"outputs must be one of {OUTPUTS}, got {self.outputs!r}")
        if isinstance(self.n_exact, bool) or not isinstance(self.n_exact, (int, np.integer)) or self.n_exact < 0:
            raise ValueError(f"n_exact must be a non-negative integer, got {self.n_exact!r}")
        self.n_exact = int(self.n_exact)
        self.loss = "sigmoid_mse" if self.outputs == "sigmoid" else "xent"

    @property
    def n_in(self) -> int:
        return 5

    @property
    def n_out(self) -> int:
        return 5

    def _make(self, rng) -> Chunk:
        return encode_anbncn(int(rng.integers(1, self.n_max + 1)), self.outputs)

    def stream(self, seed: int) -> Stream:
        return SequenceStream(self._make, np.random.default_rng(seed))

    def test_set(self, seed: int, length: int = 0) -> Chunk:
        """Every training string once, n = 1..n_max (the set is fixed; seed and length are not needed)."""
        return Chunk.concat(encode_anbncn(n, self.outputs) for n in range(1, self.n_max + 1))

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        ok = steps_ok(y_hat, chunk.ys, self.threshold, self.outputs)
        strings = [bool(ok[a:b].all()) for a, b in sequence_bounds(chunk)]
        out = {"strings_correct": float(np.mean(strings))}
        if model is not None:
            out["largest_n_correct"] = float(largest_n_correct(model, theta, self.n_test, self.threshold,
                                                               self.outputs, self.n_exact or None))
        return out

    def reference_levels(self) -> dict[str, float]:
        """Mean cross-entropy per step (nats) over strings with n uniform in 1..n_max: uniform guessing, and
        the optimum (log 2 at each of the n a-steps of a string of 3n + 1 steps). Sigmoid outputs: half the
        squared error per step of outputs all at 1/2 (chance) and 0 (optimal: the targets are deterministic)."""
        if self.outputs == "sigmoid":
            return {"chance": 0.5 * 5 * 0.25, "optimal": 0.0}
        en = (self.n_max + 1) / 2
        return {"chance": float(np.log(5)), "optimal": float(np.log(2) * en / (3 * en + 1))}


AnBnCnTask.__doc__ = f"{AnBnCnTask.__doc__}\n\n{__doc__}"  # help() shows the full description
