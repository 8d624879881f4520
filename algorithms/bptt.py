"""Backpropagation through time (Rumelhart, Hinton and Williams 1986; Werbos 1990).

The exact gradient of a sequence's loss: one forward sweep storing the states, one backward sweep of
vector-Jacobian products. On an endless stream it is epochwise BPTT over consecutive pieces of `window`
steps, with the state carried from one piece to the next. That is Williams and Peng's BPTT(h; h') with
h = h' = window, so it shares truncated BPTT's kernel (`tbptt.tbptt_chunk`) rather than repeating it.
"""
import numpy as np

from rnnlearn.algorithms.base import ExactGradient, check_int, register
from rnnlearn.algorithms.tbptt import TBPTT


@register
class BPTT(ExactGradient, TBPTT):
    """Epochwise BPTT over pieces of `window` steps; `gradient` is exact over the whole given sequence.
    batch > 1 trains on that many independent sequences at once (see TBPTT).
    Cost per step: O(n^2) time, O(window n + n^2) memory."""

    name = "bptt"
    display_name = "BPTT"
    reference = "Rumelhart, Hinton and Williams 1986; Werbos 1990"
    default_lr = 0.02
    key_params = ("window",)
    kernel_family = "tbptt"  # truncated BPTT's kernel with k1 = k2 = window

    @classmethod
    def bench_params(cls, T):
        return {"window": T}  # one update per sequence

    def __init__(self, window: int = 20, batch: int = 1):
        self.window = window
        self.batch = batch

    def check(self):
        check_int("window", self.window)
        check_int("batch", self.batch)

    @property
    def _window(self):
        return self.window, self.window

    def gradient(self, model, theta, xs, ys, mask=None, resets=None, x_index=None, seed=0):
        """Exact (loss, dL/dtheta) of the whole sequence xs, ys, whatever `window` is (for a batch: the mean
        over its sequences): truncated BPTT with one window of the sequence's length, kept between calls
        (with its cached state) while the length and the batch stay the same."""
        T = np.shape(xs)[-2]
        whole = self.__dict__.get("_cached_whole")
        if whole is None or whole.k1 != T or whole.batch != self.batch:
            self.check()
            whole = self._cached_whole = TBPTT(k1=T, k2=T, batch=self.batch)
        return whole.gradient(model, theta, xs, ys, mask, resets, x_index, seed)
