"""UORO (algorithms/uoro.py) against its slow reference and against RTRL: step for step equal to the numpy
reference for given signs, unbiased over all sign patterns (Tallec and Ollivier's claim) on every model, and
a sampled mean over seeds within a few standard errors of the exact gradient. Chunks are shorter than the
sequence (an approximation given a whole sequence in one call can agree with BPTT for the wrong reason)."""
import numpy as np
import pytest

from naive import elman_rtrl, flat
from naive_online import all_sign_patterns, elman_uoro
from rnnlearn.algorithms import BPTT, UORO
from rnnlearn.models import make_model
from rnnlearn.optim import sgd
from rnnlearn.tasks.base import Chunk


def _elman_problem(seed=0, n=2, m=2, o=2, T=3):
    model = make_model("elman", n_in=m, n_hidden=n, n_out=o)
    theta = model.init_params(seed) * 1.5
    rng = np.random.default_rng(seed + 10)
    return model, theta, rng.normal(size=(T, m)), rng.normal(size=(T, o))


def test_equals_the_numpy_reference_for_given_signs():
    model, theta, xs, ys = _elman_problem(T=6, n=3)
    rng = np.random.default_rng(5)
    for _ in range(4):
        signs = rng.choice([-1.0, 1.0], size=(len(xs), model.n_hidden))
        _, g = UORO().gradient_with_signs(model, theta, xs, ys, signs)
        want = flat(model, elman_uoro(model.unpack(theta), xs, ys, "mse", signs))
        assert np.max(np.abs(g - want)) <= 1e-12 * np.max(np.abs(want))


def _chunked_gradient(model, theta, xs, ys, signs, pieces):
    """UORO's summed gradient with theta fixed, the sequence fed in several chunks to one state."""
    learner = UORO()
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0), signs=signs)
    losses = []
    for part in np.array_split(np.arange(len(xs)), pieces):
        chunk = Chunk.make(xs[part], ys[part])
        ls = np.empty(len(part))
        learner._run(model, th, st, chunk, False, False, ls)
        losses.append(ls)
    return st.gacc.copy()


@pytest.mark.parametrize("kind,kw", [("elman", {}), ("lstm", {"peephole": True}), ("gru", {}),
                                     ("clockwork", {"modules": 2}), ("elstm", {}),
                                     ("lru", {"d_state": 1, "r_min": 0.5, "r_max": 0.9})])
def test_mean_over_all_sign_patterns_is_the_exact_gradient(kind, kw):
    n = 2 if kind not in ("lstm", "elstm") else 1  # (the LRU: its vector-Jacobian path, uoro_vjp_chunk)
    model = make_model(kind, n_in=2, n_hidden=n, n_out=2, **kw)
    theta = model.init_params(3)
    theta += 0.3 * np.random.default_rng(1).normal(size=theta.shape)
    rng = np.random.default_rng(2)
    T = 3 if model.n_state <= 2 else 2
    xs, ys = rng.normal(size=(T, 2)), rng.normal(size=(T, 2))
    _, exact = BPTT().gradient(model, theta, xs, ys)
    gs = np.array([_chunked_gradient(model, theta, xs, ys, s, pieces=T)
                   for s in all_sign_patterns(T, model.n_state)])
    scale = np.abs(exact).max()
    assert np.abs(gs.mean(axis=0) - exact).max() <= 1e-12 * scale
    assert np.abs(gs - exact).max(axis=1).min() > 1e-4 * scale  # no single pattern is exact


def test_sampled_mean_over_seeds_is_within_standard_errors():
    model = make_model("elman", n_in=2, n_hidden=4, n_out=2)
    theta = model.init_params(0)
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    _, exact = BPTT().gradient(model, theta, xs, ys)
    gs = np.array([UORO().gradient(model, theta, xs, ys, seed=s)[1] for s in range(400)])
    se = gs.std(axis=0, ddof=1) / np.sqrt(len(gs))
    z = np.abs(gs.mean(axis=0) - exact) / np.maximum(se, 1e-300)
    rec = slice(0, model.n_rec)
    assert np.median(z[rec]) < 1.5 and z[rec].max() < 5.0
    assert np.max(np.abs(gs[0] - exact)) > 1e-3 * np.abs(exact).max()   # one draw is not the gradient


def test_one_hot_inputs_equal_dense_inputs():
    model = make_model("elman", n_in=5, n_hidden=3, n_out=2)
    theta = model.init_params(1)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 5, size=8)
    xs = np.eye(5)[idx]
    ys = rng.normal(size=(8, 2))
    signs = rng.choice([-1.0, 1.0], size=(8, 3))
    _, dense = UORO().gradient_with_signs(model, theta, xs, ys, signs)
    _, onehot = UORO().gradient_with_signs(model, theta, xs, ys, signs, x_index=idx)
    assert np.max(np.abs(dense - onehot)) <= 1e-13 * np.max(np.abs(dense))
