"""Schmidhuber's fixed-size-storage algorithm (algorithms/fss.py): the exact gradient (BPTT's and RTRL's, to
1e-10) on every model for block lengths that divide the sequence and that do not, fed in chunks whose
boundaries are not the blocks'; equal to the slow reference (tests/naive_local.elman_fss); exact online at
every block's end without being told the sequence ended (the paper's claim), its carried influence matrix
RTRL's there; resets, masks and one-hot inputs; one update per block with the block's gradient."""
import numpy as np
import pytest

from naive import flat
from naive_local import elman_fss
from rnnlearn.algorithms import BPTT, FSS, RTRL
from rnnlearn.models import make_model
from rnnlearn.optim import sgd
from rnnlearn.tasks.base import Chunk

KINDS = [("elman", {}), ("lstm", {"peephole": True}), ("gru", {}), ("clockwork", {"modules": 2})]
CHUNKS = (4, 3, 6, 2, 5, 7)  # chunk lengths, cycled: their boundaries are not the blocks'


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


def _chunked(learner, model, theta, xs, ys, flush=True, mask=None, resets=None, x_index=None):
    """The learner's summed gradient with theta fixed, the sequence fed in chunks to one state (flush on the
    last one); also the state."""
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0))
    parts = _pieces(len(xs))
    for i, part in enumerate(parts):
        chunk = Chunk.make(xs[part], ys[part], None if mask is None else mask[part],
                           None if resets is None else resets[part], None if x_index is None else x_index[part])
        learner._run(model, th, st, chunk, False, flush and i == len(parts) - 1, np.empty(len(part)))
    assert np.array_equal(th, theta)
    return st.gacc.copy(), st


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("kind,kw", KINDS, ids=[k for k, _ in KINDS])
def test_equals_bptt_and_rtrl_on_every_model(kind, kw):
    model, theta, xs, ys = _problem(kind, kw)
    _, exact = BPTT().gradient(model, theta, xs, ys)
    _, rtrl = RTRL().gradient(model, theta, xs, ys)
    assert _rel(rtrl, exact) <= 1e-12
    S = model.n_state
    for block in (None, 1, 2, 5, S + 1, 40):  # 5 and S + 1 do not divide T = 17; 40 > T
        g, _ = _chunked(FSS(block=block), model, theta, xs, ys)
        assert _rel(g, exact) <= 1e-10, (block, _rel(g, exact))
        assert _rel(g, rtrl) <= 1e-10
    # the whole sequence in one call (gradient) agrees too
    assert _rel(FSS().gradient(model, theta, xs, ys)[1], exact) <= 1e-10


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_equals_the_slow_reference(loss):
    model, theta, xs, ys = _problem("elman", {}, T=13, seed=3, loss=loss)
    p = model.unpack(theta)
    for h in (1, 3, 4, 5, 13):
        want = flat(model, elman_fss(p, xs, ys, "mse" if loss == "mse" else "ce", h))
        g, _ = _chunked(FSS(block=h), model, theta, xs, ys)
        assert np.abs(g - want).max() <= 1e-12 * np.abs(want).max()


@pytest.mark.parametrize("kind,kw", KINDS, ids=[k for k, _ in KINDS])
def test_exact_online_at_every_block_end_and_the_influence_is_rtrls(kind, kw):
    """Fed step by step with no end-of-sequence flush, after each block's end the summed gradient is the
    exact gradient of the steps so far, and the carried M is RTRL's influence matrix ds_t/dtheta_rec."""
    model, theta, xs, ys = _problem(kind, kw, T=14, seed=5)
    h = 4
    learner, rtrl = FSS(block=h), RTRL()
    st = learner.init(model, theta.copy(), sgd(1.0))
    rst = rtrl.init(model, theta.copy(), sgd(1.0))
    ends = 0
    for t in range(len(xs)):
        chunk = Chunk.make(xs[t:t + 1], ys[t:t + 1])
        learner._run(model, theta, st, chunk, False, False, np.empty(1))
        rtrl._run(model, theta, rst, chunk, False, False, np.empty(1))
        if (t + 1) % h == 0:
            ends += 1
            _, exact = BPTT().gradient(model, theta, xs[:t + 1], ys[:t + 1])
            assert _rel(st.gacc, exact) <= 1e-10
            assert _rel(learner.influence(model, st), rtrl.influence(model, rst)) <= 1e-10
        elif t % h == 0 and t > 0:  # inside a block the gradient of its steps is not in yet
            _, exact = BPTT().gradient(model, theta, xs[:t + 1], ys[:t + 1])
            assert _rel(st.gacc, exact) > 1e-3
    assert ends == 3


@pytest.mark.parametrize("kind,kw", KINDS, ids=[k for k, _ in KINDS])
def test_resets_and_mask(kind, kw):
    model, theta, xs, ys = _problem(kind, kw, T=16, seed=7)
    resets = np.zeros(16, bool)
    resets[[0, 5, 6, 12]] = True   # a reset inside a block, at a block's first step (h = 6), two in a row
    mask = np.random.default_rng(1).uniform(size=16)
    mask[[2, 9]] = 0.0
    _, exact = BPTT().gradient(model, theta, xs, ys, mask=mask, resets=resets)
    for h in (3, 6, 7):
        g, _ = _chunked(FSS(block=h), model, theta, xs, ys, mask=mask, resets=resets)
        assert _rel(g, exact) <= 1e-10


def test_one_hot_inputs_equal_dense_inputs():
    model = make_model("lstm", n_in=5, n_hidden=2, n_out=2, peephole=True)
    theta = model.init_params(1)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 5, size=11)
    xs, ys = np.eye(5)[idx], rng.normal(size=(11, 2))
    for h in (3, 4):
        dense, _ = _chunked(FSS(block=h), model, theta, xs, ys)
        onehot, _ = _chunked(FSS(block=h), model, theta, xs, ys, x_index=idx)
        assert _rel(onehot, dense) <= 1e-13
        assert _rel(dense, BPTT().gradient(model, theta, xs, ys)[1]) <= 1e-10


def test_one_update_per_block_with_the_blocks_gradient():
    model, theta, xs, ys = _problem("gru", {}, T=10, seed=2)
    h, lr = 4, 0.05
    learner = FSS(block=h)
    th = theta.copy()
    st = learner.init(model, th, sgd(lr))
    learner.train(model, th, st, Chunk.make(xs[:3], ys[:3]))
    assert np.array_equal(th, theta)  # no update inside the block
    learner.train(model, th, st, Chunk.make(xs[3:6], ys[3:6]))  # the block ends at step 4
    _, g1 = BPTT().gradient(model, theta, xs[:4], ys[:4])
    assert np.abs(th - (theta - lr * g1)).max() <= 1e-13 * np.abs(theta).max()


def test_declared_cost_and_block():
    assert FSS().cost_exponents() == (3.0, 3.0) and FSS(block=8).cost_exponents() == (4.0, 3.0)
    model = make_model("lstm", n_in=2, n_hidden=3, n_out=2)
    assert FSS().block_length(model) == 6
    for bad in (0, -1, 2.5, "x"):
        with pytest.raises(ValueError, match="block"):
            FSS(block=bad).check()


@pytest.mark.slow
def test_learns_the_add_task():
    from rnnlearn import Elman
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    result = train(Elman(n_in=2, n_hidden=32, n_out=2, loss="xent"), FSS(), make_task("add"), steps=20_000,
                   optimizer=sgd(FSS.default_lr), seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done" and losses[0] > 0.6
    assert min(losses) <= 0.47, losses


def test_one_hot_training_equals_dense_training():
    """The update reaches the input weights of words seen in earlier blocks (through M), as the dense one."""
    model = make_model("elman", n_in=5, n_hidden=3, n_out=2)
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 5, size=13)
    xs, ys = np.eye(5)[idx], rng.normal(size=(13, 2))
    out = []
    for x_index in (None, idx):
        th = model.init_params(2)
        learner = FSS(block=4)
        st = learner.init(model, th, sgd(0.1))
        learner.train(model, th, st, Chunk.make(xs, ys, x_index=x_index))
        out.append(th)
    assert np.abs(out[0] - out[1]).max() <= 1e-13
