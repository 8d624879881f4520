"""SnAp-n (algorithms/snap.py; Menick et al. 2021) against RTRL, BPTT and its slow reference
(tests/naive_kf.py elman_snap): the full pattern is RTRL; SnAp-1 is RTRL where the recurrence is diagonal and
differs from it on a dense net; SnAp-1 equals the numpy reference step for step; a sparse mask is the dense
RTRL recursion with the mask applied, on every model kind; the compact SnAp-1 kernel equals the general masked
kernel; the structural pattern covers every non-zero of J_t. Sequences are fed in chunks shorter than the
sequence (an approximation given a whole sequence in one call can agree with BPTT for the wrong reason)."""
import numpy as np
import pytest

from naive import flat
from naive_kf import elman_snap, snap_mask as naive_snap_mask
from rnnlearn.algorithms import BPTT, RTRL
from rnnlearn.algorithms.snap import SnAp, snap_mask, state_pattern
from rnnlearn.models import cell, make_model
from rnnlearn.models.immediate import add_factored_immediate
from rnnlearn.optim import sgd
from rnnlearn.tasks.base import Chunk

KINDS = [("elman", {}), ("lstm", {"peephole": True}), ("gru", {}), ("clockwork", {"modules": 2})]


def _problem(kind, kw, n=4, m=3, o=2, T=9, seed=0):
    model = make_model(kind, n_in=m, n_hidden=n, n_out=o, **kw)
    theta = model.init_params(seed)
    theta += 0.3 * np.random.default_rng(seed + 1).normal(size=theta.shape)  # peepholes, biases non-zero
    rng = np.random.default_rng(seed + 10)
    return model, theta, rng.normal(size=(T, m)), rng.normal(size=(T, o))


def _chunked(learner, model, theta, xs, ys, pieces, x_index=None, **init_kw):
    """(summed gradient with theta fixed, the dense influence estimate after each chunk), the sequence fed in
    `pieces` chunks to one state."""
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0), **init_kw)
    infl = []
    for part in np.array_split(np.arange(len(xs)), pieces):
        xi = None if x_index is None else x_index[part]
        chunk = Chunk.make(xs[part], ys[part], x_index=xi)
        learner._run(model, th, st, chunk, False, False, np.empty(len(part)))
        infl.append(learner.influence(model, st))
    assert np.array_equal(th, theta)
    return st.gacc.copy(), infl


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("kind,kw", KINDS)
def test_saturated_pattern_equals_rtrl_and_bptt(kind, kw):
    model, theta, xs, ys = _problem(kind, kw)
    _, exact = BPTT().gradient(model, theta, xs, ys)
    _, rtrl = RTRL().gradient(model, theta, xs, ys)
    for n in (2, 3):
        g, _ = _chunked(SnAp(n=n), model, theta, xs, ys, pieces=4)
        assert _rel(g, exact) <= 1e-10 and _rel(g, rtrl) <= 1e-10
    if kind != "clockwork":   # a dense recurrence: SnAp-2 keeps every entry
        assert SnAp(n=2).mask(model).all()
    else:                     # block-upper-triangular: SnAp-2 drops only entries that are exactly zero
        assert not SnAp(n=2).mask(model).all()


def test_reference_mask_saturates_and_sparse_reach_is_exact_at_its_diameter():
    """A ring of 6 units (h_{k-1} feeds h_k): SnAp-n keeps reach n-1, saturates at n = 6 and is then RTRL."""
    model, theta, xs, ys = _problem("elman", {}, n=6, T=10)
    ring = np.eye(6, dtype=bool) | np.roll(np.eye(6, dtype=bool), 1, axis=1)
    W = theta[:36].reshape(6, 6)
    W[~ring] = 0.0
    _, exact = BPTT().gradient(model, theta, xs, ys)
    for n in (2, 4, 6):
        g, _ = _chunked(SnAp(n=n), model, theta, xs, ys, pieces=3, unit_pattern=ring)
        mask = SnAp(n=n).mask(model, unit_pattern=ring)
        assert mask.all() == (n == 6)
        assert (_rel(g, exact) <= 1e-10) == (n == 6)


def test_snap1_equals_rtrl_on_a_diagonal_recurrence():
    """Elman with W's off-diagonal entries set to 0. The model's structure is still dense: SnAp-1's kept rows
    (a unit's own) do not depend on the pattern, and with a diagonal W RTRL's influence matrix has no other
    non-zeros, so no pattern hyperparameter is needed; pattern="diagonal" gives SnAp-n the same mask."""
    model, theta, xs, ys = _problem("elman", {}, n=5)
    W = theta[:25].reshape(5, 5)
    W[~np.eye(5, dtype=bool)] = 0.0
    _, exact = BPTT().gradient(model, theta, xs, ys)
    g1, infl = _chunked(SnAp(n=1), model, theta, xs, ys, pieces=3)
    assert _rel(g1, exact) <= 1e-10
    gd, _ = _chunked(SnAp(n=3, pattern="diagonal"), model, theta, xs, ys, pieces=3)
    assert _rel(gd, exact) <= 1e-10
    assert np.array_equal(SnAp(n=3, pattern="diagonal").mask(model), SnAp(n=1).mask(model))
    rtrl = RTRL()
    st = rtrl.init(model, theta.copy(), sgd(1.0))
    rtrl._run(model, theta.copy(), st, Chunk.make(xs, ys), False, False, np.empty(len(xs)))
    M = rtrl.influence(model, st)
    assert not np.any(M[~SnAp(n=1).mask(model)]) and np.max(np.abs(infl[-1] - M)) <= 1e-12 * np.abs(M).max()


@pytest.mark.parametrize("kind,kw", KINDS)
def test_snap1_on_a_dense_net_differs_from_rtrl(kind, kw):
    model, theta, xs, ys = _problem(kind, kw)
    _, exact = BPTT().gradient(model, theta, xs, ys)
    g, _ = _chunked(SnAp(n=1), model, theta, xs, ys, pieces=3)
    assert _rel(g, exact) > 1e-2


def test_snap1_equals_the_numpy_reference_step_for_step():
    model, theta, xs, ys = _problem("elman", {}, n=4, T=8)
    p = model.unpack(theta)
    learner = SnAp(n=1)
    assert np.array_equal(learner.mask(model), naive_snap_mask(p, 1))
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0))
    for t in range(len(xs)):   # one step per chunk: the summed gradient after every step
        learner._run(model, th, st, Chunk.make(xs[t:t + 1], ys[t:t + 1]), False, False, np.empty(1))
        want, _ = elman_snap(p, xs[:t + 1], ys[:t + 1], "mse", 1)
        assert _rel(st.gacc, flat(model, want)) <= 1e-12


@pytest.mark.parametrize("n", [2, 3])
def test_sparse_snap_equals_the_numpy_reference(n):
    """A random sparse W (the pattern its non-zeros) through the masked kernel and through elman_snap."""
    model, theta, xs, ys = _problem("elman", {}, n=7, T=8)
    rng = np.random.default_rng(4)
    C = rng.random((7, 7)) < 0.2
    W = theta[:49].reshape(7, 7)
    W[~C] = 0.0
    p = model.unpack(theta)
    want, mask = elman_snap(p, xs, ys, "mse", n, pattern=C)
    assert np.array_equal(SnAp(n=n).mask(model, unit_pattern=C), mask) and not mask.all()
    g, _ = _chunked(SnAp(n=n), model, theta, xs, ys, pieces=3, unit_pattern=C)
    assert _rel(g, flat(model, want)) <= 1e-12


def _masked_rtrl(model, theta, xs, mask):
    """The dense RTRL recursion M_t = (J_t M_{t-1} + Mbar_t) * mask, from the model's kernels."""
    S = model.n_state
    s, M = np.zeros(S), np.zeros((S, model.n_rec))
    cache, J = np.zeros(max(model.n_cache, 1)), np.zeros((S, S))
    out = []
    for t, x in enumerate(xs):
        s_new = np.zeros(S)
        cell.step(model.dims, model.aux, theta, s, x, -1, t, s_new, cache)
        cell.jac_state(model.dims, model.aux, theta, s, x, -1, t, s_new, cache, J)
        Mn = J @ M
        add_factored_immediate(model.dims, model.aux, theta, s, x, -1, t, s_new, cache, Mn)
        M = Mn * mask
        s = s_new
        out.append(M)
    return out


@pytest.mark.parametrize("kind,kw", KINDS)
@pytest.mark.parametrize("n,pattern", [(1, "dense"), (2, "diagonal"), (2, "ring")])
def test_kept_entries_follow_the_masked_rtrl_recursion(kind, kw, n, pattern):
    """Every model kind, step for step: the learner's influence estimate is the dense RTRL recursion with the
    mask applied (SnAp-1 through the compact kernel; n = 2 on a sparse pattern through the masked one)."""
    model, theta, xs, ys = _problem(kind, kw, T=6)
    up = np.eye(4, dtype=bool) | np.roll(np.eye(4, dtype=bool), 1, axis=1) if pattern == "ring" else None
    learner = SnAp(n=n, pattern="diagonal" if pattern == "diagonal" else "dense")
    mask = learner.mask(model, unit_pattern=up)
    assert not mask.all()
    ref = _masked_rtrl(model, theta, xs, mask)
    _, infl = _chunked(learner, model, theta, xs, ys, pieces=len(xs), unit_pattern=up)
    for got, want in zip(infl, ref):
        assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want))


@pytest.mark.parametrize("kind,kw", KINDS)
def test_compact_snap1_equals_the_masked_kernel(kind, kw):
    model, theta, xs, ys = _problem(kind, kw)
    g1, _ = _chunked(SnAp(n=1), model, theta, xs, ys, pieces=4)
    gm, _ = _chunked(SnAp(n=1), model, theta, xs, ys, pieces=4, masked=True)
    assert _rel(g1, gm) <= 1e-12


@pytest.mark.parametrize("kind,kw", KINDS)
def test_structural_pattern_covers_the_state_jacobian(kind, kw):
    """pattern(J) from the row form contains every non-zero of J_t (random theta, every clock phase), and
    for the dense models it is full; clockwork's is block-upper-triangular."""
    model, theta, xs, _ = _problem(kind, kw, T=4)
    pat = state_pattern(model)
    S = model.n_state
    s, cache, J = np.zeros(S), np.zeros(max(model.n_cache, 1)), np.zeros((S, S))
    for t, x in enumerate(xs):
        s_new = np.zeros(S)
        cell.step(model.dims, model.aux, theta, s, x, -1, t, s_new, cache)
        cell.jac_state(model.dims, model.aux, theta, s, x, -1, t, s_new, cache, J)
        assert not np.any((J != 0) & ~pat)
        s = s_new
    if kind == "lstm":  # c_l feeds only unit l
        assert pat[:, :4].all() and np.array_equal(pat[:, 4:], np.vstack([np.eye(4), np.eye(4)]).astype(bool))
    elif kind == "clockwork":
        assert np.array_equal(pat, np.kron(np.triu(np.ones((2, 2))), np.ones((2, 2))).astype(bool))
    else:
        assert pat.all()
    assert np.array_equal(snap_mask(model, 1).sum(axis=0), np.full(model.n_rec, S // 4))


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("kind", ["elman", "lstm"])
def test_one_hot_inputs_equal_dense_inputs(kind, n):
    model = make_model(kind, n_in=5, n_hidden=3, n_out=2)
    theta = model.init_params(1)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 5, size=8)
    xs, ys = np.eye(5)[idx], rng.normal(size=(8, 2))
    dense, _ = _chunked(SnAp(n=n), model, theta, xs, ys, pieces=3)
    onehot, _ = _chunked(SnAp(n=n), model, theta, xs, ys, pieces=3, x_index=idx)
    assert _rel(onehot, dense) <= 1e-13


@pytest.mark.parametrize("n", [1, 2])
def test_resets_and_mask_match_bptt_semantics(n):
    """With a reset and masked steps, SnAp-2 is still BPTT's gradient and SnAp-1 restarts its influence."""
    model, theta, xs, ys = _problem("gru", {}, T=10)
    resets = np.zeros(10, bool)
    resets[5] = True
    mask = np.ones(10)
    mask[[0, 3, 7]] = 0.0
    _, exact = BPTT().gradient(model, theta, xs, ys, mask=mask, resets=resets)
    _, g = SnAp(n=n).gradient(model, theta, xs, ys, mask=mask, resets=resets)
    if n == 2:
        assert _rel(g, exact) <= 1e-10
    else:   # two independent pieces: the sum of each piece's SnAp-1 gradient
        _, a = SnAp(n=1).gradient(model, theta, xs[:5], ys[:5], mask=mask[:5])
        _, b = SnAp(n=1).gradient(model, theta, xs[5:], ys[5:], mask=mask[5:])
        assert _rel(g, a + b) <= 1e-12


def test_cost_declarations_follow_n():
    assert SnAp(n=1).cost_exponents() == (2.0, 2.0) and SnAp(n=1).max_n() is None
    assert SnAp(n=2).cost_exponents() == (4.0, 3.0) and SnAp(n=2).max_n() == 128
    model = make_model("elman", n_in=4, n_hidden=8, n_out=2)
    assert SnAp(n=2).flops_per_step(model) == 2.0 * 64 * model.n_rec + 2.0 * 8 * model.n_rec
    big = make_model("clockwork", n_in=4, n_hidden=8, n_out=2, modules=4)
    assert SnAp(n=2).flops_per_step(big) < 0.6 * (2.0 * 64 * big.n_rec)   # it costs what the pattern keeps
    with pytest.raises(ValueError, match="n"):
        SnAp(n=0).check()
    with pytest.raises(ValueError, match="pattern"):
        SnAp(pattern="sparse").check()


@pytest.mark.slow
def test_snap1_learns_the_add_task():
    from rnnlearn.models import Elman
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    task = make_task("add")
    result = train(Elman(n_in=2, n_hidden=32, n_out=2, loss="xent"), SnAp(n=1), task, steps=20_000,
                   optimizer=sgd(SnAp.default_lr), seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done"
    assert losses[0] > 0.6 and losses[-1] < 0.52, losses
