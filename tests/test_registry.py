"""Every registered learner, checked for what it declares (algorithms/base.py): exact learners' gradients
equal BPTT's, every learner is reproducible from its seed, bad hyperparameters are refused with their name,
and a learner is one module plus one registration line (a toy learner registered here trains through the
runner with no other change)."""
import numpy as np
import pytest

from rnnlearn.algorithms import BPTT, LEARNERS, GradientLearner, make_learner, register
from rnnlearn.algorithms.base import declaration_problems
from rnnlearn.models import Elman, make_model
from rnnlearn.tasks.base import Chunk
from rnnlearn import optim

NAMES = sorted(LEARNERS)


def _small(name):
    """The learner at settings that run in milliseconds on a tiny network."""
    return make_learner(name, **LEARNERS[name].bench_params(12))


def _sequence(model, T=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, model.n_in)), rng.normal(size=(T, model.n_out))


@pytest.mark.parametrize("name", NAMES)
def test_declares_everything(name):
    cls = LEARNERS[name]
    assert declaration_problems(cls) == []
    learner = cls()
    te, me = learner.cost_exponents()
    assert te >= me - 1 >= -1 and te > 0
    assert cls.display_name and cls.name == name
    assert learner.own_update == (cls.default_lr is None)
    assert learner.label().startswith(name)


EXACT = [name for name in NAMES if LEARNERS[name]().exact]


def test_the_exact_learners_are_the_expected_ones():
    assert {"bptt", "rtrl"} <= set(EXACT) and "tbptt" not in EXACT


@pytest.mark.parametrize("name", EXACT)
def test_exact_learners_give_bptts_gradient(name):
    learner = LEARNERS[name]()
    model = Elman(3, 5, 2)
    theta = model.init_params(1)
    xs, ys = _sequence(model)
    loss, g = learner.gradient(model, theta, xs, ys)
    loss_ref, g_ref = BPTT().gradient(model, theta, xs, ys)
    assert abs(loss - loss_ref) <= 1e-12 * abs(loss_ref)
    assert np.max(np.abs(g - g_ref)) <= 1e-10 * np.max(np.abs(g_ref))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_numbers(name):
    model = Elman(3, 5, 2)
    xs, ys = _sequence(model, T=30)
    out = []
    for _ in range(2):
        learner = _small(name)
        theta = model.init_params(2)
        opt = None if learner.own_update else optim.sgd(0.01)
        state = learner.init(model, theta, opt, seed=7)
        losses = learner.train(model, theta, state, Chunk.make(xs, ys))
        out.append((theta.copy(), losses))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])


def _bad_values(default):
    if isinstance(default, bool):
        return ["maybe"]
    if isinstance(default, int):
        return [0, -3, 2.5, "ten"]
    if isinstance(default, float):
        return [float("nan"), "large"]
    if isinstance(default, str):
        return ["no-such-option"]
    return []


CASES = [(name, key, bad) for name in NAMES for key, default in LEARNERS[name]().params().items()
         for bad in _bad_values(default)]


@pytest.mark.parametrize("name,key,bad", CASES)
def test_bad_hyperparameter_refused_by_name(name, key, bad):
    with pytest.raises(ValueError, match=key):
        make_learner(name, **{key: bad})


def test_unknown_hyperparameter_refused():
    for name in NAMES:
        with pytest.raises(ValueError, match="no_such"):
            make_learner(name, no_such=1)


# ---------------------------------------------------------------------------------------------------------
# a new learner: one module (this class) and one registration line

class OneStep(GradientLearner):
    """A toy learner: the one-step (fully truncated) gradient, BPTT over windows of one step, reusing
    truncated BPTT's machinery."""

    name = "toy_one_step"
    display_name = "One-step"
    reference = "this test"
    default_lr = 0.05
    time_exponent = 2.0
    memory_exponent = 2.0

    def __init__(self):
        pass

    @staticmethod
    def _inner():
        from rnnlearn.algorithms import TBPTT
        return TBPTT(k1=1, k2=1)

    def init(self, model, theta, optimizer=None, seed=0):
        return self._inner().init(model, theta, optimizer, seed)

    def _run(self, model, theta, state, chunk, update, flush, losses):
        return self._inner()._run(model, theta, state, chunk, update, flush, losses)


@pytest.fixture
def toy_registered():
    register(OneStep)
    try:
        yield OneStep
    finally:
        LEARNERS.pop(OneStep.name)


def test_a_new_learner_runs_through_the_sweep_and_runner(toy_registered, tmp_path):
    from rnnlearn import runner
    from rnnlearn.results import Store
    from rnnlearn.sweep import Sweep, expand
    configs = expand(Sweep(tasks=["add"], learners=["toy_one_step"], sizes=[4], seeds=1, steps=200,
                           eval_every=100))
    assert configs[0].optimizer.lr == OneStep.default_lr   # its own default, read from the class
    summary = runner.run_sweep(configs, tmp_path, progress=False, log=lambda m: None)
    assert summary.done == 1
    rows, manifest = Store(tmp_path).load()
    assert {r["label"] for r in rows} == {"toy_one_step"} and len(rows) == 3


def test_registration_refuses_an_incomplete_learner():
    class Nameless(GradientLearner):
        def __init__(self, k=1):
            self.k = k

    with pytest.raises(TypeError, match="display_name"):
        register(Nameless)
    assert "" not in LEARNERS


def test_registration_refuses_a_taken_name():
    class Impostor(OneStep):
        name = "bptt"

    with pytest.raises(TypeError, match="taken"):
        register(Impostor)
    assert LEARNERS["bptt"] is BPTT


def test_learner_cannot_train_a_model_it_does_not_support(toy_registered, monkeypatch):
    monkeypatch.setattr(OneStep, "supports", lambda self, model: "needs an Elman network"
                        if model.name != "elman" else None)
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    task = make_task("add")
    model = make_model("gru", n_in=task.n_in, n_hidden=4, n_out=task.n_out, loss=task.loss)
    with pytest.raises(ValueError, match="needs an Elman network"):
        train(model, OneStep(), task, steps=10, optimizer=optim.sgd(0.1))


@pytest.mark.parametrize("name", NAMES)
def test_state_nbytes_is_what_init_allocates(name):
    """Every registered learner knows the memory of its state before allocating it (Learner.state_nbytes,
    what rnnlearn.memory checks a run against the memory available with): exactly what init allocates, for
    every model kind at two sizes, its default and bench settings, and with an optimizer that keeps
    moments."""
    from rnnlearn.models import MODELS
    cls = LEARNERS[name]
    for params in ({}, cls.bench_params(12)):
        learner = make_learner(name, **params)
        for kind in sorted(MODELS):
            for n in (4, 8):
                model = make_model(kind, n_in=3, n_hidden=n, n_out=2)
                if learner.supports(model):
                    continue
                for opt in ((None,) if learner.own_update else (None, optim.adam(0.01))):
                    real = learner.state_bytes(learner.init(model, model.init_params(0), opt))
                    est = learner.state_nbytes(model, opt)
                    assert abs(est - real) <= 0.03 * real + 256, (name, params, kind, n, est, real)
