"""RTRL on a diagonal recurrence (the eLSTM): the compact influence m (cell.unit_influence_step/_grad) gives
BPTT's gradient, chunk by chunk, and the dense RTRL path's numbers; its declared cost follows the model."""
import numpy as np
import pytest

import naive
from rnnlearn import ELSTM, Elman
from rnnlearn.algorithms import BPTT, RTRL
from rnnlearn.algorithms.rtrl import RTRLState, RTRLUnitState
from rnnlearn.optim import sgd
from rnnlearn.tasks import Chunk


class DenseRTRL(RTRL):
    """RTRL forced onto its dense path (M = J M + Mbar with the model's dense kernels)."""

    def structured(self, model):
        return False


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def problem(loss="mse", T=40, m=3, n=5, o=2, seed=0, onehot=False):
    rng = np.random.default_rng(seed)
    model = ELSTM(m, n, o, loss=loss)
    theta = model.init_params(seed) + 0.3 * rng.normal(size=model.n_params)
    idx = rng.integers(0, m, size=T) if onehot else None
    xs = np.eye(m)[idx] if onehot else rng.normal(size=(T, m))
    if loss == "mse":
        ys = rng.normal(size=(T, o))
    elif loss == "sigmoid_mse":
        ys = rng.uniform(size=(T, o))
    else:
        ys = rng.dirichlet(np.ones(o), size=T)
    return model, theta, xs, ys, idx


def chunked_gradient(learner, model, theta, xs, ys, pieces, x_index=None, mask=None, resets=None):
    """The summed gradient with theta fixed, the sequence fed in `pieces` chunks (state carried across)."""
    st = learner.init(model, theta.copy(), sgd(1.0))
    T = len(xs)
    mask = np.ones(T) if mask is None else mask
    resets = np.zeros(T, dtype=bool) if resets is None else resets
    total = 0.0
    for part in np.array_split(np.arange(T), pieces):
        losses = np.empty(len(part))
        xi = None if x_index is None else x_index[part]
        status, _ = learner._run(model, theta, st, Chunk.make(xs[part], ys[part], mask=mask[part],
                                                              resets=resets[part], x_index=xi),
                                 False, False, losses)
        assert status == 0
        total += losses.sum()
    return total, st.gacc.copy(), st


def test_structured_state_is_chosen_by_the_model():
    model, theta, *_ = problem()
    assert isinstance(RTRL().init(model, theta), RTRLUnitState)
    assert isinstance(DenseRTRL().init(model, theta), RTRLState)
    elman = Elman(3, 5, 2)
    assert isinstance(RTRL().init(elman, elman.init_params(0)), RTRLState)
    assert RTRL().init(model, theta).m.shape == (model.n_unit_influence,) == (5 * (2 * 3 + 4),)


@pytest.mark.parametrize("loss", ["mse", "xent", "sigmoid_mse"])
@pytest.mark.parametrize("pieces", [1, 3, 7])
@pytest.mark.parametrize("onehot", [False, True])
def test_structured_rtrl_equals_bptt_in_chunks(loss, pieces, onehot):
    model, theta, xs, ys, idx = problem(loss, onehot=onehot, seed=pieces)
    mask = np.ones(len(xs))
    mask[[2, 9, 30]] = 0.0
    mask[5] = 2.0
    resets = np.zeros(len(xs), dtype=bool)
    resets[[0, 17]] = True
    l_b, g_b = BPTT().gradient(model, theta, xs, ys, mask=mask, resets=resets, x_index=idx)
    l_r, g_r, _ = chunked_gradient(RTRL(), model, theta, xs, ys, pieces, idx, mask, resets)
    assert l_r == pytest.approx(l_b, rel=1e-13)
    assert rel(g_r, g_b) < 1e-10


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_structured_rtrl_equals_the_dense_path(loss):
    model, theta, xs, ys, _ = problem(loss, T=30, seed=4)
    l_s, g_s, st_s = chunked_gradient(RTRL(), model, theta, xs, ys, 4)
    l_d, g_d, st_d = chunked_gradient(DenseRTRL(), model, theta, xs, ys, 4)
    assert l_s == l_d
    assert rel(g_s, g_d) < 1e-12
    # the whole influence matrix M_t, formed from m_t, is the dense path's
    M_s = RTRL().influence(model, st_s, theta)
    M_d = DenseRTRL().influence(model, st_d)
    assert np.abs(M_s - M_d).max() <= 1e-12 * np.abs(M_d).max()
    # and the dense M_t is zero outside the entries m holds and the output gate's immediate ones
    n = model.n_hidden
    p = model.unpack(np.arange(model.n_params, dtype=np.float64))
    own = lambda k, q: [int(p[f"w_{q}"][k]), int(p[f"b_{q}"][k])] + p[f"U_{q}"][k].astype(int).tolist()
    for k in range(n):
        c_cols = own(k, "z") + own(k, "f")
        h_cols = c_cols + [int(p["w_o"][k]), int(p["b_o"][k])] + p["U_o"][k].astype(int).tolist()
        assert set(np.flatnonzero(M_d[n + k])) <= set(c_cols)
        assert set(np.flatnonzero(M_d[k])) <= set(h_cols)


def test_structured_rtrl_matches_finite_differences():
    model, theta, xs, ys, _ = problem("xent", T=12, n=3)
    f = lambda th: model.sequence_loss(th, Chunk.make(xs, ys))
    _, g = RTRL().gradient(model, theta, xs, ys)
    assert rel(g, naive.finite_difference(f, theta)) < 1e-6


def test_online_training_equals_the_dense_path():
    """With updates every step the two paths take the same steps (theta changes under both alike)."""
    model, theta, xs, ys, _ = problem("mse", T=50, seed=2)
    out = []
    for learner in (RTRL(), DenseRTRL()):
        th = theta.copy()
        st = learner.init(model, th, sgd(0.05))
        losses = np.empty(len(xs))
        learner._run(model, th, st, Chunk.make(xs, ys), True, True, losses)
        out.append((th, losses))
    assert np.abs(out[0][0] - out[1][0]).max() < 1e-11
    assert np.abs(out[0][1] - out[1][1]).max() < 1e-11


def test_declared_cost_follows_the_model():
    rtrl = RTRL()
    elstm, elman = ELSTM(4, 16, 2), Elman(4, 16, 2)
    assert rtrl.model_cost_exponents(elman) == rtrl.cost_exponents() == (4.0, 3.0)
    assert rtrl.model_cost_exponents(elstm) == (1.0, 1.0)  # P_rec = 6n + 3nm, U = n (2m + 4)
    assert rtrl.bench_fits(elstm.resized(512)) and not rtrl.bench_fits(elman.resized(512))
    assert rtrl.flops_per_step(elstm) == 2.0 * (elstm.n_unit_influence + elstm.n_params)
    # the state's size: measured from init on small copies (base.py), O(n) here
    nb = rtrl.state_nbytes(elstm.resized(100))
    assert nb == rtrl.state_bytes(rtrl.init(elstm.resized(100), elstm.resized(100).init_params(0)))
    assert nb < 8 * 40 * elstm.resized(100).n_params


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_snap1_is_exact_on_the_elstm(loss):
    """SnAp-1 keeps the entries of M_t that one step can make non-zero (Menick et al. 2021); on a recurrence
    diagonal by unit those are all of them, so its own kernel gives RTRL's gradient, chunk by chunk."""
    from rnnlearn.algorithms import SnAp
    model, theta, xs, ys, _ = problem(loss, T=30, seed=5)
    _, g_snap, _ = chunked_gradient(SnAp(n=1), model, theta, xs, ys, 3)
    _, g_rtrl, _ = chunked_gradient(RTRL(), model, theta, xs, ys, 3)
    assert rel(g_snap, g_rtrl) < 1e-10
