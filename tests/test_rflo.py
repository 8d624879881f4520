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

from rnnlearn.models import cell, make_model  # noqa: E402
from rnnlearn.models.losses import loss_grad  # noqa: E402
from rnnlearn.models.readout import readout, readout_vjp  # noqa: E402
from rnnlearn.optim import sgd  # noqa: E402
from rnnlearn.tasks.base import Chunk  # noqa: E402


def problem(kind="elman", seed=0, n=3, m=2, o=2, T=9, loss="mse", scale=1.5, **kw):
    model = make_model(kind, n_in=m, n_hidden=n, n_out=o, loss=loss, **kw)
    theta = model.init_params(seed) * scale
    rng = np.random.default_rng(seed + 10)
    xs = rng.normal(size=(T, m))
    ys = rng.normal(size=(T, o)) if loss == "mse" else np.eye(o)[rng.integers(0, o, size=T)]
    return model, theta, xs, ys


def chunked(learner, model, theta, xs, ys, pieces=3, x_index=None, **init_kw):
    """The learner's summed gradient estimate with theta fixed, the sequence in `pieces` chunks."""
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0), **init_kw)
    for part in np.array_split(np.arange(len(xs)), pieces):
        xi = None if x_index is None else x_index[part]
        status, _ = learner._run(model, th, st, Chunk.make(xs[part], ys[part], x_index=xi), False, False,
                                 np.empty(len(part)))
        assert status == 0
    assert np.array_equal(th, theta)
    return st.gacc.copy(), st


def exact_signals(model, theta, xs, ys):
    """L (T, n): L[t] = dE/dh_t, the h rows of BPTT's adjoint of s_t (readout at t and every later step)."""
    T, S, n = len(xs), model.n_state, model.n_hidden
    sp, ss, cc = np.zeros((T, S)), np.zeros((T, S)), np.zeros((T, max(model.n_cache, 1)))
    s = np.zeros(S)
    for t in range(T):
        sp[t] = s
        cell.step(model.dims, model.aux, theta, sp[t], xs[t], -1, t, ss[t], cc[t])
        s = ss[t]
    L, carry = np.zeros((T, n)), np.zeros(S)
    for t in reversed(range(T)):
        yh, dy = np.zeros(model.n_out), np.zeros(model.n_out)
        readout(model.dims[:], theta, ss[t], yh)
        loss_grad(model.dims[4], yh, ys[t], 1.0, dy)
        ds = carry.copy()
        readout_vjp(model.dims[:], theta, ss[t], dy, np.zeros(model.n_params), ds)
        L[t] = ds[:n]
        carry = np.zeros(S)
        cell.vjp_state(model.dims, model.aux, theta, sp[t], xs[t], -1, t, ss[t], cc[t], ds,
                       np.zeros(model.n_delta), carry)
    return L


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def train_thetas(learner, model, theta, xs, ys, opt, pieces=3, **init_kw):
    """theta after training online on the sequence (in chunks) with optimizer opt."""
    th = theta.copy()
    st = learner.init(model, th, opt, **init_kw)
    for part in np.array_split(np.arange(len(xs)), pieces):
        status, _ = learner._run(model, th, st, Chunk.make(xs[part], ys[part]), True, False, np.empty(len(part)))
        assert status == 0
    return th


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
