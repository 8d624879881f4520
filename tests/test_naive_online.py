"""The slow references of the online approximations (tests/naive_online.py) checked against RTRL's, so that
the compiled learners can be checked against them step by step."""
import numpy as np

from naive import elman_rtrl
from naive_online import all_sign_patterns, elman_uoro


def _problem(seed=0, n=2, m=2, o=2, T=3):
    rng = np.random.default_rng(seed)
    p = {"W": rng.normal(size=(n, n)), "U": rng.normal(size=(n, m)), "b": rng.normal(size=n),
         "V": rng.normal(size=(o, n)), "c": rng.normal(size=o)}
    return p, rng.normal(size=(T, m)), rng.normal(size=(T, o))


def test_naive_uoro_is_unbiased_over_all_sign_patterns():
    """Tallec and Ollivier's claim, exactly: the mean over all 2^(T n) sign patterns is RTRL's gradient to
    rounding, and no single pattern gives it."""
    for seed in range(3):
        p, xs, ys = _problem(seed)
        ref = elman_rtrl(p, xs, ys, "mse")
        gs = [elman_uoro(p, xs, ys, "mse", s) for s in all_sign_patterns(len(xs), len(p["b"]))]
        for k in ("W", "U", "b"):
            mean = np.mean([g[k] for g in gs], axis=0)
            scale = np.abs(ref[k]).max()
            assert np.abs(mean - ref[k]).max() <= 1e-13 * scale
            assert min(np.abs(g[k] - ref[k]).max() for g in gs) > 1e-3 * scale
        for k in ("V", "c"):  # the readout's gradient is exact in every pattern
            assert all(np.allclose(g[k], ref[k], rtol=1e-14, atol=1e-14) for g in gs)
