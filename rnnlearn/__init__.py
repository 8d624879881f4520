"""rnnlearn: compare how recurrent networks learn.

One recurrent model interface (rnnlearn.models), interchangeable numba-compiled learners
(rnnlearn.algorithms: BPTT, TBPTT, RTRL, ...), tasks (rnnlearn.tasks) and a runner that trains them side
by side (rnnlearn compare)."""
from importlib.metadata import PackageNotFoundError, version as _version

from .models import Elman, Model

try:
    __version__ = _version("rnnlearn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Elman", "Model", "__version__"]
