"""RFLO (algorithms/rflo.py) against its slow reference (tests/naive_local.py, leaky_rflo) step for step, for
given feedback matrices, on Elman; symmetric RFLO at alpha = 1 is one-step truncated BPTT (and not BPTT);
the trace's leak alpha < 1 against the reference's trace over Elman's states; random feedback drawn from the
seed and different from symmetric; one-hot inputs equal dense ones; the fused plain-SGD step equals the
generic optimizer path; and the add task. Chunks are shorter than the sequence."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from naive import elman_bptt, elman_truncated, flat  # noqa: E402
from naive_local import leaky_forward, leaky_rflo  # noqa: E402
from rnnlearn import optim  # noqa: E402
from rnnlearn.algorithms import RFLO  # noqa: E402

# ---- helpers (small problems, chunked gradients)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnlearn.models import make_model  # noqa: E402


from learner_helpers import chunked, problem, rel, train_thetas  # noqa: E402,F401


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_equals_the_reference_step_for_step(loss):
    for seed in range(3):
        model, theta, xs, ys = problem(seed=seed, loss=loss)
        p = model.unpack(theta)
        ref_loss = "ce" if loss == "xent" else "mse"
        Bfb = np.random.default_rng(seed + 50).normal(size=(3, 2))
        g, _ = chunked(RFLO(feedback="symmetric"), model, theta, xs, ys)
        assert rel(g, flat(model, leaky_rflo(p, xs, ys, ref_loss, 1.0))) <= 1e-13
        g, _ = chunked(RFLO(feedback="random"), model, theta, xs, ys, feedback_matrix=Bfb)
        assert rel(g, flat(model, leaky_rflo(p, xs, ys, ref_loss, 1.0, Bfb))) <= 1e-13


def test_symmetric_at_alpha_one_is_one_step_truncated_bptt_and_not_bptt():
    for seed in range(3):
        model, theta, xs, ys = problem(seed=seed)
        p = model.unpack(theta)
        g, _ = chunked(RFLO(feedback="symmetric"), model, theta, xs, ys)
        assert rel(g, flat(model, elman_truncated(p, xs, ys, "mse", 1, 1))) <= 1e-13
        assert rel(g, flat(model, elman_bptt(p, xs, ys, "mse"))) > 1e-2


def _leaky_trace_reference(p, xs, ys, alpha, Bfb):
    """leaky_rflo's trace and signal over the Elman network's own states (it has no leak):
    B_t = (1 - alpha) B_{t-1} + d_t a_hat_t^T, g = sum_t (Bfb e_t) * B_t; the readout's gradient exact."""
    a, ahat, d = leaky_forward(p, xs, 1.0)
    exact = leaky_rflo(p, xs, ys, "mse", 1.0)
    B = np.zeros((len(p["b"]), ahat.shape[1]))
    G = np.zeros_like(B)
    for t in range(len(xs)):
        e = p["V"] @ a[t] + p["c"] - ys[t]
        B = (1 - alpha) * B + np.outer(d[t], ahat[t])
        G += (Bfb @ e)[:, None] * B
    n, m = p["U"].shape
    return {"W": G[:, :n], "U": G[:, n:n + m], "b": G[:, n + m], "V": exact["V"], "c": exact["c"]}


@pytest.mark.parametrize("alpha", [0.7, 0.2])
def test_the_trace_leak_is_the_references(alpha):
    model, theta, xs, ys = problem(seed=4, T=12)
    p = model.unpack(theta)
    Bfb = np.random.default_rng(1).normal(size=(3, 2))
    g, _ = chunked(RFLO(alpha=alpha, feedback="symmetric"), model, theta, xs, ys, pieces=4)
    assert rel(g, flat(model, _leaky_trace_reference(p, xs, ys, alpha, p["V"].T))) <= 1e-13
    g2, _ = chunked(RFLO(alpha=alpha), model, theta, xs, ys, pieces=4, feedback_matrix=Bfb)
    assert rel(g2, flat(model, _leaky_trace_reference(p, xs, ys, alpha, Bfb))) <= 1e-13
    assert rel(g, chunked(RFLO(feedback="symmetric"), model, theta, xs, ys)[0]) > 1e-2  # the leak matters


def test_random_feedback_from_the_seed_differs_from_symmetric():
    model, theta, xs, ys = problem(seed=2)
    rec = slice(0, model.n_rec)
    sym = RFLO(feedback="symmetric").gradient(model, theta, xs, ys)[1]
    r0 = RFLO().gradient(model, theta, xs, ys, seed=0)[1]
    r0b = RFLO().gradient(model, theta, xs, ys, seed=0)[1]
    r1 = RFLO().gradient(model, theta, xs, ys, seed=1)[1]
    assert np.array_equal(r0, r0b)
    assert rel(r0[rec], sym[rec]) > 1e-2 and rel(r1[rec], r0[rec]) > 1e-2
    assert rel(r0[model.n_rec:], sym[model.n_rec:]) <= 1e-14  # the readout's gradient is exact in both
    st = RFLO().init(model, theta.copy(), seed=3)
    assert st.Bfb.shape == (3, 2) and np.array_equal(st.Bfb, RFLO().init(model, theta.copy(), seed=3).Bfb)


def test_one_hot_inputs_equal_dense_inputs():
    model, theta, _, ys = problem(m=5, T=10)
    idx = np.random.default_rng(3).integers(0, 5, size=10)
    xs = np.eye(5)[idx]
    for learner in (RFLO(feedback="symmetric"), RFLO(alpha=0.5, feedback="symmetric")):
        dense, _ = chunked(learner, model, theta, xs, ys)
        onehot, _ = chunked(learner, model, theta, xs, ys, x_index=idx)
        assert rel(onehot, dense) <= 1e-13


def test_fused_sgd_step_equals_the_generic_optimizer_path():
    model, theta, xs, ys = problem(seed=5, T=15)
    for learner in (RFLO(), RFLO(alpha=0.6)):
        fused = train_thetas(learner, model, theta, xs, ys, optim.sgd(0.05), seed=2)
        generic = train_thetas(learner, model, theta, xs, ys, optim.chain(optim.clip_norm(1e9), optim.sgd(0.05)),
                               seed=2)
        assert rel(fused - theta, generic - theta) <= 1e-12 and rel(fused, theta) > 1e-3


def test_gated_and_clocked_models_refused_with_a_reason():
    for kind, kw in [("lstm", {}), ("gru", {}), ("clockwork", {"modules": 2})]:
        model = make_model(kind, n_in=2, n_hidden=4, n_out=2, **kw)
        assert "rate units" in RFLO().supports(model)
        with pytest.raises(ValueError, match="cannot train"):
            RFLO().gradient(model, model.init_params(0), np.zeros((3, 2)), np.zeros((3, 2)))
    assert RFLO().supports(make_model("elman", n_in=2, n_hidden=4, n_out=2)) is None


@pytest.mark.slow
def test_add_task_beats_the_lag_5_level():
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    task = make_task("add")
    result = train(make_model("elman", n_in=2, n_hidden=32, n_out=2, loss="xent"), RFLO(), task,
                   steps=20_000, optimizer=optim.sgd(RFLO.default_lr), seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done" and losses[0] > 0.6
    assert losses[-1] < 0.520, losses


# ---- the leaky network (Murray 2019's units; Marschall et al. 2020's leaky RNN): the trace's leak is the model's

ALPHA = 0.6


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_on_the_leaky_network_equals_the_reference_step_for_step(loss):
    """B_t = (1 - alpha) B_{t-1} + alpha f'(z_t) a_hat_t^T with the network's own alpha (Murray's trace)."""
    for seed in range(3):
        model, theta, xs, ys = problem("leaky", seed=seed, loss=loss, T=12, alpha=ALPHA)
        p = model.unpack(theta)
        ref_loss = "ce" if loss == "xent" else "mse"
        Bfb = np.random.default_rng(seed + 50).normal(size=(3, 2))
        g, st = chunked(RFLO(feedback="symmetric"), model, theta, xs, ys, pieces=4)
        assert st.lam == pytest.approx(1.0 - ALPHA, abs=1e-15)
        assert rel(g, flat(model, leaky_rflo(p, xs, ys, ref_loss, ALPHA))) <= 1e-13
        g, _ = chunked(RFLO(feedback="random"), model, theta, xs, ys, pieces=4, feedback_matrix=Bfb)
        assert rel(g, flat(model, leaky_rflo(p, xs, ys, ref_loss, ALPHA, Bfb))) <= 1e-13
        # the model's alpha given explicitly is the same learner; another alpha is not
        assert rel(chunked(RFLO(alpha=ALPHA, feedback="random"), model, theta, xs, ys, feedback_matrix=Bfb)[0],
                   g) <= 1e-15
        assert rel(chunked(RFLO(alpha=1.0, feedback="random"), model, theta, xs, ys, feedback_matrix=Bfb)[0],
                   g) > 1e-2


def test_leaky_network_at_alpha_one_is_elman_and_symmetric_rflo_is_one_step_truncated_bptt():
    model, theta, xs, ys = problem(seed=1)
    leaky = make_model("leaky", n_in=2, n_hidden=3, n_out=2, alpha=1.0)
    for learner in (RFLO(feedback="symmetric"), RFLO(alpha=0.5, feedback="symmetric")):
        assert rel(chunked(learner, leaky, theta, xs, ys)[0], chunked(learner, model, theta, xs, ys)[0]) <= 1e-13
    g = chunked(RFLO(feedback="symmetric"), leaky, theta, xs, ys)[0]
    assert rel(g, flat(model, elman_truncated(model.unpack(theta), xs, ys, "mse", 1, 1))) <= 1e-13


def test_on_the_leaky_network_one_hot_and_fused_sgd():
    model, theta, _, ys = problem("leaky", m=5, T=10, alpha=ALPHA)
    idx = np.random.default_rng(3).integers(0, 5, size=10)
    xs = np.eye(5)[idx]
    dense, _ = chunked(RFLO(feedback="symmetric"), model, theta, xs, ys)
    assert rel(chunked(RFLO(feedback="symmetric"), model, theta, xs, ys, x_index=idx)[0], dense) <= 1e-13
    fused = train_thetas(RFLO(), model, theta, xs, ys, optim.sgd(0.05), seed=2)
    generic = train_thetas(RFLO(), model, theta, xs, ys, optim.chain(optim.clip_norm(1e9), optim.sgd(0.05)), seed=2)
    assert rel(fused - theta, generic - theta) <= 1e-12 and rel(fused, theta) > 1e-3


def test_leaky_network_supported_and_alpha_checked():
    assert RFLO().supports(make_model("leaky", n_in=2, n_hidden=4, n_out=2, alpha=0.3)) is None
    for bad in (0.0, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="alpha"):
            RFLO(alpha=bad).check()
