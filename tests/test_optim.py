"""Optimizers: each transform against its textbook formula, and chains."""
import numpy as np
import pytest

from rnnlearn import optim
from rnnlearn.optim import apply_update


def run(opt, grads, theta0):
    theta = theta0.copy()
    st = opt.init(len(theta))
    for g in grads:
        apply_update(st.codes, st.hyper, st.moments, st.counts, st.scratch, theta, g)
    return theta


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 7)), rng.normal(size=7)


def test_sgd(data):
    grads, th = data
    assert np.allclose(run(optim.sgd(0.1), grads, th), th - 0.1 * grads.sum(0), atol=1e-15)


def test_momentum(data):
    grads, th = data
    v, ref = np.zeros(7), th.copy()
    for g in grads:
        v = 0.9 * v + g
        ref -= 0.05 * v
    assert np.allclose(run(optim.momentum(0.05, 0.9), grads, th), ref, atol=1e-15)


def test_adam(data):
    grads, th = data
    m, v, ref = np.zeros(7), np.zeros(7), th.copy()
    for t, g in enumerate(grads, 1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref -= 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    assert np.allclose(run(optim.adam(1e-3), grads, th), ref, atol=1e-15)


def test_clip_then_sgd(data):
    grads, th = data
    ref = th.copy()
    for g in grads:
        norm = np.linalg.norm(g)
        ref -= 0.1 * (g * min(1.0, 0.5 / norm))
    assert np.allclose(run(optim.chain(optim.clip_norm(0.5), optim.sgd(0.1)), grads, th), ref, atol=1e-15)


def test_bad_chains_and_hyperparameters():
    optim.clip_norm(1.0)  # a piece to chain is fine on its own ...
    with pytest.raises(ValueError, match="must come last"):
        optim.clip_norm(1.0).init(3)  # ... but is no optimizer
    with pytest.raises(ValueError, match="must come last"):
        optim.chain(optim.sgd(0.1), optim.clip_norm(1.0))
    with pytest.raises(ValueError, match="exactly one"):
        optim.chain(optim.sgd(0.1), optim.adam(0.1))
    with pytest.raises(ValueError, match="lr"):
        optim.sgd(-1)
    with pytest.raises(ValueError, match="beta"):
        optim.momentum(0.1, beta=1.5)
