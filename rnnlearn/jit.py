"""`internal`: numba's njit for a function that only other compiled functions call.

numba compiles two wrappers for every jitted function beside its machine code: a CPython entry point that
unboxes each argument from its Python object (for a kernel handed a NamedTuple of twenty arrays, a long
stretch of code) and a C-callable one. A helper called only from kernels never uses either. Compiled without
them (numba's own `no_cpython_wrapper`, `no_cfunc_wrapper` options, the default of its `overload`), the first
compile of the default comparison takes about 15% less CPU (BENCHMARKS.md, "Start-up from an empty cache"),
the helper is still cached on disk, and the machine code of every kernel is the same.

Such a function has no entry point for Python: called from Python it raises TypeError (naming `.py_func`,
its plain-Python body) instead of jumping to a missing wrapper. Entry points called from Python (the `_chunk`
kernels, the model's forward pass, the helpers tests call) keep `numba.njit`.
"""
from __future__ import annotations

import numba
from numba.core.registry import CPUDispatcher


class KernelOnly(CPUDispatcher):
    """A dispatcher compiled without Python entry points: callable from numba functions only."""

    def __call__(self, *args, **kwargs):
        f = self.py_func
        raise TypeError(f"{f.__module__}.{f.__qualname__} is compiled for rnnlearn's kernels only (no Python "
                        f"entry point): call it from a numba function, or call {f.__qualname__}.py_func")


def internal(**options):
    """Decorator: like `numba.njit(**options)` (cache, fastmath, error_model, inline, ...), for a function
    called only from compiled code (module docstring)."""
    cache = options.pop("cache", False)
    locals_ = options.pop("locals", {})
    targetoptions = {**options, "nopython": True, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}

    def decorate(func):
        if numba.config.DISABLE_JIT:
            return func
        disp = KernelOnly(py_func=func, locals=locals_, targetoptions=targetoptions)
        if cache:
            disp.enable_caching()
        return disp
    return decorate
