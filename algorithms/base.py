"""What every learner is: hyperparameters in the constructor and nothing else (scikit-learn's rule), `init`
returning the arrays it owns (optax's idea), `train` running a compiled chunk of the stream, and
`gradient` for the fixed-parameter gradient of a sequence (what the correctness tests compare).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..optim import Optimizer, sgd
from ..tasks.base import Chunk


class Diverged(RuntimeError):
    """A run stopped being numerically meaningful (NaN loss, covariance no longer positive definite)."""


# status codes returned by the kernels
OK = 0
NONFINITE_LOSS = 1
NOT_POSITIVE_DEFINITE = 2  # EKF: a covariance stopped being symmetric positive definite
NONFINITE_JACOBIAN = 3     # EKF: the measurement Jacobian H_t overflowed (exploding influence matrix)


class Learner:
    """Base class of the learners.

    Subclasses set `name`, the declared cost per time step as powers of n (`time_exponent`,
    `memory_exponent`; a test fits measured slopes against them), and implement `init` and `_run`.
    """

    name: ClassVar[str] = ""
    time_exponent: ClassVar[float] = 0.0
    memory_exponent: ClassVar[float] = 0.0
    #: True for learners that make their own update (EKF); gradient learners use an Optimizer.
    own_update: ClassVar[bool] = False

    def check(self) -> None:
        """Raise ValueError naming the bad hyperparameter (the constructor does no work)."""

    def params(self) -> dict:
        """The constructor arguments."""
        return dict(vars(self))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"

    def init(self, model, theta, optimizer: Optimizer | None = None):
        """Fresh learner state (all workspaces preallocated) for training `model` from `theta`."""
        raise NotImplementedError

    def train(self, model, theta: np.ndarray, state, chunk: Chunk) -> np.ndarray:
        """Learn online from one chunk of a stream: updates theta and state in place and returns the
        per-step weighted losses (T,). Raises Diverged when the run stops being finite."""
        model._check_theta(theta)
        model.check_chunk(chunk)
        losses = np.empty(chunk.mask.shape)
        status, where = self._run(model, theta, state, chunk, True, False, losses)
        _raise_status(status, where, state)
        return losses

    def gradient(self, model, theta, xs, ys, mask=None, resets=None, x_index=None):
        """(loss, grad) of one sequence with theta held fixed: loss = sum_t mask_t l_t, and grad the
        learner's gradient estimate summed over the sequence (for BPTT and RTRL, exactly dL/dtheta).
        Learners with batch > 1 take (B, T, ...) arrays: the loss is summed over the batch, the gradient
        is the batch's mean."""
        self.check()
        model._check_theta(theta)
        chunk = Chunk.make(xs, ys, mask, resets, x_index)
        model.check_chunk(chunk)
        theta = theta.copy()
        state = self.init(model, theta, sgd(1.0))
        losses = np.empty(chunk.mask.shape)
        status, where = self._run(model, theta, state, chunk, False, True, losses)
        _raise_status(status, where, state)
        return float(losses.sum()), state.gacc.copy()

    def _run(self, model, theta, state, chunk, update: bool, flush: bool, losses) -> tuple[int, int]:
        raise NotImplementedError

    def state_bytes(self, state) -> int:
        """Memory the learner's state holds, in bytes (what it costs to keep, per step, beyond theta)."""
        total = 0
        for v in vars(state).values() if hasattr(state, "__dict__") else state._asdict().values():
            if isinstance(v, np.ndarray):
                total += v.nbytes
            elif hasattr(v, "__dict__"):
                total += sum(a.nbytes for a in vars(v).values() if isinstance(a, np.ndarray))
        return total


def _raise_status(status, where, state):
    if status == NONFINITE_LOSS:
        raise Diverged(f"non-finite loss at step {where}")
    if status == NOT_POSITIVE_DEFINITE:
        raise Diverged(f"covariance not positive definite at step {where}")
    if status == NONFINITE_JACOBIAN:
        raise Diverged(f"non-finite measurement Jacobian at step {where}")
    if status != OK:
        raise Diverged(f"kernel status {status} at step {where}")


def check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
