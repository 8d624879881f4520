"""DNI (algorithms/dni.py) against its slow reference and its defining properties: step for step equal to
tests/naive_local.elman_dni on Elman for a given module A (gradient and the module's regression gradient
gA), for window lengths that divide the sequence and that do not, fed in chunks whose boundaries are not the
windows'; with the synthetic gradient held at the true dL_{>t}/ds_t its gradient is BPTT's on every model
(Jaderberg et al.'s premise: a perfect synthetic gradient makes truncation exact); with A = 0 it is truncated
BPTT(k; k); online, A takes one regression step per window with the reference's gA."""
import numpy as np
import pytest

from naive import flat
from naive_local import elman_dni, elman_future_gradients, leaky_forward
from rnnlearn.algorithms import BPTT, DNI, TBPTT
from rnnlearn.models import cell, make_model
from rnnlearn.models.layout import D_LOSS
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import sgd
from rnnlearn.tasks.base import Chunk

KINDS = [("elman", {}), ("lstm", {"peephole": True}), ("gru", {}), ("clockwork", {"modules": 2})]
CHUNKS = (4, 3, 6, 2, 5, 7)  # chunk lengths, cycled: their boundaries are not the windows'


def _problem(kind, kw, T=17, seed=0, loss="mse"):
    n = {"lstm": 2, "clockwork": 4}.get(kind, 3)
    model = make_model(kind, n_in=2, n_hidden=n, n_out=2, loss=loss, **kw)
    theta = model.init_params(seed)
    theta += 0.3 * np.random.default_rng(seed + 1).normal(size=theta.shape)
    rng = np.random.default_rng(seed + 2)
    ys = rng.normal(size=(T, 2)) if loss == "mse" else np.eye(2)[rng.integers(0, 2, size=T)]
    return model, theta, rng.normal(size=(T, 2)), ys


def _pieces(T):
    out, t, i = [], 0, 0
    while t < T:
        out.append(np.arange(t, min(T, t + CHUNKS[i % len(CHUNKS)])))
        t += CHUNKS[i % len(CHUNKS)]
        i += 1
    return out


def _chunked(learner, model, theta, xs, ys, A=None, synthetic=None, resets=None):
    """DNI's summed gradient and summed gA with theta and A fixed, the sequence fed in chunks to one state
    (flush on the last)."""
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0), A=A, synthetic=synthetic)
    parts = _pieces(len(xs))
    for i, part in enumerate(parts):
        chunk = Chunk.make(xs[part], ys[part], resets=None if resets is None else resets[part])
        learner._run(model, th, st, chunk, False, i == len(parts) - 1, np.empty(len(part)))
    assert np.array_equal(th, theta)
    return st.gacc.copy(), st.gAacc.copy()


def future_gradients(model, theta, xs, ys, resets=None):
    """F (T, S): F[t] = dL_{>t}/ds_t, by a backward pass through the model interface (cell.step and
    cell.vjp_state, the readout's vjp), any model."""
    T, S = len(xs), model.n_state
    C, G = max(model.n_cache, 1), model.n_delta
    prev, nxt, cache = np.zeros((T, S)), np.zeros((T, S)), np.zeros((T, C))
    s = np.zeros(S)
    for t in range(T):
        if resets is not None and resets[t]:
            s = np.zeros(S)
        prev[t] = s
        cell.step(model.dims, model.aux, theta, prev[t], xs[t], -1, t, nxt[t], cache[t])
        s = nxt[t]
    F = np.zeros((T, S))
    for t in range(T - 1, 0, -1):  # dL_{>=t}/ds_t -> dL_{>t-1}/ds_{t-1}
        yhat, dy, ds, g = np.zeros(model.n_out), np.zeros(model.n_out), np.zeros(S), np.zeros(model.n_params)
        readout(model.dims[:], theta, nxt[t], xs[t], -1, yhat)
        loss_grad(model.dims[D_LOSS], yhat, ys[t], 1.0, dy)
        readout_vjp(model.dims[:], theta, nxt[t], xs[t], -1, dy, g, ds)
        ds += F[t]
        delta, back = np.zeros(G), np.zeros(S)
        cell.vjp_state(model.dims, model.aux, theta, prev[t], xs[t], -1, t, nxt[t], cache[t], ds, delta, back)
        F[t - 1] = 0.0 if (resets is not None and resets[t]) else back
    return F


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def test_future_gradients_helper_is_the_references():
    model, theta, xs, ys = _problem("elman", {}, T=9)
    want = elman_future_gradients(model.unpack(theta), xs, ys, "mse")
    assert np.abs(future_gradients(model, theta, xs, ys) - want).max() <= 1e-13 * np.abs(want).max()


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_equals_the_slow_reference_for_a_given_module(loss):
    model, theta, xs, ys = _problem("elman", {}, T=13, seed=3, loss=loss)
    p = model.unpack(theta)
    S = model.n_state
    rng = np.random.default_rng(8)
    for k in (1, 2, 3, 5, 13, 20):
        A = 0.5 * rng.normal(size=(S, S + 1))
        g_ref, gA_ref, bounds, _ = elman_dni(p, xs, ys, "mse" if loss == "mse" else "ce", k, A=A)
        g, gA = _chunked(DNI(k=k), model, theta, xs, ys, A=A)
        want = flat(model, g_ref)
        assert np.abs(g - want).max() <= 1e-12 * np.abs(want).max()
        if bounds:
            assert np.abs(gA - gA_ref).max() <= 1e-12 * np.abs(gA_ref).max()
        else:
            assert not gA.any()


@pytest.mark.parametrize("kind,kw", KINDS, ids=[k for k, _ in KINDS])
def test_the_true_synthetic_gradient_gives_bptts_gradient(kind, kw):
    model, theta, xs, ys = _problem(kind, kw)
    _, exact = BPTT().gradient(model, theta, xs, ys)
    F = future_gradients(model, theta, xs, ys)
    for k in (1, 3, 4, 5, 17):
        g, _ = _chunked(DNI(k=k), model, theta, xs, ys, synthetic=F)
        assert _rel(g, exact) <= 1e-10, (k, _rel(g, exact))
        _, g2 = DNI(k=k).gradient_with_synthetic(model, theta, xs, ys, F)
        assert _rel(g2, exact) <= 1e-10
        if k < len(xs):  # ... and without it, truncation is not exact
            assert _rel(DNI(k=k).gradient(model, theta, xs, ys)[1], exact) > 1e-3


def test_the_true_synthetic_gradient_with_resets():
    model, theta, xs, ys = _problem("gru", {}, T=16, seed=4)
    resets = np.zeros(16, bool)
    resets[[0, 6, 9]] = True
    _, exact = BPTT().gradient(model, theta, xs, ys, resets=resets)
    F = future_gradients(model, theta, xs, ys, resets)
    for k in (3, 4):
        g, _ = _chunked(DNI(k=k), model, theta, xs, ys, synthetic=F, resets=resets)
        assert _rel(g, exact) <= 1e-10


@pytest.mark.parametrize("kind,kw", KINDS, ids=[k for k, _ in KINDS])
def test_a_zero_module_is_truncated_bptt(kind, kw):
    model, theta, xs, ys = _problem(kind, kw, T=18)
    for k in (2, 3, 6):  # dividing T: truncated BPTT's flush reaches k2 steps back past a shorter last window
        want = TBPTT(k1=k, k2=k).gradient(model, theta, xs, ys)[1]
        g, _ = _chunked(DNI(k=k, sg_lr=0.1), model, theta, xs, ys)
        assert _rel(g, want) <= 1e-12
        assert _rel(DNI(k=k).gradient(model, theta, xs, ys)[1], want) <= 1e-12


def test_the_module_takes_one_regression_step_per_window_with_the_references_gA():
    """Online: the first window has no boundary to train; each later window steps A by -sg_lr gA, gA the
    reference's (A z - delta) z^T at that window's start. Theta is held (a learning rate of 1e-300)."""
    model, theta, xs, ys = _problem("elman", {}, T=13, seed=6)
    p = model.unpack(theta)
    S, k, sg_lr = model.n_state, 4, 0.3
    A0 = 0.4 * np.random.default_rng(2).normal(size=(S, S + 1))
    a = leaky_forward(p, xs)[0]
    learner = DNI(k=k, sg_lr=sg_lr)
    th = theta.copy()
    st = learner.init(model, th, sgd(1e-300), A=A0)
    learner.train(model, th, st, Chunk.make(xs[:k], ys[:k]))
    assert np.array_equal(st.A, A0)
    learner.train(model, th, st, Chunk.make(xs[k:2 * k], ys[k:2 * k]))
    # the reference over 2k + 1 steps: its window [k, 2k) ends before the sequence does (a synthetic gradient)
    _, _, bounds, targets = elman_dni(p, xs[:2 * k + 1], ys[:2 * k + 1], "mse", k, A=A0)
    assert bounds[0] == k - 1
    z = np.append(a[k - 1], 1.0)
    A1 = A0 - sg_lr * np.outer(A0 @ z - targets[0], z)
    assert np.abs(st.A - A1).max() <= 1e-13
    assert np.abs(A1 - A0).max() > 1e-3


def test_learning_the_module_moves_it_towards_the_true_future_gradient():
    """With theta fixed, random inputs and zero targets, the regression drives sg(s_t) to the best linear
    predictor of dL_{>t}/ds_t: on fresh data the learned A is within 15% of the least-squares fit's error
    and well below A = 0's (0.066, 0.064 and 0.120 when written)."""
    model, theta, _, _ = _problem("elman", {}, seed=9)
    rng = np.random.default_rng(0)
    T, k = 3000, 3
    xs, ys = rng.normal(size=(T, 2)), np.zeros((T, 2))
    learner = DNI(k=k, sg_lr=0.005)
    th = theta.copy()
    st = learner.init(model, th, sgd(1e-300))
    learner.train(model, th, st, Chunk.make(xs, ys))
    xt, yt = rng.normal(size=(400, 2)), np.zeros((400, 2))
    F = future_gradients(model, theta, xt, yt)[:-20]
    hs = leaky_forward(model.unpack(theta), xt)[0]
    Z = np.hstack([hs, np.ones((400, 1))])[:-20]
    best = np.linalg.lstsq(Z, F, rcond=None)[0]
    err_learned, err_best = np.mean((Z @ st.A.T - F) ** 2), np.mean((Z @ best - F) ** 2)
    assert err_learned < 1.15 * err_best and err_learned < 0.6 * np.mean(F ** 2)


def test_one_hot_inputs_equal_dense_inputs():
    model = make_model("lstm", n_in=5, n_hidden=2, n_out=2)
    theta = model.init_params(1)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 5, size=11)
    xs, ys = np.eye(5)[idx], rng.normal(size=(11, 2))
    A = 0.3 * rng.normal(size=(model.n_state, model.n_state + 1))
    for k in (3, 4):
        dense = DNI(k=k).init(model, theta, sgd(1.0), A=A)
        onehot = DNI(k=k).init(model, theta, sgd(1.0), A=A)
        DNI(k=k)._run(model, theta, dense, Chunk.make(xs, ys), False, True, np.empty(11))
        DNI(k=k)._run(model, theta, onehot, Chunk.make(xs, ys, x_index=idx), False, True, np.empty(11))
        assert _rel(onehot.gacc, dense.gacc) <= 1e-13 and _rel(onehot.gAacc, dense.gAacc) <= 1e-13


@pytest.mark.slow
def test_learns_the_add_task():
    from rnnlearn import Elman
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    result = train(Elman(n_in=2, n_hidden=32, n_out=2, loss="xent"), DNI(), make_task("add"), steps=20_000,
                   optimizer=sgd(DNI.default_lr), seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done" and losses[0] > 0.6
    assert min(losses) < 0.52, losses
