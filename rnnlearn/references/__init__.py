"""The frameworks' reference implementations that ``rnnlearn bench --compare`` times rnnlearn against, one
module per framework:

===============  ==================================================================================
``numpy_ref``    plain numpy BPTT and RTRL (Python loop over time), the RNN tutorial's word LM step
``torch_ref``    torch.nn.RNN(tanh) + nn.Linear, autograd, torch.optim.SGD (CPU)        [optional]
``jax_ref``      BPTT, truncated BPTT and RTRL with lax.scan, jit-compiled, in a subprocess  [optional]
``blas_ref``     numpy's BLAS rate on RTRL's and the EKF's dominant products
``ref_common``   what they share: seeded parameters and data, the timing loop, BLAS threads
===============  ==================================================================================

Every reference trains exactly rnnlearn's Elman network (rnnlearn/models/elman.py), with one training step:

    h_0 = 0;  h_t = tanh(W h_{t-1} + U x_t + b);  y_hat_t = V h_t + c
    L = sum_t 0.5 ||y_hat_t - y_t||^2,  t = 1..T,  batch 1,  float64
    W n x n, U n x m, b n, V o x n, c o

One *training step* (one "update") is forward over the T steps, backward, and a plain SGD update of all five
parameters with learning rate ``lr``. Timings are microseconds per time step: the median wall time of one
update divided by T. Each timing function returns a dict with at least ``us_per_step`` and ``loss``; for the
tests, ``*_update`` functions take and return parameter dicts.

* ``loss`` is the loss of the *first* update from the seeded initial parameters, so the same seed gives the
  same number in every backend (a cheap check that they compute the same network); ``loss_last`` the loss
  at the end of the timed runs.
* Timing: warm up first (including JIT compilation, reported as ``first_call_seconds``), calibrate a
  ``number`` of updates per repeat so one repeat lasts at least ``min_repeat_seconds``, run ``repeats``
  repeats, report the median (``us_per_step``) and the minimum (``us_per_step_min``).
* Threads: ``threads`` sets every BLAS in the process through threadpoolctl (ref_common.blas_threads), torch's
  own pool (torch_ref) and XLA's flags (jax_ref, in a fresh subprocess). Compare against ``threads=1``.

Each framework module lists what it times in ``TIMED``: (the algorithm it reimplements, its timing function
``fn(n, m, o, threads)``, its own size cap or None); an optional one names the framework it needs in ``NEEDS``
(torch and jax: ``pip install 'rnnlearn[bench]'``). A new framework is one module and one line in FRAMEWORKS.
"""
from __future__ import annotations

import importlib
import importlib.util

from .ref_common import INSTALL_HINT

#: the name --compare takes -> the module of its references
FRAMEWORKS = {"torch": "torch_ref", "jax": "jax_ref", "numpy": "numpy_ref", "blas": "blas_ref"}


def available_backends() -> list[str]:
    """The optional frameworks importable here, e.g. ``['torch', 'jax']`` (without importing them)."""
    return [name for name in ("torch", "jax") if importlib.util.find_spec(name) is not None]


def load(name: str):
    """The reference module of framework `name`; ValueError (one line) for an unknown name or an optional
    framework that is not installed (naming the pip extra)."""
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown reference {name!r}; choose from {', '.join(FRAMEWORKS)}")
    module = importlib.import_module(f"{__name__}.{FRAMEWORKS[name]}")
    needs = getattr(module, "NEEDS", None)
    if needs and importlib.util.find_spec(needs) is None:
        raise ValueError(f"the {name} reference needs {needs}, which is not installed: {INSTALL_HINT}")
    return module
