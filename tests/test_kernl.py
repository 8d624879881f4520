"""KeRNL (algorithms/kernl.py) against its slow references (tests/naive_local.py): the gradient estimate
equals leaky_kernl step for step for given beta and gamma, and the node-perturbation regression's loss and
gradients equal leaky_kernl_perturbation for given noise, on Elman; at beta = I, exp(-gamma) = 1 - alpha and
lr_kernel = 0 it is RFLO (the learner and the reference); with lr_kernel > 0 beta and gamma take the
regression's descent step; the noise comes from the seed; one-hot == dense; other models refused; the add
task. Chunks are shorter than the sequence."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from naive import flat  # noqa: E402
from naive_local import leaky_kernl, leaky_kernl_perturbation, leaky_rflo  # noqa: E402
from rnnlearn import optim  # noqa: E402
from rnnlearn.algorithms import KeRNL, RFLO  # noqa: E402

# ---- helpers (small problems, chunked gradients)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnlearn.models import make_model  # noqa: E402


from learner_helpers import chunked, problem, rel, train_thetas  # noqa: E402,F401


def _given(seed, n=3, T=9):
    rng = np.random.default_rng(seed + 20)
    return np.eye(n) + 0.3 * rng.normal(size=(n, n)), rng.uniform(0.2, 2.0, size=n), 0.1 * rng.normal(size=(T, n))


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_equals_the_references_step_for_step(loss):
    for seed in range(3):
        model, theta, xs, ys = problem(seed=seed, loss=loss)
        p = model.unpack(theta)
        beta, gamma, noises = _given(seed)
        _, g, st = KeRNL(lr_kernel=0.0).gradient_with_noise(model, theta, xs, ys, noises, beta, gamma, pieces=3)
        assert rel(g, flat(model, leaky_kernl(p, xs, ys, "ce" if loss == "xent" else loss, beta, gamma))) <= 1e-13
        total, gbeta, ggamma = leaky_kernl_perturbation(p, xs, beta, gamma, noises)
        assert abs(st.kacc[0] - total) <= 1e-13 * total
        assert rel(st.gbeta, gbeta) <= 1e-13 and rel(st.ggamma, ggamma) <= 1e-13
        assert np.array_equal(st.beta, beta) and np.array_equal(st.gamma, gamma)  # not learned at lr 0


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_reduces_to_rflo(alpha):
    model, theta, xs, ys = problem(seed=3, T=12)
    p = model.unpack(theta)
    noises = _given(3, T=12)[2]
    _, g, _ = KeRNL(lr_kernel=0.0, decay0=1.0 - alpha).gradient_with_noise(model, theta, xs, ys, noises, pieces=4)
    rflo, _ = chunked(RFLO(alpha=alpha, feedback="symmetric"), model, theta, xs, ys, pieces=4)
    assert rel(g, rflo) <= 1e-13
    if alpha == 1.0:
        assert rel(g, flat(model, leaky_rflo(p, xs, ys, "mse", 1.0))) <= 1e-13
    beta, gamma, _ = _given(3, T=12)
    assert rel(KeRNL(lr_kernel=0.0).gradient_with_noise(model, theta, xs, ys, noises, beta, gamma)[1], rflo) > 1e-2


def test_beta_and_gamma_take_the_regressions_descent_step():
    model, theta, xs, ys = problem(seed=1, T=1)
    p = model.unpack(theta)
    beta, gamma, noises = _given(1, T=1)
    noises = noises * 0.0 + 0.05
    lr = 0.3
    _, _, st = KeRNL(lr_kernel=lr).gradient_with_noise(model, theta, xs, ys, noises, beta, gamma)
    _, gbeta, ggamma = leaky_kernl_perturbation(p, xs, beta, gamma, noises)
    assert rel(st.beta, beta - lr * gbeta) <= 1e-14
    assert rel(st.gamma, np.maximum(gamma - lr * ggamma, 0.0)) <= 1e-14
    # over a longer sequence beta moves and gamma stays >= 0
    model, theta, xs, ys = problem(seed=1, T=400, scale=0.5)
    noise = 0.05 * np.random.default_rng(0).normal(size=(400, 3))
    learned = KeRNL(lr_kernel=0.2).gradient_with_noise(model, theta, xs, ys, noise)[2]
    assert not np.array_equal(learned.beta, np.eye(3)) and np.all(learned.gamma >= 0.0)


def test_noise_from_the_seed():
    model, theta, xs, ys = problem(seed=2)
    a = KeRNL().gradient(model, theta, xs, ys, seed=0)[1]
    b = KeRNL().gradient(model, theta, xs, ys, seed=0)[1]
    c = KeRNL().gradient(model, theta, xs, ys, seed=1)[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)  # beta, gamma learn from the noise


def test_one_hot_inputs_equal_dense_inputs():
    model, theta, _, ys = problem(m=5, T=10)
    idx = np.random.default_rng(3).integers(0, 5, size=10)
    xs = np.eye(5)[idx]
    noises = 0.1 * np.random.default_rng(4).normal(size=(10, 3))
    dense, _ = chunked(KeRNL(), model, theta, xs, ys, noises=noises)
    onehot, _ = chunked(KeRNL(), model, theta, xs, ys, x_index=idx, noises=noises)
    assert rel(onehot, dense) <= 1e-13


def test_fused_sgd_step_equals_the_generic_optimizer_path():
    model, theta, xs, ys = problem(seed=5, T=15)
    fused = train_thetas(KeRNL(), model, theta, xs, ys, optim.sgd(0.05), seed=2)
    generic = train_thetas(KeRNL(), model, theta, xs, ys, optim.chain(optim.clip_norm(1e9), optim.sgd(0.05)), seed=2)
    assert rel(fused - theta, generic - theta) <= 1e-12 and rel(fused, theta) > 1e-3


def test_other_models_refused_with_a_reason():
    for kind, kw in [("lstm", {}), ("gru", {}), ("clockwork", {"modules": 2})]:
        assert "rate RNNs" in KeRNL().supports(make_model(kind, n_in=2, n_hidden=4, n_out=2, **kw))


@pytest.mark.slow
def test_add_task_beats_the_lag_5_level():
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    task = make_task("add")
    result = train(make_model("elman", n_in=2, n_hidden=32, n_out=2, loss="xent"), KeRNL(), task,
                   steps=20_000, optimizer=optim.sgd(KeRNL.default_lr), seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done" and losses[0] > 0.6
    assert losses[-1] < 0.520, losses


# ---- the leaky network: Roth et al.'s rate units with a leak

ALPHA = 0.6


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_on_the_leaky_network_equals_the_references_step_for_step(loss):
    for seed in range(3):
        model, theta, xs, ys = problem("leaky", seed=seed, loss=loss, alpha=ALPHA)
        p = model.unpack(theta)
        beta, gamma, noises = _given(seed)
        _, g, st = KeRNL(lr_kernel=0.0).gradient_with_noise(model, theta, xs, ys, noises, beta, gamma, pieces=3)
        ref = leaky_kernl(p, xs, ys, "ce" if loss == "xent" else loss, beta, gamma, ALPHA)
        assert rel(g, flat(model, ref)) <= 1e-13
        total, gbeta, ggamma = leaky_kernl_perturbation(p, xs, beta, gamma, noises, ALPHA)
        assert abs(st.kacc[0] - total) <= 1e-13 * total
        assert rel(st.gbeta, gbeta) <= 1e-13 and rel(st.ggamma, ggamma) <= 1e-13


def test_on_the_leaky_network_reduces_to_rflo():
    """beta = I, exp(-gamma) = 1 - alpha of the network, lr_kernel = 0: RFLO with symmetric feedback and the
    network's own trace (Marschall et al. 2020's test)."""
    model, theta, xs, ys = problem("leaky", seed=3, T=12, alpha=ALPHA)
    noises = _given(3, T=12)[2]
    _, g, _ = KeRNL(lr_kernel=0.0, decay0=1.0 - ALPHA).gradient_with_noise(model, theta, xs, ys, noises, pieces=4)
    rflo, _ = chunked(RFLO(feedback="symmetric"), model, theta, xs, ys, pieces=4)
    assert rel(g, rflo) <= 1e-13
    assert rel(g, flat(model, leaky_rflo(model.unpack(theta), xs, ys, "mse", ALPHA))) <= 1e-13
    _, g_other, _ = KeRNL(lr_kernel=0.0, decay0=0.1).gradient_with_noise(model, theta, xs, ys, noises, pieces=4)
    assert rel(g_other, rflo) > 1e-2
    assert KeRNL().supports(model) is None
