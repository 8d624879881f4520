"""Gradients: every learner against finite differences, the slow references of naive.py, and each other."""
import numpy as np
import pytest

import naive
import naive_local
from rnnlearn import ELSTM, Elman, LeakyRNN
from rnnlearn.algorithms import BPTT, RTRL, TBPTT
from rnnlearn.tasks import Chunk


#: the rate networks: Elman and the leaky network of Marschall, Cho and Savin 2020 (alpha = 1 is Elman)
KINDS = ["elman", "leaky"]
ALPHA = 0.55


def problem(loss, T=15, m=3, n=6, o=2, seed=0, kind="elman"):
    rng = np.random.default_rng(seed)
    model = {"elman": lambda: Elman(n_in=m, n_hidden=n, n_out=o, loss=loss),
             "leaky": lambda: LeakyRNN(n_in=m, n_hidden=n, n_out=o, loss=loss, alpha=ALPHA),
             "elstm": lambda: ELSTM(n_in=m, n_hidden=n, n_out=o, loss=loss)}[kind]()
    theta = model.init_params(seed) + 0.3 * rng.normal(size=model.n_params)  # break any symmetry of init
    xs = rng.normal(size=(T, m))
    if loss == "mse":
        ys = rng.normal(size=(T, o))
    elif loss == "sigmoid_mse":
        ys = rng.uniform(size=(T, o))
    else:
        ys = rng.dirichlet(np.ones(o), size=T)  # soft targets exercise the general formula
    return model, theta, xs, ys


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def reference_bptt(model, theta, xs, ys, loss, mask=None, resets=None):
    """The textbook gradient: naive.elman_bptt, or naive_local.leaky_bptt for the leaky network."""
    p = model.unpack(theta)
    if model.name == "elman":
        return naive.flat(model, naive.elman_bptt(p, xs, ys, loss, mask, resets))
    assert mask is None and resets is None
    return naive.flat(model, naive_local.leaky_bptt(p, xs, ys, "ce" if loss == "xent" else loss, model.alpha))


@pytest.mark.parametrize("kind", KINDS + ["elstm"])
@pytest.mark.parametrize("loss", ["mse", "xent", "sigmoid_mse"])
@pytest.mark.parametrize("learner", [BPTT(), RTRL()], ids=["bptt", "rtrl"])
def test_gradient_matches_finite_differences(loss, learner, kind):
    """(On the eLSTM, RTRL takes its structured path: tests/test_rtrl_structured.py.)"""
    model, theta, xs, ys = problem(loss, kind=kind)
    f = lambda th: model.sequence_loss(th, Chunk.make(xs, ys))
    loss_value, grad = learner.gradient(model, theta, xs, ys)
    assert loss_value == pytest.approx(f(theta), rel=1e-12)
    assert rel(grad, naive.finite_difference(f, theta)) < 1e-6


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_bptt_matches_textbook_reference(loss, kind):
    model, theta, xs, ys = problem(loss, kind=kind)
    _, grad = BPTT().gradient(model, theta, xs, ys)
    assert rel(grad, reference_bptt(model, theta, xs, ys, loss)) < 1e-12


@pytest.mark.parametrize("loss", ["mse", "xent", "sigmoid_mse"])
def test_rtrl_equals_bptt_on_the_elstm(loss):
    model, theta, xs, ys = problem(loss, T=30, n=5, seed=3, kind="elstm")
    _, g_bptt = BPTT().gradient(model, theta, xs, ys)
    _, g_rtrl = RTRL().gradient(model, theta, xs, ys)
    assert rel(g_rtrl, g_bptt) < 1e-10


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("seed", range(5))
def test_rtrl_equals_bptt(loss, seed, kind):
    model, theta, xs, ys = problem(loss, T=30, n=5 + seed, seed=seed, kind=kind)
    _, g_bptt = BPTT().gradient(model, theta, xs, ys)
    _, g_rtrl = RTRL().gradient(model, theta, xs, ys)
    assert rel(g_rtrl, g_bptt) < 1e-10
    if kind == "elman":
        ref = naive.flat(model, naive.elman_rtrl(model.unpack(theta), xs, ys, loss))
    else:
        ref = reference_bptt(model, theta, xs, ys, loss)
    assert rel(g_rtrl, ref) < 1e-12


def test_leaky_network_at_alpha_one_is_elman():
    """alpha = 1: the leaky network's kernels give Elman's loss and gradient (to rounding: other kernels)."""
    model, theta, xs, ys = problem("xent")
    leaky = LeakyRNN(n_in=3, n_hidden=6, n_out=2, loss="xent", alpha=1.0)
    for learner in (BPTT(), RTRL()):
        (l1, g1), (l2, g2) = learner.gradient(model, theta, xs, ys), learner.gradient(leaky, theta, xs, ys)
        assert l2 == pytest.approx(l1, rel=1e-13) and rel(g2, g1) < 1e-12
    _, g_half = BPTT().gradient(LeakyRNN(n_in=3, n_hidden=6, n_out=2, loss="xent", alpha=0.5), theta, xs, ys)
    assert rel(g_half, g1) > 1e-2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [15, 16, 40])
def test_tbptt_with_window_covering_the_sequence_is_bptt(k, kind):
    model, theta, xs, ys = problem("xent", T=15, kind=kind)
    l1, g1 = BPTT().gradient(model, theta, xs, ys)
    l2, g2 = TBPTT(k1=k, k2=k).gradient(model, theta, xs, ys)
    assert l1 == l2
    assert rel(g2, g1) < 1e-13


@pytest.mark.parametrize("k1,k2", [(1, 1), (1, 4), (3, 3), (2, 5), (4, 7), (5, 20)])
def test_tbptt_matches_williams_peng_definition(k1, k2):
    model, theta, xs, ys = problem("mse", T=17)
    _, g = TBPTT(k1=k1, k2=k2).gradient(model, theta, xs, ys)
    ref = naive.flat(model, naive.elman_truncated(model.unpack(theta), xs, ys, "mse", k1, k2))
    assert rel(g, ref) < 1e-12


def test_bptt_window_does_not_change_its_exact_gradient():
    model, theta, xs, ys = problem("mse", T=25)
    assert np.array_equal(BPTT(window=5).gradient(model, theta, xs, ys)[1],
                          BPTT(window=100).gradient(model, theta, xs, ys)[1])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("learner", [BPTT(), RTRL(), TBPTT(k1=3, k2=30)], ids=["bptt", "rtrl", "tbptt"])
def test_resets_and_mask(learner, kind):
    """A reset starts a new sequence: the gradient is the sum of the two sequences' gradients, and masked
    steps contribute nothing."""
    model, theta, xs, ys = problem("xent", T=20, kind=kind)
    mask = np.ones(20)
    mask[[0, 4, 13]] = 0.0
    mask[7] = 2.5
    resets = np.zeros(20, dtype=bool)
    resets[[0, 9]] = True
    l, g = learner.gradient(model, theta, xs, ys, mask=mask, resets=resets)
    la, ga = BPTT().gradient(model, theta, xs[:9], ys[:9], mask=mask[:9])
    lb, gb = BPTT().gradient(model, theta, xs[9:], ys[9:], mask=mask[9:])
    assert l == pytest.approx(la + lb, rel=1e-12)
    assert rel(g, ga + gb) < 1e-12
    if kind == "elman":
        assert rel(g, reference_bptt(model, theta, xs, ys, "xent", mask, resets)) < 1e-12


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("learner", [BPTT(), RTRL(), TBPTT(2, 6)], ids=["bptt", "rtrl", "tbptt"])
def test_one_hot_column_lookup_equals_dense_input(learner, kind):
    rng = np.random.default_rng(3)
    model = (Elman if kind == "elman" else lambda **kw: LeakyRNN(**kw, alpha=ALPHA))(n_in=5, n_hidden=4, n_out=3,
                                                                                   loss="xent")
    theta = model.init_params(1)
    idx = rng.integers(0, 5, size=12)
    xs = np.eye(5)[idx]
    ys = np.eye(3)[rng.integers(0, 3, size=12)]
    dense = learner.gradient(model, theta, xs, ys)
    lookup = learner.gradient(model, theta, xs, ys, x_index=idx)
    assert dense[0] == pytest.approx(lookup[0], rel=1e-14)
    assert rel(lookup[1], dense[1]) < 1e-14


def test_online_rtrl_step_matches_reference_update():
    """RTRL's online training: after each step, theta moves by -lr times the gradient of that step's loss,
    computed with M carried from the earlier (changing) parameters. Checked against a plain loop."""
    from rnnlearn import optim
    model, theta, xs, ys = problem("mse", T=6, n=4)
    lr = 0.05
    th = theta.copy()
    learner = RTRL()
    state = learner.init(model, th, optim.sgd(lr))
    learner.train(model, th, state, Chunk.make(xs, ys))
    # reference: dense M, updated with the parameters of each step
    ref = theta.copy()
    p = model.unpack(ref)
    n, m = 4, 3
    P = n * n + n * m + n
    M = np.zeros((n, P))
    h = np.zeros(n)
    for x, y in zip(xs, ys):
        hn = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        d = 1 - hn ** 2
        Mbar = np.zeros((n, P))
        for i in range(n):
            Mbar[i, i * n:(i + 1) * n] = d[i] * h
            Mbar[i, n * n + i * m:n * n + (i + 1) * m] = d[i] * x
            Mbar[i, n * n + n * m + i] = d[i]
        M = (d[:, None] * p["W"]) @ M + Mbar
        h = hn
        _, dy = naive.step_loss(p["V"] @ h + p["c"], y, "mse")
        grad = np.concatenate([(p["V"].T @ dy) @ M, np.outer(dy, h).ravel(), dy])
        ref -= lr * grad
    assert np.abs(th - ref).max() < 1e-13


def test_training_in_chunks_equals_one_chunk():
    """The learners carry everything across chunk boundaries: 3 chunks give the parameters of one."""
    from rnnlearn import optim
    model, theta, xs, ys = problem("xent", T=30)
    for learner in (BPTT(window=7), TBPTT(3, 8), RTRL()):
        a, b = theta.copy(), theta.copy()
        sa = learner.init(model, a, optim.adam(0.01))
        sb = learner.init(model, b, optim.adam(0.01))
        la = learner.train(model, a, sa, Chunk.make(xs, ys))
        lb = np.concatenate([learner.train(model, b, sb, Chunk.make(xs[i:j], ys[i:j]))
                             for i, j in ((0, 11), (11, 12), (12, 30))])
        # Equal to rounding: the outputs of a window are one matrix product, and BLAS may round a row
        # differently when the product has a different number of rows (a chunk boundary splits a window).
        assert np.abs(a - b).max() < 1e-14, learner
        assert np.abs(la - lb).max() < 1e-14, learner


@pytest.mark.parametrize("learner", [BPTT(batch=3), TBPTT(k1=4, k2=6, batch=3)], ids=["bptt", "tbptt"])
def test_minibatch_gradient_is_the_mean_of_the_sequences(learner):
    rng = np.random.default_rng(7)
    model = Elman(n_in=3, n_hidden=5, n_out=2, loss="mse")
    theta = model.init_params(2)
    xs, ys = rng.normal(size=(3, 13, 3)), rng.normal(size=(3, 13, 2))
    single = type(learner)(**{**learner.params(), "batch": 1})
    parts = [single.gradient(model, theta, xs[b], ys[b]) for b in range(3)]
    loss, grad = learner.gradient(model, theta, xs, ys)
    assert loss == pytest.approx(sum(p[0] for p in parts), rel=1e-13)
    assert rel(grad, np.mean([p[1] for p in parts], axis=0)) < 1e-13


def test_minibatch_training_makes_one_update_per_window_with_the_mean_gradient():
    """Batch training on B sequences equals B batch-1 learners run in gradient mode window by window,
    whose mean window gradient is applied by hand (plain SGD) before the next window."""
    from rnnlearn import optim
    rng = np.random.default_rng(8)
    model = Elman(n_in=2, n_hidden=4, n_out=2, loss="xent")
    theta = model.init_params(0)
    xs = rng.normal(size=(4, 12, 2))
    ys = rng.dirichlet(np.ones(2), size=(4, 12))
    th = theta.copy()
    learner = TBPTT(k1=4, k2=6, batch=4)
    losses = learner.train(model, th, learner.init(model, th, optim.sgd(0.1)), Chunk.make(xs, ys))
    assert losses.shape == (4, 12)

    ref = theta.copy()
    single = TBPTT(k1=4, k2=6)
    states = [single.init(model, ref, optim.sgd(0.1)) for _ in range(4)]
    ref_losses = np.zeros((4, 12))
    for w in range(3):
        grads = []
        for b, st in enumerate(states):
            st.gacc[:] = 0.0
            part = Chunk.make(xs[b, 4 * w:4 * w + 4], ys[b, 4 * w:4 * w + 4])
            single._run(model, ref, st, part, False, False, ref_losses[b, 4 * w:4 * w + 4])
            grads.append(st.gacc.copy())
        ref -= 0.1 * np.mean(grads, axis=0)
    assert np.abs(th - ref).max() < 1e-14
    assert np.abs(losses - ref_losses).max() < 1e-14


@pytest.mark.parametrize("learner", [BPTT(), RTRL(), TBPTT(2, 4)], ids=["bptt", "rtrl", "tbptt"])
def test_wrong_shapes_are_refused_before_the_kernels_run(learner):
    """The kernels do not check bounds; the learners check every chunk's shapes first."""
    from rnnlearn import optim
    model = Elman(n_in=3, n_hidden=4, n_out=2)
    theta = model.init_params(0)
    with pytest.raises(ValueError, match="targets"):
        learner.gradient(model, theta, np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="inputs"):
        learner.gradient(model, theta, np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="x_index"):
        learner.gradient(model, theta, np.zeros((5, 3)), np.zeros((5, 2)), x_index=np.full(5, 3))
    state = learner.init(model, theta, optim.sgd(0.1))
    with pytest.raises(ValueError, match="targets"):
        learner.train(model, theta, state, Chunk.make(np.zeros((5, 3)), np.zeros((5, 1))))


@pytest.mark.parametrize("inputs", ["dense", "one-hot"])
@pytest.mark.parametrize("clip", [None, 0.3], ids=["sgd", "clip+sgd"])
def test_sgd_training_is_the_window_gradient_applied_by_hand(inputs, clip):
    """Training with SGD takes shortcuts the gradient does not: the readout is stepped by one product
    accumulating into V, and with one-hot inputs only the input columns of the words seen are touched. The
    result must be what the plain rule gives: theta -= lr * (clipped) window gradient, window by window."""
    from rnnlearn import optim
    rng = np.random.default_rng(11)
    m, T, k = 9, 12, 4
    model = Elman(n_in=m, n_hidden=5, n_out=m, loss="xent")
    theta = model.init_params(0)
    words = rng.integers(0, m, size=T + 1)
    xs, ys = np.eye(m)[words[:-1]], np.eye(m)[words[1:]]
    x_index = words[:-1] if inputs == "one-hot" else None
    opt = optim.sgd(0.5) if clip is None else optim.chain(optim.clip_norm(clip), optim.sgd(0.5))
    th = theta.copy()
    learner = TBPTT(k1=k, k2=2 * k)
    learner.train(model, th, learner.init(model, th, opt), Chunk.make(xs, ys, x_index=x_index))

    ref = theta.copy()
    st = learner.init(model, ref, optim.sgd(1.0))
    for w in range(T // k):
        st.gacc[:] = 0.0
        part = Chunk.make(xs[k * w:k * w + k], ys[k * w:k * w + k],
                          x_index=None if x_index is None else x_index[k * w:k * w + k])
        learner._run(model, ref, st, part, False, False, np.zeros(k))
        g = st.gacc.copy()
        if clip is not None and np.linalg.norm(g) > clip:
            g *= clip / np.linalg.norm(g)
        ref -= 0.5 * g
    assert np.abs(th - ref).max() < 1e-14


# --- gradient keeps its state between calls ------------------------------------------------------------------

def _fresh(learner):
    return type(learner)(**learner.params())


@pytest.mark.parametrize("learner", [BPTT(), RTRL(), TBPTT(2, 5), TBPTT(3, 4, batch=2)],
                         ids=["bptt", "rtrl", "tbptt", "tbptt-batch"])
def test_gradient_called_again_gives_identical_results(learner):
    """gradient reuses the state of its last call (reset in place): the same call again, and again after calls
    on another model, another sequence length, one-hot inputs and sequence starts, gives the same numbers,
    bit for bit, as a fresh learner."""
    from rnnlearn import LSTM
    B = learner.batch_size
    lead = (B,) if B > 1 else ()
    model, theta, _, _ = problem("xent", n=5)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 3, size=lead + (12,))
    xs, ys = np.eye(3)[idx], rng.dirichlet(np.ones(2), size=lead + (12,))
    resets = np.zeros(lead + (12,), dtype=bool)
    resets[..., 7] = True
    calls = [dict(), dict(x_index=idx), dict(resets=resets), dict(x_index=idx, resets=resets)]
    want = [_fresh(learner).gradient(model, theta, xs, ys, **kw) for kw in calls]
    lstm = LSTM(3, 4, 2, loss="xent")
    for _ in range(2):
        for kw, (loss, grad) in zip(calls, want):
            got = learner.gradient(model, theta, xs, ys, **kw)
            assert got[0] == loss and np.array_equal(got[1], grad)
            again = learner.gradient(model, theta, xs, ys, **kw)
            assert again[0] == loss and np.array_equal(again[1], grad)
            got[1][:] = 0.0  # the returned gradient is the caller's: the next call's is not written into it
        learner.gradient(lstm, lstm.init_params(0), xs[..., :9, :], ys[..., :9, :])  # other model and length
        learner.gradient(model, theta, xs[..., :9, :], ys[..., :9, :])  # same model, other length


def test_the_cached_state_does_not_leak_between_learners_or_models():
    """Two learners keep their own states; a model of the same sizes but other aux (clock periods) or other
    hyperparameters set on the learner after a call get a state of their own; theta is not written."""
    from rnnlearn import ClockworkRNN
    model, theta, xs, ys = problem("mse", n=6)
    a, b = TBPTT(2, 4), TBPTT(3, 6)
    want_a, want_b = _fresh(a).gradient(model, theta, xs, ys), _fresh(b).gradient(model, theta, xs, ys)
    before = theta.copy()
    for _ in range(2):
        for learner, want in ((a, want_a), (b, want_b)):
            loss, grad = learner.gradient(model, theta, xs, ys)
            assert loss == want[0] and np.array_equal(grad, want[1])
    assert np.array_equal(theta, before)
    a.k1 = 3
    a.k2 = 6
    loss, grad = a.gradient(model, theta, xs, ys)
    assert loss == want_b[0] and np.array_equal(grad, want_b[1])

    c1 = ClockworkRNN(3, 6, 2, modules=3)
    c2 = ClockworkRNN(3, 6, 2, modules=3, periods=[1, 3, 5])
    assert c1.dims == c2.dims and not np.array_equal(c1.aux, c2.aux)
    th = c1.init_params(1)
    learner = RTRL()
    w1, w2 = RTRL().gradient(c1, th, xs, ys), RTRL().gradient(c2, th, xs, ys)
    assert not np.array_equal(w1[1], w2[1])
    for model_, want in ((c1, w1), (c2, w2), (c1, w1)):
        loss, grad = learner.gradient(model_, th, xs, ys)
        assert loss == want[0] and np.array_equal(grad, want[1])


def test_a_learner_pickles_without_its_cached_state():
    import pickle
    model, theta, xs, ys = problem("mse")
    for learner in (BPTT(window=7), TBPTT(2, 4), RTRL()):
        want = learner.gradient(model, theta, xs, ys)
        copy = pickle.loads(pickle.dumps(learner))
        assert not [k for k in vars(copy) if k.startswith("_")] and copy.params() == learner.params()
        assert np.array_equal(copy.gradient(model, theta, xs, ys)[1], want[1])
