"""rnnlearn.jit.internal: helpers compiled without Python entry points (a smaller first compile) stay callable
from kernels, cached on disk, and refuse a call from Python with a clear error instead of crashing."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from rnnlearn.jit import KernelOnly, internal


@internal(fastmath=True)
def _twice_plus(v, c):
    for j in range(v.shape[0]):
        v[j] = 2.0 * v[j] + c


@njit
def _caller(v):
    _twice_plus(v, 1.0)
    return v.sum()


def test_an_internal_helper_runs_inside_a_kernel():
    v = np.arange(4.0)
    assert _caller(v) == pytest.approx(2 * 6.0 + 4.0)
    assert np.array_equal(v, [1.0, 3.0, 5.0, 7.0])
    assert isinstance(_twice_plus, KernelOnly)


def test_an_internal_helper_called_from_python_raises_a_clear_error():
    with pytest.raises(TypeError, match=r"_twice_plus is compiled for rnnlearn's kernels only.*py_func"):
        _twice_plus(np.zeros(2), 1.0)
    v = np.zeros(2)
    _twice_plus.py_func(v, 1.0)   # its plain-Python body still runs
    assert np.array_equal(v, [1.0, 1.0])


def test_a_kernel_of_internal_helpers_loads_from_the_disk_cache(tmp_path):
    """A second process loads a kernel built on internal helpers from numba's cache, compiling nothing."""
    mod = tmp_path / "kernels_with_helpers.py"
    mod.write_text(textwrap.dedent("""
        from numba import njit
        from rnnlearn.jit import internal

        @internal(cache=True)
        def helper(x):
            return 3.0 * x

        @njit(cache=True)
        def kernel_chunk(x):
            return helper(x) + 1.0
    """))
    code = ("import kernels_with_helpers as k\n"
            "assert k.kernel_chunk(2.0) == 7.0\n"
            "print(sum(k.kernel_chunk.stats.cache_hits.values()),"
            " sum(k.kernel_chunk.stats.cache_misses.values()))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
           "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split() == ["0", "1"]    # compiled
    assert second.stdout.split() == ["1", "0"]   # loaded
