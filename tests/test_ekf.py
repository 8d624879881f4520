"""The extended Kalman filter learners: exact equalities (decoupled with one group == global; readout-only
GEKF == recursive least squares), H_t against finite differences, a covariance that stays symmetric positive
definite, divergence recorded not raised, and learning on the add task."""
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


def test_hyperparameters_checked_and_no_gradient():
    assert LEARNERS["ekf"] is EKF and EKF.own_update
    assert isinstance(make_learner("ekf", decoupling="node", jacobian="tbptt", h=5), EKF)
    for bad in [dict(decoupling="layer"), dict(jacobian="bptt"), dict(h=0), dict(p0=0.0), dict(r=-1.0),
                dict(q=-1e-3), dict(r_decay=1.5), dict(r_decay=0.9), dict(q_decay=0.0),
                dict(joseph="yes"), dict(trainable="W"), dict(p0=float("nan"))]:
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name if name != "r_decay" or bad[name] > 1 else "r_min"):
            EKF(**bad).check()
    model, theta, xs, ys = problem("mse", T=5)
    with pytest.raises(TypeError, match="own update"):
        EKF().gradient(model, theta, xs, ys)
    assert EKF().cost_exponents() == (EKF.time_exponent, EKF.memory_exponent) == (4.0, 4.0)
    assert EKF(decoupling="node", jacobian="tbptt").cost_exponents() == (3.0, 3.0)
    assert EKF(decoupling="node").cost_exponents() == (4.0, 3.0)
