"""numpy's BLAS on the products that dominate the learners' steps: RTRL's J M and the global EKF's P H and
rank-o update of P. Not a learner: the rate a kernel calling BLAS directly could get on the same shapes, to
set rnnlearn's whole-step GFLOP/s against.
"""
from __future__ import annotations

import numpy as np

from .ref_common import blas_threads, median_time


def blas_matmul_gflops(a_shape, b_shape, threads=1, repeats=7, min_repeat_seconds=0.05, seed=0):
    """numpy's own matrix-product rate (``np.dot(A, B, out=C)``, float64) on the given shapes.

    For RTRL's J M: ``blas_matmul_gflops((n, n), (n, n*n + n*m + n))``. GFLOP/s = 2 a0 a1 b1 / time.
    """
    (p, q), (q2, r) = a_shape, b_shape
    if q != q2:
        raise ValueError(f"shapes {a_shape} and {b_shape} do not chain")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p, q))
    B = rng.standard_normal((q, r))
    C = np.empty((p, r))
    with blas_threads(threads) as pinned:
        med, best = median_time(lambda: np.dot(A, B, out=C), repeats, min_repeat_seconds)
    flops = 2.0 * p * q * r
    return {"gflops": flops / med / 1e9, "gflops_best": flops / best / 1e9, "seconds": med,
            "flops": flops, "a_shape": tuple(a_shape), "b_shape": tuple(b_shape), "threads": threads,
            "blas_libs_pinned": pinned}


def blas_rate_for_ekf(p, o, threads=1, repeats=7, min_repeat_seconds=0.05, seed=0):
    """BLAS rates on the EKF covariance-update shapes: P (p x p), H (p x o), K (p x o).

    * ``PH``: ``np.dot(P, H, out=...)`` (2 p^2 o flops);
    * ``rank_update_numpy``: ``P -= K @ HtP`` as a numpy user writes it (temporary p x p; 2 p^2 o + p^2);
    * ``rank_update_gemm``: the same update in place through BLAS dgemm with beta = 1 (scipy), the rate
      a kernel calling BLAS directly can get;
    * ``total_gflops``: PH followed by the in-place rank update, the EKF's two big products.
    """
    from scipy.linalg import blas as sblas

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p, p))
    P = A @ A.T / p + np.eye(p)
    P0 = P.copy()
    H = rng.standard_normal((p, o))
    K = 1e-6 * rng.standard_normal((p, o))
    PH = np.empty((p, o))
    HtP = np.ascontiguousarray(PH.T)
    out = {"p": p, "o": o, "threads": threads}
    with blas_threads(threads) as pinned:
        med, _ = median_time(lambda: np.dot(P, H, out=PH), repeats, min_repeat_seconds)
        out["PH_gflops"], out["PH_seconds"] = 2.0 * p * p * o / med / 1e9, med

        def numpy_update():
            P[...] -= K @ HtP

        med, _ = median_time(numpy_update, repeats, min_repeat_seconds)
        out["rank_update_numpy_gflops"] = (2.0 * p * p * o + p * p) / med / 1e9
        out["rank_update_numpy_seconds"] = med
        P[...] = P0
        PT = P.T  # Fortran-ordered view of the C-ordered P: dgemm updates it in place

        def gemm_update():
            # P^T <- P^T - HtP^T K^T  ==  P <- P - K HtP
            sblas.dgemm(-1.0, HtP.T, K.T, 1.0, PT, overwrite_c=True)

        med, _ = median_time(gemm_update, repeats, min_repeat_seconds)
        out["rank_update_gemm_gflops"] = 2.0 * p * p * o / med / 1e9
        out["rank_update_gemm_seconds"] = med
        out["total_seconds"] = out["PH_seconds"] + med
        out["total_gflops"] = 4.0 * p * p * o / out["total_seconds"] / 1e9
        out["blas_libs_pinned"] = pinned
    return out



def _step_time(algorithm, model, gflops, spec):
    """A timing row for the BLAS rate `gflops` on the step of `algorithm`'s learner: that learner's FLOPs per
    step (Learner.flops_per_step) at that rate."""
    from rnnlearn.algorithms import make_learner
    flops = make_learner(algorithm).flops_per_step(model)
    return {"us_per_step": flops / gflops / 1e3, "gflops": gflops, "spec": spec}


def _elman(n, m, o):
    from rnnlearn.models import Elman
    return Elman(m, n, o)


def rtrl_product(n, m=4, o=2, threads=1):
    """RTRL's J M (n x n times n x P_rec) at numpy's BLAS rate."""
    model = _elman(n, m, o)
    g = blas_matmul_gflops((n, n), (n, model.n_rec), threads=threads)["gflops"]
    return _step_time("rtrl", model, g, "J M")


def ekf_products(n, m=4, o=2, threads=1):
    """The global EKF's P H and in-place rank-o update of P (p = the network's parameter count) at numpy's
    BLAS rate."""
    model = _elman(n, m, o)
    g = blas_rate_for_ekf(model.n_params, o, threads=threads)["total_gflops"]
    return _step_time("ekf", model, g, "P H + update")


#: (algorithm whose dominant products are timed, timing function, its own size cap)
TIMED = [("rtrl", rtrl_product, None), ("ekf", ekf_products, None)]
