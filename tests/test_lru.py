"""The linear recurrent unit (Orvieto et al. 2023; rnnlearn/models/lru.py): its kernels against the complex128
numpy reference of naive_models.py, BPTT against finite differences for every loss, the per-unit RTRL
kernels (unit_influence_step / unit_influence_grad) against BPTT and finite differences, the ring
initialisation, and which learners train it."""
import functools

import numpy as np
import pytest

import naive
import naive_models
from rnnlearn import LRU, optim
from rnnlearn.algorithms import BPTT, LEARNERS, RTRL, TBPTT
from rnnlearn.algorithms.ekf import EKF
from rnnlearn.models import MODELS, cell
from rnnlearn.models.layout import LOSSES
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.tasks import Chunk

M_IN, N_Y, N_C, O_OUT = 3, 4, 5, 2


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@functools.lru_cache(maxsize=None)
def problem(loss, T=15, onehot=False, seed=0, d_state=N_C):
    rng = np.random.default_rng(seed)
    model = LRU(M_IN, N_Y, O_OUT, loss=loss, d_state=d_state, r_min=0.5, r_max=0.95)
    theta = model.init_params(seed) + 0.1 * rng.normal(size=model.n_params)
    if onehot:
        idx = rng.integers(0, M_IN, size=T)
        xs = np.eye(M_IN)[idx]
    else:
        idx = None
        xs = rng.normal(size=(T, M_IN))
    if loss == "mse":
        ys = rng.normal(size=(T, O_OUT))
    elif loss == "sigmoid_mse":
        ys = rng.uniform(size=(T, O_OUT))
    else:
        ys = rng.dirichlet(np.ones(O_OUT), size=T)
    return model, theta, xs, ys, idx


def test_model_layout_and_config():
    model = LRU(M_IN, N_Y, O_OUT, d_state=N_C)
    assert MODELS["lru"] is LRU and LRU(**model.config()) == model
    assert model.n_state == N_Y + 2 * N_C and model.n_delta == 2 * N_C + N_Y
    assert model.n_params == 3 * N_C + 2 * N_Y * N_C + (2 * N_C + N_Y) * M_IN + O_OUT * N_Y + O_OUT
    d = model.dims
    assert d.oU == model.offset("B_re") and d.ob == d.oX == d.prec == model.offset("V")  # no biases
    assert model.diagonal_recurrence and not model.has_row_form
    assert model.n_unit_influence == 2 * N_C * (3 + M_IN)
    assert LRU(M_IN, 7, O_OUT).n_units == 7 and LRU(M_IN, 7, O_OUT).resized(9).n_units == 9
    for kw, word in (({"d_state": 0}, "d_state"), ({"r_min": 0.9, "r_max": 0.5}, "r_min"),
                     ({"r_max": 1.5}, "r_max"), ({"max_phase": 0.0}, "max_phase"), ({"r_min": "a"}, "r_min")):
        with pytest.raises(ValueError, match=word):
            LRU(M_IN, N_Y, O_OUT, **kw)


def test_ring_initialisation():
    """Lemma 3.2 of Orvieto et al.: |lambda| uniform in area on the ring r_min..r_max (|lambda|^2 uniform on
    [r_min^2, r_max^2]), phases uniform on [0, max_phase], and gamma = sqrt(1 - |lambda|^2) (sec. 3.4)."""
    model = LRU(2, 3, 1, d_state=20000, r_min=0.4, r_max=0.9, max_phase=np.pi / 10)
    theta = model.init_params(0)
    lam = model.eigenvalues(theta)
    r2 = np.abs(lam) ** 2
    assert r2.min() >= 0.4 ** 2 - 1e-12 and r2.max() <= 0.9 ** 2 + 1e-12
    assert abs(np.mean(r2) - (0.4 ** 2 + 0.9 ** 2) / 2) < 0.005
    phase = np.angle(lam)
    assert phase.min() >= 0 and phase.max() <= np.pi / 10 + 1e-12
    assert abs(np.mean(phase) - np.pi / 20) < 0.003
    p = model.unpack(theta)
    assert np.allclose(np.exp(p["g"]), np.sqrt(1 - r2), rtol=1e-12)
    assert abs(np.var(p["B_re"]) - 1 / 4) < 0.01 and abs(np.var(p["C_im"]) - 1 / 20000) < 1e-5


@pytest.mark.parametrize("onehot", [False, True])
def test_forward_matches_complex128_reference(onehot):
    model, theta, xs, _, idx = problem("mse", T=20, onehot=onehot)
    resets = np.zeros(20, dtype=bool)
    resets[[0, 11]] = True
    chunk = Chunk.make(xs, np.zeros((20, O_OUT)), resets=resets, x_index=idx)
    states, yhat = model.forward(theta, chunk)
    ref_states, ref_yhat = naive_models.forward(model, theta, xs, resets)
    assert np.abs(states - ref_states).max() < 1e-13
    assert np.abs(yhat - ref_yhat).max() < 1e-13


@pytest.mark.parametrize("onehot", [False, True])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_bptt_matches_finite_differences(loss, onehot):
    model, theta, xs, ys, idx = problem(loss, onehot=onehot)
    f = lambda th: model.sequence_loss(th, Chunk.make(xs, ys))  # noqa: E731 (forward: checked above)
    value, grad = BPTT().gradient(model, theta, xs, ys, x_index=idx)
    assert value == pytest.approx(f(theta), rel=1e-12)
    assert rel(grad, naive.finite_difference(f, theta)) < 1e-6
    # truncated BPTT: a covering window is BPTT, its projected inputs included (dense windows of > 1 step)
    value2, grad2 = TBPTT(k1=15, k2=15).gradient(model, theta, xs, ys, x_index=idx)
    assert value2 == value and rel(grad2, grad) < 1e-13


def test_cached_lambda_is_keyed_by_nu_and_phi():
    """The step caches lambda with the (nu, phi) it came from; a Jacobian taken at other parameters (truncated
    BPTT's ring holds steps of older theta) recomputes it: the same numbers as from a cache written at them."""
    model, theta, xs, _, _ = problem("mse", seed=5)
    dims, aux, S, N = model.dims, model.aux, model.n_state, N_C
    rng = np.random.default_rng(1)
    s_prev = rng.normal(size=S)
    theta2 = theta.copy()
    theta2[model.offset("nu"):model.offset("nu") + N] += 0.1
    theta2[model.offset("phi") + 2] -= 0.2
    caches, outs = [], []
    for th in (theta, theta2):
        s, cache = np.empty(S), np.zeros(model.n_cache)
        cell.step(dims, aux, th, s_prev, xs[0], -1, 0, s, cache)
        caches.append(cache)
    assert np.array_equal(caches[0][:2 * N], caches[1][:2 * N])  # u = B x: nu, phi not involved ...
    assert not np.array_equal(caches[0][4 * N:6 * N], caches[1][4 * N:6 * N])  # ... lambda differs
    ds = rng.normal(size=S)
    for cache in caches:  # kernels at theta2: from its own cache and from the stale one
        delta, dsp, J, v, d = np.zeros(model.n_delta), np.zeros(S), np.zeros((S, S)), np.zeros(S), np.zeros(S)
        cell.vjp_state(dims, aux, theta2, s_prev, xs[0], -1, 0, s, cache, ds, delta, dsp)
        cell.jac_state(dims, aux, theta2, s_prev, xs[0], -1, 0, s, cache, J)
        cell.jvp_state(dims, aux, theta2, s_prev, xs[0], -1, 0, s, cache, ds, v)
        cell.jac_state_diag(dims, aux, theta2, s_prev, xs[0], -1, 0, s, cache, d)
        outs.append((delta, dsp, J, v, d))
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
    assert np.allclose(outs[0][2] @ ds, outs[0][3], rtol=0, atol=1e-14)


# --- exact RTRL per unit ------------------------------------------------------------------------------------

def rtrl_gradient(model, theta, xs, ys, idx=None, mask=None, resets=None, chunks=(None,)):
    """RTRL over the sequence in plain Python, from the model's kernels: step, unit_influence_step, then
    g += dl_t/ds_t M_t by unit_influence_grad (the readout's share by readout_vjp). The compact influence m and
    the state are carried across chunk boundaries (`chunks`: the cut points) as an online learner would."""
    T = len(xs)
    dims, aux = model.dims, model.aux
    S, P = model.n_state, model.n_params
    s = np.zeros(S)
    m = np.zeros(model.n_unit_influence)
    cache = np.zeros(model.n_cache)
    g = np.zeros(P)
    ds = np.zeros(S)
    yhat, dy = np.zeros(model.n_out), np.zeros(model.n_out)
    total = 0.0
    mask = np.ones(T) if mask is None else mask
    cuts = [0] + [c for c in chunks if c is not None] + [T]
    for lo, hi in zip(cuts, cuts[1:]):
        for t in range(lo, hi):
            if resets is not None and resets[t]:
                s[:] = 0.0
                m[:] = 0.0
            xi = -1 if idx is None else int(idx[t])
            s_new = np.empty(S)
            cell.step(dims, aux, theta, s, xs[t], xi, t, s_new, cache)
            cell.unit_influence_step(dims, aux, theta, s, xs[t], xi, t, s_new, cache, m)
            readout(dims[:], theta, s_new, xs[t], xi, yhat)
            total += loss_grad(dims.loss, yhat, ys[t], mask[t], dy)
            ds[:] = 0.0
            readout_vjp(dims[:], theta, s_new, xs[t], xi, dy, g, ds)
            cell.unit_influence_grad(dims, aux, theta, s, xs[t], xi, t, s_new, cache, m, ds, g)
            s = s_new
    return total, g


@pytest.mark.parametrize("onehot", [False, True])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_unit_influence_rtrl_equals_bptt(loss, onehot):
    model, theta, xs, ys, idx = problem(loss, T=30, onehot=onehot, seed=1)
    l1, g1 = BPTT().gradient(model, theta, xs, ys, x_index=idx)
    l2, g2 = rtrl_gradient(model, theta, xs, ys, idx, chunks=(7, 19))
    assert l2 == pytest.approx(l1, rel=1e-13)
    assert rel(g2, g1) < 1e-10


def test_unit_influence_rtrl_matches_finite_differences_with_resets_and_mask():
    model, theta, xs, ys, _ = problem("xent", T=20, seed=2, d_state=3)
    mask = np.ones(20)
    mask[[0, 5, 13]] = 0.0
    mask[8] = 2.5
    resets = np.zeros(20, dtype=bool)
    resets[[0, 9]] = True
    f = lambda th: naive_models.sequence_loss(model, th, xs, ys, mask, resets)  # noqa: E731
    _, g = rtrl_gradient(model, theta, xs, ys, mask=mask, resets=resets, chunks=(4,))
    assert rel(g, naive.finite_difference(f, theta)) < 1e-6
    _, gb = BPTT().gradient(model, theta, xs, ys, mask=mask, resets=resets)
    assert rel(g, gb) < 1e-10


@pytest.mark.parametrize("onehot", [False, True])
def test_unit_influence_is_the_influence_matrix(onehot):
    """m_t holds exactly the non-zero entries of M_t = dh_t/dtheta for each unit's own parameters (nu, phi, g,
    B_re, B_im; B_im's as i times B_re's), checked against finite differences of the whole forward pass; every
    other entry of dh_t/dtheta (another unit's parameters, C, D) is zero."""
    model, theta, xs, _, idx = problem("mse", T=12, onehot=onehot, seed=3)
    n, N, m_in = N_Y, N_C, M_IN
    dims, aux = model.dims, model.aux
    s = np.zeros(model.n_state)
    m = np.zeros(model.n_unit_influence)
    cache = np.zeros(model.n_cache)
    for t in range(12):
        xi = -1 if idx is None else int(idx[t])
        s_new = np.empty(model.n_state)
        cell.step(dims, aux, theta, s, xs[t], xi, t, s_new, cache)
        cell.unit_influence_step(dims, aux, theta, s, xs[t], xi, t, s_new, cache, m)
        s = s_new

    def h_last(th):
        states, _ = model.forward(th, Chunk.make(xs, np.zeros((12, O_OUT)), x_index=idx))
        return states[-1, n:n + N] + 1j * states[-1, n + N:]

    def fd(q, eps=1e-6):
        tp, tm = theta.copy(), theta.copy()
        tp[q] += eps
        tm[q] -= eps
        return (h_last(tp) - h_last(tm)) / (2 * eps)

    w = 3 + m_in
    mc = m[:N * w].reshape(N, w) + 1j * m[N * w:].reshape(N, w)
    off = {name: model.offset(name) for name in ("nu", "phi", "g", "B_re", "B_im", "C_re", "D")}
    for k in range(N):
        for q, col in ((off["nu"] + k, 0), (off["phi"] + k, 1), (off["g"] + k, 2)):
            d = fd(q)
            assert abs(d[k] - mc[k, col]) < 1e-7 * max(1.0, abs(d[k]))
            assert np.abs(np.delete(d, k)).max() == 0.0
        for j in range(m_in):
            d = fd(off["B_re"] + k * m_in + j)
            assert abs(d[k] - mc[k, 3 + j]) < 1e-7
            d = fd(off["B_im"] + k * m_in + j)
            assert abs(d[k] - 1j * mc[k, 3 + j]) < 1e-7
    assert not fd(off["C_re"] + 1).any() and not fd(off["D"] + 2).any()


def test_unit_influence_grad_accumulates():
    """unit_influence_grad adds into g[:P_rec] (the caller zeroes it) and leaves the readout's entries alone."""
    model, theta, xs, _, _ = problem("mse", seed=4)
    dims, aux = model.dims, model.aux
    rng = np.random.default_rng(0)
    s_prev = rng.normal(size=model.n_state)
    s = np.empty(model.n_state)
    cache = np.zeros(model.n_cache)
    m = rng.normal(size=model.n_unit_influence)
    cell.step(dims, aux, theta, s_prev, xs[0], -1, 0, s, cache)
    ds = rng.normal(size=model.n_state)
    g0 = np.zeros(model.n_params)
    cell.unit_influence_grad(dims, aux, theta, s_prev, xs[0], -1, 0, s, cache, m, ds, g0)
    g1 = np.full(model.n_params, 0.5)
    cell.unit_influence_grad(dims, aux, theta, s_prev, xs[0], -1, 0, s, cache, m, ds, g1)
    assert np.allclose(g1 - 0.5, g0, rtol=0, atol=1e-15) and not g0[model.n_rec:].any()


# --- learners ------------------------------------------------------------------------------------------------

def test_learners_that_need_the_row_form_refuse_it_in_one_line():
    model = LRU(1, 4, 1)
    needs = {"kf_rtrl", "rkf_rtrl", "rflo", "kernl"}
    for name in needs:
        why = LEARNERS[name]().supports(model)
        assert why and "\n" not in why, name
    for name in ("bptt", "tbptt", "rtrl", "snap", "eprop", "uoro", "dni", "fss"):  # RTRL, SnAp, e-prop: m
        assert LEARNERS[name]().supports(model) is None, name
    assert EKF().supports(model) is None  # jacobian="rtrl": the compact influence too
    assert EKF(jacobian="tbptt").supports(model) is None
    why = EKF(decoupling="node", jacobian="tbptt").supports(model)
    assert why and "\n" not in why
    with pytest.raises(ValueError, match="cannot train a lru network"):
        LEARNERS["kf_rtrl"]().check_model(model)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_rtrl_learner_equals_bptt_over_chunks(loss):
    """The RTRL learner on the LRU (its compact-influence path) gives BPTT's gradient over chunks shorter than
    the sequence, and the EKF's jacobian="rtrl" gives the covering truncated BPTT's H_t."""
    from rnnlearn.algorithms import RTRL
    from rnnlearn.algorithms.rtrl import RTRLUnitState
    model, theta, xs, ys, idx = problem(loss, T=30, seed=2)
    st = RTRL().init(model, theta.copy(), optim.sgd(1.0))
    assert isinstance(st, RTRLUnitState)
    total = 0.0
    for part in np.array_split(np.arange(30), 4):
        losses = np.empty(len(part))
        status, _ = RTRL()._run(model, theta, st, Chunk.make(xs[part], ys[part]), False, False, losses)
        assert status == 0
        total += losses.sum()
    l1, g1 = BPTT().gradient(model, theta, xs, ys)
    assert total == pytest.approx(l1, rel=1e-13)
    assert rel(st.gacc, g1) < 1e-10
    from rnnlearn.algorithms import SnAp
    for n in (1, 2):  # exact on a diagonal recurrence: the same kernel
        _, g_snap = SnAp(n=n).gradient(model, theta, xs, ys)
        assert rel(g_snap, g1) < 1e-10
    H = EKF(jacobian="rtrl").jacobians(model, theta, xs)
    np.testing.assert_allclose(H, EKF(jacobian="tbptt", h=30).jacobians(model, theta, xs), rtol=0, atol=1e-12)


def test_ekf_with_truncated_bptt_jacobian_is_the_backpropagated_output_jacobian():
    """The EKF's H_t = d y_hat_t / d theta by truncated BPTT over a window covering the sequence: each row is
    BPTT's gradient of that output alone."""
    model, theta, xs, _, _ = problem("mse", T=8, seed=5)
    H = EKF(jacobian="tbptt", h=8).jacobians(model, theta, xs)
    assert H.shape == (8, O_OUT, model.n_params)
    for t in (0, 3, 7):
        for k in range(O_OUT):
            f = lambda th: model.forward(th, xs)[1][t, k]  # noqa: E731
            assert rel(H[t, k], naive.finite_difference(f, theta)) < 1e-6


@pytest.mark.slow
def test_lru_learns_a_delay_with_bptt_rtrl_and_the_ekf():
    """y_t = x_{t-3}: the LRU learns a three-step delay online with BPTT, RTRL (its compact influence) and the
    EKF (H by TBPTT)."""
    from rnnlearn.train import train
    from rnnlearn.tasks import Stream, Task

    class Delay(Task):
        name, loss, n_in, n_out = "delay3", "mse", 1, 1

        def stream(self, seed):
            return _DelayStream(np.random.default_rng(seed))

        def test_set(self, seed, length=300):
            return _DelayStream(np.random.default_rng(10_000 + seed)).next(length)

    class _DelayStream(Stream):
        def __init__(self, rng):
            self.rng, self.last = rng, np.zeros(3)

        def next(self, T):
            x = np.concatenate([self.last, self.rng.normal(size=T)])
            self.last = x[-3:]
            return Chunk.make(x[3:, None], x[:-3, None])

    model = LRU(1, 8, 1, r_min=0.5, r_max=0.99)
    for learner, opt, steps in ((BPTT(window=10), optim.adam(0.01), 2000), (RTRL(), optim.adam(0.01), 2000),
                                (EKF(jacobian="tbptt", h=10, r=1.0), None, 1000)):
        result = train(model, learner, Delay(), steps=steps, optimizer=opt, seed=0, eval_every=steps)
        first, last = result.records[0]["test_loss"], result.records[-1]["test_loss"]
        assert result.status == "done" and last < 0.5 * first, (learner, first, last)
