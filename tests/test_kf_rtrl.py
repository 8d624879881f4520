"""KF-RTRL and R-KF-RTRL (algorithms/kronecker.py) against their slow references and against BPTT: step for
step equal to the numpy references (tests/naive_kf.py) for given signs on Elman; unbiased (Mujika et al.'s
Theorem 1, Marschall et al.'s R-KF-RTRL) over all sign patterns on every model kind, fed in chunks shorter
than the sequence; a sampled mean over seeds within a few standard errors of the exact gradient; one-hot
inputs equal dense ones; LSTM's peepholes (outside the row form) carried exactly in every pattern."""
import numpy as np
import pytest

from naive import flat
from naive_kf import elman_kf_rtrl, elman_rkf_rtrl
from naive_online import all_sign_patterns
from rnnlearn.algorithms import BPTT, KFRTRL, LEARNERS, RKFRTRL
from rnnlearn.models import make_model
from rnnlearn.optim import sgd
from rnnlearn.tasks.base import Chunk

LEARNER_CLASSES = {"kf_rtrl": KFRTRL, "rkf_rtrl": RKFRTRL}
REFERENCES = {"kf_rtrl": elman_kf_rtrl, "rkf_rtrl": elman_rkf_rtrl}


def _n_signs(name, model):
    return 2 if name == "kf_rtrl" else model.dims.R


def _problem(seed=0, n=3, m=2, o=2, T=6, loss="mse"):
    model = make_model("elman", n_in=m, n_hidden=n, n_out=o, loss=loss)
    theta = model.init_params(seed) * 1.5
    rng = np.random.default_rng(seed + 10)
    ys = rng.normal(size=(T, o))
    if loss == "xent":
        ys = np.exp(ys) / np.exp(ys).sum(axis=1, keepdims=True)
    return model, theta, rng.normal(size=(T, m)), ys


def test_registered_with_their_declarations():
    assert LEARNERS["kf_rtrl"] is KFRTRL and LEARNERS["rkf_rtrl"] is RKFRTRL
    for cls in LEARNER_CLASSES.values():
        learner = cls()
        assert learner.stochastic and not learner.exact and not learner.own_update
        assert learner.cost_exponents() == (3.0, 2.0)
        for kind, kw in [("elman", {}), ("lstm", {"peephole": True}), ("gru", {}), ("clockwork", {"modules": 2})]:
            assert learner.supports(make_model(kind, n_in=2, n_hidden=4, n_out=2, **kw)) is None
    model = make_model("elman", n_in=4, n_hidden=32, n_out=2)
    assert KFRTRL().flops_per_step(model) == 2 * 32 ** 3
    assert RKFRTRL().flops_per_step(model) == 2 * 32 ** 2 * 37


@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_equals_the_numpy_reference_for_given_signs(name, loss):
    model, theta, xs, ys = _problem(T=7, n=3, loss=loss)
    rng = np.random.default_rng(5)
    for _ in range(4):
        signs = rng.choice([-1.0, 1.0], size=(len(xs), _n_signs(name, model)))
        _, g = LEARNER_CLASSES[name]().gradient_with_signs(model, theta, xs, ys, signs)
        want = flat(model, REFERENCES[name](model.unpack(theta), xs, ys, "ce" if loss == "xent" else "mse", signs))
        assert np.max(np.abs(g - want)) <= 1e-12 * np.max(np.abs(want))


def _chunked_gradient(learner, model, theta, xs, ys, signs, pieces):
    """The learner's summed gradient with theta fixed, the sequence fed in several chunks to one state."""
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0), signs=signs)
    for part in np.array_split(np.arange(len(xs)), pieces):
        ls = np.empty(len(part))
        learner._run(model, th, st, Chunk.make(xs[part], ys[part]), False, False, ls)
    assert np.array_equal(th, theta)
    return st.gacc.copy()


MODELS = [("elman", 2, {}), ("lstm", 1, {"peephole": True}), ("gru", 1, {}), ("clockwork", 2, {"modules": 2})]


@pytest.mark.parametrize("kind,n,kw", MODELS, ids=[k for k, _, _ in MODELS])
@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_mean_over_all_sign_patterns_is_the_exact_gradient(name, kind, n, kw):
    """Unbiased on every model through the row form: the mean over all 2^k sign patterns of k signs is BPTT's
    gradient to rounding, and no single pattern is; the readout's gradient, and LSTM's peepholes' (carried
    exactly outside the row form), are exact in every pattern."""
    model = make_model(kind, n_in=2, n_hidden=n, n_out=2, **kw)
    theta = model.init_params(3)
    theta += 0.3 * np.random.default_rng(1).normal(size=theta.shape)
    rng = np.random.default_rng(2)
    k = _n_signs(name, model)
    T = 4 if k == 2 else (3 if k * 3 <= 12 else 2)
    xs, ys = rng.normal(size=(T, 2)), rng.normal(size=(T, 2))
    _, exact = BPTT().gradient(model, theta, xs, ys)
    learner = LEARNER_CLASSES[name]()
    gs = np.array([_chunked_gradient(learner, model, theta, xs, ys, s, pieces=T - 1)
                   for s in all_sign_patterns(T, k)])
    scale = np.abs(exact).max()
    assert np.abs(gs.mean(axis=0) - exact).max() <= 1e-12 * scale
    assert np.abs(gs - exact).max(axis=1).min() > 1e-4 * scale  # no single pattern is exact
    exact_part = np.zeros(model.n_params, dtype=bool)
    exact_part[model.n_rec:] = True
    exact_part[model.row_layout.x_index] = True
    assert np.abs(gs[:, exact_part] - exact[exact_part]).max() <= 1e-12 * scale
    assert kind != "lstm" or len(model.row_layout.x_index) == 3 * n


@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_sampled_mean_over_seeds_is_within_standard_errors(name):
    model = make_model("elman", n_in=2, n_hidden=4, n_out=2)
    theta = model.init_params(0)
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    _, exact = BPTT().gradient(model, theta, xs, ys)
    learner = LEARNER_CLASSES[name]()
    gs = np.array([learner.gradient(model, theta, xs, ys, seed=s)[1] for s in range(400)])
    se = gs.std(axis=0, ddof=1) / np.sqrt(len(gs))
    rec = slice(0, model.n_rec)
    z = np.abs(gs.mean(axis=0) - exact)[rec] / np.maximum(se[rec], 1e-300)
    assert np.median(z) < 1.5 and z.max() < 5.0
    assert np.max(np.abs(gs[0] - exact)) > 1e-3 * np.abs(exact).max()   # one draw is not the gradient
    assert not np.array_equal(gs[0], gs[1])                              # seeds draw different signs
    assert np.array_equal(learner.gradient(model, theta, xs, ys, seed=3)[1], gs[3])  # a seed, its numbers


@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_one_hot_inputs_equal_dense_inputs(name):
    model = make_model("elman", n_in=5, n_hidden=3, n_out=2)
    theta = model.init_params(1)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 5, size=8)
    xs = np.eye(5)[idx]
    ys = rng.normal(size=(8, 2))
    signs = rng.choice([-1.0, 1.0], size=(8, _n_signs(name, model)))
    learner = LEARNER_CLASSES[name]()
    _, dense = learner.gradient_with_signs(model, theta, xs, ys, signs)
    _, onehot = learner.gradient_with_signs(model, theta, xs, ys, signs, x_index=idx)
    assert np.max(np.abs(dense - onehot)) <= 1e-13 * np.max(np.abs(dense))
    for seed in (0, 1):  # drawn signs too
        _, dense = learner.gradient(model, theta, xs, ys, seed=seed)
        _, onehot = learner.gradient(model, theta, xs, ys, x_index=idx, seed=seed)
        assert np.max(np.abs(dense - onehot)) <= 1e-13 * np.max(np.abs(dense))


@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_a_reset_starts_the_factors_afresh(name):
    """A reset at step k: the gradient is the sum of the two pieces' gradients with their own signs (the
    state, the factors and the extras' influence start again from zero)."""
    model, theta, xs, ys = _problem(T=8, n=3)
    signs = np.random.default_rng(4).choice([-1.0, 1.0], size=(8, _n_signs(name, model)))
    resets = np.zeros(8, dtype=bool)
    resets[5] = True
    learner = LEARNER_CLASSES[name]()
    loss, g = learner.gradient_with_signs(model, theta, xs, ys, signs, resets=resets)
    l1, g1 = learner.gradient_with_signs(model, theta, xs[:5], ys[:5], signs[:5])
    l2, g2 = learner.gradient_with_signs(model, theta, xs[5:], ys[5:], signs[5:])
    assert abs(loss - l1 - l2) <= 1e-12 * abs(loss)
    assert np.max(np.abs(g - g1 - g2)) <= 1e-12 * np.max(np.abs(g))


@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_gradient_called_again_gives_identical_results(name):
    """gradient reuses its state (reset in place, the Generator reseeded): the same numbers, bit for bit, as a
    fresh learner, after calls with other seeds, models and lengths."""
    model, theta, xs, ys = _problem(T=9, n=3)
    lstm = make_model("lstm", n_in=2, n_hidden=2, n_out=2, peephole=True)
    want = [LEARNER_CLASSES[name]().gradient(model, theta, xs, ys, seed=s) for s in (0, 1)]
    learner = LEARNER_CLASSES[name]()
    for _ in range(2):
        for s, (loss, grad) in zip((0, 1), want):
            got = learner.gradient(model, theta, xs, ys, seed=s)
            assert got[0] == loss and np.array_equal(got[1], grad)
        learner.gradient(lstm, lstm.init_params(0), xs[:5], ys[:5], seed=2)
        learner.gradient(model, theta, xs[:5], ys[:5], seed=2)


@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_training_applies_each_steps_estimate(name):
    """Online training with plain SGD: theta moves by -lr times the step's estimate at every step; with a
    tiny rate the summed update equals the fixed-theta gradient to first order."""
    model, theta, xs, ys = _problem(T=6, n=3)
    signs = np.random.default_rng(6).choice([-1.0, 1.0], size=(6, _n_signs(name, model)))
    learner = LEARNER_CLASSES[name]()
    _, g = learner.gradient_with_signs(model, theta, xs, ys, signs)
    lr = 1e-7
    th = theta.copy()
    st = learner.init(model, th, sgd(lr), signs=signs)
    learner.train(model, th, st, Chunk.make(xs, ys))
    step = (theta - th) / lr
    assert np.max(np.abs(step - g)) <= 1e-4 * np.max(np.abs(g))
    assert not np.array_equal(th, theta)


def test_bad_signs_are_refused():
    model, theta, xs, ys = _problem()
    with pytest.raises(ValueError, match="signs"):
        KFRTRL().gradient_with_signs(model, theta, xs, ys, np.ones((6, 3)))
    with pytest.raises(ValueError, match="signs"):
        RKFRTRL().gradient_with_signs(model, theta, xs, ys, np.ones((6, 2)))


@pytest.mark.slow
@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_add_task_beats_the_lag_only_level(name):
    """The add task (Elman n = 32, 20,000 steps, the learner's default SGD rate): below "learns the t-5 lag
    only" (0.520)."""
    from rnnlearn import Elman, optim
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    cls = LEARNER_CLASSES[name]
    task = make_task("add")
    result = train(Elman(n_in=2, n_hidden=32, n_out=2, loss="xent"), cls(), task, steps=20_000,
                   optimizer=optim.sgd(cls.default_lr), seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done"
    assert losses[0] > 0.6
    assert losses[-1] < 0.52, losses


@pytest.mark.parametrize("name", LEARNER_CLASSES)
def test_long_sequence_in_one_step_chunks_equals_the_reference(name):
    """600 steps fed one at a time: the matrix factor's scale (kept apart from the matrix so no pass rewrites
    it) grows past 1e90 and is folded back into the matrix at least once, and the gradient still equals the
    numpy reference's."""
    model, theta, xs, ys = _problem(T=600, n=3)
    signs = np.random.default_rng(7).choice([-1.0, 1.0], size=(600, _n_signs(name, model)))
    learner = LEARNER_CLASSES[name]()
    st = learner.init(model, theta.copy(), sgd(1.0), signs=signs)
    scales = []
    for t in range(600):
        learner._run(model, theta, st, Chunk.make(xs[t:t + 1], ys[t:t + 1]), False, False, np.empty(1))
        scales.append(abs(st.scale[0]))
    logs = np.log10(scales)
    assert logs.max() > 90 and (np.diff(logs) < -50).any()
    want = flat(model, REFERENCES[name](model.unpack(theta), xs, ys, "mse", signs))
    assert np.max(np.abs(st.gacc - want)) <= 1e-12 * np.max(np.abs(want))
