"""e-prop (algorithms/eprop.py) against its slow reference (tests/naive_local.py, leaky_eprop) step for
step on Elman, for given feedback matrices; Bellec et al.'s eq. 1 as the property test: with the exact
learning signal L_t = dE/dh_t (BPTT's adjoint of the observable state) the e-prop gradient is BPTT's, on
Elman and on LSTM (hidden state c) with and without peepholes, to 1e-10; the online signal is not; random
feedback differs from symmetric; one-hot == dense; the fused plain-SGD step equals the generic path; GRU
and clockwork refused; the add task. Chunks are shorter than the sequence."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from naive import elman_bptt, elman_truncated, flat  # noqa: E402
from naive_local import leaky_eprop, leaky_learning_signals  # noqa: E402
from rnnlearn import optim  # noqa: E402
from rnnlearn.algorithms import BPTT, EProp, RFLO  # noqa: E402

# ---- helpers (small problems, chunked gradients)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnlearn.models import make_model  # noqa: E402


from learner_helpers import chunked, exact_signals, problem, rel, train_thetas  # noqa: E402,F401


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_equals_the_reference_step_for_step(loss):
    for seed in range(3):
        model, theta, xs, ys = problem(seed=seed, loss=loss)
        p = model.unpack(theta)
        ref_loss = "ce" if loss == "xent" else "mse"
        Bfb = np.random.default_rng(seed + 50).normal(size=(3, 2))
        g, _ = chunked(EProp(), model, theta, xs, ys)
        assert rel(g, flat(model, leaky_eprop(p, xs, ys, ref_loss, 1.0))) <= 1e-13
        g, _ = chunked(EProp(feedback="random"), model, theta, xs, ys, feedback_matrix=Bfb)
        assert rel(g, flat(model, leaky_eprop(p, xs, ys, ref_loss, 1.0, Bfb))) <= 1e-13
        # on Elman, symmetric e-prop is symmetric RFLO, one-step truncated BPTT
        assert rel(chunked(EProp(), model, theta, xs, ys)[0],
                   chunked(RFLO(feedback="symmetric"), model, theta, xs, ys)[0]) <= 1e-14
        if loss == "mse":
            assert rel(chunked(EProp(), model, theta, xs, ys)[0],
                       flat(model, elman_truncated(p, xs, ys, "mse", 1, 1))) <= 1e-13


def test_the_exact_signal_helper_is_the_references():
    model, theta, xs, ys = problem(seed=1)
    L = exact_signals(model, theta, xs, ys)
    assert rel(L, leaky_learning_signals(model.unpack(theta), xs, ys, "mse", 1.0)) <= 1e-13


CASES = [("elman", {}, "mse"), ("elman", {}, "xent"), ("lstm", {}, "mse"), ("lstm", {"peephole": True}, "mse"),
         ("lstm", {"peephole": True}, "xent")]


@pytest.mark.parametrize("kind,kw,loss", CASES)
def test_with_the_exact_learning_signal_it_is_bptt(kind, kw, loss):
    """Bellec et al. 2020, eq. 1: dE/dtheta = sum_t dE/dz_t [dz_t/dtheta]_local, exactly."""
    for seed in range(3):
        model, theta, xs, ys = problem(kind, seed=seed, loss=loss, T=10, scale=1.2, **kw)
        L = exact_signals(model, theta, xs, ys)
        loss_e, g = EProp().gradient_with_learning_signal(model, theta, xs, ys, L, pieces=4)
        loss_b, gb = BPTT().gradient(model, theta, xs, ys)
        assert abs(loss_e - loss_b) <= 1e-12 * abs(loss_b)
        assert rel(g, gb) <= 1e-10
        if kind == "elman":
            assert rel(g, flat(model, elman_bptt(model.unpack(theta), xs, ys, "ce" if loss == "xent" else loss))) \
                <= 1e-10
        # the online signal is an approximation; on LSTM the traces have memory (not one-step truncation)
        online = EProp().gradient(model, theta, xs, ys)[1]
        assert rel(online, gb) > 1e-3
        if kind == "lstm":
            memoryless = EProp().gradient_with_learning_signal(model, theta, xs, ys, L, resets=np.ones(10, bool))
            assert rel(memoryless[1], gb) > 1e-3


def test_random_feedback_from_the_seed_differs_from_symmetric():
    for kind in ("elman", "lstm"):
        model, theta, xs, ys = problem(kind, seed=2)
        rec = slice(0, model.n_rec)
        sym = EProp().gradient(model, theta, xs, ys)[1]
        r0 = EProp(feedback="random").gradient(model, theta, xs, ys, seed=0)[1]
        r1 = EProp(feedback="random").gradient(model, theta, xs, ys, seed=1)[1]
        assert np.array_equal(r0, EProp(feedback="random").gradient(model, theta, xs, ys, seed=0)[1])
        assert rel(r0[rec], sym[rec]) > 1e-2 and rel(r1[rec], r0[rec]) > 1e-2
        assert rel(r0[model.n_rec:], sym[model.n_rec:]) <= 1e-14


def test_one_hot_inputs_equal_dense_inputs():
    for kind, kw in [("elman", {}), ("lstm", {"peephole": True})]:
        model, theta, _, ys = problem(kind, m=5, T=10, **kw)
        idx = np.random.default_rng(3).integers(0, 5, size=10)
        xs = np.eye(5)[idx]
        dense, _ = chunked(EProp(), model, theta, xs, ys)
        onehot, _ = chunked(EProp(), model, theta, xs, ys, x_index=idx)
        assert rel(onehot, dense) <= 1e-13


def test_fused_sgd_step_equals_the_generic_optimizer_path():
    for kind, kw in [("elman", {}), ("lstm", {"peephole": True})]:
        model, theta, xs, ys = problem(kind, seed=5, T=15, **kw)
        for learner in (EProp(), EProp(feedback="random")):
            fused = train_thetas(learner, model, theta, xs, ys, optim.sgd(0.05), seed=2)
            generic = train_thetas(learner, model, theta, xs, ys,
                                   optim.chain(optim.clip_norm(1e9), optim.sgd(0.05)), seed=2)
            assert rel(fused - theta, generic - theta) <= 1e-12 and rel(fused, theta) > 1e-3


def test_gru_and_clockwork_refused_with_a_reason():
    for kind, kw in [("gru", {}), ("clockwork", {"modules": 2})]:
        model = make_model(kind, n_in=2, n_hidden=4, n_out=2, **kw)
        assert "hidden/observable" in EProp().supports(model)
    for kind in ("elman", "lstm"):
        assert EProp().supports(make_model(kind, n_in=2, n_hidden=4, n_out=2)) is None


@pytest.mark.slow
def test_add_task_beats_the_lag_5_level():
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    task = make_task("add")
    result = train(make_model("elman", n_in=2, n_hidden=32, n_out=2, loss="xent"), EProp(), task,
                   steps=20_000, optimizer=optim.sgd(EProp.default_lr), seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done" and losses[0] > 0.6
    assert losses[-1] < 0.520, losses


# ---- the leaky network: the leak is the hidden state's own Jacobian (Bellec et al.'s leaky units)

ALPHA = 0.6


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_on_the_leaky_network_equals_the_reference_and_symmetric_rflo(loss):
    for seed in range(3):
        model, theta, xs, ys = problem("leaky", seed=seed, loss=loss, T=12, alpha=ALPHA)
        p = model.unpack(theta)
        ref_loss = "ce" if loss == "xent" else "mse"
        Bfb = np.random.default_rng(seed + 50).normal(size=(3, 2))
        g, _ = chunked(EProp(), model, theta, xs, ys, pieces=4)
        assert rel(g, flat(model, leaky_eprop(p, xs, ys, ref_loss, ALPHA))) <= 1e-13
        gr, _ = chunked(EProp(feedback="random"), model, theta, xs, ys, pieces=4, feedback_matrix=Bfb)
        assert rel(gr, flat(model, leaky_eprop(p, xs, ys, ref_loss, ALPHA, Bfb))) <= 1e-13
        # for leaky rate units e-prop's trace and signal are RFLO's (Marschall et al. 2020)
        assert rel(g, chunked(RFLO(feedback="symmetric"), model, theta, xs, ys, pieces=4)[0]) <= 1e-14
        assert rel(g, chunked(EProp(), model.resized(3).__class__(2, 3, 2, loss=loss, alpha=1.0), theta, xs,
                              ys)[0]) > 1e-2  # the leak matters


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_on_the_leaky_network_with_the_exact_learning_signal_it_is_bptt(loss):
    """Bellec et al. 2020, eq. 1 on leaky units: with L_t = dE/dz_t (the observable state's total derivative,
    the leak path excluded) the e-prop gradient is BPTT's."""
    for seed in range(3):
        model, theta, xs, ys = problem("leaky", seed=seed, loss=loss, T=10, scale=1.2, alpha=ALPHA)
        L = leaky_learning_signals(model.unpack(theta), xs, ys, "ce" if loss == "xent" else loss, ALPHA)
        # dE/dz_t = dE/da_t - (1 - alpha) dE/da_{t+1}, BPTT's adjoints through the model interface
        A = exact_signals(model, theta, xs, ys)
        assert rel(L, A - (1 - ALPHA) * np.vstack([A[1:], np.zeros((1, 3))])) <= 1e-13
        loss_e, g = EProp().gradient_with_learning_signal(model, theta, xs, ys, L, pieces=4)
        loss_b, gb = BPTT().gradient(model, theta, xs, ys)
        assert abs(loss_e - loss_b) <= 1e-12 * abs(loss_b)
        assert rel(g, gb) <= 1e-10
        assert rel(EProp().gradient(model, theta, xs, ys)[1], gb) > 1e-3
        # the trace's memory matters: with BPTT's own adjoint dE/da_t (which already holds the leak path) or
        # memoryless traces it is not BPTT
        assert rel(EProp().gradient_with_learning_signal(model, theta, xs, ys, A)[1], gb) > 1e-3
        memoryless = EProp().gradient_with_learning_signal(model, theta, xs, ys, L, resets=np.ones(10, bool))
        assert rel(memoryless[1], gb) > 1e-3


def test_on_the_leaky_network_one_hot_fused_sgd_and_supported():
    model, theta, _, ys = problem("leaky", m=5, T=10, alpha=ALPHA)
    assert EProp().supports(model) is None
    idx = np.random.default_rng(3).integers(0, 5, size=10)
    xs = np.eye(5)[idx]
    dense, _ = chunked(EProp(), model, theta, xs, ys)
    assert rel(chunked(EProp(), model, theta, xs, ys, x_index=idx)[0], dense) <= 1e-13
    for learner in (EProp(), EProp(feedback="random")):
        fused = train_thetas(learner, model, theta, xs, ys, optim.sgd(0.05), seed=2)
        generic = train_thetas(learner, model, theta, xs, ys, optim.chain(optim.clip_norm(1e9), optim.sgd(0.05)),
                               seed=2)
        assert rel(fused - theta, generic - theta) <= 1e-12 and rel(fused, theta) > 1e-3


@pytest.mark.parametrize("kind", ["elstm", "lru"])
def test_eprop_on_a_diagonal_recurrence_is_rtrl(kind):
    """On the eLSTM and the LRU each unit depends on its own past only: e-prop's traces are the whole influence
    and its symmetric learning signal is RTRL's dl_t/ds_t, so its gradient is BPTT's, over chunks shorter than
    the sequence; random feedback there is refused in one line."""
    from rnnlearn.algorithms import BPTT, EProp
    from rnnlearn.models import make_model
    from rnnlearn.optim import sgd
    from rnnlearn.tasks.base import Chunk
    kw = {"d_state": 3, "r_min": 0.5, "r_max": 0.95} if kind == "lru" else {}
    model = make_model(kind, n_in=2, n_hidden=4, n_out=2, **kw)
    rng = np.random.default_rng(0)
    theta = model.init_params(1) + 0.1 * rng.normal(size=model.n_params)
    xs, ys = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    learner = EProp()
    st = learner.init(model, theta.copy(), sgd(1.0))
    for part in np.array_split(np.arange(30), 4):
        status, _ = learner._run(model, theta, st, Chunk.make(xs[part], ys[part]), False, False,
                                 np.empty(len(part)))
        assert status == 0
    _, exact = BPTT().gradient(model, theta, xs, ys)
    assert np.abs(st.gacc - exact).max() <= 1e-10 * np.abs(exact).max()
    why = EProp(feedback="random").supports(model)
    assert why and "\n" not in why


@pytest.mark.parametrize("shortcut", [False, True])
@pytest.mark.parametrize("one_hot", [False, True])
def test_elman_fast_path_equals_the_general_kernel(one_hot, shortcut):
    """Elman with plain SGD runs `_elman_sgd_chunk` (a step's row update made in the next step's forward
    pass); the general kernel on the same data, both feedbacks, dense and one-hot inputs, unscored steps and
    a reset inside a chunk after a scored step, gives the same parameters, losses and state to rounding."""
    from rnnlearn.algorithms.base import ChunkArrays
    from rnnlearn.algorithms.eprop import elman_fast_path, eprop_chunk
    from rnnlearn.tasks.base import Chunk
    model, theta, xs, ys = problem(seed=7, n=7, m=4, T=40, scale=1.3,   # n odd: the pass's last row alone
                                   shortcut=shortcut)                   # the readout's feed-through V_x too
    idx = np.random.default_rng(8).integers(0, 4, size=40)
    if one_hot:
        xs = np.eye(4)[idx]
    mask = np.ones(40)
    mask[[3, 4, 17, 31]] = 0.0
    resets = np.zeros(40, bool)
    resets[[0, 22]] = True
    for learner in (EProp(), EProp(feedback="random")):
        runs = []
        for general in (False, True):
            th = theta.copy()
            st = learner.init(model, th, optim.sgd(0.1), seed=3)
            assert elman_fast_path(model, True, st)
            losses = []
            for part in np.array_split(np.arange(40), 3):
                chunk = Chunk.make(xs[part], ys[part], mask[part], resets[part], idx[part] if one_hot else None)
                ls = np.empty(len(part))
                if general:
                    status = eprop_chunk(model.dims, model.aux, th, ChunkArrays.of(chunk), True, ls, st)[0]
                else:
                    status = learner._run(model, th, st, chunk, True, False, ls)[0]
                assert status == 0
                losses.append(ls)
            runs.append((th, np.concatenate(losses), st.s.copy()))
        (fast, lf, sf), (general, lg, sg) = runs
        assert rel(fast - theta, general - theta) <= 1e-13 and rel(fast, theta) > 1e-2
        assert rel(lf, lg) <= 1e-13 and rel(sf, sg) <= 1e-13


def test_elman_fast_path_only_for_plain_sgd_on_elman():
    from rnnlearn.algorithms.eprop import elman_fast_path
    elman, theta, xs, ys = problem(n=4)
    lstm = problem("lstm", n=4)[0]
    assert elman_fast_path(elman, True, EProp().init(elman, theta, optim.sgd(0.1)))
    assert not elman_fast_path(elman, False, EProp().init(elman, theta, optim.sgd(0.1)))
    assert not elman_fast_path(elman, True, EProp().init(elman, theta, optim.adam(0.1)))
    assert not elman_fast_path(elman, True, EProp().init(elman, theta, optim.sgd(0.1), signals=np.ones((2, 4))))
    assert not elman_fast_path(lstm, True, EProp().init(lstm, lstm.init_params(0), optim.sgd(0.1)))
