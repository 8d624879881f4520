"""rnnlearn.tilegemm.matmul against numpy's product on every kind of block edge: whole 4 x 32 blocks, the
row tail (1-3 rows), the column tail (1-3 whole vectors plus a partial one under a lane mask), empty
dimensions; and that it writes only out's own entries."""
import numpy as np
import pytest

from rnnlearn.tilegemm import matmul, matmul_norm_vecmat

SHAPES = [(1, 1, 1), (3, 5, 7), (4, 4, 8), (5, 9, 41), (7, 13, 9), (9, 3, 33), (6, 32, 95), (32, 32, 32),
          (33, 31, 57), (64, 64, 64), (128, 130, 128), (2, 1, 200), (4, 0, 4), (0, 3, 3), (2, 3, 0)]


@pytest.mark.parametrize("M,K,N", SHAPES)
def test_equals_numpy_product(M, K, N):
    rng = np.random.default_rng(M * 10007 + K * 101 + N)
    x, y = rng.normal(size=(M, K)), rng.normal(size=(K, N))
    out = np.full((M, N), np.nan)
    matmul(x, y, out)
    ref = x @ y
    assert np.allclose(out, ref, rtol=1e-13, atol=1e-13 * max(K, 1))
    if K == 0:
        assert (out == 0.0).all()


@pytest.mark.parametrize("M,K,N", [(5, 7, 13), (6, 32, 95), (33, 31, 57)])
def test_writes_only_its_block_of_a_larger_buffer(M, K, N):
    """out as a view of the first rows of a larger array (as KF-RTRL's double buffer F[1 - cur]): the masked
    tail stores and the repeated tail rows must leave the entries after out untouched."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(M, K)), rng.normal(size=(K, N))
    buf = np.full((2, M, N), 7.0)
    matmul(x, y, buf[0])
    assert np.allclose(buf[0], x @ y, rtol=1e-13, atol=1e-12)
    assert (buf[1] == 7.0).all()


def test_integer_inputs_are_exact():
    rng = np.random.default_rng(2)
    x, y = rng.integers(-9, 10, size=(37, 45)).astype(float), rng.integers(-9, 10, size=(45, 70)).astype(float)
    out = np.empty((37, 70))
    matmul(x, y, out)
    assert np.array_equal(out, x @ y)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        matmul(np.zeros((3, 4)), np.zeros((5, 6)), np.zeros((3, 6)))
    with pytest.raises(ValueError, match="shapes"):
        matmul(np.zeros((3, 4)), np.zeros((4, 6)), np.zeros((3, 5)))


@pytest.mark.parametrize("M,K,N", SHAPES)
@pytest.mark.parametrize("want", [True, False])
def test_norm_and_vecmat_from_the_accumulators(M, K, N, want):
    rng = np.random.default_rng(M * 7 + K * 3 + N)
    x, y, q = rng.normal(size=(M, K)), rng.normal(size=(K, N)), rng.normal(size=M)
    out, vm = np.full((M, N), np.nan), np.full(N, 5.0)
    sq = matmul_norm_vecmat(x, y, out, q, want, vm)
    ref = x @ y
    assert np.allclose(out, ref, rtol=1e-13, atol=1e-13 * max(K, 1))
    assert np.isclose(sq, (ref ** 2).sum(), rtol=1e-12, atol=1e-300)
    if want:
        assert np.allclose(vm, q @ ref, rtol=1e-12, atol=1e-12 * max(K * M, 1))
    else:
        assert (vm == 5.0).all()
