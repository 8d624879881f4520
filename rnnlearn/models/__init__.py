"""Recurrent models behind one interface (models/cell.py): the Python classes describe a model; the kernels in
`cell` compute with it.

Every model takes shortcut=True (default False): the readout also reads the input, y_hat_t = V h_t + V_x x_t + c
(Gers and Schmidhuber 2001's input-to-output shortcut connections; models/readout.py). V_x (o, m) is theta's
last block and starts at zero (uniform like the other weights under the LSTM's init="uniform").

Every model takes theta0=PATH (default none): training starts from the parameters saved there (a .npy of
model.n_params floats, or a model .npz of `compare --save-models`) instead of the model's initialisation,
plus, with theta0_noise=a > 0, uniform noise in [-a, a] drawn from the run's initialisation seed
(Model.start_from)."""
import numpy as np

from .base import Model, _check_size, orthogonal
from .layout import CLOCKWORK, ELMAN, ELSTM, GRU, LEAKY, LRU as LRU_KIND, LSTM
from .losses import softmax


def _check_finite(name, v):
    """ValueError naming the option unless v is a finite real number (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")


class Elman(Model):
    """Elman network (Elman 1990): h_0 = 0; h_t = tanh(W h_{t-1} + U x_t + b); y_hat_t = V h_t + c.

    Blocks: W (n, n), U (n, m), b (n,), V (o, n), c (o,). W starts orthogonal (Saxe et al. 2014),
    U ~ N(0, 1/m), b = 0."""

    kind = ELMAN
    name = "elman"

    @classmethod
    def spec_label(cls, params):
        return "Elman"

    @property
    def n_state(self):
        return self.n_hidden

    @property
    def n_delta(self):
        return self.n_hidden

    def recurrent_blocks(self):
        n, m = self.n_hidden, self.n_in
        return [("W", (n, n)), ("U", (n, m)), ("b", (n,))]

    def init_recurrent(self, rng, p):
        p["W"][:] = orthogonal(rng, self.n_hidden)
        p["U"][:] = rng.normal(0.0, 1.0 / np.sqrt(self.n_in), size=p["U"].shape)


class LeakyRNN(Model):
    """Leaky rate network (Marschall, Cho and Savin 2020, JMLR 21; Murray 2019's discretised rate units):
    a_0 = 0; a_t = (1 - alpha) a_{t-1} + alpha tanh(W a_{t-1} + U x_t + b); y_hat_t = V a_t + c, with the
    leak 0 < alpha <= 1 (alpha = dt / tau; alpha = 1 is the Elman network). Kernels: rnnlearn/models/leaky.py.

    Blocks and initialisation as Elman's: W (n, n) orthogonal (Saxe et al. 2014), U (n, m) ~ N(0, 1/m),
    b (n,) = 0; then V (o, n), c (o,)."""

    kind = LEAKY
    name = "leaky"

    def __init__(self, n_in: int, n_hidden: int, n_out: int, loss: str = "mse", alpha: float = 1.0,
                 shortcut: bool = False,
                 theta0: str | None = None, theta0_noise: float = 0.0):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
                or not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be a number in (0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        super().__init__(n_in, n_hidden, n_out, loss, shortcut, theta0, theta0_noise)

    @property
    def n_state(self):
        return self.n_hidden

    @property
    def n_delta(self):
        return self.n_hidden

    @property
    def n_cache(self):
        return self.n_hidden  # r_t = tanh(z_t): its slope is every derivative's

    recurrent_blocks = Elman.recurrent_blocks
    init_recurrent = Elman.init_recurrent

    def make_aux(self):
        return np.array([self.alpha])

    def config(self):
        return {**super().config(), "alpha": self.alpha}


class LSTM(Model):
    """LSTM with a forget gate (Gers et al. 2000) and optional peepholes; state s = (h, c), h first.

    Gers, Schmidhuber & Cummins 2000 (forget gate); peepholes: Gers & Schmidhuber 2000. Kernels and
    equations: rnnlearn/models/lstm.py.

    Blocks (one per gate, in this order in theta): W_i, W_f, W_o, W_g (n, n); U_i, U_f, U_o, U_g (n, m);
    b_i, b_f, b_o, b_g (n,); with peephole=True also p_i, p_f, p_o (n,), the diagonal peephole weights
    from c_{t-1} to the input and forget gates and from c_t to the output gate; then V (o, n), c (o,).
    The per-gate W blocks are consecutive, so together they are W (4n, n) row-major (same for U, b).

    Initialisation: each gate's W_q orthogonal (Saxe et al. 2014), U ~ N(0, 1/m), biases 0 except the
    forget-gate bias b_f = 1, so that f starts near sigma(1) = 0.73 and the cell keeps its contents while
    learning begins (Gers et al. 2000 start forget gates open; Jozefowicz, Zaremba & Sutskever 2015 found
    b_f = 1 the most useful single change); peephole weights 0.

    init="uniform" is instead Gers and Schmidhuber's (2001) scheme: every weight (W, U, the peepholes and
    the readout V, c) uniform in [-init_scale, init_scale] (theirs: 0.1), and the gate biases b_i, b_f, b_o
    set to the given values (b_g = 0), e.g. their negative input and output gate biases (and the readout's
    feed-through V_x with shortcut=True, their input-to-output shortcut connections). b_i, b_f, b_o apply
    with either init (defaults 0, 1, 0: the orthogonal init above)."""

    kind = LSTM
    name = "lstm"
    GATES = ("i", "f", "o", "g")

    INIT_DEFAULTS = {"init": "orthogonal", "init_scale": 0.1, "b_i": 0.0, "b_f": 1.0, "b_o": 0.0}

    def __init__(self, n_in: int, n_hidden: int, n_out: int, loss: str = "mse", peephole: bool = False,
                 init: str = "orthogonal", init_scale: float = 0.1, b_i: float = 0.0, b_f: float = 1.0,
                 b_o: float = 0.0, shortcut: bool = False,
                 theta0: str | None = None, theta0_noise: float = 0.0):
        if not isinstance(peephole, (bool, np.bool_)):
            raise ValueError(f"peephole must be True or False, got {peephole!r}")
        if init not in ("orthogonal", "uniform"):
            raise ValueError(f"init must be 'orthogonal' or 'uniform', got {init!r}")
        for name, v in (("init_scale", init_scale), ("b_i", b_i), ("b_f", b_f), ("b_o", b_o)):
            _check_finite(name, v)
        if not init_scale > 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale!r}")
        self.peephole = bool(peephole)
        self.init, self.init_scale = init, float(init_scale)
        self.b_i, self.b_f, self.b_o = float(b_i), float(b_f), float(b_o)
        super().__init__(n_in, n_hidden, n_out, loss, shortcut, theta0, theta0_noise)

    @property
    def n_state(self):
        return 2 * self.n_hidden

    @property
    def n_delta(self):
        return 4 * self.n_hidden

    @property
    def n_cache(self):
        return (6 if self.peephole else 5) * self.n_hidden

    @property
    def n_extra(self):
        return 3 * self.n_hidden if self.peephole else 0  # the peepholes: outside the row form

    def recurrent_blocks(self):
        n, m = self.n_hidden, self.n_in
        blocks = [(f"W_{q}", (n, n)) for q in self.GATES]
        blocks += [(f"U_{q}", (n, m)) for q in self.GATES]
        blocks += [(f"b_{q}", (n,)) for q in self.GATES]
        if self.peephole:
            blocks += [(f"p_{q}", (n,)) for q in ("i", "f", "o")]
        return blocks

    def init_recurrent(self, rng, p):
        if self.init == "uniform":
            a = self.init_scale
            for name, block in p.items():
                if not name.startswith("b_"):
                    block[:] = rng.uniform(-a, a, size=block.shape)
        else:
            for q in self.GATES:
                p[f"W_{q}"][:] = orthogonal(rng, self.n_hidden)
                p[f"U_{q}"][:] = rng.normal(0.0, 1.0 / np.sqrt(self.n_in), size=p[f"U_{q}"].shape)
        p["b_i"][:] = self.b_i
        p["b_f"][:] = self.b_f
        p["b_o"][:] = self.b_o

    def fresh_params(self, seed: int = 0):
        theta = super().fresh_params(seed)
        if self.init == "uniform":  # the readout too (the base class draws V ~ N(0, 1/n) after the rest)
            p = self.unpack(theta)
            rng = np.random.default_rng([seed, 1])
            p["V"][:] = rng.uniform(-self.init_scale, self.init_scale, size=p["V"].shape)
            p["c"][:] = rng.uniform(-self.init_scale, self.init_scale, size=p["c"].shape)
            if self.shortcut:
                p["Vx"][:] = rng.uniform(-self.init_scale, self.init_scale, size=p["Vx"].shape)
        return theta

    def make_aux(self):
        return np.array([1.0 if self.peephole else 0.0])

    def config(self):
        """The defaults of the initialisation options are left out (configs made before they existed)."""
        extra = {k: getattr(self, k) for k, v in self.INIT_DEFAULTS.items() if getattr(self, k) != v}
        return {**super().config(), "peephole": self.peephole, **extra}


class GRU(Model):
    """Gated recurrent unit (Cho et al. 2014), reset gate applied after the recurrent product; state h.

    The "reset after" form: r multiplies W_h h_{t-1} + b_hr, as cuDNN and PyTorch compute it (why:
    rnnlearn/models/gru.py).

    Blocks: W_z, W_r, W_h (n, n); U_z, U_r, U_h (n, m); b_z, b_r, b_h (n,); b_hr (n,) the candidate's
    recurrent bias inside the reset gate; then V (o, n), c (o,). The W blocks together are W (3n, n).

    Initialisation: each of W_z, W_r, W_h orthogonal (Saxe et al. 2014), U ~ N(0, 1/m), biases 0 (the
    update gate starts at 1/2: half old state, half candidate)."""

    kind = GRU
    name = "gru"
    GATES = ("z", "r", "h")

    @property
    def n_state(self):
        return self.n_hidden

    @property
    def n_delta(self):
        return 3 * self.n_hidden

    @property
    def n_cache(self):
        return 4 * self.n_hidden

    @property
    def n_rows(self):
        return 4 * self.n_hidden  # the candidate is two rows: (U_h, b_h) and r * (W_h, b_hr)

    def recurrent_blocks(self):
        n, m = self.n_hidden, self.n_in
        return ([(f"W_{q}", (n, n)) for q in self.GATES] + [(f"U_{q}", (n, m)) for q in self.GATES]
                + [(f"b_{q}", (n,)) for q in self.GATES] + [("b_hr", (n,))])

    def init_recurrent(self, rng, p):
        for q in self.GATES:
            p[f"W_{q}"][:] = orthogonal(rng, self.n_hidden)
            p[f"U_{q}"][:] = rng.normal(0.0, 1.0 / np.sqrt(self.n_in), size=p[f"U_{q}"].shape)


class ClockworkRNN(Model):
    """Clockwork RNN (Koutnik et al. 2014): tanh units in modules that update every 1, 2, 4, ... steps.

    Koutnik, Greff, Gomez & Schmidhuber 2014: n tanh units in `modules` modules of equal size with periods
    1, 2, 4, ... (or `periods`, increasing); module i updates only at steps t with
    t mod T_i == 0 and otherwise keeps its state; W is block-upper-triangular (slower modules feed faster
    ones). Kernels and details: rnnlearn/models/clockwork.py.

    Blocks: W_0, ..., W_{g-1}, module i's rows of W restricted to the columns it may read (modules i..g-1),
    shape (n/g, n - i n/g); U (n, m); b (n,); then V (o, n), c (o,). Only used entries of W exist
    (`recurrent_matrix` gives the full n x n W with its zero blocks). The clock is the absolute step the
    learner passes; for tasks of fixed-length sequences use a length that is a multiple of the longest
    period so every sequence starts with all modules in phase.

    Initialisation: the diagonal blocks (a module's connections to itself) orthogonal (Saxe et al. 2014),
    the blocks from slower modules N(0, 1/n), U ~ N(0, 1/m), b = 0. A block-triangular W's eigenvalues are
    those of its diagonal blocks, so they all start on the unit circle."""

    kind = CLOCKWORK
    name = "clockwork"

    def __init__(self, n_in: int, n_hidden: int, n_out: int, loss: str = "mse", modules: int = 4,
                 periods=None, shortcut: bool = False,
                 theta0: str | None = None, theta0_noise: float = 0.0):
        if isinstance(modules, bool) or not isinstance(modules, (int, np.integer)) or modules < 1:
            raise ValueError(f"modules must be a positive integer, got {modules!r}")
        if isinstance(n_hidden, (int, np.integer)) and not isinstance(n_hidden, bool) and n_hidden >= 1 \
                and n_hidden % modules:
            raise ValueError(f"modules must divide n_hidden, got n_hidden={n_hidden}, modules={modules}")
        if periods is None:
            self._periods = [2 ** i for i in range(int(modules))]
        else:
            try:
                ps = [int(v) for v in periods]
            except (TypeError, ValueError):
                raise ValueError(f"periods must be a list of positive integers, got {periods!r}") from None
            if (len(ps) != modules or any(p < 1 or p != v for p, v in zip(ps, periods))
                    or any(a >= b for a, b in zip(ps, ps[1:]))):
                raise ValueError(f"periods must be {modules} increasing positive integers, got {periods!r}")
            self._periods = ps
        self.modules = int(modules)
        self.periods = None if periods is None else list(self._periods)
        super().__init__(n_in, n_hidden, n_out, loss, shortcut, theta0, theta0_noise)

    @property
    def module_size(self):
        return self.n_hidden // self.modules

    @property
    def n_state(self):
        return self.n_hidden

    @property
    def n_delta(self):
        return self.n_hidden

    def recurrent_blocks(self):
        n, m, k = self.n_hidden, self.n_in, self.module_size
        return [(f"W_{i}", (k, n - i * k)) for i in range(self.modules)] + [("U", (n, m)), ("b", (n,))]

    def init_recurrent(self, rng, p):
        n, k = self.n_hidden, self.module_size
        for i in range(self.modules):
            block = p[f"W_{i}"]
            block[:] = rng.normal(0.0, 1.0 / np.sqrt(n), size=block.shape)
            block[:, :k] = orthogonal(rng, k)
        p["U"][:] = rng.normal(0.0, 1.0 / np.sqrt(self.n_in), size=p["U"].shape)

    def make_aux(self):
        return np.array([self.modules, self.module_size] + self._periods, dtype=np.float64)

    def config(self):
        return {**super().config(), "modules": self.modules, "periods": self.periods}

    @property
    def size_step(self) -> int:
        return self.modules

    def active(self, t: int) -> np.ndarray:
        """(n,) bool: which hidden units update at absolute step t."""
        return np.repeat([t % T == 0 for T in self._periods], self.module_size)

    def recurrent_matrix(self, theta) -> np.ndarray:
        """The full n x n recurrent matrix W (a copy), zero below the diagonal blocks."""
        p = self.unpack(theta)
        n, k = self.n_hidden, self.module_size
        W = np.zeros((n, n))
        for i in range(self.modules):
            W[i * k:(i + 1) * k, i * k:] = p[f"W_{i}"]
        return W


class ELSTM(Model):
    """Element-wise LSTM (Irie, Gopalakrishnan and Schmidhuber 2023, sec. 3.1): every gate's recurrent weights
    diagonal, reading the cell c; state s = (h, c), h first. Equations, and the one change from the paper
    (an element-wise output gate): rnnlearn/models/elstm.py.

    Blocks: w_z, w_f (n,), the candidate's and forget gate's weights on c_{t-1}; U_z, U_f, U_o (n, m);
    b_z, b_f, b_o (n,); w_o (n,), the output gate's weights on c_t; then V (o, n), c (o,).

    Initialisation: U ~ N(0, 1/m); w_z, w_f, w_o ~ N(0, 0.1^2) (the authors' code draws every weight of the
    layer from N(0, 0.1^2)); biases 0 except the forget gate's b_f (default 1: c starts keeping ~73% of its
    contents, as the LSTM's here)."""

    kind = ELSTM
    name = "elstm"
    diagonal_recurrence = True

    def __init__(self, n_in: int, n_hidden: int, n_out: int, loss: str = "mse", b_f: float = 1.0,
                 shortcut: bool = False,
                 theta0: str | None = None, theta0_noise: float = 0.0):
        _check_finite("b_f", b_f)
        self.b_f = float(b_f)
        super().__init__(n_in, n_hidden, n_out, loss, shortcut, theta0, theta0_noise)

    @property
    def n_state(self):
        return 2 * self.n_hidden

    @property
    def n_delta(self):
        return 3 * self.n_hidden

    @property
    def n_cache(self):
        return 4 * self.n_hidden

    @property
    def n_extra(self):
        return self.n_hidden  # w_o: outside the row form

    @property
    def n_unit_influence(self):
        return self.n_hidden * (2 * self.n_in + 4)

    def recurrent_blocks(self):
        n, m = self.n_hidden, self.n_in
        return ([("w_z", (n,)), ("w_f", (n,))] + [(f"U_{q}", (n, m)) for q in "zfo"]
                + [(f"b_{q}", (n,)) for q in "zfo"] + [("w_o", (n,))])

    def init_recurrent(self, rng, p):
        for q in "zfo":
            p[f"U_{q}"][:] = rng.normal(0.0, 1.0 / np.sqrt(self.n_in), size=p[f"U_{q}"].shape)
        for name in ("w_z", "w_f", "w_o"):
            p[name][:] = rng.normal(0.0, 0.1, size=self.n_hidden)
        p["b_f"][:] = self.b_f

    def config(self):
        return {**super().config(), "b_f": self.b_f}


class LRU(Model):
    """Linear recurrent unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu and De 2023, "Resurrecting
    recurrent neural networks for long sequences", ICML): N = d_state complex units with a diagonal linear
    recurrence and a real output of n = n_hidden units, which the shared readout reads:

        h_t = lambda * h_{t-1} + gamma * (B x_t),   lambda_k = exp(-exp(nu_k) + i exp(phi_k))  (sec. 3.3)
        y_t = Re(C h_t) + D x_t;                     y_hat_t = V y_t + c

    State s = (y, Re h, Im h) (S = n + 2N). Kernels and equations: rnnlearn/models/lru.py.

    Blocks: nu, phi, g (N,) (gamma = exp(g)); C_re, C_im (n, N); B_re, B_im (N, m); D (n, m); then V (o, n),
    c (o,). No biases (the readout's c is the only one).

    Initialisation (sec. 3.3, Lemma 3.2, and appendix A): lambda uniform on the ring r_min <= |lambda| <=
    r_max with phase in [0, max_phase]: nu = log(-log(u1 (r_max^2 - r_min^2) + r_min^2) / 2), phi =
    log(max_phase u2), u1, u2 ~ U(0, 1); gamma = sqrt(1 - |lambda|^2) (sec. 3.4: the normalisation, kept
    trainable as the paper's gamma^log, so it can follow lambda as it learns, at no cost: it is one more
    per-unit parameter of the same kind as nu for the per-unit RTRL); B_re, B_im ~ N(0, 1/(2m)) (the
    paper's Glorot B, halved per part for a complex unit of variance 1/m); C_re, C_im ~ N(0, 1/N); D ~
    N(0, 1/m) (the paper's D is the diagonal of a square layer; here it is a full n x m matrix). Defaults
    r_min = 0, r_max = 1, max_phase = 2 pi are the paper's appendix A; its long-range runs use r_min = 0.9,
    r_max = 0.999 and smaller phases."""

    kind = LRU_KIND
    name = "lru"

    @classmethod
    def spec_label(cls, params):
        """'LRU, r in [0.9, 0.999]': the ring its lambdas start in, when the spec sets it."""
        if "r_min" not in params:
            return None
        return f"LRU, r in [{params['r_min']:g}, {params.get('r_max', 1.0):g}]"
    input_block = "B_re"
    bias_block = None
    has_row_form = False
    diagonal_recurrence = True

    def __init__(self, n_in: int, n_hidden: int, n_out: int, loss: str = "mse", d_state: int | None = None,
                 r_min: float = 0.0, r_max: float = 1.0, max_phase: float = 2 * np.pi, shortcut: bool = False,
                 theta0: str | None = None, theta0_noise: float = 0.0):
        if d_state is not None:
            _check_size("d_state", d_state)
        for name, v in (("r_min", r_min), ("r_max", r_max), ("max_phase", max_phase)):
            _check_finite(name, v)
        if not 0.0 <= r_min < r_max <= 1.0:
            raise ValueError(f"r_min and r_max must satisfy 0 <= r_min < r_max <= 1, got r_min={r_min!r}, "
                             f"r_max={r_max!r}")
        if not max_phase > 0:
            raise ValueError(f"max_phase must be > 0, got {max_phase!r}")
        self.d_state = None if d_state is None else int(d_state)
        self.r_min, self.r_max, self.max_phase = float(r_min), float(r_max), float(max_phase)
        super().__init__(n_in, n_hidden, n_out, loss, shortcut, theta0, theta0_noise)

    @property
    def n_units(self) -> int:
        """N: the complex units (d_state, or n_hidden when not given)."""
        return self.n_hidden if self.d_state is None else self.d_state

    @property
    def n_state(self):
        return self.n_hidden + 2 * self.n_units

    @property
    def n_delta(self):
        return 2 * self.n_units + self.n_hidden

    @property
    def n_cache(self):
        return 10 * self.n_units  # u, h, lambda and its (nu, phi), a workspace (rnnlearn/models/lru.py)

    @property
    def n_rows(self):
        return 0  # no row form

    @property
    def n_unit_influence(self):
        return 2 * self.n_units * (3 + self.n_in)

    def recurrent_blocks(self):
        n, N, m = self.n_hidden, self.n_units, self.n_in
        return [("nu", (N,)), ("phi", (N,)), ("g", (N,)), ("C_re", (n, N)), ("C_im", (n, N)),
                ("B_re", (N, m)), ("B_im", (N, m)), ("D", (n, m))]

    def init_recurrent(self, rng, p):
        N, m = self.n_units, self.n_in
        tiny = np.finfo(float).tiny
        u1 = np.clip(rng.uniform(size=N), tiny, 1.0 - 1e-12)
        u2 = np.clip(rng.uniform(size=N), tiny, 1.0)
        nu = -0.5 * np.log(u1 * (self.r_max ** 2 - self.r_min ** 2) + self.r_min ** 2)
        p["nu"][:] = np.log(nu)
        p["phi"][:] = np.log(self.max_phase * u2)
        p["g"][:] = 0.5 * np.log1p(-np.exp(-2.0 * nu))  # log sqrt(1 - |lambda|^2), |lambda| = exp(-nu)
        p["B_re"][:] = rng.normal(0.0, 1.0 / np.sqrt(2 * m), size=p["B_re"].shape)
        p["B_im"][:] = rng.normal(0.0, 1.0 / np.sqrt(2 * m), size=p["B_im"].shape)
        p["C_re"][:] = rng.normal(0.0, 1.0 / np.sqrt(N), size=p["C_re"].shape)
        p["C_im"][:] = rng.normal(0.0, 1.0 / np.sqrt(N), size=p["C_im"].shape)
        p["D"][:] = rng.normal(0.0, 1.0 / np.sqrt(m), size=p["D"].shape)

    def eigenvalues(self, theta) -> np.ndarray:
        """lambda (N,) complex128."""
        p = self.unpack(theta)
        return np.exp(-np.exp(p["nu"]) + 1j * np.exp(p["phi"]))

    def config(self):
        return {**super().config(), "d_state": self.d_state, "r_min": self.r_min, "r_max": self.r_max,
                "max_phase": self.max_phase}


#: name -> Model class, for the command line and saved files.
MODELS: dict[str, type[Model]] = {cls.name: cls for cls in (Elman, LeakyRNN, LSTM, GRU, ClockworkRNN, ELSTM, LRU)}


def rate_leak(model: Model):
    """The leak 1 - alpha of a rate network's units (Elman: 0; the leaky network: 1 - alpha), the fixed
    diagonal of the state Jacobian that RFLO, e-prop and KeRNL build their traces on; None for a model
    without one (gated or clocked units)."""
    if isinstance(model, LeakyRNN):
        return 1.0 - model.alpha
    if isinstance(model, Elman):
        return 0.0
    return None


def make_model(name: str, **kwargs) -> Model:
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(sorted(MODELS))}") from None
    return cls(**kwargs)


__all__ = ["Model", "Elman", "LeakyRNN", "LSTM", "GRU", "ClockworkRNN", "ELSTM", "LRU", "MODELS", "make_model",
           "rate_leak", "softmax"]
