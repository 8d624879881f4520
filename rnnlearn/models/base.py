"""The recurrent model interface in Python: sizes, parameter layout, initialisation, and inference.

A model is a small description (its kind and sizes); all the computing happens in the kernels of
`rnnlearn.models.cell`, which every learner calls. All parameters live in one flat float64 vector theta:
the model's recurrent blocks first, then the shared linear readout V (o, n) and c (o,), and with shortcut=True
the readout's input feed-through V_x (o, m) last (models/readout.py).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from . import cell
from .layout import DIMS_CLASSES, LOSSES
from .readout import readout
from .sequence import forward as _forward_kernel
from .sequence import total_loss


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Model:
    """Base class: subclasses set `kind`, `name` and the sizes, and say how to lay out and initialise the
    recurrent blocks. Constructor arguments are the model's whole configuration."""

    kind: ClassVar[int] = -1
    name: ClassVar[str] = ""
    #: the name of the first block of the input weights (G x m, one row per pre-activation, consecutive blocks)
    #: and the prefix of the biases that follow them (None: the model has no biases, dims' oX == ob)
    input_block: ClassVar[str] = "U"
    bias_block: ClassVar[str | None] = "b"
    #: whether the immediate Jacobian has the row form of models/immediate.py (row_form, row_factor, ...):
    #: learners built on it refuse a model without it (supports())
    has_row_form: ClassVar[bool] = True
    #: whether each unit's state depends only on its own past (a diagonal recurrence): RTRL's influence then
    #: stays per unit, n_unit_influence numbers updated by cell.unit_influence_step
    diagonal_recurrence: ClassVar[bool] = False

    def __init__(self, n_in: int, n_hidden: int, n_out: int, loss: str = "mse", shortcut: bool = False,
                 theta0: str | None = None, theta0_noise: float = 0.0):
        self.n_in = _check_size("n_in", n_in)
        self.n_hidden = _check_size("n_hidden", n_hidden)
        self.n_out = _check_size("n_out", n_out)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if not isinstance(shortcut, (bool, np.bool_)):
            raise ValueError(f"shortcut must be True or False, got {shortcut!r}")
        self.loss = loss
        self.shortcut = bool(shortcut)
        blocks = self.recurrent_blocks() + [("V", (self.n_out, self.n_hidden)), ("c", (self.n_out,))]
        if self.shortcut:  # the readout's input feed-through, last: without it theta is as it always was
            blocks.append(("Vx", (self.n_out, self.n_in)))
        self._offsets = {}
        off = 0
        for name, shape in blocks:
            size = int(np.prod(shape))
            self._offsets[name] = (off, shape)
            off += size
        self.n_params = off
        self.n_rec = self._offsets["V"][0]
        # the kernels' view of the model: a tuple whose class says the kind (layout.py). The parameter
        # offsets are set here once: W first, then U (G x m), b (G), then the model's extras (LSTM's
        # peepholes, GRU's b_hr), then the readout; every kernel reads them from dims.
        G = int(self.n_delta)
        oU = self._offsets[next(name for name, _ in blocks if name.startswith(self.input_block))][0]
        if self.bias_block is None:  # no biases: oX == ob says so to the generic kernels (project_inputs)
            ob = oX = oU + G * self.n_in
        else:
            ob = self._offsets[next(name for name, _ in blocks if name.startswith(self.bias_block))][0]
            if ob != oU + G * self.n_in:
                raise AssertionError(f"{type(self).__name__}: the biases must follow U (G x m) in theta")
            oX = ob + G
        self.dims = DIMS_CLASSES[self.kind](
            kind=self.kind, m=self.n_in, n=self.n_hidden, o=self.n_out, loss=LOSSES[loss], S=int(self.n_state),
            G=G, C=int(self.n_cache), prec=self.n_rec, P=self.n_params, oU=oU, oW=0, ob=ob, oX=oX,
            R=int(self.n_rows), NX=int(self.n_extra), oY=self._offsets["Vx"][0] if self.shortcut else -1)
        self._row_layout = None
        self.aux = np.ascontiguousarray(self.make_aux(), dtype=np.float64)
        self.theta0, self.theta0_noise, self._theta0 = None, 0.0, None
        if theta0 is not None or theta0_noise != 0.0:
            self.start_from(theta0, theta0_noise)

    # --- what a subclass defines -------------------------------------------------------------------
    n_state: int      # S: size of the state s_t (h first)
    n_delta: int      # G: size of the pre-activation gradient per step
    n_cache: int = 0  # C: floats kept per step for the derivatives

    @property
    def n_rows(self) -> int:
        """R: rows of the row form of the immediate Jacobian (models/immediate.py); G unless said."""
        return self.n_delta

    @property
    def n_extra(self) -> int:
        """Recurrent parameters outside the row form (LSTM's peepholes)."""
        return 0

    @property
    def n_unit_influence(self) -> int:
        """U: the length of the compact influence vector m of a diagonal recurrence (cell.py); 0 otherwise."""
        return 0

    def recurrent_blocks(self) -> list[tuple[str, tuple]]:
        raise NotImplementedError

    def init_recurrent(self, rng: np.random.Generator, p: dict) -> None:
        raise NotImplementedError

    def make_aux(self) -> np.ndarray:
        return np.zeros(1)

    #: hidden sizes this model kind accepts are multiples of it (the clockwork RNN's: its module count)
    @property
    def size_step(self) -> int:
        return 1

    def resized(self, n_hidden: int) -> "Model":
        """The same model with n_hidden hidden units (a multiple of size_step), from a fresh initialisation
        (a theta0 is for this model's size only)."""
        cfg = {k: v for k, v in self.config().items() if k not in ("theta0", "theta0_noise")}
        return type(self)(**{**cfg, "n_hidden": int(n_hidden)})

    @classmethod
    def spec_label(cls, params: dict) -> str | None:
        """A short label for figures of a model spec with these parameters; None: the spec itself."""
        return None

    def config(self) -> dict:
        """Constructor arguments, enough to rebuild the model: type(self)(**model.config()). shortcut only
        when on (configs, and the hashes of runs, made before it existed stay as they were)."""
        cfg = {"n_in": self.n_in, "n_hidden": self.n_hidden, "n_out": self.n_out, "loss": self.loss}
        if self.shortcut:
            cfg["shortcut"] = True
        if self.theta0 is not None:   # likewise: only when set
            cfg["theta0"] = self.theta0
            if self.theta0_noise:
                cfg["theta0_noise"] = self.theta0_noise
        return cfg

    def start_from(self, path, noise: float = 0.0) -> None:
        """Make init_params return the parameters saved at `path` (a .npy of n_params floats, or the .npz of
        a model that `compare --save-models` saved) plus uniform noise in [-noise, noise] drawn from the
        seed, instead of a fresh initialisation. The file is read and checked here, once (ValueError naming
        it: missing, unreadable, wrong size, not finite). Runs are keyed by the path, not the file's
        contents: a changed file needs a new path or a new results folder."""
        if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)) \
                or not np.isfinite(noise) or noise < 0:
            raise ValueError(f"theta0_noise must be a finite number >= 0, got {noise!r}")
        if path is None:
            raise ValueError(f"theta0_noise={noise!r} needs theta0=PATH (the parameters to add noise to)")
        import os
        p = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
        if p is None or not os.path.isfile(p):
            raise ValueError(f"theta0 must name a saved parameter file (.npy or .npz); {path!r} does not exist")
        try:
            with open(p, "rb") as fh:
                data = np.load(fh, allow_pickle=False)
                if isinstance(data, np.lib.npyio.NpzFile):
                    with data:
                        if "theta" not in data:
                            raise ValueError(f"theta0: {p!r} has no theta array (not a saved model)")
                        data = data["theta"]
                theta = np.array(data, dtype=np.float64)
        except ValueError as exc:
            if str(exc).startswith("theta0:"):
                raise
            raise ValueError(f"theta0: {p!r} is not a .npy or .npz of floats ({exc})") from None
        except (OSError, EOFError) as exc:
            raise ValueError(f"theta0: {p!r} is not a .npy or .npz of floats ({type(exc).__name__})") from None
        if theta.ndim != 1 or theta.shape[0] != self.n_params:
            raise ValueError(f"theta0: {p!r} holds {theta.size} values of shape {theta.shape}, the model has "
                             f"{self.n_params} parameters")
        if not np.isfinite(theta).all():
            raise ValueError(f"theta0: {p!r} holds non-finite values")
        self.theta0, self.theta0_noise, self._theta0 = p, float(noise), theta

    # --- parameters --------------------------------------------------------------------------------
    def init_params(self, seed: int = 0) -> np.ndarray:
        """The parameters a run starts from: fresh_params(seed), or those of theta0 (start_from) plus their
        noise drawn from seed."""
        if self._theta0 is None:
            return self.fresh_params(seed)
        theta = self._theta0.copy()
        if self.theta0_noise:
            theta += np.random.default_rng([seed, 2]).uniform(-self.theta0_noise, self.theta0_noise, theta.shape)
        return theta

    def fresh_params(self, seed: int = 0) -> np.ndarray:
        """A fresh parameter vector: the model's recurrent initialisation, V ~ N(0, 1/n), c = 0, and the
        feed-through V_x = 0 (the network starts as the one without it; its gradient dy (x) x is not zero)."""
        rng = np.random.default_rng(seed)
        theta = np.zeros(self.n_params)
        p = self.unpack(theta)
        self.init_recurrent(rng, p)
        p["V"][:] = rng.normal(0.0, 1.0 / np.sqrt(self.n_hidden), size=p["V"].shape)
        return theta

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Named views into theta (no copies): writing into them changes theta."""
        theta = self._check_theta(theta)
        return {name: theta[off:off + int(np.prod(shape))].reshape(shape)
                for name, (off, shape) in self._offsets.items()}

    def offset(self, name: str) -> int:
        return self._offsets[name][0]

    @property
    def row_layout(self):
        """The static row form of the immediate Jacobian (models/immediate.py, RowLayout): for each row r,
        its hidden unit, the offsets of its recurrent-weight row (and the slice of s_{t-1} it reads), of
        its input-weight row and of its bias; and the extra parameters' indices and units. Built once, by
        the kernels' own `row_form` (so it cannot disagree with them)."""
        if self._row_layout is None:
            from .immediate import row_layout
            self._row_layout = row_layout(self)
        return self._row_layout

    def _check_theta(self, theta):
        if not (isinstance(theta, np.ndarray) and theta.dtype == np.float64 and theta.ndim == 1
                and theta.flags.c_contiguous):
            raise TypeError("theta must be a 1-D C-contiguous float64 array")
        if theta.shape[0] != self.n_params:
            raise ValueError(f"theta has {theta.shape[0]} entries, the model has {self.n_params} parameters")
        return theta

    # --- inference ---------------------------------------------------------------------------------
    def forward(self, theta, chunk, s0=None, t0: int = 0):
        """Run over a Chunk (or an (T, m) input array) from state s0 (zero by default).
        Returns states (T, S) and raw outputs y_hat (T, o) (logits for "xent")."""
        from ..tasks.base import Chunk
        theta = self._check_theta(theta)
        if not isinstance(chunk, Chunk):
            chunk = Chunk.make(chunk, np.zeros((len(chunk), self.n_out)))
        self._check_inputs(chunk.xs)
        T = len(chunk)
        s0 = np.zeros(self.n_state) if s0 is None else np.ascontiguousarray(s0, dtype=np.float64)
        states = np.empty((T, self.n_state))
        yhat = np.empty((T, self.n_out))
        _forward_kernel(self.dims, self.aux, theta, s0, chunk.xs, chunk.x_index, chunk.resets, t0, states, yhat)
        return states, yhat

    def step(self, theta, s_prev, x, xi: int = -1, t: int = 0):
        """One step: the new state and raw output from state s_prev and input x."""
        theta = self._check_theta(theta)
        s = np.empty(self.n_state)
        y = np.empty(self.n_out)
        cache = np.zeros(max(self.n_cache, 1))
        x = np.ascontiguousarray(x, dtype=np.float64)
        cell.step(self.dims, self.aux, theta, np.ascontiguousarray(s_prev, dtype=np.float64), x, int(xi), int(t), s,
                  cache)
        readout(self.dims[:], theta, s, x, int(xi), y)
        return s, y

    def sequence_loss(self, theta, chunk, s0=None) -> float:
        """Total loss sum_t mask_t l_t over a chunk."""
        _, yhat = self.forward(theta, chunk, s0)
        return float(total_loss(self.dims[:], yhat, chunk.ys, chunk.mask))

    def _check_inputs(self, xs):
        if xs.ndim not in (2, 3) or xs.shape[-1] != self.n_in:
            raise ValueError(f"inputs must have shape (T, {self.n_in}) or (B, T, {self.n_in}), got {xs.shape}")

    def check_chunk(self, chunk) -> None:
        """A chunk this model can learn from: inputs of n_in and targets of n_out columns, and one-hot
        indices inside the input (the kernels do not check bounds, so this is where shapes are checked)."""
        self._check_inputs(chunk.xs)
        if chunk.ys.shape[-1] != self.n_out or chunk.ys.shape[:-1] != chunk.xs.shape[:-1]:
            raise ValueError(f"targets must have shape {chunk.xs.shape[:-1] + (self.n_out,)}, got {chunk.ys.shape}")
        if chunk.x_index.size and chunk.x_index.max() >= self.n_in:
            raise ValueError(f"x_index must be below n_in = {self.n_in}, got {chunk.x_index.max()}")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.config() == other.config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.config().items()))))


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A uniformly random n x n orthogonal matrix (QR of a Gaussian matrix with the sign fix of
    Mezzadri 2007), the recurrent initialisation of Saxe, McClelland and Ganguli 2014."""
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))
