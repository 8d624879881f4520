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


@pytest.mark.parametrize("opt", [optim.sgd(0.1), optim.chain(optim.clip_norm(0.5), optim.sgd(0.1)),
                                 optim.momentum(0.1, 0.9), optim.adam(0.01)], ids=["sgd", "clip", "momentum", "adam"])
def test_sparse_update_equals_the_dense_one(opt):
    """apply_update_sparse on a gradient whose 3 x 6 block at offset 5 is zero outside columns 1 and 4 (the
    input weights of one-hot inputs) gives apply_update's parameters, step after step."""
    from rnnlearn.optim import apply_update_sparse
    rng = np.random.default_rng(3)
    cols = np.array([4, -1, 1, -1])
    theta0 = rng.normal(size=30)
    dense, sparse = theta0.copy(), theta0.copy()
    sd, ss = opt.init(30), opt.init(30)
    for _ in range(3):
        g = rng.normal(size=30)
        block = g[5:23].reshape(3, 6)
        block[:, [0, 2, 3, 5]] = 0.0
        apply_update(sd.codes, sd.hyper, sd.moments, sd.counts, sd.scratch, dense, g)
        apply_update_sparse(ss.codes, ss.hyper, ss.moments, ss.counts, ss.scratch, sparse, g, 5, 3, 6, cols, 0, 0)
        assert np.abs(dense - sparse).max() < 1e-15


def test_sparse_update_skips_what_the_caller_stepped():
    from rnnlearn.optim import apply_update_sparse
    theta, g = np.zeros(10), np.ones(10)
    st = optim.sgd(0.5).init(10)
    apply_update_sparse(st.codes, st.hyper, st.moments, st.counts, st.scratch, theta, g, 0, 0, 1,
                        np.zeros(0, np.int64), 3, 7)
    assert np.array_equal(theta, [-0.5] * 3 + [0.0] * 4 + [-0.5] * 3)
    st = optim.momentum(0.5).init(10)
    with pytest.raises(ValueError, match="stateless"):
        apply_update_sparse(st.codes, st.hyper, st.moments, st.counts, st.scratch, theta, g, 0, 0, 1,
                            np.zeros(0, np.int64), 3, 7)
