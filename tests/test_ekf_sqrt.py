"""The EKF's square-root form (form="sqrt", P_g = S_g S_g^T, the block Potter update of algorithms/ekf.py):
it follows the standard form to rounding, alone and with B streams, over short problems and 10,000 steps of
the add task; and where the standard form loses positive definiteness (q = 0, r = 1e-6, p0 = 1e5) it runs
on with a non-singular factor."""
import numpy as np
import pytest

from rnnlearn import Elman
from rnnlearn.algorithms import EKF
from rnnlearn.tasks import Chunk, make_task
from rnnlearn.train import train

from test_ekf import problem, trajectory


class KeepState(EKF):
    def init(self, model, theta, optimizer=None, seed=0):
        self.state = super().init(model, theta, optimizer, seed)
        return self.state


def _max_rel(a, b):
    return max(np.abs(x[1] - y[1]).max() / np.abs(x[1]).max() for x, y in zip(a, b))


@pytest.mark.parametrize("jacobian", ["rtrl", "tbptt"])
@pytest.mark.parametrize("decoupling", ["global", "node"])
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_sqrt_form_follows_the_standard_form(loss, decoupling, jacobian):
    """Step by step (the pending factor update crosses kernel calls), with masks and resets: theta and
    P = S S^T agree to 1e-10 (measured: <= 2e-12 and <= 4e-12 relative)."""
    model, theta, xs, ys = problem(loss)
    mask = np.ones(len(xs))
    mask[30:40] = 0.0
    mask[100:120] = 0.3
    resets = np.zeros(len(xs), dtype=bool)
    resets[[0, 90]] = True
    kw = dict(decoupling=decoupling, jacobian=jacobian, h=7, q=0.0)
    a, sa = trajectory(EKF(**kw), model, theta, xs, ys, mask=mask, resets=resets)
    b, sb = trajectory(EKF(form="sqrt", **kw), model, theta, xs, ys, mask=mask, resets=resets)
    assert np.abs(a - b).max() < 1e-10
    assert np.abs(a[-1] - theta).max() > 1e-2
    assert _max_rel(EKF(**kw).covariance(model, sa), EKF(form="sqrt", **kw).covariance(model, sb)) < 1e-10


@pytest.mark.parametrize("decoupling", ["global", "node"])
def test_sqrt_form_with_streams_follows_the_standard_form(decoupling):
    model, theta, xs, ys = problem("xent", T=120)
    rng = np.random.default_rng(3)
    chunks = [Chunk.make(xs, ys)] + [Chunk.make(rng.normal(size=xs.shape), ys[rng.permutation(len(ys))])
                                     for _ in range(2)]
    out = []
    for form in ("standard", "sqrt"):
        th = theta.copy()
        learner = EKF(decoupling=decoupling, q=0.0, batch=3, form=form)
        state = learner.init(model, th)
        for a in range(0, 120, 40):
            learner.train(model, th, state, Chunk.stack([Chunk(*(getattr(c, f)[a:a + 40] for f in
                                                                ("xs", "ys", "mask", "resets", "x_index")))
                                                         for c in chunks]))
        out.append((th, learner.covariance(model, state)))
    assert np.abs(out[0][0] - out[1][0]).max() < 1e-10
    assert _max_rel(out[0][1], out[1][1]) < 1e-10


@pytest.mark.parametrize("decoupling", ["global", "node"])
def test_sqrt_form_follows_the_standard_form_for_10000_steps(decoupling):
    """The add task, Elman n = 8, q = 0 (both forms stable): theta after 10,000 steps agrees to 1e-8
    (measured 3e-12 global, 9e-10 node), P to 1e-8 relative, the test losses to 1e-10."""
    model = Elman(2, 8, 2, loss="xent")
    runs = []
    for form in ("standard", "sqrt"):
        learner = KeepState(decoupling=decoupling, q=0.0, form=form)
        result = train(model, learner, make_task("add"), steps=10_000, seed=0, eval_every=2000)
        assert result.status == "done", result.reason
        runs.append((result, learner.covariance(model, learner.state)))
    (ra, pa), (rb, pb) = runs
    assert np.abs(ra.theta - rb.theta).max() < 1e-8
    assert _max_rel(pa, pb) < 1e-8
    assert max(abs(x["test_loss"] - y["test_loss"]) for x, y in zip(ra.records, rb.records)) < 1e-10
    assert ra.records[-1]["test_loss"] < 0.67


HARSH = dict(q=0.0, r=1e-6, p0=1e5)


def harsh_task():
    """The add task with the test-loss divergence criterion off: these settings do not learn (the test loss
    goes to 1e2-1e3 nats in either form); what they test is the numerics of the covariance."""
    task = make_task("add")
    task.divergence_factor = float("inf")
    return task


def test_standard_form_loses_positive_definiteness_where_sqrt_does_not():
    """q = 0, r = 1e-6, p0 = 1e5, the add task, Elman n = 16 (global): the standard form's P -= B B^T
    cancels to a non-positive diagonal within a few hundred steps (seed 0: step 183); the factored form runs
    on (its factor's update is a product with a non-singular matrix, so S S^T stays positive definite)."""
    model = Elman(2, 16, 2, loss="xent")
    a = train(model, EKF(**HARSH), harsh_task(), steps=2000, seed=0, eval_every=1000)
    assert a.status == "diverged" and "covariance not positive definite at step" in a.reason
    learner = KeepState(form="sqrt", **HARSH)
    b = train(model, learner, harsh_task(), steps=4000, seed=0, eval_every=1000)
    assert b.status == "done", b.reason
    _check_factor(learner)


def _check_factor(learner):
    for _, S in learner.blocks(learner.state):
        assert np.isfinite(S).all()
        sv = np.linalg.svd(S, compute_uv=False)
        assert sv.min() > 0.0


@pytest.mark.slow
@pytest.mark.parametrize("decoupling", ["global", "node"])
def test_sqrt_form_stays_positive_definite_for_100000_steps(decoupling):
    """The settings above for 100,000 steps (Elman n = 8: ~10 s): the run stays finite and every factor
    non-singular (singular values > 0: P = S S^T positive definite)."""
    learner = KeepState(decoupling=decoupling, form="sqrt", **HARSH)
    result = train(Elman(2, 8, 2, loss="xent"), learner, harsh_task(), steps=100_000, seed=0,
                   eval_every=50_000)
    assert result.status == "done", result.reason
    _check_factor(learner)
