"""Optimizers as small composable transforms, applied inside the compiled learners.

Gradient learners hand each gradient to an optimizer: a chain of transforms applied in order to the
gradient, the last of which turns it into a step (optax's idea, compiled): e.g.
`chain(clip_norm(1.0), adam(1e-3))`. A bare transform is a one-element chain. Because RTRL updates the
parameters every time step, the update runs inside the numba kernels, so a chain is encoded as arrays
(a code and four hyperparameters per transform) and applied by `apply_update`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from .jit import internal

SGD = 0
MOMENTUM = 1
ADAM = 2
CLIP = 3
_NAMES = {SGD: "sgd", MOMENTUM: "momentum", ADAM: "adam", CLIP: "clip"}


@dataclass(frozen=True)
class Transform:
    code: int
    hyper: tuple[float, float, float, float]

    def __repr__(self):
        return f"{_NAMES[self.code]}{self.hyper}"


def _positive(name, value):
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def _unit(name, value):
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def sgd(lr: float) -> "Optimizer":
    """theta -= lr * g."""
    return Optimizer((Transform(SGD, (_positive("lr", lr), 0.0, 0.0, 0.0)),))


def momentum(lr: float, beta: float = 0.9) -> "Optimizer":
    """Heavy ball (Polyak 1964): v = beta v + g; theta -= lr * v."""
    return Optimizer((Transform(MOMENTUM, (_positive("lr", lr), _unit("beta", beta), 0.0, 0.0)),))


def adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> "Optimizer":
    """Adam (Kingma and Ba 2015, Algorithm 1), with bias correction."""
    return Optimizer((Transform(ADAM, (_positive("lr", lr), _unit("b1", b1), _unit("b2", b2),
                                       _positive("eps", eps))),))


def clip_norm(max_norm: float) -> "Optimizer":
    """Rescale the gradient to norm max_norm when it is longer (Pascanu, Mikolov and Bengio 2013)."""
    return Optimizer((Transform(CLIP, (_positive("max_norm", max_norm), 0.0, 0.0, 0.0)),))


def chain(*parts: "Optimizer") -> "Optimizer":
    """Apply the parts in order; exactly one of them (the last) must turn the gradient into a step."""
    out = Optimizer(tuple(t for p in parts for t in p.transforms))
    out.check()
    return out


@dataclass(frozen=True)
class Optimizer:
    transforms: tuple[Transform, ...]

    def check(self) -> None:
        """A usable chain has exactly one of sgd, momentum, adam, and it comes last (clip_norm alone is a
        piece to chain, not an optimizer)."""
        steps = [t for t in self.transforms if t.code != CLIP]
        if len(steps) != 1 or self.transforms[-1].code == CLIP:
            raise ValueError(f"optimizer {self.describe()}: a chain needs exactly one of sgd, momentum, adam, "
                             "and it must come last")

    @property
    def codes(self) -> np.ndarray:
        return np.array([t.code for t in self.transforms], dtype=np.int64)

    @property
    def hyper(self) -> np.ndarray:
        return np.array([t.hyper for t in self.transforms], dtype=np.float64).reshape(-1, 4)

    @property
    def lr(self) -> float:
        return self.transforms[-1].hyper[0]

    def init(self, n_params: int) -> "OptState":
        self.check()
        K = len(self.transforms)
        needs = max((2 if t.code == ADAM else 1 if t.code == MOMENTUM else 0) for t in self.transforms)
        return OptState(self.codes, self.hyper, np.zeros((K, needs, n_params)), np.zeros(K, dtype=np.int64),
                        np.zeros(n_params))

    def describe(self) -> str:
        return " + ".join(f"{_NAMES[t.code]}({', '.join(f'{h:g}' for h in t.hyper if h)})"
                          for t in self.transforms)


class OptState(NamedTuple):
    """An optimizer's arrays; a NamedTuple, so that the learners' kernels take it as one argument."""
    codes: np.ndarray   # (K,) transform codes
    hyper: np.ndarray   # (K, 4) hyperparameters
    moments: np.ndarray  # (K, 0..2, P) momentum / Adam moments
    counts: np.ndarray  # (K,) steps taken (Adam's bias correction)
    scratch: np.ndarray  # (P,) the update being built


@internal(cache=True)
def plain_sgd_rate(codes, hyper):
    """The learning rate when the chain is plain SGD alone, else -1.0: a kernel may then fold theta -= lr g
    into the pass that makes g (what apply_update does for it in a pass of its own)."""
    if codes.shape[0] == 1 and codes[0] == SGD:
        return hyper[0, 0]
    return -1.0


@njit(cache=True)
def apply_update(codes, hyper, moments, counts, u, theta, grad):
    """theta += the step the chain makes of grad; u is scratch of theta's size."""
    P = theta.shape[0]
    if codes.shape[0] == 1 and codes[0] == SGD:  # plain SGD: one pass (large models are memory-bound)
        lr = hyper[0, 0]
        for q in range(P):
            theta[q] -= lr * grad[q]
        return
    for q in range(P):
        u[q] = grad[q]
    for k in range(codes.shape[0]):
        c = codes[k]
        if c == CLIP:
            sq = 0.0
            for q in range(P):
                sq += u[q] * u[q]
            norm = np.sqrt(sq)
            if norm > hyper[k, 0]:
                f = hyper[k, 0] / norm
                for q in range(P):
                    u[q] *= f
        elif c == SGD:
            lr = hyper[k, 0]
            for q in range(P):
                u[q] = -lr * u[q]
        elif c == MOMENTUM:
            lr, beta = hyper[k, 0], hyper[k, 1]
            v = moments[k, 0]
            for q in range(P):
                v[q] = beta * v[q] + u[q]
                u[q] = -lr * v[q]
        elif c == ADAM:
            lr, b1, b2, eps = hyper[k, 0], hyper[k, 1], hyper[k, 2], hyper[k, 3]
            counts[k] += 1
            c1 = 1.0 - b1 ** counts[k]
            c2 = 1.0 - b2 ** counts[k]
            m1 = moments[k, 0]
            m2 = moments[k, 1]
            for q in range(P):
                gq = u[q]
                m1[q] = b1 * m1[q] + (1.0 - b1) * gq
                m2[q] = b2 * m2[q] + (1.0 - b2) * gq * gq
                u[q] = -lr * (m1[q] / c1) / (np.sqrt(m2[q] / c2) + eps)
    for q in range(P):
        theta[q] += u[q]


@njit(cache=True)
def apply_update_sparse(codes, hyper, moments, counts, u, theta, grad, lo, rows, width, cols, skip_lo, skip_hi):
    """apply_update for a gradient whose block grad[lo : lo + rows * width] (rows x width, row-major) is zero
    outside the columns `cols` (distinct; entries < 0 ignored): the input weights of one-hot inputs. A chain
    of SGD and clipping, whose step is a multiple of the gradient, then touches only those columns of the
    block (the usual sparse update of embedding tables); optimizers with moments update every weight.
    theta[skip_lo:skip_hi] is left alone (weights the caller stepped itself; plain SGD only)."""
    for k in range(codes.shape[0]):
        if codes[k] != SGD and codes[k] != CLIP:
            if skip_hi > skip_lo:
                raise ValueError("a skipped block needs a stateless optimizer")
            apply_update(codes, hyper, moments, counts, u, theta, grad)
            return
    hi = lo + rows * width
    f = 1.0
    for k in range(codes.shape[0]):
        if codes[k] == SGD:
            f *= -hyper[k, 0]
        else:
            if skip_hi > skip_lo:
                raise ValueError("a skipped block cannot be clipped")
            norm = abs(f) * np.sqrt(_sparse_sum(grad, grad, lo, hi, width, cols, skip_lo, skip_hi, 0.0))
            if norm > hyper[k, 0]:
                f *= hyper[k, 0] / norm
    _sparse_sum(theta, grad, lo, hi, width, cols, skip_lo, skip_hi, f)


@internal(cache=True)
def _sparse_sum(theta, grad, lo, hi, width, cols, skip_lo, skip_hi, f):
    """f != 0: theta += f grad; f == 0: return sum grad^2. Over every entry except [skip_lo, skip_hi), and
    inside [lo, hi) only the columns `cols`."""
    sq = 0.0
    for a, b in ((0, lo), (hi, grad.shape[0])):
        sq += _dense_part(theta, grad, a, min(b, skip_lo), f)
        sq += _dense_part(theta, grad, max(a, skip_hi), b, f)
    if hi > lo:
        for c in cols:
            if c >= 0:
                for q in range(lo + c, hi, width):
                    if f == 0.0:
                        sq += grad[q] * grad[q]
                    else:
                        theta[q] += f * grad[q]
    return sq


@internal(cache=True, fastmath={"reassoc"})
def _dense_part(theta, grad, a, b, f):
    if b <= a:
        return 0.0
    t = theta[a:b]  # sliced first, so the loops vectorise (no wraparound checks)
    g = grad[a:b]
    if f == 0.0:
        sq = 0.0
        for q in range(b - a):
            sq += g[q] * g[q]
        return sq
    for q in range(b - a):
        t[q] += f * g[q]
    return 0.0
