"""rnnlearn: compare how recurrent networks learn.

One recurrent model interface (rnnlearn.models), interchangeable numba-compiled learners
(rnnlearn.algorithms: BPTT, TBPTT, RTRL, ...), tasks (rnnlearn.tasks) and a runner that trains them side
by side (rnnlearn compare)."""
import os as _os

# Batch-1 recurrent learning is made of small matrix products (J M in RTRL, P H in the EKF). OpenBLAS's
# thread pool makes them many times slower on a busy machine, and limiting it after it has started does not
# undo that reliably, so unless the user chose otherwise, start BLAS with one thread (this takes effect when
# rnnlearn is imported before numpy). Parallel speed comes from running independent runs side by side
# (rnnlearn compare --jobs), and `rnnlearn bench --threads` measures other settings.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, _os.environ.get("RNNLEARN_BLAS_THREADS", "1"))
# Minibatch learners open one short parallel region per window. OpenMP's default is to spin between
# regions; when another process holds a core, a spinning thread costs a whole scheduler slice (measured:
# 16 ms instead of 0.25 ms per region on 2 cores), so let threads sleep between regions instead.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from importlib.metadata import PackageNotFoundError, version as _version

# The models are imported on first use (`from rnnlearn import Elman` works as before): importing numba takes
# a third of a second, and the command line starts its worker processes before it needs any of it.
_MODELS = ("Elman", "LeakyRNN", "LSTM", "GRU", "ClockworkRNN", "ELSTM", "LRU", "Model")


def __getattr__(name):
    if name in _MODELS:
        from . import models
        return getattr(models, name)
    raise AttributeError(f"module 'rnnlearn' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_MODELS])

try:
    __version__ = _version("rnnlearn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Elman", "LeakyRNN", "LSTM", "GRU", "ClockworkRNN", "ELSTM", "LRU", "Model", "__version__"]
