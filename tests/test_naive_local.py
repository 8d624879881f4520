"""The slow references of the local and block-wise rules (tests/naive_local.py) checked against the exact
gradients of tests/naive.py and against each other, so that compiled learners can be checked against them:
the leaky network's BPTT by finite differences; e-prop with the exact learning signal, DNI with the true
synthetic gradient and Schmidhuber's fixed-size-storage algorithm equal to BPTT; KeRNL at its reduction
setting equal to RFLO; RFLO against a step written out by hand; random feedback differing from symmetric."""
import numpy as np
import pytest

from naive import elman_bptt, elman_rtrl, elman_truncated, finite_difference, step_loss
from naive_local import (elman_dni, elman_fss, elman_future_gradients, leaky_bptt, leaky_eprop,
                         leaky_forward, leaky_kernl, leaky_kernl_perturbation, leaky_learning_signals,
                         leaky_loss, leaky_rflo)

KEYS = ("W", "U", "b", "V", "c")


def _problem(seed=0, n=3, m=2, o=2, T=7, scale=1.0):
    rng = np.random.default_rng(seed)
    p = {"W": scale * rng.normal(size=(n, n)), "U": rng.normal(size=(n, m)), "b": rng.normal(size=n),
         "V": rng.normal(size=(o, n)), "c": rng.normal(size=o)}
    return p, rng.normal(size=(T, m)), rng.normal(size=(T, o))


def _targets(seed, T, o, loss):
    """Regression targets, or one-hot class targets for cross-entropy."""
    rng = np.random.default_rng(seed + 100)
    if loss == "mse":
        return rng.normal(size=(T, o))
    return np.eye(o)[rng.integers(0, o, size=T)]


def _close(g, ref, tol, keys=KEYS):
    for k in keys:
        scale = max(np.abs(ref[k]).max(), 1e-300)
        assert np.abs(g[k] - ref[k]).max() <= tol * scale, (k, np.abs(g[k] - ref[k]).max(), scale)


def _dist(g, ref, keys=("W", "U", "b")):
    return max(np.abs(g[k] - ref[k]).max() / np.abs(ref[k]).max() for k in keys)


def _flat_params(p):
    return np.concatenate([p[k].ravel() for k in KEYS])


def _unflat(p, theta):
    out, off = {}, 0
    for k in KEYS:
        out[k] = theta[off:off + p[k].size].reshape(p[k].shape)
        off += p[k].size
    return out


# ------------------------------------------------------------------- the leaky network

def test_leaky_forward_at_alpha_one_is_elman_and_its_bptt_is_exact():
    from naive import elman_forward
    for seed, loss in [(0, "mse"), (1, "ce")]:
        p, xs, _ = _problem(seed)
        ys = _targets(seed, len(xs), 2, loss)
        assert np.array_equal(leaky_forward(p, xs, 1.0)[0], elman_forward(p, xs)[0])
        _close(leaky_bptt(p, xs, ys, loss, 1.0), elman_bptt(p, xs, ys, loss), 1e-13)
        for alpha in (0.3, 0.8):
            g = leaky_bptt(p, xs, ys, loss, alpha)
            fd = finite_difference(lambda th: leaky_loss(_unflat(p, th), xs, ys, loss, alpha), _flat_params(p))
            assert np.abs(_flat_params(g) - fd).max() <= 1e-7 * np.abs(fd).max()


# ------------------------------------------------------------------- RFLO

def test_rflo_matches_a_step_written_out_by_hand():
    """Two steps of a 2-unit network, symmetric feedback and alpha = 0.4, every entry written out:
    B_1 = alpha d_1 a_hat_1, B_2 = (1 - alpha) B_1 + alpha d_2 a_hat_2, g = q_1 B_1 + q_2 B_2, q_t = V^T e_t."""
    alpha = 0.4
    p = {"W": np.array([[0.5, -0.3], [0.2, 0.7]]), "U": np.array([[1.0], [-0.5]]), "b": np.array([0.1, -0.2]),
         "V": np.array([[0.3, -0.8]]), "c": np.array([0.05])}
    xs, ys = np.array([[0.9], [-0.4]]), np.array([[0.2], [-0.1]])
    # the forward pass, unit by unit
    r1 = [np.tanh(p["U"][i, 0] * xs[0, 0] + p["b"][i]) for i in range(2)]
    a1 = [alpha * r1[i] for i in range(2)]
    r2 = [np.tanh(p["W"][i, 0] * a1[0] + p["W"][i, 1] * a1[1] + p["U"][i, 0] * xs[1, 0] + p["b"][i])
          for i in range(2)]
    a2 = [(1 - alpha) * a1[i] + alpha * r2[i] for i in range(2)]
    e1 = p["V"][0, 0] * a1[0] + p["V"][0, 1] * a1[1] + p["c"][0] - ys[0, 0]
    e2 = p["V"][0, 0] * a2[0] + p["V"][0, 1] * a2[1] + p["c"][0] - ys[1, 0]
    q1 = [p["V"][0, i] * e1 for i in range(2)]
    q2 = [p["V"][0, i] * e2 for i in range(2)]
    in1 = [0.0, 0.0, xs[0, 0], 1.0]  # a_hat_1 = [a_0, x_1, 1]
    in2 = [a1[0], a1[1], xs[1, 0], 1.0]
    want = np.zeros((2, 4))
    for i in range(2):
        for j in range(4):
            b1 = alpha * (1 - r1[i] ** 2) * in1[j]
            b2 = (1 - alpha) * b1 + alpha * (1 - r2[i] ** 2) * in2[j]
            want[i, j] = q1[i] * b1 + q2[i] * b2
    g = leaky_rflo(p, xs, ys, "mse", alpha)
    assert np.allclose(g["W"], want[:, :2], rtol=1e-14, atol=1e-16)
    assert np.allclose(g["U"], want[:, 2:3], rtol=1e-14, atol=1e-16)
    assert np.allclose(g["b"], want[:, 3], rtol=1e-14, atol=1e-16)
    assert np.allclose(g["V"], [[e1 * a1[0] + e2 * a2[0], e1 * a1[1] + e2 * a2[1]]], rtol=1e-14)
    assert np.allclose(g["c"], [e1 + e2], rtol=1e-14)


def test_rflo_elman_symmetric_is_one_step_truncated_bptt_and_is_not_bptt():
    for seed in range(3):
        p, xs, ys = _problem(seed)
        g = leaky_rflo(p, xs, ys, "mse", 1.0)
        _close(g, elman_truncated(p, xs, ys, "mse", 1, 1), 1e-13)
        assert _dist(g, elman_bptt(p, xs, ys, "mse")) > 1e-2


def test_random_feedback_differs_from_symmetric():
    for seed in range(3):
        p, xs, ys = _problem(seed)
        Bfb = np.random.default_rng(seed + 50).normal(size=p["V"].T.shape)
        for alpha in (1.0, 0.5):
            sym = leaky_rflo(p, xs, ys, "mse", alpha)
            assert _dist(leaky_rflo(p, xs, ys, "mse", alpha, feedback=Bfb), sym) > 1e-2
            assert _dist(leaky_eprop(p, xs, ys, "mse", alpha, feedback=Bfb), sym) > 1e-2
            # ... and passing V^T explicitly is the symmetric rule; the readout's gradient is exact in all
            _close(leaky_rflo(p, xs, ys, "mse", alpha, feedback=p["V"].T.copy()), sym, 1e-15)
            _close(leaky_rflo(p, xs, ys, "mse", alpha, feedback=Bfb), leaky_bptt(p, xs, ys, "mse", alpha),
                   1e-13, keys=("V", "c"))


# ------------------------------------------------------------------- e-prop

@pytest.mark.parametrize("alpha", [1.0, 0.6, 0.2])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_eprop_with_the_exact_learning_signal_is_bptt(alpha, loss):
    """Bellec et al.'s eq. 1 is an identity: with L_t = dE/dz_t the e-prop gradient is BPTT's."""
    for seed in range(3):
        p, xs, _ = _problem(seed, scale=1.5)
        ys = _targets(seed, len(xs), 2, loss)
        L = leaky_learning_signals(p, xs, ys, loss, alpha)
        g = leaky_eprop(p, xs, ys, loss, alpha, learning_signals=L)
        _close(g, leaky_bptt(p, xs, ys, loss, alpha), 1e-12)
        if alpha == 1.0:
            _close(g, elman_bptt(p, xs, ys, loss), 1e-12)


def test_eprop_with_online_signals_is_an_approximation_equal_to_rflo_for_rate_units():
    """Symmetric (random) e-prop on rate units has RFLO's trace and signal: the same gradient; neither is
    BPTT's."""
    for seed in range(3):
        p, xs, ys = _problem(seed)
        Bfb = np.random.default_rng(seed + 7).normal(size=p["V"].T.shape)
        for alpha in (1.0, 0.5):
            _close(leaky_eprop(p, xs, ys, "mse", alpha), leaky_rflo(p, xs, ys, "mse", alpha), 1e-13)
            _close(leaky_eprop(p, xs, ys, "mse", alpha, feedback=Bfb),
                   leaky_rflo(p, xs, ys, "mse", alpha, feedback=Bfb), 1e-13)
            assert _dist(leaky_eprop(p, xs, ys, "mse", alpha), leaky_bptt(p, xs, ys, "mse", alpha)) > 1e-2


# ------------------------------------------------------------------- KeRNL

def test_kernl_at_the_identity_and_the_networks_timescale_is_rflo():
    for seed in range(3):
        p, xs, ys = _problem(seed)
        n = len(p["b"])
        Bfb = np.random.default_rng(seed + 3).normal(size=p["V"].T.shape)
        for alpha in (1.0, 0.7, 0.25):
            gamma = np.full(n, np.inf if alpha == 1.0 else -np.log(1 - alpha))
            _close(leaky_kernl(p, xs, ys, "mse", np.eye(n), gamma, alpha), leaky_rflo(p, xs, ys, "mse", alpha),
                   1e-13)
            _close(leaky_kernl(p, xs, ys, "mse", np.eye(n), gamma, alpha, feedback=Bfb),
                   leaky_rflo(p, xs, ys, "mse", alpha, feedback=Bfb), 1e-13)
        # away from that setting it differs
        rng = np.random.default_rng(seed + 4)
        beta, gamma = np.eye(n) + 0.3 * rng.normal(size=(n, n)), rng.uniform(0.2, 2.0, size=n)
        assert _dist(leaky_kernl(p, xs, ys, "mse", beta, gamma, 0.5), leaky_rflo(p, xs, ys, "mse", 0.5)) > 1e-2


def test_kernl_perturbation_gradients_are_those_of_its_loss():
    p, xs, _ = _problem(0, T=6)
    n = len(p["b"])
    rng = np.random.default_rng(9)
    noises = 1e-2 * rng.normal(size=(len(xs), n))
    beta, gamma = np.eye(n) + 0.2 * rng.normal(size=(n, n)), rng.uniform(0.3, 1.5, size=n)
    _, gb, gg = leaky_kernl_perturbation(p, xs, beta, gamma, noises, 0.6)
    f = lambda th: leaky_kernl_perturbation(p, xs, th[:n * n].reshape(n, n), th[n * n:], noises, 0.6)[0]
    fd = finite_difference(f, np.concatenate([beta.ravel(), gamma]), eps=1e-5)
    got = np.concatenate([gb.ravel(), gg])
    assert np.abs(got - fd).max() <= 1e-6 * np.abs(fd).max()


def test_kernl_perturbation_is_solved_by_the_true_kernel_when_units_do_not_interact():
    """With W = 0 a perturbation decays by the leak alone, so beta = I and exp(-gamma) = 1 - alpha predict
    it exactly: loss and gradients vanish (the rule's fixed point is RFLO's setting)."""
    p, xs, _ = _problem(1, T=6)
    p["W"] = np.zeros_like(p["W"])
    n, alpha = len(p["b"]), 0.3
    noises = 0.1 * np.random.default_rng(2).normal(size=(len(xs), n))
    loss, gb, gg = leaky_kernl_perturbation(p, xs, np.eye(n), np.full(n, -np.log(1 - alpha)), noises, alpha)
    assert loss <= 1e-28 and np.abs(gb).max() <= 1e-14 and np.abs(gg).max() <= 1e-14


# ------------------------------------------------------------------- DNI

@pytest.mark.parametrize("k", [1, 2, 3, 7, 10])
def test_dni_with_the_true_synthetic_gradient_is_bptt(k):
    for seed, loss in [(0, "mse"), (1, "ce"), (2, "mse")]:
        p, xs, _ = _problem(seed, scale=1.5)
        ys = _targets(seed, len(xs), 2, loss)
        F = elman_future_gradients(p, xs, ys, loss)
        g, gA, bounds, targets = elman_dni(p, xs, ys, loss, k, synthetic=lambda s, h: F[s])
        ref = elman_bptt(p, xs, ys, loss)
        _close(g, ref, 1e-12)
        assert gA is None
        assert bounds == list(range(k - 1, len(xs) - 1, k))
        if bounds:  # the bootstrapped targets are then the true future gradients too
            assert np.abs(targets - F[bounds]).max() <= 1e-12 * np.abs(F).max()


def test_dni_without_synthetic_gradient_is_truncated_bptt_and_its_module_gradient():
    for seed in range(3):
        # k divides T: naive.elman_truncated's last update reaches k2 steps back, past a short last window
        p, xs, ys = _problem(seed, T=6)
        n = len(p["b"])
        for k in (2, 3):
            g, gA, bounds, targets = elman_dni(p, xs, ys, "mse", k, A=np.zeros((n, n + 1)))
            _close(g, elman_truncated(p, xs, ys, "mse", k, k), 1e-13)
            a = leaky_forward(p, xs)[0]
            want = sum(np.outer(-tg, np.append(a[s], 1.0)) for s, tg in zip(bounds, targets))
            assert np.allclose(gA, want, rtol=1e-14, atol=1e-15)
        # a nonzero A changes the gradient, and is the same as passing its function
        A = 0.3 * np.random.default_rng(seed).normal(size=(n, n + 1))
        g1, gA1, _, t1 = elman_dni(p, xs, ys, "mse", 3, A=A)
        g2, _, _, t2 = elman_dni(p, xs, ys, "mse", 3, synthetic=lambda s, h: A @ np.append(h, 1.0))
        _close(g1, g2, 0.0)
        assert _dist(g1, elman_truncated(p, xs, ys, "mse", 3, 3)) > 1e-3


def test_true_future_gradients_by_finite_differences():
    """F[s] = dL_{>s}/dh_s: perturb h_s, rerun the remaining steps, sum their losses."""
    p, xs, ys = _problem(3, T=5)
    F = elman_future_gradients(p, xs, ys, "mse")
    a = leaky_forward(p, xs)[0]

    def rest(s, hs):
        total, h = 0.0, hs
        for t in range(s + 1, len(xs)):
            h = np.tanh(p["W"] @ h + p["U"] @ xs[t] + p["b"])
            total += step_loss(p["V"] @ h + p["c"], ys[t], "mse")[0]
        return total
    for s in range(len(xs)):
        fd = finite_difference(lambda h: rest(s, h), a[s])
        assert np.allclose(F[s], fd, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------- Schmidhuber's FSS

@pytest.mark.parametrize("h", [1, 2, 3, 4, 7, 9])
def test_fss_is_rtrl_and_bptt(h):
    for seed, loss in [(0, "mse"), (1, "ce")]:
        p, xs, _ = _problem(seed, T=7, scale=1.5)
        ys = _targets(seed, len(xs), 2, loss)
        g = elman_fss(p, xs, ys, loss, h)
        _close(g, elman_bptt(p, xs, ys, loss), 1e-10)
        if loss == "mse":  # naive.elman_rtrl's loss terms are unweighted, as here
            _close(g, elman_rtrl(p, xs, ys, loss), 1e-10)


def test_fss_is_exact_online_at_every_block_end():
    p, xs, ys = _problem(2, T=8, scale=1.5)
    for h in (3, 5):
        _, blocks = elman_fss(p, xs, ys, "mse", h, return_blocks=True)
        assert [t for t, _ in blocks] == sorted({min(s + h, len(xs)) - 1 for s in range(0, len(xs), h)})
        for t_end, g in blocks:
            _close(g, elman_bptt(p, xs[:t_end + 1], ys[:t_end + 1], "mse"), 1e-10)
