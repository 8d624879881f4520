"""The vectorisable exp, tanh and logistic function (rnnlearn/models/vecmath.py) against the C library, and
the scaled matrix product (rnnlearn/blas.py) against numpy."""
import numpy as np
import pytest
from numba import njit

from rnnlearn.blas import gemm
from rnnlearn.models.vecmath import exp_nonpos, sigmoid, tanh_inplace


@njit(error_model="numpy")
def _map(kind, x, out):
    for i in range(x.shape[0]):
        out[i] = exp_nonpos(x[i]) if kind == 0 else sigmoid(x[i])


def ulps(got, want):
    keep = np.isfinite(want) & (want != 0)
    return (np.abs(got[keep] - want[keep]) / np.spacing(np.abs(want[keep]))).max()


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(0, 3, 200_000), rng.normal(0, 1e-3, 20_000), np.linspace(-40, 40, 20_001),
                           [0.0, -0.0, 1e-300, -1e-300, 5e-324]])


def test_tanh_within_3_ulp_and_exact_at_the_ends(points):
    got = points.copy()
    tanh_inplace(got)
    assert ulps(got, np.tanh(points)) <= 3
    assert np.all(got[np.abs(points) > 22] == np.sign(points[np.abs(points) > 22]))
    assert np.array_equal(np.signbit(got), np.signbit(points))  # odd, including -0.0


def test_exp_and_sigmoid(points):
    y = -np.abs(points) * 20  # exp_nonpos takes y <= 0; down to -800
    got = np.empty_like(y)
    _map(0, y, got)
    inside = y >= -708
    assert ulps(got[inside], np.exp(y[inside])) <= 1
    assert np.all(got[~inside] == got[~inside].max()) and got[~inside].max() < 1e-307
    _map(1, points * 5, got)
    z = points * 5
    want = np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))  # both tails accurately
    assert ulps(got, want) <= 4


def test_nan_and_inf_pass_through():
    v = np.array([np.nan, np.inf, -np.inf])
    tanh_inplace(v)
    assert np.isnan(v[0]) and v[1] == 1.0 and v[2] == -1.0
    out = np.empty(2)
    _map(0, np.array([np.nan, -np.inf]), out)
    assert np.isnan(out[0]) and out[1] < 1e-307


@pytest.mark.parametrize("layouts", ["CC", "CF", "FC", "FF"])
def test_gemm_scales_and_accumulates(layouts):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 7)), rng.normal(size=(7, 3))
    x = np.asfortranarray(x) if layouts[0] == "F" else x
    y = np.asfortranarray(y) if layouts[1] == "F" else y
    out = rng.normal(size=(4, 3))
    want = -0.25 * (x @ y) + 2.0 * out
    gemm(-0.25, x, y, 2.0, out)
    assert np.abs(out - want).max() < 1e-14


def test_gemm_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        gemm(1.0, np.zeros((2, 3)), np.zeros((4, 2)), 0.0, np.zeros((2, 2)))
