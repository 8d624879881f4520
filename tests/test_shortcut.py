"""The readout's input feed-through (a model's shortcut=True: y_hat_t = V h_t + V_x x_t + c; Gers and
Schmidhuber 2001's input-to-output shortcut connections), on every model: off leaves theta's layout, the
config and the initialisation as they were; the outputs gain exactly V_x x_t, dense or one-hot; the loss
gradient matches finite differences; every exact learner equals BPTT fed in chunks; truncated BPTT's fused
SGD step and its sparse one-hot update step V_x too; the EKF's H_t matches finite differences of its
measurements and its node groups give V_x's rows to the output units."""
import numpy as np
import pytest

import naive
from rnnlearn import optim
from rnnlearn.algorithms import BPTT, EKF, LEARNERS, TBPTT
from rnnlearn.algorithms.ekf import node_groups
from rnnlearn.models import MODELS, make_model
from rnnlearn.sweep import parse_spec
from rnnlearn.tasks import Chunk

M_IN, O_OUT, T = 3, 2, 12

#: label -> (model name, its options); every model kind, small
SPECS = {
    "elman": ("elman", {}),
    "leaky": ("leaky", {"alpha": 0.6}),
    "lstm": ("lstm", {}),
    "lstm-peephole-uniform": ("lstm", {"peephole": True, "init": "uniform"}),
    "gru": ("gru", {}),
    "clockwork": ("clockwork", {"n_hidden": 6, "modules": 3}),
    "elstm": ("elstm", {}),
    "lru": ("lru", {"d_state": 3, "r_min": 0.5, "r_max": 0.95}),
}
LABELS = sorted(SPECS)
EXACT = sorted(name for name in LEARNERS if LEARNERS[name]().exact)


def build(label, shortcut=True, loss="mse"):
    name, kw = SPECS[label]
    kw = {"n_hidden": 4, **kw}
    return make_model(name, n_in=M_IN, n_out=O_OUT, loss=loss, shortcut=shortcut, **kw)


def problem(label, onehot=False, loss="mse", seed=0):
    """A model with the feed-through, a theta with every block (V_x too) non-zero, and a sequence with
    a reset inside it; one-hot: inputs given by index, and xs their dense rows."""
    rng = np.random.default_rng(seed)
    model = build(label, loss=loss)
    theta = model.init_params(seed) + 0.3 * rng.normal(size=model.n_params)
    if onehot:
        idx = rng.integers(0, M_IN, size=T)
        xs = np.eye(M_IN)[idx]
    else:
        idx, xs = None, rng.normal(size=(T, M_IN))
    ys = rng.normal(size=(T, O_OUT)) if loss == "mse" else rng.dirichlet(np.ones(O_OUT), size=T)
    resets = np.zeros(T, dtype=bool)
    resets[[0, 7]] = True
    return model, theta, xs, ys, idx, resets


def chunked(learner, model, theta, xs, ys, idx, pieces=3):
    """The learner's summed gradient with theta fixed, the sequence fed in `pieces` chunks (the last one
    flushes: BPTT sweeps the whole history then)."""
    th = theta.copy()
    st = learner.init(model, th, optim.sgd(1.0))
    parts = np.array_split(np.arange(len(xs)), pieces)
    for i, part in enumerate(parts):
        chunk = Chunk.make(xs[part], ys[part], x_index=None if idx is None else idx[part])
        status, _ = learner._run(model, th, st, chunk, False, i == len(parts) - 1, np.empty(len(part)))
        assert status == 0
    assert np.array_equal(th, theta)
    return st.gacc.copy()


def test_every_model_takes_the_key():
    assert set(SPECS[k][0] for k in SPECS) == set(MODELS)
    name, params = parse_spec("lstm:peephole=true,shortcut=true", "model")
    model = make_model(name, n_in=M_IN, n_hidden=2, n_out=O_OUT, **params)
    assert model.shortcut and model.config()["shortcut"] is True and type(model)(**model.config()) == model
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="shortcut must be True or False"):
            make_model("elman", n_in=M_IN, n_hidden=2, n_out=O_OUT, shortcut=bad)


@pytest.mark.parametrize("label", LABELS)
def test_off_leaves_layout_config_and_init_as_they_were(label):
    off, on = build(label, shortcut=False), build(label)
    assert off.dims.oY == -1 and "shortcut" not in off.config() and "Vx" not in off.unpack(off.init_params(0))
    assert on.n_params == off.n_params + O_OUT * M_IN and on.n_rec == off.n_rec
    assert on.dims.oY == off.n_params == on.offset("Vx")
    assert on.dims[:-1] == off.dims[:-1][:9] + (on.n_params,) + off.dims[:-1][10:]  # only P and oY differ
    for name in off.unpack(off.init_params(0)):
        assert on.offset(name) == off.offset(name)
    for seed in (0, 3):
        a, b = off.init_params(seed), on.init_params(seed)
        assert np.array_equal(b[:off.n_params], a)  # the same draws: V_x comes last
        vx = on.unpack(b)["Vx"]
        if getattr(on, "init", "") == "uniform":
            assert 0 < np.abs(vx).max() <= on.init_scale
        else:
            assert not vx.any()


@pytest.mark.parametrize("onehot", [False, True], ids=["dense", "onehot"])
@pytest.mark.parametrize("label", LABELS)
def test_outputs_gain_exactly_the_feed_through(label, onehot):
    model, theta, xs, ys, idx, resets = problem(label, onehot)
    off = build(label, shortcut=False)
    chunk = Chunk.make(xs, ys, resets=resets, x_index=idx)
    states, yhat = model.forward(theta, chunk)
    states0, yhat0 = off.forward(theta[:off.n_params].copy(), chunk)
    assert np.array_equal(states, states0)
    vx = model.unpack(theta)["Vx"]
    assert np.abs(yhat - (yhat0 + xs @ vx.T)).max() <= 1e-13 * np.abs(yhat).max()
    if onehot:  # the index path reads one column, the dense path the row: the same outputs
        assert np.abs(yhat - model.forward(theta, Chunk.make(xs, ys, resets=resets))[1]).max() <= 1e-14
    s, y = model.step(theta, np.zeros(model.n_state), xs[0], -1 if idx is None else int(idx[0]))
    assert np.allclose(y, yhat[0], rtol=0, atol=1e-14) and np.array_equal(s, states[0])


@pytest.mark.parametrize("onehot", [False, True], ids=["dense", "onehot"])
@pytest.mark.parametrize("label", LABELS)
def test_gradient_matches_finite_differences(label, onehot):
    loss = "xent" if label in ("gru", "lstm") else "mse"
    model, theta, xs, ys, idx, resets = problem(label, onehot, loss)
    chunk = Chunk.make(xs, ys, resets=resets, x_index=idx)
    fd = naive.finite_difference(lambda th: model.sequence_loss(th, chunk), theta.copy())
    _, g = BPTT().gradient(model, theta, xs, ys, resets=resets, x_index=idx)
    assert np.abs(g - fd).max() <= 1e-6 * np.abs(fd).max()
    gx = model.unpack(g)["Vx"]
    assert np.abs(gx).min() > 0 or onehot  # every feed-through weight learns from dense inputs


#: (exact learner, model) pairs the learner trains (a refusal is test_models' subject, not this file's)
EXACT_PAIRS = [(name, label) for name in EXACT for label in LABELS if not LEARNERS[name]().supports(build(label))]


@pytest.mark.parametrize("onehot", [False, True], ids=["dense", "onehot"])
@pytest.mark.parametrize("name,label", EXACT_PAIRS)
def test_exact_learners_equal_bptt_in_chunks(name, label, onehot):
    model, theta, xs, ys, idx, _ = problem(label, onehot)
    learner = LEARNERS[name]()
    _, g_ref = BPTT().gradient(model, theta, xs, ys, x_index=idx)
    g = chunked(learner, model, theta, xs, ys, idx)
    assert np.abs(g - g_ref).max() <= 1e-10 * np.abs(g_ref).max()
    assert np.abs(model.unpack(g)["Vx"]).max() > 0


@pytest.mark.parametrize("onehot", [False, True], ids=["dense", "onehot"])
def test_truncated_bptt_sgd_steps_the_feed_through(onehot):
    """One window covering the sequence, plain SGD on an Elman network (state = h): truncated BPTT steps V in
    its fused readout product and V_x through g (sparse update for one-hot inputs); theta - lr grad."""
    model, theta, xs, ys, idx, _ = problem("elman", onehot)
    lr = 0.01
    _, g = BPTT().gradient(model, theta, xs, ys, x_index=idx)
    th = theta.copy()
    learner = TBPTT(k1=T, k2=T)
    learner.train(model, th, learner.init(model, th, optim.sgd(lr)), Chunk.make(xs, ys, x_index=idx))
    assert np.abs(th - (theta - lr * g)).max() <= 1e-13 * np.abs(theta).max()


@pytest.mark.parametrize("onehot", [False, True], ids=["dense", "onehot"])
@pytest.mark.parametrize("jacobian", ["rtrl", "tbptt"])
@pytest.mark.parametrize("label", ["elman", "lstm-peephole-uniform"])
def test_ekf_jacobian_matches_finite_differences(label, jacobian, onehot):
    model, theta, xs, _, idx, resets = problem(label, onehot, "sigmoid_mse" if label != "elman" else "mse")
    ys = np.random.default_rng(5).uniform(size=(T, O_OUT))

    def meas(th):
        yh = model.forward(th, Chunk.make(xs, ys, resets=resets, x_index=idx))[1]
        return 1.0 / (1.0 + np.exp(-yh)) if model.loss == "sigmoid_mse" else yh

    H = EKF(jacobian=jacobian, h=T, decoupling="node").jacobians(model, theta, xs, ys, resets=resets, x_index=idx)
    fd = np.stack([naive.finite_difference(lambda th: meas(th)[t, k], theta)
                   for t in range(T) for k in range(O_OUT)]).reshape(H.shape)
    assert np.abs(H - fd).max() <= 1e-7 * np.abs(fd).max()
    assert np.abs(H[..., model.offset("Vx"):]).max() > 0.1


@pytest.mark.parametrize("label", [k for k in LABELS if not EKF(decoupling="node").supports(build(k))])
def test_ekf_node_groups_give_the_feed_through_to_the_output_units(label):
    model = build(label)
    groups = node_groups(model)
    assert np.array_equal(np.sort(np.concatenate(groups)), np.arange(model.n_params))
    oV, oc, oY, n = model.offset("V"), model.offset("c"), model.offset("Vx"), model.n_hidden
    for k, g in enumerate(groups[-O_OUT:]):
        want = np.concatenate([oV + k * n + np.arange(n), [oc + k], oY + k * M_IN + np.arange(M_IN)])
        assert np.array_equal(np.sort(g), want)


def test_ekf_trains_the_feed_through():
    """A target that is a linear function of the current input alone: the node-decoupled EKF learns it
    through V_x (the loss falls to the noise-free floor the recurrent part alone is far from at the start)."""
    rng = np.random.default_rng(0)
    model = build("lstm-peephole-uniform")
    theta = model.init_params(0)
    A = rng.normal(size=(O_OUT, M_IN))
    xs = rng.normal(size=(400, M_IN))
    ys = xs @ A.T
    learner = EKF(decoupling="node", p0=10.0, r=1.0, q=0.0)
    losses = learner.train(model, theta, learner.init(model, theta), Chunk.make(xs, ys))
    assert np.isfinite(losses).all() and losses[-50:].mean() < 1e-3 * losses[:50].mean()
    assert np.abs(model.unpack(theta)["Vx"] - A).max() < 0.05
