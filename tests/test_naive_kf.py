"""The slow references of the Kronecker-factored and sparse approximations (tests/naive_kf.py) checked against
RTRL's, so that the compiled learners can be checked against them step by step."""
import numpy as np
import pytest

from naive import elman_rtrl, step_loss
from naive_kf import (elman_kf_rtrl, elman_rkf_rtrl, elman_snap, kf_influence, rkf_influence, snap_mask,
                      snap_reach, wprime_columns)
from naive_online import _immediate, all_sign_patterns


def _problem(seed=0, n=2, m=2, o=2, T=3, W=None):
    rng = np.random.default_rng(seed)
    p = {"W": rng.normal(size=(n, n)), "U": rng.normal(size=(n, m)), "b": rng.normal(size=n),
         "V": rng.normal(size=(o, n)), "c": rng.normal(size=o)}
    if W is not None:
        p["W"] = W(p["W"])
    return p, rng.normal(size=(T, m)), rng.normal(size=(T, o))


def _targets(ys, loss):
    """Cross-entropy wants distributions as targets."""
    if loss == "mse":
        return ys
    e = np.exp(ys)
    return e / e.sum(axis=1, keepdims=True)


def _dense_rtrl(p, xs, ys, loss, mask=None):
    """RTRL by whole-matrix products, M_t = (J_t M_{t-1} + Mbar_t) * mask: (gradient of theta_rec as a vector,
    M_T). With mask=None, the plain recursion."""
    n, m = p["U"].shape
    P = n * n + n * m + n
    mask = np.ones((n, P)) if mask is None else mask
    M, h, g = np.zeros((n, P)), np.zeros(n), np.zeros(P)
    for x, y in zip(xs, ys):
        hn = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        M = (((1 - hn ** 2)[:, None] * p["W"]) @ M + _immediate(p, h, x, hn)) * mask
        h = hn
        g += (p["V"].T @ step_loss(p["V"] @ h + p["c"], y, loss)[1]) @ M
    return g, M


def _rec(g):
    return np.concatenate([g["W"].ravel(), g["U"].ravel(), g["b"]])


CASES = [(seed, n, m, T, loss) for seed in range(3) for (n, m, T) in [(2, 2, 3), (2, 1, 2), (2, 1, 3)]
         for loss in ("mse", "ce")]


def _check_unbiased(estimator, nsigns, seed, n, m, T, loss):
    p, xs, ys = _problem(seed, n=n, m=m, T=T)
    ys = _targets(ys, loss)
    ref = elman_rtrl(p, xs, ys, loss)
    _, M_ref = _dense_rtrl(p, xs, ys, loss)
    outs = [estimator(p, xs, ys, loss, s, influence=True) for s in all_sign_patterns(T, nsigns)]
    gs = [g for g, _ in outs]
    for k in ("W", "U", "b"):
        mean = np.mean([g[k] for g in gs], axis=0)
        scale = np.abs(ref[k]).max()
        assert np.abs(mean - ref[k]).max() <= 1e-12 * scale, k
        assert min(np.abs(g[k] - ref[k]).max() for g in gs) > 1e-3 * scale, k
    for k in ("V", "c"):  # the readout's gradient is exact in every pattern
        assert all(np.allclose(g[k], ref[k], rtol=1e-14, atol=1e-14) for g in gs)
    M_mean = np.mean([M for _, M in outs], axis=0)  # the last step's influence estimate is unbiased too
    assert np.abs(M_mean - M_ref).max() <= 1e-12 * np.abs(M_ref).max()
    return p, xs, ys, outs


@pytest.mark.parametrize("seed,n,m,T,loss", CASES)
def test_kf_rtrl_is_unbiased_over_all_sign_patterns(seed, n, m, T, loss):
    """Mujika et al.'s Theorem 1, exactly: the mean over all 4^T patterns of (c1, c2) is RTRL's gradient (and
    influence matrix) to rounding, and no single pattern gives it."""
    _check_unbiased(elman_kf_rtrl, 2, seed, n, m, T, loss)


@pytest.mark.parametrize("seed,n,m,T,loss", CASES)
def test_rkf_rtrl_is_unbiased_over_all_sign_patterns(seed, n, m, T, loss):
    """Marschall et al.'s R-KF-RTRL, exactly: the mean over all 2^(T n) sign patterns of nu is RTRL's gradient
    (and influence matrix) to rounding, and no single pattern gives it."""
    _check_unbiased(elman_rkf_rtrl, n, seed, n, m, T, loss)


def test_kf_rtrl_first_step_is_exact_and_the_pair_sign_is_free():
    """With u_0 = 0 and A_0 = 0 KF-RTRL's first step is a_1 (x) D_1 = Mbar_1 for every (c1, c2); flipping both
    signs of step t flips both of its factors and leaves that step's estimate u_t (x) A_t (and so a sequence
    ending there) unchanged."""
    p, xs, ys = _problem(1, T=3)
    for s in all_sign_patterns(1, 2):
        g, M = elman_kf_rtrl(p, xs[:1], ys[:1], "mse", s, influence=True)
        assert np.allclose(M, _dense_rtrl(p, xs[:1], ys[:1], "mse")[1], rtol=0, atol=1e-15)
        assert np.allclose(_rec(g), _rec(elman_rtrl(p, xs[:1], ys[:1], "mse")), rtol=1e-14, atol=1e-15)
    s = np.array([[1.0, -1.0], [-1.0, -1.0], [1.0, 1.0]])
    for T in (2, 3):
        g0, M0 = elman_kf_rtrl(p, xs[:T], ys[:T], "mse", s[:T], influence=True)
        s2 = s[:T].copy()
        s2[T - 1] *= -1
        g1, M1 = elman_kf_rtrl(p, xs[:T], ys[:T], "mse", s2, influence=True)
        assert np.allclose(M1, M0, rtol=1e-14, atol=1e-15)
        assert np.allclose(_rec(g1), _rec(g0), rtol=1e-13, atol=1e-15)


def test_kronecker_factors_map_to_the_theta_layout():
    """M[k, W'_ij] = A[k, i] u[j] (KF) and A[i] B[k, j] (R-KF), with W' = [W U b] laid out as theta_rec: the
    immediate Jacobian a (x) diag(d) is the KF product with u = a, A = diag(d)."""
    n, m = 3, 2
    col = wprime_columns(n, m)
    assert sorted(col.ravel()) == list(range(n * n + n * m + n))
    rng = np.random.default_rng(0)
    p = {"W": rng.normal(size=(n, n)), "U": rng.normal(size=(n, m)), "b": rng.normal(size=n)}
    h_prev, x = rng.normal(size=n), rng.normal(size=m)
    h = np.tanh(p["W"] @ h_prev + p["U"] @ x + p["b"])
    a, d = np.concatenate([h_prev, x, [1.0]]), 1 - h ** 2
    Mbar = _immediate(p, h_prev, x, h)
    assert np.array_equal(kf_influence(n, m, a, np.diag(d)), Mbar)
    A, B = rng.normal(size=n), rng.normal(size=(n, n + m + 1))
    M = rkf_influence(n, m, A, B)
    assert np.array_equal(M[:, col[1, 3]], A[1] * B[:, 3])


def test_rkf_rtrl_normaliser_is_the_same_for_every_sign_pattern():
    """p1 = sqrt(|nu^T Mbar| / |nu|) sees nu only through |nu_k|: for signs the first step's estimate is
    nu (x) (nu^T Mbar) / 1 exactly, whatever the pattern."""
    p, xs, ys = _problem(2, T=1)
    Mbar = _dense_rtrl(p, xs, ys, "mse")[1]
    n, m = p["U"].shape
    col = wprime_columns(n, m)
    for s in all_sign_patterns(1, n):
        _, M = elman_rkf_rtrl(p, xs, ys, "mse", s, influence=True)
        for i in range(n):
            for k in range(n):
                assert np.allclose(M[k, col[i]], s[0, i] * s[0, k] * Mbar[k, col[k]], rtol=1e-14, atol=1e-15)


def _diag(W):
    return np.diag(np.diag(W))


def test_snap_with_a_full_pattern_is_rtrl():
    """A dense W: unit i reaches every unit in one step, so SnAp-n for every n >= 2 keeps every entry and is
    RTRL (for any n_units; n = 2 is "full" once W is dense); a diagonal W: RTRL's influence matrix lives in the
    immediate Jacobian's pattern, so SnAp-1 (and every n) is RTRL."""
    for seed in range(3):
        for loss in ("mse", "ce"):
            for n_units in (2, 3):
                p, xs, ys = _problem(seed, n=n_units, m=1, T=3)
                ys = _targets(ys, loss)
                ref = elman_rtrl(p, xs, ys, loss)
                for n_steps in (2, 3, 4):
                    g, mask = elman_snap(p, xs, ys, loss, n_steps)
                    assert mask.all()
                    for k in ref:
                        assert np.allclose(g[k], ref[k], rtol=1e-12, atol=1e-14)
                pd, xs, ys = _problem(seed, n=n_units, m=2, T=3, W=_diag)
                ys = _targets(ys, loss)
                ref = elman_rtrl(pd, xs, ys, loss)
                for n_steps in (1, 2, 3):
                    g, mask = elman_snap(pd, xs, ys, loss, n_steps)
                    assert mask.sum() == n_units * n_units + n_units * 2 + n_units  # one unit per parameter
                    for k in ref:
                        assert np.allclose(g[k], ref[k], rtol=1e-12, atol=1e-14)


def test_snap1_on_a_dense_network_differs_from_rtrl():
    for seed in range(3):
        p, xs, ys = _problem(seed, T=3)
        ref = elman_rtrl(p, xs, ys, "mse")
        g, mask = elman_snap(p, xs, ys, "mse", 1)
        assert not mask.all()
        scale = np.abs(_rec(ref)).max()
        assert np.abs(_rec(g) - _rec(ref)).max() > 1e-3 * scale
        # ... but its first step is RTRL's (M_1 = Mbar_1), and the readout is exact
        g1, _ = elman_snap(p, xs[:1], ys[:1], "mse", 1)
        assert np.allclose(_rec(g1), _rec(elman_rtrl(p, xs[:1], ys[:1], "mse")), rtol=1e-13, atol=1e-15)
        assert np.allclose(g["V"], ref["V"]) and np.allclose(g["c"], ref["c"])


def _chain(W):
    """Three units, 0 -> 1 -> 2 with self-loops only on 0 and 2: W[k, l] != 0 means h_l feeds h_k."""
    Z = np.zeros_like(W)
    Z[0, 0], Z[1, 0], Z[2, 1], Z[2, 2] = W[0, 0], W[1, 0], W[2, 1], W[2, 2]
    return Z


def test_snap_mask_is_the_n_step_reach_of_the_parameters_unit():
    p, xs, ys = _problem(0, n=3, m=1, T=3, W=_chain)
    n, m = 3, 1
    col = wprime_columns(n, m)
    assert np.array_equal(snap_reach(p["W"] != 0, 1), np.eye(3, dtype=bool))
    R2 = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=bool)  # R[k, i]: i reaches k within 1 step
    R3 = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=bool)
    assert np.array_equal(snap_reach(p["W"] != 0, 2), R2)
    assert np.array_equal(snap_reach(p["W"] != 0, 3), R3)
    assert np.array_equal(snap_reach(p["W"] != 0, 9), R3)
    for n_steps, R in ((1, np.eye(3, dtype=bool)), (2, R2), (3, R3)):
        mask = snap_mask(p, n_steps)
        for k in range(n):
            for i in range(n):
                assert (mask[k, col[i]] == R[k, i]).all()
    # SnAp-1's mask is the immediate Jacobian's structural pattern (its non-zeros once h_{t-1} and x_t are)
    h_prev, x = np.array([0.3, -0.2, 0.5]), np.array([0.7])
    h = np.tanh(p["W"] @ h_prev + p["U"] @ x + p["b"])
    assert np.array_equal(snap_mask(p, 1), _immediate(p, h_prev, x, h) != 0)
    # an explicit pattern overrides W's
    assert snap_mask(p, 2, pattern=np.ones((3, 3))).all()


def test_snap_with_a_sparse_mask_is_the_masked_rtrl_recursion():
    """Entry-by-entry SnAp equals the whole-matrix RTRL recursion with the mask applied at every step, on a
    sparse W where SnAp-1 and SnAp-2 are not RTRL; SnAp-3 is (the chain's reach stops growing after 2 steps, so
    the mask, not full, holds every entry RTRL's influence matrix can ever make non-zero), and so is
    SnAp-n for n >= T on any W (M_T has non-zeros only within T - 1 steps of each parameter's unit)."""
    for seed in range(3):
        for loss in ("mse", "ce"):
            p, xs, ys = _problem(seed, n=3, m=2, T=3, W=_chain)
            ys = _targets(ys, loss)
            ref = _rec(elman_rtrl(p, xs, ys, loss))
            for n_steps in (1, 2):
                g, mask = elman_snap(p, xs, ys, loss, n_steps)
                assert not mask.all()
                want, _ = _dense_rtrl(p, xs, ys, loss, mask)
                assert np.allclose(_rec(g), want, rtol=1e-13, atol=1e-15)
                # SnAp-2 misses only the 2-step path 0 -> 1 -> 2, small at T = 3, but far above rounding
                assert np.abs(_rec(g) - ref).max() > (1e-3 if n_steps == 1 else 1e-8) * np.abs(ref).max()
            g, mask = elman_snap(p, xs, ys, loss, 3)  # the reach stops growing: RTRL's non-zeros all kept
            assert np.array_equal(mask, snap_mask(p, 9)) and not mask.all()
            assert np.allclose(_rec(g), ref, rtol=1e-12, atol=1e-14)
            for T in (1, 2):  # n >= T: exact on any pattern, even when the mask is not full
                ref_T = _rec(elman_rtrl(p, xs[:T], ys[:T], loss))
                g, mask = elman_snap(p, xs[:T], ys[:T], loss, T)
                assert np.allclose(_rec(g), ref_T, rtol=1e-12, atol=1e-14)
    # the same on a random sparse pattern, with the pattern passed in rather than read from W
    rng = np.random.default_rng(5)
    p, xs, ys = _problem(7, n=3, m=1, T=3)
    pattern = rng.random((3, 3)) < 0.4
    g, mask = elman_snap(p, xs, ys, "mse", 2, pattern=pattern)
    assert np.allclose(_rec(g), _dense_rtrl(p, xs, ys, "mse", mask)[0], rtol=1e-13, atol=1e-15)
