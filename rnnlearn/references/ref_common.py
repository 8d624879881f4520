"""What the frameworks' reference implementations share: the network's seeded parameters and data, the
timing loop, BLAS threads, and the check that an optional framework is installed.

Every reference trains exactly rnnlearn's Elman network (rnnlearn/models/elman.py) with one SGD step; see
rnnlearn/references/__init__.py for the conventions. This module imports numpy and threadpoolctl only: the
JAX worker loads it without importing rnnlearn (jax_ref.py).
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import statistics
import time

import numpy as np

PARAM_NAMES = ("W", "U", "b", "V", "c")
TBPTT_WINDOW = 10  # truncated BPTT references: k1 = k2 = 10, as rnnlearn's TBPTT bench settings
INSTALL_HINT = "pip install 'rnnlearn[bench]'"


def init_params(n, m=4, o=2, seed=0):
    """Seeded Elman parameters as a dict of C-contiguous float64 arrays (W, U, b, V, c)."""
    rng = np.random.default_rng(seed)
    return {
        "W": rng.standard_normal((n, n)) * (0.9 / math.sqrt(n)),
        "U": rng.standard_normal((n, m)) / math.sqrt(m),
        "b": 0.1 * rng.standard_normal(n),
        "V": rng.standard_normal((o, n)) / math.sqrt(n),
        "c": 0.1 * rng.standard_normal(o),
    }


def make_data(T=100, m=4, o=2, seed=0):
    """Seeded inputs x (T x m) and targets y (T x o)."""
    rng = np.random.default_rng(seed + 1_000_003)
    return rng.standard_normal((T, m)), rng.standard_normal((T, o))


def copy_params(params):
    """A float64 C-contiguous copy of the five parameter arrays."""
    return {k: np.array(params[k], dtype=np.float64, order="C", copy=True) for k in PARAM_NAMES}


def require(name):
    """ImportError naming the pip extra when the optional framework `name` is not installed."""
    if importlib.util.find_spec(name) is None:
        raise ImportError(f"the {name} reference needs {name}, which is not installed: {INSTALL_HINT}")


def measure(step, T, repeats, warmup, min_repeat_seconds):
    """Time ``step()`` (one sequence update). Returns the timing fields of a result dict."""
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0  # includes JIT compilation where there is one
    for _ in range(max(0, warmup - 1)):
        step()
    t0 = time.perf_counter()
    step()
    one = max(time.perf_counter() - t0, 1e-9)
    number = max(1, int(math.ceil(min_repeat_seconds / one)))
    times = []
    cpu = wall = 0.0
    for _ in range(max(1, repeats)):
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(number):
            step()
        t1 = time.perf_counter()
        cpu += time.process_time() - c0
        wall += t1 - t0
        times.append((t1 - t0) / number)
    med = statistics.median(times)
    return {
        # process CPU time / wall time over the timed runs: about 1 when one core does the work,
        # near the thread count when more run (a check that the thread pinning held)
        "cpu_per_wall": cpu / max(wall, 1e-12),
        "us_per_step": med / T * 1e6,
        "us_per_step_min": min(times) / T * 1e6,
        "seconds_per_update": med,
        "first_call_seconds": first,
        "repeats": len(times),
        "number": number,
        "T": T,
    }


def median_time(fn, repeats, min_repeat_seconds):
    """(median, min) seconds of one call of fn, after a warm-up call, over `repeats` repeats."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    number = max(1, int(math.ceil(min_repeat_seconds / one)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times), min(times)



@contextlib.contextmanager
def blas_threads(threads):
    """Every BLAS loaded in this process (numpy's, scipy's, torch's) on `threads` threads inside the block,
    through threadpoolctl; yields how many BLAS libraries were limited. ``threads=None`` leaves them alone."""
    if threads is None:
        yield 0
        return
    from threadpoolctl import threadpool_info, threadpool_limits
    with threadpool_limits(limits=int(threads), user_api="blas"):
        yield sum(1 for lib in threadpool_info() if lib.get("user_api") == "blas")
