"""The extended Kalman filter learners: exact equalities (decoupled with one group == global; readout-only
GEKF == recursive least squares; one stream == the recorded single-stream filter; B identical streams == one
stream with B times less noise), H_t against finite differences, a covariance that stays symmetric positive
definite, divergence recorded not raised, and learning on the add task. The square-root form: test_ekf_sqrt.py."""
import numpy as np
import pytest

import naive
from rnnlearn import Elman
from rnnlearn.algorithms import EKF, Diverged, LEARNERS, make_learner
from rnnlearn.algorithms.ekf import node_groups
from rnnlearn.models.losses import softmax
from rnnlearn.tasks import Chunk, make_task
from rnnlearn.train import train


def problem(loss, T=200, m=3, n=5, o=2, seed=0):
    rng = np.random.default_rng(seed)
    model = Elman(n_in=m, n_hidden=n, n_out=o, loss=loss)
    theta = model.init_params(seed) + 0.3 * rng.normal(size=model.n_params)
    xs = rng.normal(size=(T, m))
    # a teacher network's outputs: random targets make the weights grow chaotic, and then any two summation
    # orders part exponentially fast (random soft targets: 1e-16 to 1e-10 over 200 steps)
    teacher = model.forward(model.init_params(seed + 1), xs)[1]
    if loss == "mse":
        ys = teacher + 0.1 * rng.normal(size=(T, o))
    elif loss == "sigmoid_mse":
        ys = 1.0 / (1.0 + np.exp(-teacher))
    else:
        ys = softmax(teacher)
    return model, theta, xs, ys


def trajectory(learner, model, theta, xs, ys, **chunk_kw):
    """Parameters after each step (one kernel call per step), and the final state."""
    theta = theta.copy()
    state = learner.init(model, theta)
    out = []
    for t in range(len(xs)):
        kw = {k: v[t:t + 1] for k, v in chunk_kw.items()}
        learner.train(model, theta, state, Chunk.make(xs[t:t + 1], ys[t:t + 1], **kw))
        out.append(theta.copy())
    return np.array(out), state


def test_node_groups_of_elman():
    model = Elman(3, 4, 2)
    p = model.unpack(np.arange(model.n_params, dtype=np.float64))
    groups = node_groups(model)
    assert len(groups) == 4 + 2
    for i in range(4):
        assert sorted(groups[i]) == sorted([*p["W"][i], *p["U"][i], p["b"][i]])
    for k in range(2):
        assert sorted(groups[4 + k]) == sorted([*p["V"][k], p["c"][k]])
    assert sorted(np.concatenate(groups)) == list(range(model.n_params))


@pytest.mark.parametrize("jacobian", ["rtrl", "tbptt"])
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_decoupled_with_one_group_is_global(loss, jacobian):
    """DEKF whose single group holds every parameter (in node order, so the arithmetic differs) follows
    GEKF's trajectory; with the node groups it does not."""
    model, theta, xs, ys = problem(loss)
    one = [np.concatenate(node_groups(model))]
    kw = dict(jacobian=jacobian, h=7, q=1e-3)
    a, _ = trajectory(EKF(decoupling="global", **kw), model, theta, xs, ys)
    b, _ = trajectory(EKF(decoupling=one, **kw), model, theta, xs, ys)
    assert np.abs(a - b).max() < 1e-10
    c, _ = trajectory(EKF(decoupling="node", **kw), model, theta, xs, ys)
    assert np.abs(a - c).max() > 1e-3


def rls(Phi, Y, p0, r):
    """Recursive least squares with forgetting factor 1 (Haykin, Adaptive Filter Theory, table 9.1, with
    P_0 = p0 I and measurement variance r), one weight vector per output, all sharing the regressor phi_t:
    k = P phi / (r + phi^T P phi);  w_j += k (y_j - phi^T w_j);  P -= k phi^T P."""
    d, o = Phi.shape[1], Y.shape[1]
    P = p0 * np.eye(d)
    w = np.zeros((o, d))
    out = []
    for phi, y in zip(Phi, Y):
        Pphi = P @ phi
        k = Pphi / (r + phi @ Pphi)
        w += np.outer(y - w @ phi, k)
        P -= np.outer(k, Pphi)
        out.append(w.copy())
    return np.array(out)


@pytest.mark.parametrize("decoupling", ["global", "node"])
def test_readout_only_ekf_is_recursive_least_squares(decoupling):
    """With the recurrent weights fixed, y_hat = V h + c is linear in the trained weights, and the EKF with
    "mse", Q = 0 is exactly RLS on the regressors [h_t, 1]."""
    model, theta, xs, ys = problem("mse", T=150)
    p = model.unpack(theta)
    p["V"][:] = 0.0
    p["c"][:] = 0.0
    h, _ = model.forward(theta, xs)
    ref = rls(np.hstack([h, np.ones((len(h), 1))]), ys, p0=3.0, r=0.5)
    traj, _ = trajectory(EKF(decoupling=decoupling, trainable="readout", p0=3.0, r=0.5, q=0.0),
                         model, theta, xs, ys)
    got = np.stack([np.hstack([model.unpack(th)["V"], model.unpack(th)["c"][:, None]]) for th in traj])
    assert np.abs(got - ref).max() < 1e-10
    assert np.array_equal(traj[:, :model.n_rec], np.broadcast_to(theta[:model.n_rec], traj[:, :model.n_rec].shape))


def measurements(model, theta, xs, resets):
    _, yhat = model.forward(theta, Chunk.make(xs, np.zeros((len(xs), model.n_out)), resets=resets))
    if model.loss == "sigmoid_mse":
        return 1.0 / (1.0 + np.exp(-yhat))
    return softmax(yhat) if model.loss == "xent" else yhat


@pytest.mark.parametrize("jacobian", ["rtrl", "tbptt"])
@pytest.mark.parametrize("loss", ["mse", "xent", "sigmoid_mse"])
def test_measurement_jacobian_matches_finite_differences(loss, jacobian):
    model, theta, xs, ys = problem(loss, T=12, n=4)
    resets = np.zeros(12, dtype=bool)
    resets[[0, 7]] = True
    H = EKF(jacobian=jacobian, h=12).jacobians(model, theta, xs, ys, resets=resets)
    fd = np.stack([naive.finite_difference(lambda th: measurements(model, th, xs, resets)[t, k], theta)
                   for t in range(12) for k in range(model.n_out)]).reshape(H.shape)
    assert np.abs(H - fd).max() < 1e-7 * np.abs(fd).max()
    if jacobian == "tbptt":  # a window shorter than the sequence truncates: a different H
        Hs = EKF(jacobian=jacobian, h=2).jacobians(model, theta, xs, ys, resets=resets)
        assert np.abs(Hs - fd).max() > 1e-3


class KeepState(EKF):
    """EKF that keeps the last state it made (test hook: train() does not return the learner's state)."""

    def init(self, model, theta, optimizer=None, seed=0):
        self.state = super().init(model, theta, optimizer, seed)
        return self.state


@pytest.mark.slow
@pytest.mark.parametrize("config", [{}, {"decoupling": "node", "jacobian": "tbptt", "r": 10.0, "r_decay": 0.9995, "r_min": 1.0},
                                    {"joseph": True}],
                         ids=["global", "node-tbptt", "joseph"])
def test_covariance_stays_symmetric_positive_definite(config):
    model = Elman(2, 8, 2, loss="xent")
    learner = KeepState(**config)
    steps = 100_000 if not config else 30_000
    result = train(model, learner, make_task("add"), steps=steps, seed=1, eval_every=steps)
    assert result.status == "done", result.reason
    assert result.final_test_loss < 0.5
    for _, P in learner.covariance(model, learner.state):
        assert np.array_equal(P, P.T)  # exactly: the update is P -= B B^T
        assert np.linalg.eigvalsh(P).min() > 0


def test_joseph_form_follows_the_standard_form():
    model, theta, xs, ys = problem("xent")
    a, _ = trajectory(EKF(), model, theta, xs, ys)
    b, _ = trajectory(EKF(joseph=True), model, theta, xs, ys)
    assert np.abs(a - b).max() < 1e-9


def test_mask_zero_makes_no_update_and_weights_scale_r():
    model, theta, xs, ys = problem("mse", T=30)
    traj, _ = trajectory(EKF(), model, theta, xs, ys, mask=np.zeros(30))
    assert np.array_equal(traj[-1], theta)
    mask = np.ones(30)
    mask[::3] = 0.0
    a, _ = trajectory(EKF(), model, theta, xs, ys, mask=mask)
    b, _ = trajectory(EKF(), model, theta, xs[mask > 0], ys[mask > 0])  # same inputs seen: differs
    assert not np.allclose(a[-1], b[-1])
    w2, _ = trajectory(EKF(r=1.0), model, theta, xs, ys, mask=2.0 * np.ones(30))
    r2, _ = trajectory(EKF(r=0.5), model, theta, xs, ys)
    assert np.abs(w2 - r2).max() < 1e-12


def test_annealed_noise_schedules():
    """R_t = max(r_min, r r_decay^t): with r_min = r the schedule is constant."""
    model, theta, xs, ys = problem("mse", T=40)
    a, _ = trajectory(EKF(r=2.0, r_decay=0.5, r_min=2.0, q=1e-3, q_decay=0.9, q_min=1e-3), model, theta, xs, ys)
    b, _ = trajectory(EKF(r=2.0, q=1e-3), model, theta, xs, ys)
    assert np.array_equal(a, b)
    c, _ = trajectory(EKF(r=2.0, r_decay=0.9, r_min=0.1), model, theta, xs, ys)
    assert not np.allclose(a[-1], c[-1])


def test_bad_covariance_is_recorded_as_divergence():
    result = train(Elman(2, 8, 2, loss="xent"), EKF(q=1e308), make_task("add"), steps=2000, seed=0,
                   eval_every=500)
    assert result.status == "diverged"
    assert "covariance not positive definite at step" in result.reason
    assert result.steps < 2000 and np.isfinite(result.records[0]["test_loss"])


def test_corrupted_covariance_raises_diverged_from_train_step():
    model, theta, xs, ys = problem("xent", T=10)
    learner = EKF(decoupling="node")
    state = learner.init(model, theta)
    learner.covariance(model, state)[2][1][0, 0] = -1.0
    with pytest.raises(Diverged, match="covariance not positive definite at step [01]$"):
        learner.train(model, theta, state, Chunk.make(xs, ys))


def test_nan_data_is_recorded_as_divergence():
    from test_learning import Echo

    class NaNEcho(Echo):
        def stream(self, seed):
            base = super().stream(seed)

            class S:
                def next(self, T):
                    c = base.next(T)
                    c.ys[T // 2] = np.nan
                    return c
            return S()

    result = train(Elman(1, 4, 1), EKF(), NaNEcho(), steps=300, seed=0, eval_every=100)
    assert result.status == "diverged" and "non-finite" in result.reason


def test_add_task_fast():
    result = train(Elman(2, 16, 2, loss="xent"), EKF(), make_task("add"), steps=5000, seed=0, eval_every=1000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done"
    assert losses[0] > 0.6 and min(losses) <= 0.48, losses


def _reference_configs():
    import ekf_reference
    return ekf_reference.CONFIGS


@pytest.mark.parametrize("dec,jac,loss", _reference_configs())
def test_one_stream_follows_the_recorded_filter(dec, jac, loss):
    """batch=1 is the single-stream EKF as it was before multistream training (tests/ekf_reference.py
    recorded it at 64680ff): the same parameters after every chunk and the same losses, bit for bit (the
    arithmetic is unchanged; 1e-12 allows for another BLAS)."""
    import ekf_reference as ref
    data = np.load(__file__.rsplit("/", 1)[0] + "/data/ekf_reference.npz")
    k = ref.key(dec, jac, loss)
    model = ref.problem(loss)[0]
    thetas, losses = ref.run(EKF(decoupling=dec, batch=1, **ref.hyper(jac)), model, data[k + ":theta0"],
                             data[k + ":xs"], data[k + ":ys"], data[k + ":mask"], data[k + ":resets"])
    assert np.abs(thetas - data[k + ":thetas"]).max() <= 1e-12 * np.abs(data[k + ":thetas"]).max()
    assert np.abs(losses - data[k + ":losses"]).max() <= 1e-12 * np.abs(data[k + ":losses"]).max()


def _one_and_batch(model, theta, chunks, B, **kw):
    """theta after one stream (chunks[0]) with r, and after B streams (Chunk.stack(chunks)) with r B."""
    one, many = theta.copy(), theta.copy()
    r = kw.pop("r", 0.7)
    a = EKF(r=r, **kw)
    a.train(model, one, a.init(model, one), chunks[0])
    b = EKF(r=r * B, batch=B, **kw)
    b.train(model, many, b.init(model, many), Chunk.stack(chunks))
    return one, many


@pytest.mark.parametrize("form", ["standard", "sqrt"])
@pytest.mark.parametrize("jacobian", ["rtrl", "tbptt"])
@pytest.mark.parametrize("decoupling", ["global", "node"])
def test_identical_streams_are_one_stream_with_less_noise(decoupling, jacobian, form):
    """Multistream (Feldkamp and Puskorius 1994): B streams make one update from the joint measurement of
    B o outputs, A = R + H^T P H of size B o. B copies of one stream, each with noise B r, carry the
    information of one stream with noise r: the same trajectory, to rounding."""
    model, theta, xs, ys = problem("xent", T=100)
    mask = np.ones(100)
    mask[20:30] = 0.0
    mask[50:60] = 0.5
    resets = np.zeros(100, dtype=bool)
    resets[[0, 40]] = True
    c = Chunk.make(xs, ys, mask, resets)
    for B in (2, 3):
        one, many = _one_and_batch(model, theta, [c] * B, B, decoupling=decoupling, jacobian=jacobian, h=7,
                                   q=0.0, form=form)
        assert np.abs(one - many).max() < 1e-11, B
        assert np.abs(one - theta).max() > 1e-2


@pytest.mark.parametrize("decoupling", ["global", "node"])
def test_a_silent_stream_adds_nothing(decoupling):
    """A stream whose mask is 0 throughout is not measured: two streams, one silent, follow the other alone
    (its columns of H_t and of the innovation are zero, and A is block diagonal)."""
    model, theta, xs, ys = problem("mse", T=80)
    rng = np.random.default_rng(5)
    quiet = Chunk.make(rng.normal(size=xs.shape), rng.normal(size=ys.shape), np.zeros(80))
    a, _ = trajectory(EKF(decoupling=decoupling, q=1e-3), model, theta, xs, ys)
    b = theta.copy()
    learner = EKF(decoupling=decoupling, q=1e-3, batch=2)
    losses = learner.train(model, b, learner.init(model, b), Chunk.stack([Chunk.make(xs, ys), quiet]))
    assert losses.shape == (2, 80) and np.all(losses[1] == 0.0)
    assert np.abs(a[-1] - b).max() < 1e-12


def test_multistream_trains_on_the_add_task_and_refuses_other_chunks():
    """Four streams with R = 4 I (B r: each update weighs the streams as one stream with R = I, the analogue of
    a minibatch's mean gradient) reach 0.47 in 600-800 steps where one stream takes 1,800-2,900 (n = 16)."""
    result = train(Elman(2, 16, 2, loss="xent"), EKF(batch=4, r=4.0), make_task("add"), steps=1500, seed=0,
                   eval_every=500)
    assert result.status == "done", result.reason
    assert min(r["test_loss"] for r in result.records) <= 0.48
    model, theta, xs, ys = problem("mse", T=5)
    learner = EKF(batch=2)
    state = learner.init(model, theta)
    with pytest.raises(ValueError, match="batch=2"):
        learner.train(model, theta, state, Chunk.make(xs, ys))
    with pytest.raises(ValueError, match="batch=2"):
        learner.train(model, theta, state, Chunk.stack([Chunk.make(xs, ys)] * 3))
    with pytest.raises(ValueError, match="batch=1"):
        EKF().train(model, theta, EKF().init(model, theta), Chunk.stack([Chunk.make(xs, ys)] * 2))


def test_hyperparameters_checked_and_no_gradient():
    assert LEARNERS["ekf"] is EKF and EKF.own_update
    assert isinstance(make_learner("ekf", decoupling="node", jacobian="tbptt", h=5), EKF)
    for bad in [dict(decoupling="layer"), dict(jacobian="bptt"), dict(h=0), dict(p0=0.0), dict(r=-1.0),
                dict(q=-1e-3), dict(r_decay=1.5), dict(r_decay=0.9), dict(q_decay=0.0),
                dict(joseph="yes"), dict(trainable="W"), dict(p0=float("nan")), dict(form="cholesky"),
                dict(batch=0), dict(batch=1.5)]:
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name if name != "r_decay" or bad[name] > 1 else "r_min"):
            EKF(**bad).check()
    model, theta, xs, ys = problem("mse", T=5)
    with pytest.raises(TypeError, match="own update"):
        EKF().gradient(model, theta, xs, ys)
    assert EKF().cost_exponents() == (EKF.time_exponent, EKF.memory_exponent) == (4.0, 4.0)
    assert EKF(decoupling="node", jacobian="tbptt").cost_exponents() == (3.0, 3.0)
    assert EKF(decoupling="node").cost_exponents() == (4.0, 3.0)
    assert EKF(form="sqrt", q=0.0, batch=4).cost_exponents() == (4.0, 4.0)
    assert EKF.capabilities() == ["OwnUpdate", "Minibatch"] and EKF(batch=3).batch_size == 3
    with pytest.raises(ValueError, match="q must be 0 with form='sqrt'"):
        EKF(form="sqrt").check()
    with pytest.raises(ValueError, match="q must be 0 with form='sqrt'"):
        EKF(form="sqrt", q=0.0, q_min=1e-6).check()
    with pytest.raises(ValueError, match="joseph"):
        EKF(form="sqrt", q=0.0, joseph=True).check()


@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("decoupling", ["global", "node"])
def test_structured_rtrl_jacobian_on_a_diagonal_recurrence(loss, decoupling, monkeypatch):
    """On the eLSTM (a diagonal recurrence) jacobian="rtrl" takes H_t from RTRL's compact influence m: it
    equals truncated BPTT's H_t over a window covering every string (resets inside the chunk), and training
    with it follows the filter that carries the dense influence matrix (which the eLSTM also has), update for
    update, over chunks shorter than the sequence."""
    from rnnlearn import ELSTM
    model = ELSTM(3, 4, 2, loss=loss)
    theta = model.init_params(3)
    rng = np.random.default_rng(1)
    T = 40
    xs = rng.normal(size=(T, 3))
    ys = rng.normal(size=(T, 2)) if loss == "mse" else np.eye(2)[rng.integers(0, 2, T)]
    resets = np.zeros(T, dtype=bool)
    resets[[0, 13, 27]] = True
    unit, full = EKF(decoupling=decoupling, jacobian="rtrl"), EKF(decoupling=decoupling, jacobian="tbptt", h=T)
    assert unit._unit(model) and not full._unit(model)
    assert unit.init(model, theta).m.shape == (1, model.n_unit_influence)
    assert unit.init(model, theta).M.size == 2  # no dense influence matrix
    H_unit, H_full = unit.jacobians(model, theta, xs, resets=resets), full.jacobians(model, theta, xs, resets=resets)
    assert np.abs(H_unit).max() > 0.1
    np.testing.assert_allclose(H_unit, H_full, rtol=0, atol=1e-13)

    def trained():
        th = theta.copy()
        st = unit.init(model, th)
        for a, b in ((0, 9), (9, 30), (30, T)):
            unit.train(model, th, st, Chunk.make(xs[a:b], ys[a:b], resets=resets[a:b]))
        return th

    structured = trained()
    monkeypatch.setattr(EKF, "_unit", lambda self, model: False)  # the dense influence matrix M_t
    assert unit.init(model, theta).M.shape == (1, 2, model.n_state, model.n_rec)
    dense = trained()
    assert np.abs(structured - theta).max() > 1e-3
    np.testing.assert_allclose(structured, dense, rtol=0, atol=1e-11)
