"""Latch (set-reset flip-flop), after Williams & Zipser's flip-flop task (Williams & Zipser 1989,
"A learning algorithm for continually running fully recurrent neural networks", Neural Computation 1(2), and
"Experimental analysis of the real-time recurrent learning algorithm", Connection Science 1(1)): the output
must remember which of two events happened last, for as long as nothing else happens. (Their version
switches the output on when one input line fires and off when the other does; the random event rates here
are our choice.)

At each step the input is one of three symbols, fed one-hot (x_index filled): "set" and "reset" each with
probability `p`, "nothing" with probability 1 - 2p. The target after step t is the state of a flip-flop:
1 if the most recent non-"nothing" input was "set", 0 if it was "reset". The expected time the state must
be held is 1 / (2p) steps (10 for the default p = 0.05). Output: two-class softmax, loss "xent", target
one-hot over (off, on). The stream is one endless sequence; the steps before the first event are ambiguous
and have mask 0. Metric: accuracy (arg-max correct) on scored steps.

Reference levels (test cross-entropy): chance log 2; a memoryless predictor that is sure only on the step of
an event and says 1/2 otherwise, (1 - 2p) log 2; optimal 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Chunk, Stream, Task, check_positive_int
from ._seq import one_hot

NOTHING, SET, RESET = 0, 1, 2


class _LatchStream(Stream):
    def __init__(self, p, rng):
        self.p, self.rng = p, rng
        self.state = -1  # -1: no event yet

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        u = self.rng.random(T)
        sym = np.where(u < self.p, SET, np.where(u < 2 * self.p, RESET, NOTHING)).astype(np.int64)
        state = np.empty(T, dtype=np.int64)
        s = self.state
        for t in range(T):
            if sym[t] == SET:
                s = 1
            elif sym[t] == RESET:
                s = 0
            state[t] = s
        self.state = s
        mask = (state >= 0).astype(np.float64)
        on = np.maximum(state, 0).astype(np.float64)
        ys = np.stack([1 - on, on], axis=1)
        return Chunk.make(one_hot(sym, 3), ys, mask=mask, x_index=sym)


@dataclass
class LatchTask(Task):
    """Set-reset flip-flop; `p` is the probability of each of the two events per step."""

    p: float = 0.05

    name = "latch"
    loss = "xent"

    def __post_init__(self):
        try:
            p = float(self.p)
        except (TypeError, ValueError):
            raise ValueError(f"p must be a number in (0, 0.5], got {self.p!r}") from None
        if not 0 < p <= 0.5:
            raise ValueError(f"p must be a number in (0, 0.5], got {self.p!r}")
        self.p = p

    @property
    def n_in(self) -> int:
        return 3

    @property
    def n_out(self) -> int:
        return 2

    def stream(self, seed: int) -> Stream:
        return _LatchStream(self.p, np.random.default_rng(seed))

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        scored = chunk.mask > 0
        ok = np.argmax(y_hat, axis=1) == np.argmax(chunk.ys, axis=1)
        return {"accuracy": float(ok[scored].mean())}

    def reference_levels(self) -> dict[str, float]:
        return {"chance": float(np.log(2)), "memoryless": float((1 - 2 * self.p) * np.log(2)), "optimal": 0.0}


LatchTask.__doc__ = f"{LatchTask.__doc__}\n\n{__doc__}"  # help() shows the full description
