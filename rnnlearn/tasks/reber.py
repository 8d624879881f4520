"""Embedded Reber grammar: next-symbol prediction (Hochreiter & Schmidhuber 1997, "Long short-term memory",
Neural Computation 9(8), experiment 1; the grammar is Reber's 1967, embedded as in Cleeremans, Servan-Schreiber
and McClelland 1989 and Fahlman 1991).

The Reber grammar is a graph over states 1..5 entered with B and left with E:

    1 -T-> 2   1 -P-> 3   2 -S-> 2   2 -X-> 4   3 -T-> 3   3 -V-> 5
    4 -X-> 3   4 -S-> end 5 -P-> 4   5 -V-> end

every branch taken with probability 1/2. An embedded Reber string is  B T <reber> T E  or  B P <reber> P E
(each with probability 1/2): the second-to-last symbol repeats the second one, so predicting it needs a
memory over the whole inner string.

Encoding: 7 symbols B, T, P, S, X, V, E, fed one-hot (x_index holds the symbol's index). A string of L symbols
gives L - 1 steps: step t reads symbol t and is scored on symbol t + 1. Each string starts with resets=True;
every step is scored (mask = 1).

Loss: softmax cross-entropy ("xent") against the uniform distribution over the symbols that are legal next.
Every branch of the grammar is a fair coin, so this target is exactly the true conditional distribution of
the next symbol given the prefix: the cross-entropy is minimal (its floor is the grammar's entropy) for the
model that knows the grammar, and the targets do not depend on the sampled continuation (no label noise).

Success measure (as in the 1997 paper, with softmax outputs): a string is processed correctly if at every
step each legal next symbol gets predicted probability above `threshold` and each illegal one below it
(where only one symbol is legal it must also get more than 0.5). `metrics` reports the fraction of whole test
strings processed correctly, plus the fraction whose long-range prediction (the second-to-last symbol)
is right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Chunk, Stream, Task, _test_seed
from ._seq import (SequenceStream, check_unit_interval, legal_set_ok, one_hot, sequence_bounds,
                   softmax_rows, whole_sequences)

SYMBOLS = "BTPSXVE"
_IDX = {s: i for i, s in enumerate(SYMBOLS)}
_END = 6  # the inner grammar's exit state
#: the Reber graph: state -> ((symbol, next state), (symbol, next state))
REBER_GRAPH = {1: (("T", 2), ("P", 3)), 2: (("S", 2), ("X", 4)), 3: (("T", 3), ("V", 5)),
               4: (("X", 3), ("S", _END)), 5: (("P", 4), ("V", _END))}


def reber_string(rng: np.random.Generator) -> str:
    """One (plain) Reber string, B ... E."""
    out, state = ["B"], 1
    while state != _END:
        sym, state = REBER_GRAPH[state][rng.integers(2)]
        out.append(sym)
    out.append("E")
    return "".join(out)


def embedded_reber_string(rng: np.random.Generator) -> str:
    """One embedded Reber string, B T <reber> T E or B P <reber> P E."""
    branch = "TP"[rng.integers(2)]
    return "B" + branch + reber_string(rng) + branch + "E"


def _walk_reber(s: str) -> list[str] | None:
    """Legal next-symbol sets after each symbol of a plain Reber string s, or None if s is not one."""
    if len(s) < 2 or s[0] != "B":
        return None
    sets, state = [], 1
    sets.append("".join(sym for sym, _ in REBER_GRAPH[1]))
    for ch in s[1:]:
        if state == _END:
            if ch != "E":
                return None
            state = None
            sets.append("")
            continue
        if state is None:
            return None
        nxt = dict(REBER_GRAPH[state]).get(ch)
        if nxt is None:
            return None
        state = nxt
        sets.append("E" if state == _END else "".join(sym for sym, _ in REBER_GRAPH[state]))
    return sets if state is None else None


def is_reber(s: str) -> bool:
    """True if s is a complete string of the (plain) Reber grammar, B ... E."""
    return _walk_reber(s) is not None


def is_embedded_reber(s: str) -> bool:
    """True if s is a complete embedded Reber string: B, then T or P, a Reber string, the same T or P, E."""
    return (isinstance(s, str) and len(s) >= 9 and s[0] == "B" and s[-1] == "E" and s[1] in "TP"
            and s[-2] == s[1] and is_reber(s[2:-2]))


def legal_next(s: str) -> list[str]:
    """For a complete embedded Reber string s: the set of symbols legal after each of s[0], ..., s[-2]."""
    if not is_embedded_reber(s):
        raise ValueError(f"s must be an embedded Reber string, got {s!r}")
    inner = _walk_reber(s[2:-2])
    # after B: T or P; after the branch symbol: B; inner sets (after its final E: the branch symbol);
    # after the repeated branch symbol: E
    return ["TP", "B"] + inner[:-1] + [s[1], "E"]


def encode_string(s: str) -> Chunk:
    """The chunk of one embedded Reber string: one-hot inputs, uniform-over-legal-set targets."""
    idx = np.array([_IDX[c] for c in s[:-1]], dtype=np.int64)
    sets = legal_next(s)
    ys = np.zeros((len(idx), len(SYMBOLS)))
    for t, legal in enumerate(sets):
        for c in legal:
            ys[t, _IDX[c]] = 1.0 / len(legal)
    resets = np.zeros(len(idx), dtype=bool)
    resets[0] = True
    return Chunk.make(one_hot(idx, len(SYMBOLS)), ys, resets=resets, x_index=idx)


def _reber_expected_length() -> float:
    """Expected number of symbols the Reber graph emits from state 1 to its exit (absorbing-chain solve)."""
    states = sorted(REBER_GRAPH)
    A = np.eye(len(states))
    for i, s in enumerate(states):
        for _, nxt in REBER_GRAPH[s]:
            if nxt != _END:
                A[i, states.index(nxt)] -= 0.5
    e = np.linalg.solve(A, np.ones(len(states)))
    return float(e[states.index(1)])


@dataclass
class ReberTask(Task):
    """Embedded Reber grammar next-symbol prediction; `threshold` is the success criterion's cut-off."""

    threshold: float = 0.3

    name = "reber"
    loss = "xent"

    def __post_init__(self):
        self.threshold = check_unit_interval("threshold", self.threshold)
        if self.threshold >= 0.5:
            raise ValueError(f"threshold must be below 0.5 (two symbols can be legal), got {self.threshold!r}")

    @property
    def n_in(self) -> int:
        return len(SYMBOLS)

    @property
    def n_out(self) -> int:
        return len(SYMBOLS)

    @staticmethod
    def _make(rng):
        return encode_string(embedded_reber_string(rng))

    def stream(self, seed: int) -> Stream:
        return SequenceStream(self._make, np.random.default_rng(seed))

    def test_set(self, seed: int, length: int = 2000) -> Chunk:
        """Whole strings (never cut) totalling at least `length` steps."""
        return whole_sequences(self._make, np.random.default_rng(_test_seed(seed)), length)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        p = softmax_rows(y_hat)
        ok = legal_set_ok(p, chunk.ys, self.threshold)
        strings_ok, long_ok = [], []
        for a, b in sequence_bounds(chunk):
            strings_ok.append(bool(ok[a:b].all()))
            # step b-2 reads the inner E and must predict the branch symbol (a one-hot target)
            long_ok.append(bool(p[b - 2][np.argmax(chunk.ys[b - 2])] > 0.5))
        return {"strings_correct": float(np.mean(strings_ok)), "long_range_correct": float(np.mean(long_ok))}

    def reference_levels(self) -> dict[str, float]:
        """Mean test cross-entropy per step (nats) of: uniform guessing; the predictor that knows the Reber
        grammar but forgot the embedding branch (a coin flip on the second-to-last symbol); the optimal one.
        A string with N inner symbols has N + 5 steps of which N + 1 are fair binary choices."""
        n = _reber_expected_length()
        steps = n + 5
        return {"chance": float(np.log(len(SYMBOLS))),
                "forgets the branch": float(np.log(2) * (n + 2) / steps),
                "optimal": float(np.log(2) * (n + 1) / steps)}


ReberTask.__doc__ = f"{ReberTask.__doc__}\n\n{__doc__}"  # help() shows the full description
