"""What every learner is, and what it says about itself.

A learner is a small object (optax's idea): hyperparameters in the constructor and nothing else there
(scikit-learn's rule), `init` returning the arrays it owns, `train` learning from a chunk of a stream inside
one compiled call, and, for gradient learners, `gradient` for the fixed-parameter gradient of a sequence
(what the correctness tests compare).

Everything the package needs to know about a learner is declared on its class, and nowhere else (diffrax's
solvers carry their order the same way): its display name, default learning rate, the hyperparameters that
label it, its declared cost per step as powers of n, its FLOPs per step where known, its bench settings and
size cap, and its capabilities as base classes (`OwnUpdate`, `Minibatch`, `Stochastic`, `ExactGradient`).
The commands, the runner, the sweep, the plots and the bench read these; `register` checks them when a
learner joins the registry (rnnlearn.algorithms.LEARNERS).
"""
from __future__ import annotations

import inspect
from typing import ClassVar, NamedTuple

import numpy as np

from rnnlearn.optim import Optimizer, sgd
from rnnlearn.tasks.base import Chunk


class Diverged(RuntimeError):
    """A run stopped being numerically meaningful (NaN loss, covariance no longer positive definite).
    `step` is the absolute step at which it did, when known (the kernels report it)."""

    def __init__(self, message="", step=None):
        super().__init__(message)
        self.step = step


# status codes returned by the kernels
OK = 0
NONFINITE_LOSS = 1
NOT_POSITIVE_DEFINITE = 2  # EKF: a covariance stopped being symmetric positive definite
NONFINITE_JACOBIAN = 3     # EKF: the measurement Jacobian H_t overflowed (exploding influence matrix)


class Range(NamedTuple):
    """One hyperparameter's range in a learner's search space (`Learner.search_space`): uniform in
    [low, high], or log-uniform when `log` (rates and noise levels, whose scale is what matters)."""
    low: float
    high: float
    log: bool = True


#: GradientLearner's search space: the learning rate log-uniform over default_lr / LR_SPAN .. default_lr * LR_SPAN
#: (three decades around the hand-tuned rate: DeepOBS's grid spans seven, but the default rates here are
#: measured on the add task already)
LR_SPAN = 10 ** 1.5


class ChunkArrays(NamedTuple):
    """A chunk's arrays as the kernels take them (one argument; Chunk itself is a dataclass, which numba does
    not take). Rows are time steps; a minibatch has a leading batch axis on each."""
    xs: np.ndarray      # (T, m) float64
    ys: np.ndarray      # (T, o) float64
    mask: np.ndarray    # (T,) float64
    resets: np.ndarray  # (T,) bool
    xis: np.ndarray     # (T,) int64: one-hot index or -1

    @classmethod
    def of(cls, chunk: Chunk) -> "ChunkArrays":
        return cls(chunk.xs, chunk.ys, chunk.mask, chunk.resets, chunk.x_index)


class Learner:
    """Base class of the learners. A subclass declares the facts below and implements `init` and `_run`."""

    # ---- what a learner declares about itself ---------------------------------------------------------
    #: registry name, as written on the command line and stored in results
    name: ClassVar[str] = ""
    #: name in figures and tables
    display_name: ClassVar[str] = ""
    #: the paper (author year) the learner implements
    reference: ClassVar[str] = ""
    #: plain-SGD learning rate used when a run names none (measured on the add task, Elman n = 32);
    #: None for learners that make their own update
    default_lr: ClassVar[float | None] = None
    #: hyperparameters always shown in a label, even at their defaults (they say what the method is)
    key_params: ClassVar[tuple[str, ...]] = ()
    #: declared cost per time step of the default configuration, as powers of n (see `cost_exponents`)
    time_exponent: ClassVar[float | None] = None
    memory_exponent: ClassVar[float | None] = None
    #: largest n the bench and the cost sweep time by default (None: no cap)
    bench_max_n: ClassVar[int | None] = None
    #: learners that run the same compiled kernel share a family (they compile once between them)
    kernel_family: ClassVar[str] = ""
    #: rough seconds to compile the kernel family from an empty cache on the machine of BENCHMARKS.md; the
    #: runner starts the costliest families first, side by side, on a fresh install
    compile_seconds: ClassVar[float] = 5.0

    def compiles_after(self) -> tuple[str, ...]:
        """The kernel families whose compiled kernels this configuration's kernels call (the EKF's and DNI's
        calls into truncated BPTT's ring code, say). From an empty cache they compile faster once those are on
        disk, so the runner starts them a little after those families (runner._schedule)."""
        return ()

    def cost_exponents(self) -> tuple[float, float]:
        """(time, memory) per step as powers of n, for this configuration: the one source the cost figure,
        the bench, the runner and the tests read. Subclasses whose cost depends on a hyperparameter override it."""
        return float(self.time_exponent), float(self.memory_exponent)

    def model_cost_exponents(self, model) -> tuple[float, float]:
        """cost_exponents on a given model: the same unless the learner's cost depends on the model's structure
        (RTRL on a diagonal recurrence). The bench and the memory check read this one when they have a model."""
        return self.cost_exponents()

    def flops_per_step(self, model) -> float | None:
        """The dominant floating-point work of one step, where it is known (for a GFLOP/s figure)."""
        return None

    def max_n(self) -> int | None:
        """Largest n the bench and the cost sweep time this configuration at by default (None: no cap)."""
        return self.bench_max_n

    def bench_fits(self, model) -> bool:
        """Whether the bench and the cost sweep time this configuration on `model` by default."""
        cap = self.max_n()
        return cap is None or model.n_hidden <= cap

    @classmethod
    def bench_params(cls, T: int) -> dict:
        """Hyperparameters the bench times this learner with on sequences of T steps (others: defaults)."""
        return {}

    def supports(self, model) -> str | None:
        """None when this learner can train `model`, else the reason it cannot (one line)."""
        return None

    def search_space(self) -> dict[str, Range]:
        """What `rnnlearn tune` searches for this configuration: {hyperparameter: Range}, the keys constructor
        arguments, or "lr" (the optimizer's learning rate) for gradient learners. Empty: nothing to tune."""
        return {}

    # ---- capabilities (declared by the base classes below) --------------------------------------------
    @property
    def own_update(self) -> bool:
        """True for learners that make their own update (the EKF); gradient learners use an Optimizer."""
        return isinstance(self, OwnUpdate)

    @property
    def stochastic(self) -> bool:
        return isinstance(self, Stochastic)

    @property
    def exact(self) -> bool:
        """True when `gradient` is exactly BPTT's gradient of the sequence (theta held fixed)."""
        return isinstance(self, ExactGradient)

    @property
    def batch_size(self) -> int:
        """Independent sequences trained on at once (1 unless the learner is a Minibatch learner)."""
        return int(getattr(self, "batch", 1)) if isinstance(self, Minibatch) else 1

    @classmethod
    def capabilities(cls) -> list[str]:
        """The capability base classes of this learner, by name (for `rnnlearn list`)."""
        return [c.__name__ for c in (OwnUpdate, Minibatch, Stochastic, ExactGradient) if issubclass(cls, c)]

    # ---- hyperparameters ------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise ValueError naming the bad hyperparameter (the constructor does no work)."""

    #: hyperparameters added after results were first stored, with their defaults: left out of a run's
    #: identity (its stored config and hash) while at these values, so stored results keep their hashes
    late_defaults: ClassVar[dict] = {}

    def params(self) -> dict:
        """The constructor arguments."""
        return {k: getattr(self, k) for k in _constructor_params(type(self))}

    def identity_params(self) -> dict:
        """The constructor arguments that identify a run: params() less the late_defaults at their values."""
        late = self.late_defaults
        return {k: v for k, v in self.params().items() if not (k in late and _same(late[k], v))}

    def label(self) -> str:
        """'tbptt(k1=1,k2=10)': the name with the hyperparameters that differ from their defaults, and always
        the key ones (stored with every run: nothing parses it back)."""
        shown = self._shown()
        return f"{self.name}({_format(shown, ',')})" if shown else self.name

    def display_label(self) -> str:
        """'TBPTT (k1=1, k2=10)': the label as figures show it."""
        shown = self._shown()
        return f"{self.display_name} ({_format(shown, ', ')})" if shown else self.display_name

    def _shown(self) -> dict:
        defaults = _constructor_params(type(self))
        return {k: v for k, v in self.params().items() if k in self.key_params or not _same(defaults[k], v)}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"

    # ---- running --------------------------------------------------------------------------------------
    def init(self, model, theta, optimizer: Optimizer | None = None, seed: int = 0):
        """Fresh learner state (all workspaces preallocated) for training `model` from `theta`. A stochastic
        learner seeds its random state from `seed`; the others ignore it."""
        raise NotImplementedError

    def check_model(self, model) -> None:
        """ValueError (one line) when this learner cannot train `model`."""
        why = self.supports(model)
        if why:
            raise ValueError(f"learner {self.name!r} cannot train a {model.name} network: {why}")

    def train(self, model, theta: np.ndarray, state, chunk: Chunk) -> np.ndarray:
        """Learn online from one chunk of a stream: updates theta and state in place and returns the
        per-step weighted losses (T,). Raises Diverged when the run stops being finite."""
        model._check_theta(theta)
        model.check_chunk(chunk)
        losses = np.empty(chunk.mask.shape)
        status, where = self._run(model, theta, state, chunk, True, False, losses)
        raise_status(status, where)
        return losses

    def _run(self, model, theta, state, chunk, update: bool, flush: bool, losses) -> tuple[int, int]:
        raise NotImplementedError

    def update_period(self, model) -> int:
        """Steps between two of the learner's parameter updates when it trains (1: every step; truncated
        BPTT: k1). rnnlearn.alignment compares gradients over windows that are a multiple of it."""
        window = getattr(self, "_window", None)
        return int(window[0]) if isinstance(window, tuple) else 1

    def end_window(self, model, state) -> None:
        """After `_run(update=False)` over a window that rnnlearn.alignment then applies as one update: make
        the learner's own learning of anything besides theta (DNI's synthetic-gradient module), which the
        kernels sum in gradient mode instead of applying, take effect, as training would have (default:
        nothing to do)."""

    def state_bytes(self, state) -> int:
        """Memory the learner's state holds, in bytes (what it costs to keep, per step, beyond theta)."""
        return _nbytes(state)

    def state_nbytes(self, model, optimizer: Optimizer | None = None) -> int:
        """What `state_bytes(init(model, theta, optimizer))` will be, found before anything of that size is
        allocated (rnnlearn.memory checks a run against the memory available with it).

        The size of every array a learner keeps is a polynomial in the hidden size n (the model's other sizes
        fixed) of low degree: the EKF's covariance, p^2 with p ~ n^2, is degree 4. So `init` runs on seven
        small copies of the model (model.resized), the exact interpolating polynomial through six of them
        (rational arithmetic) is checked against the seventh and evaluated at the model's n. One source,
        `init` itself, and exact; tests/test_registry.py holds every learner to its measured state. A learner
        whose state is not polynomial in n says so here (NotImplementedError) and must override this."""
        from fractions import Fraction
        self.check_model(model)  # a model it cannot train: its one-line reason, not an error of init's
        step = model.size_step
        ns = [step * j for j in range(1, 8)]
        ys = [self.state_bytes(self.init(small, small.init_params(0), optimizer))
              for small in (model.resized(k) for k in ns)]

        def interpolate(xs, vs, x):
            total = Fraction(0)
            for i, (xi, vi) in enumerate(zip(xs, vs)):
                term = Fraction(vi)
                for j, xj in enumerate(xs):
                    if j != i:
                        term *= Fraction(x - xj, xi - xj)
                total += term
            return total

        if interpolate(ns[:6], ys[:6], ns[6]) != ys[6]:
            raise NotImplementedError(f"learner {self.name!r}: its state is not a polynomial of degree <= 5 in n;"
                                      " it must declare state_nbytes(model, optimizer)")
        return int(interpolate(ns[:6], ys[:6], model.n_hidden))

    def __getstate__(self):
        # a learner pickles as its hyperparameters: the workspaces `gradient` keeps are not sent along
        return {k: v for k, v in vars(self).items() if not k.startswith("_cached")}


class GradientLearner(Learner):
    """A learner that hands a gradient to a separate optimizer (rnnlearn.optim)."""

    default_lr: ClassVar[float | None] = 0.01

    def search_space(self) -> dict[str, Range]:
        """The learning rate, log-uniform over three decades around the class's default_lr (`LR_SPAN`)."""
        return {"lr": Range(self.default_lr / LR_SPAN, self.default_lr * LR_SPAN)}

    def gradient(self, model, theta, xs, ys, mask=None, resets=None, x_index=None, seed: int = 0):
        """(loss, grad) of one sequence with theta held fixed: loss = sum_t mask_t l_t, and grad the
        learner's gradient estimate summed over the sequence (for exact learners, dL/dtheta). Learners with
        batch > 1 take (B, T, ...) arrays: the loss is summed over the batch, the gradient is the batch's
        mean. `seed` seeds a stochastic learner's random draws.

        Calling it in a loop costs little beyond the compiled call: the learner keeps the state of its last
        call (private, filled on first use) and, when the model (its dims and aux), the sequence's shape and
        the hyperparameters are the same, resets it in place (`_reset`) instead of allocating a new one.
        theta is not copied: with update=False the kernels never write it."""
        model._check_theta(theta)
        key = (model.dims, model.aux.tobytes(), np.shape(xs), self._hyper_key())
        cached = self.__dict__.get("_cached_gradient")
        hit = cached is not None and cached[0] == key
        if not hit:  # a hit has these hyperparameters, checked when its state was made
            self.check()
        if hit and mask is None and resets is None and x_index is None and _plain(xs) and _plain(ys) \
                and ys.shape[:-1] == xs.shape[:-1] and ys.shape[-1] == model.n_out:
            chunk = Chunk(xs, ys, *cached[3])  # what Chunk.make and check_chunk would give and pass
        else:
            if hit:  # the neutral mask, resets and x_index of this shape, made once (kernels only read them)
                mask, resets, x_index = (cached[3][i] if a is None else a
                                         for i, a in enumerate((mask, resets, x_index)))
            chunk = Chunk.make(xs, ys, mask, resets, x_index)
            model.check_chunk(chunk)
        if hit and self._reset(model, cached[1], seed):
            state, losses = cached[1], cached[2]
        else:
            self.check_model(model)
            state = self.init(model, theta, sgd(1.0), seed=seed)
            losses = np.empty(chunk.mask.shape)
            neutral = Chunk.make(chunk.xs, chunk.ys)
            self._cached_gradient = (key, state, losses, (neutral.mask, neutral.resets, neutral.x_index))
        status, where = self._run(model, theta, state, chunk, False, True, losses)
        raise_status(status, where)
        return float(losses.sum()), state.gacc.copy()

    def _hyper_key(self):
        """The hyperparameters, hashable and compared exactly (what the cached state of `gradient` depends on)."""
        return tuple((k, v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                     for k, v in vars(self).items() if not k.startswith("_"))

    def _reset(self, model, state, seed) -> bool:
        """Bring a state that `init` made for this model and that `_run` has used back to what `init` returns,
        in place, without allocating (as far as `_run` with update=False can tell: workspaces a run overwrites
        before reading may keep old values). A stochastic learner reseeds its random state from `seed`.
        Returns False when it cannot (the default: `gradient` then calls `init`)."""
        return False


# ---- capabilities, as base classes ----------------------------------------------------------------------

class OwnUpdate(Learner):
    """Makes its own parameter update (no optimizer, no learning rate): the EKF."""

    default_lr: ClassVar[float | None] = None


class Minibatch(Learner):
    """Takes a `batch` hyperparameter: trains on that many independent sequences at once."""


class Stochastic(Learner):
    """Draws random numbers while it learns (UORO's and KF-RTRL's signs, KeRNL's noise, random feedback),
    seeded through `init(..., seed)` and `gradient(..., seed)`, so the same seed gives the same numbers in any
    process. Draws made inside the kernels come from a state the learner owns: a SplitMix64 word
    (algorithms/signs.py: UORO, KF-RTRL, R-KF-RTRL) or a numpy Generator (KeRNL; numba unboxes one at every
    kernel call, about 15 us); draws made once in `init` (random feedback matrices) from `make_rng`."""

    @staticmethod
    def make_rng(seed: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(int(seed)))


class ExactGradient(Learner):
    """`gradient` is exactly the gradient of the sequence's loss (what BPTT computes), to rounding."""


# ---- the registry -----------------------------------------------------------------------------------------

def degree_in_n(model, count) -> float:
    """The degree in n of count(model), a polynomial in the hidden size (the model's other sizes fixed)."""
    step = model.size_step
    vals = [count(model.resized(step * j)) for j in range(1, 7)]
    for d in range(5):
        if len(set(vals)) == 1:
            return float(d)
        vals = [b - a for a, b in zip(vals, vals[1:])]
    return 5.0


def register(cls):
    """Add a learner class to rnnlearn.algorithms.LEARNERS after checking what it declares (a decorator)."""
    from rnnlearn.algorithms import LEARNERS
    problems = declaration_problems(cls)
    if problems:
        raise TypeError(f"learner class {cls.__name__}: " + "; ".join(problems))
    if cls.name in LEARNERS and LEARNERS[cls.name] is not cls:
        raise TypeError(f"learner name {cls.name!r} is taken by {LEARNERS[cls.name].__name__}")
    LEARNERS[cls.name] = cls
    return cls


def declaration_problems(cls) -> list[str]:
    """What a learner class fails to declare (empty when it is complete)."""
    out = []
    if not (isinstance(cls, type) and issubclass(cls, Learner)):
        return ["not a Learner subclass"]
    if not cls.name or not cls.name.replace("_", "").isalnum() or not cls.name.islower():
        out.append(f"name must be a lower-case identifier, got {cls.name!r}")
    if not cls.display_name:
        out.append("display_name is not set")
    if not cls.reference:
        out.append("reference (the paper) is not set")
    for attr in ("time_exponent", "memory_exponent"):
        v = getattr(cls, attr)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            out.append(f"{attr} must be a number >= 0, got {v!r}")
    if issubclass(cls, OwnUpdate):
        if cls.default_lr is not None:
            out.append("an OwnUpdate learner has no default_lr")
    elif not issubclass(cls, GradientLearner):
        out.append("a learner is a GradientLearner or an OwnUpdate learner")
    elif not (isinstance(cls.default_lr, float) and cls.default_lr > 0):
        out.append(f"default_lr must be a positive float, got {cls.default_lr!r}")
    try:
        params = _constructor_params(cls)
    except TypeError as exc:
        return out + [str(exc)]
    try:
        space = cls().search_space()
        for k, r in space.items():
            if not (k in params or (k == "lr" and issubclass(cls, GradientLearner))):
                out.append(f"search_space key {k!r} is neither a constructor argument nor lr")
            elif not (isinstance(r, Range) and r.low < r.high and (r.low > 0 or not r.log)):
                out.append(f"search_space {k!r}: expected a Range with low < high (> 0 when log), got {r!r}")
    except Exception as exc:  # noqa: BLE001 - reported as a declaration problem
        out.append(f"search_space() fails: {exc}")
    missing = [k for k in cls.key_params if k not in params]
    if missing:
        out.append(f"key_params {missing} are not constructor arguments")
    if issubclass(cls, Minibatch) and "batch" not in params:
        out.append("a Minibatch learner takes a batch argument")
    try:
        learner = cls()
        if learner.params() != params:
            out.append("the constructor must store each argument under its own name and do nothing else")
        learner.check()
    except Exception as exc:  # noqa: BLE001 - reported as a declaration problem
        out.append(f"the default configuration fails: {exc}")
    return out


# ---- helpers ----------------------------------------------------------------------------------------------

def _constructor_params(cls) -> dict:
    """{name: default} of the constructor's arguments (every one must have a default)."""
    out = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"constructor argument {p.name!r} has no default")
        out[p.name] = p.default
    return out


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b) or (isinstance(a, float) and isinstance(b, (int, float))
                                                          and not isinstance(b, bool) and float(b) == a)
    except Exception:  # noqa: BLE001 - arrays and the like: shown
        return False


def _format(params: dict, sep: str) -> str:
    return sep.join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _nbytes(obj) -> int:
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, tuple):
        return sum(_nbytes(v) for v in obj)
    if hasattr(obj, "__dict__"):
        return sum(_nbytes(v) for v in vars(obj).values())
    return 0


def _plain(a) -> bool:
    """An array Chunk.make would take as it is."""
    return type(a) is np.ndarray and a.dtype == np.float64 and a.flags.c_contiguous


def raise_status(status, where):
    """Turn a kernel's status code into Diverged with its reason (OK: nothing)."""
    if status == OK:
        return
    if status == NONFINITE_LOSS:
        raise Diverged(f"non-finite loss at step {where}", where)
    if status == NOT_POSITIVE_DEFINITE:
        raise Diverged(f"covariance not positive definite at step {where}", where)
    if status == NONFINITE_JACOBIAN:
        raise Diverged(f"non-finite measurement Jacobian at step {where}", where)
    raise Diverged(f"kernel status {status} at step {where}", where)


def row_form_missing(model) -> str | None:
    """supports()'s reason for a learner built on the row form of the immediate Jacobian (models/immediate.py)
    when `model` does not have it (Model.has_row_form), else None."""
    if model.has_row_form:
        return None
    return ("it is built on the row form of the immediate Jacobian (models/immediate.py), which this model "
            "does not have (its output sees every recurrent parameter in the same step)")


def check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_number(name, value, lo=None, hi=None, lo_open=False):
    """A finite float in [lo, hi] (or (lo, hi] with lo_open); ValueError naming the hyperparameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
        rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}{']' if hi is not None else ')'}"
        raise ValueError(f"{name} must be a finite number in {rng}, got {value!r}")
    return v
