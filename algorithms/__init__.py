"""Learners: interchangeable, numba-compiled ways of training any model of rnnlearn.models.

Installed as `rnnlearn.algorithms` (the folder is algorithms/ at the top of the repository)."""
from .base import Diverged, Learner
from .bptt import BPTT
from .ekf import EKF
from .rtrl import RTRL
from .tbptt import TBPTT

#: name -> Learner class, for the command line and saved results.
LEARNERS: dict[str, type[Learner]] = {cls.name: cls for cls in (BPTT, TBPTT, RTRL, EKF)}


def make_learner(name: str, **params) -> Learner:
    """The learner called `name` with hyperparameters `params`, checked; ValueError otherwise."""
    try:
        cls = LEARNERS[name]
    except KeyError:
        raise ValueError(f"unknown learner {name!r}; choose from {', '.join(sorted(LEARNERS))}") from None
    try:
        learner = cls(**params)
    except TypeError as exc:
        raise ValueError(f"learner {name!r}: {exc}") from None
    learner.check()
    return learner


__all__ = ["Learner", "Diverged", "BPTT", "TBPTT", "RTRL", "EKF", "LEARNERS", "make_learner"]
