"""Learners: interchangeable, numba-compiled ways of training any model of rnnlearn.models.

Installed as `rnnlearn.algorithms` (the folder is algorithms/ at the top of the repository). Each learner is
one module whose class declares what it is (algorithms/base.py) and joins the registry with `@register`;
the import line below is its one registration line.
"""
from rnnlearn.algorithms.base import (Diverged, ExactGradient, GradientLearner, Learner, Minibatch, OwnUpdate,
                                      Stochastic, register)

#: name -> Learner class, for the command line and saved results (filled by @register)
LEARNERS: dict[str, type[Learner]] = {}

from rnnlearn.algorithms.tbptt import TBPTT  # noqa: E402  (each import registers its learner)
from rnnlearn.algorithms.bptt import BPTT  # noqa: E402
from rnnlearn.algorithms.rtrl import RTRL  # noqa: E402
from rnnlearn.algorithms.ekf import EKF  # noqa: E402
from rnnlearn.algorithms.uoro import UORO  # noqa: E402
from rnnlearn.algorithms.rflo import RFLO  # noqa: E402
from rnnlearn.algorithms.eprop import EProp  # noqa: E402
from rnnlearn.algorithms.kernl import KeRNL  # noqa: E402
from rnnlearn.algorithms.snap import SnAp  # noqa: E402
from rnnlearn.algorithms.fss import FSS  # noqa: E402
from rnnlearn.algorithms.dni import DNI  # noqa: E402
from rnnlearn.algorithms.kronecker import KFRTRL, RKFRTRL  # noqa: E402


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


__all__ = ["Learner", "GradientLearner", "OwnUpdate", "Minibatch", "Stochastic", "ExactGradient", "Diverged",
           "register", "LEARNERS", "make_learner"] + [cls.__name__ for cls in LEARNERS.values()]
