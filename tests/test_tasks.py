"""The task suite: each generator produces what its definition says, streams are seeded and continuous,
reference levels match what the predictors they name actually score, bad parameters are refused with the
parameter's name, and every task trains with every learner."""
from __future__ import annotations

import re

import numpy as np
import pytest

from rnnlearn.tasks import TASKS, Chunk, make_task
from rnnlearn.tasks import reber as rb
from rnnlearn.tasks.anbncn import anbncn_legal_sets, encode_anbncn, largest_n_correct
from rnnlearn.tasks.mackey_glass import mackey_glass_series
from rnnlearn.tasks._seq import sequence_bounds

FIELDS = ("xs", "ys", "mask", "resets", "x_index")

#: per task, parameters under which the stream depends on the seed and the tests stay small
PARAMS = {
    "add": {},
    "adding": {"length": 20},
    "anbncn": {"n_max": 6},
    "char_lm": {},
    "copy": {"k": 3, "n_symbols": 3, "delay": 4},
    "delayed_xor": {},
    "latch": {"p": 0.1},
    "mackey_glass": {"washout": 100},
    "mimic": {"n_inputs": 3, "n_hidden": 5, "n_outputs": 2},
    "narma10": {},
    "reber": {},
    "sine": {"period": 8.0, "length": 20, "random_phase": True},
    "word_lm": {"vocab_size": 500},
}


def task_of(name, **over):
    return make_task(name, **{**PARAMS[name], **over})


def test_every_registered_task_is_covered():
    assert set(TASKS) == set(PARAMS)


def same(a: Chunk, b: Chunk) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


# --- the Chunk contract, continuity, seeds --------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PARAMS))
def test_chunk_contract(name):
    task = task_of(name)
    assert task.loss in ("mse", "xent")
    doc = type(task).__doc__ or ""
    mod_doc = __import__(type(task).__module__, fromlist=["x"]).__doc__ or ""
    assert re.search(r"(19|20)\d\d", mod_doc), "the module docstring cites its source"
    assert doc
    c = task.stream(3).next(257)
    assert len(c) == 257
    assert c.xs.shape == (257, task.n_in) and c.ys.shape == (257, task.n_out)
    assert c.xs.dtype == np.float64 and c.ys.dtype == np.float64 and c.mask.dtype == np.float64
    assert c.resets.dtype == np.bool_ and c.x_index.dtype == np.int64
    assert np.all(np.isfinite(c.xs)) and np.all(np.isfinite(c.ys))
    assert np.all((c.mask >= 0) & (c.mask <= 1)) and c.mask.sum() > 0
    hot = c.x_index >= 0
    if hot.any():  # one-hot inputs: x_index names the hot unit and the dense row is that unit
        assert hot.all()
        assert np.array_equal(c.xs, np.eye(task.n_in)[c.x_index])
    if task.loss == "xent":
        scored = c.mask > 0
        assert np.all(c.ys >= 0)
        np.testing.assert_allclose(c.ys[scored].sum(axis=1), 1.0)
    test = task.test_set(3)
    assert test.xs.shape[1] == task.n_in and test.ys.shape[1] == task.n_out and len(test) > 0
    assert task.params() == {k: getattr(task, k) for k in task.params()}
    assert make_task(name, **task.params()) == task


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_stream_is_continuous_and_seeded(name):
    task = task_of(name)
    whole = task.stream(7).next(300)
    s = task.stream(7)
    parts = [s.next(n) for n in (1, 29, 64, 5, 201)]
    assert same(Chunk.concat(parts), whole)               # next(a) then next(b) == next(a + b)
    assert same(task.stream(7).next(300), whole)          # same seed, same data
    assert not same(task.stream(8).next(300), whole)      # another seed, other data
    test = task.test_set(7, 300)
    k = min(len(test), 300)
    assert not same(Chunk(*(getattr(test, f)[:k] for f in FIELDS)), Chunk(*(getattr(whole, f)[:k] for f in FIELDS)))


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_sequence_tasks_mark_their_starts(name):
    task = task_of(name)
    c = task.stream(1).next(400)
    if name in ("adding", "anbncn", "copy", "reber", "sine", "word_lm"):
        assert c.resets[0]
        bounds = sequence_bounds(c)
        assert len(bounds) >= 2
    else:  # continuous streams: no sequence structure (char_lm resets only at the stream start / wrap)
        assert c.resets[1:].sum() == 0


# --- Reber ---------------------------------------------------------------------------------------------

# an independent description of the grammars as regular expressions
_A4 = r"(?:XT*VP)*(?:S|XT*VV)"
_INNER = rf"B(?:TS*X{_A4}|PT*V(?:V|P{_A4}))E"
REBER_RE = re.compile(rf"^{_INNER}$")
EMBEDDED_RE = re.compile(rf"^B(?:T{_INNER}T|P{_INNER}P)E$")


def test_reber_strings_are_grammatical():
    rng = np.random.default_rng(0)
    strings = [rb.embedded_reber_string(rng) for _ in range(2000)]
    for s in strings:
        assert EMBEDDED_RE.match(s), s
        assert rb.is_embedded_reber(s)
    plain = [rb.reber_string(rng) for _ in range(500)]
    assert all(REBER_RE.match(s) and rb.is_reber(s) for s in plain)
    assert len(set(strings)) > 200  # not a handful of strings


def test_reber_checker_rejects_illegal_strings():
    for bad in ["", "BE", "BTBTXSEPE", "BPBTXSETE", "BTBTXSETEE", "BTBTXSE", "TBTXSETE", "BTBTXXETE",
                "BTBPVVETE X", "BTBTSSXVETE", "BTBPVPVETE", "BXBTXSEXE"]:
        assert not rb.is_embedded_reber(bad), bad
        assert not EMBEDDED_RE.match(bad)
    # the checker agrees with the regular expression on random strings and on single-symbol mutations
    rng = np.random.default_rng(1)
    for _ in range(3000):
        s = "".join(rng.choice(list(rb.SYMBOLS), size=rng.integers(5, 14)))
        assert rb.is_embedded_reber(s) == bool(EMBEDDED_RE.match(s)), s
    n_rejected = 0
    for _ in range(2000):
        s = list(rb.embedded_reber_string(rng))
        s[rng.integers(len(s))] = rng.choice(list(rb.SYMBOLS))
        s = "".join(s)
        assert rb.is_embedded_reber(s) == bool(EMBEDDED_RE.match(s)), s
        n_rejected += not rb.is_embedded_reber(s)
    assert n_rejected > 1000


def test_reber_targets_are_the_legal_next_symbols():
    """Every prefix's target set equals the set of symbols that continue it within the grammar, found
    by brute force with the regular expression (some completion of prefix + symbol is grammatical)."""
    rng = np.random.default_rng(2)
    pool = [rb.embedded_reber_string(rng) for _ in range(4000)]
    prefixes = {}
    for s in pool:
        for k in range(1, len(s)):
            prefixes.setdefault(s[:k], set()).add(s[k])
    task = make_task("reber")
    c = task.test_set(0, 600)
    for a, b in sequence_bounds(c):
        s = "".join(rb.SYMBOLS[i] for i in c.x_index[a:b])
        for t in range(b - a):
            target = {rb.SYMBOLS[k] for k in np.flatnonzero(c.ys[a + t] > 0)}
            np.testing.assert_allclose(c.ys[a + t][c.ys[a + t] > 0], 1 / len(target))
            prefix = s[:t + 1]
            # a symbol is legal iff some string of the pool continues the prefix with it (the pool is
            # large enough to hold every continuation of these short prefixes)
            if prefix in prefixes and len(prefix) < 7:
                assert target == prefixes[prefix], (prefix, target, prefixes[prefix])
            # and no illegal symbol can ever follow: the observed continuations are within the target
            if prefix in prefixes:
                assert prefixes[prefix] <= target
        # the last scored step predicts the repeated branch symbol
        assert np.argmax(c.ys[b - 2]) == rb.SYMBOLS.index(s[1])


def test_reber_reference_levels_match_sampled_strings():
    task = make_task("reber")
    c = task.test_set(0, 100_000)
    p = c.ys
    ent = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)
    ref = task.reference_levels()
    assert ent.mean() == pytest.approx(ref["optimal"], rel=0.02)
    # forgetting the branch costs log 2 once per string
    assert ent.mean() + np.log(2) * len(sequence_bounds(c)) / len(c) == pytest.approx(ref["forgets the branch"],
                                                                                         rel=0.02)
    assert ref["chance"] == pytest.approx(np.log(7))


def test_reber_success_measure():
    task = make_task("reber")
    c = task.test_set(0, 500)
    perfect = np.log(np.where(c.ys > 0, c.ys, 1e-9))
    m = task.metrics(perfect, c)
    assert m == {"strings_correct": 1.0, "long_range_correct": 1.0}
    forgetful = perfect.copy()
    for a, b in sequence_bounds(c):
        forgetful[b - 2, [1, 2]] = np.log(0.5)  # a coin flip between T and P
    m = task.metrics(forgetful, c)
    assert m["long_range_correct"] == 0.0 and m["strings_correct"] == 0.0


# --- adding problem ------------------------------------------------------------------------------------

def test_adding_targets_and_markers():
    task = make_task("adding", length=30)
    c = task.test_set(0, 3000)
    for a, b in sequence_bounds(c):
        assert b - a == 30
        marks = np.flatnonzero(c.xs[a:b, 1] == 1)
        assert len(marks) == 2 and marks[0] < 15 <= marks[1]
        assert np.all(np.isin(c.xs[a:b, 1], (0.0, 1.0)))
        assert np.all(np.abs(c.xs[a:b, 0]) <= 1)
        assert np.array_equal(np.flatnonzero(c.mask[a:b]), [29])
        assert c.ys[b - 1, 0] == pytest.approx(0.5 + c.xs[a + marks, 0].sum() / 4)


def test_adding_hs97_protocol():
    task = make_task("adding", length=100, variant="hs97")
    c = task.test_set(1, 20000)
    lengths = set()
    for a, b in sequence_bounds(c):
        L = b - a
        lengths.add(L)
        assert 100 <= L <= 110
        m = c.xs[a:b, 1]
        marks = np.flatnonzero(m == 1)
        assert len(marks) == 2
        assert marks[0] < 10 and marks[1] < 49
        others = np.setdiff1d(np.arange(L), marks)
        assert np.all(m[others[(others != 0) & (others != L - 1)]] == 0)
        if 0 not in marks:
            assert m[0] == -1
        assert m[L - 1] == -1
        # the sum of the marked values, a marked first pair counting as 0
        vals = c.xs[a + marks, 0] * (marks != 0)
        assert c.ys[b - 1, 0] == pytest.approx(0.5 + vals.sum() / 4)
    assert len(lengths) > 5
    y = c.ys[c.mask > 0, 0]
    big = task.test_set(1, 400_000)
    y = big.ys[big.mask > 0, 0]
    assert 0.5 * np.mean((y - 0.5) ** 2) == pytest.approx(task.reference_levels()["predicts 0.5"], rel=0.05)


def test_adding_reference_levels_and_success():
    task = make_task("adding", length=10)
    c = task.test_set(2, 400_000)
    y = c.ys[c.mask > 0, 0]
    ref = task.reference_levels()
    assert 0.5 * np.mean((y - 0.5) ** 2) == pytest.approx(ref["predicts 0.5"], rel=0.03)
    y_hat = np.full((len(c), 1), 0.5)
    m = task.metrics(y_hat, c)
    # |(X1 + X2)/4| < 0.04 for a triangular sum on [-2, 2]: 2 * integral_0^0.16 (2 - s)/4 ds
    assert m["fraction_correct"] == pytest.approx(2 * (2 * 0.16 - 0.16 ** 2 / 2) / 4, abs=0.01)
    exact = c.ys.copy()
    assert task.metrics(exact, c)["fraction_correct"] == 1.0


# --- add task (Pitis 2016): reference levels against sampled predictors ---------------------------------

@pytest.mark.parametrize("t1,t2", [(5, 9), (2, 7), (6, 10), (5, 7)])  # (6, 10), (5, 7): Marschall et al.'s
def test_add_task_reference_levels_match_empirical_cross_entropy(t1, t2):
    task = make_task("add", t1=t1, t2=t2)
    c = task.stream(0).next(200_000)
    x = 1 - c.x_index            # the bit x_t (x_index is 0 for x = 1)
    p = c.ys[:, 0]               # P(y_t = 1)
    xent = lambda q: float(np.mean(-(p * np.log(q) + (1 - p) * np.log(1 - q))))
    T = len(c)
    lag1 = np.concatenate([np.full(t2, -1), x])[t2 - t1:t2 - t1 + T]
    ok = np.arange(T) >= t2      # the lags are visible in the chunk
    q_nothing = np.full(T, p.mean())
    q_t1 = np.where(lag1 == 1, 0.875, 0.375)  # E[p | x_{t-t1}] = 0.5 + 0.5 x_{t-t1} - 0.25 / 2
    ref = task.reference_levels()
    assert xent(q_nothing) == pytest.approx(ref["learns nothing"], abs=3e-3)
    assert float(np.mean(-(p * np.log(q_t1) + (1 - p) * np.log(1 - q_t1))[ok])) == pytest.approx(
        ref[f"learns t-{t1} only"], abs=3e-3)
    q_opt = np.clip(p, 1e-12, 1 - 1e-12)
    assert xent(q_opt) == pytest.approx(ref["optimal"], abs=3e-3)
    # the targets follow the definition
    lag2 = np.concatenate([np.full(t2, -1), x])[0:T]
    np.testing.assert_allclose(p[ok], (0.5 + 0.5 * lag1 - 0.25 * lag2)[ok])


# --- Mackey-Glass --------------------------------------------------------------------------------------

def _mackey_glass_reference(n, x0, tau=17):
    """Method of steps with scipy's DOP853 at tolerance 1e-12: on each interval [k tau, (k+1) tau] the
    delayed term is the dense output of the previous interval."""
    from scipy.integrate import solve_ivp
    grid = np.arange(n, dtype=float)
    out = np.empty(n)
    out[0] = x0
    prev = lambda t: x0
    t0, y0 = 0.0, x0
    while t0 < n - 1:
        t1 = t0 + tau
        rhs = lambda t, y, prev=prev: [0.2 * prev(t - tau) / (1 + prev(t - tau) ** 10) - 0.1 * y[0]]
        sol = solve_ivp(rhs, (t0, t1), [y0], method="DOP853", rtol=1e-12, atol=1e-12, dense_output=True)
        sel = (grid > t0) & (grid <= t1)
        out[sel] = sol.sol(grid[sel])[0]
        prev = (lambda t, d=sol.sol: float(d(t)[0]))
        t0, y0 = t1, float(sol.y[0, -1])
    return out


def test_mackey_glass_matches_high_accuracy_integration():
    ref = _mackey_glass_reference(300, 1.2)
    for sub, tol in ((10, 1e-7), (20, 1e-8)):
        ours = mackey_glass_series(300, 1.2, substeps=sub)
        assert np.max(np.abs(ours - ref)) < tol
    # fourth order: halving the step divides the error by about 16
    e10 = np.max(np.abs(mackey_glass_series(300, 1.2, substeps=10) - ref))
    e20 = np.max(np.abs(mackey_glass_series(300, 1.2, substeps=20) - ref))
    assert 8 < e10 / e20 < 32
    # the series is chaotic but bounded, on the familiar attractor
    x = mackey_glass_series(3000, 1.2, washout=500)
    assert 0.2 < x.min() < 0.6 and 1.1 < x.max() < 1.5


def test_mackey_glass_stream_is_one_step_ahead():
    task = make_task("mackey_glass", washout=50)
    c = task.stream(0).next(500)
    np.testing.assert_array_equal(c.ys[:-1, 0], c.xs[1:, 0])
    assert np.all(c.mask == 1) and not c.resets.any()


class _Oracle:
    """A stand-in model that knows the series: its state is the time index, its output the true next
    value, whatever the input (so free-running generation is exact)."""

    n_state = 1

    def __init__(self, series, offset=0.0):
        self.series, self.offset = series, offset

    def forward(self, theta, chunk):
        T = len(chunk)
        return np.arange(T, dtype=float)[:, None], self.series[1:T + 1, None] + self.offset

    def step(self, theta, s, x, xi=-1, t=0):
        k = int(s[0]) + 1
        return np.array([k], dtype=float), np.array([self.series[k + 1] + self.offset])


class _Constant(_Oracle):
    def forward(self, theta, chunk):
        T = len(chunk)
        return np.zeros((T, 1)), np.full((T, 1), self.offset)

    def step(self, theta, s, x, xi=-1, t=0):
        return s, np.array([self.offset])


def test_mackey_glass_free_running_metric():
    task = make_task("mackey_glass", washout=200)
    c = task.test_set(0, 1000)
    series = np.concatenate([c.xs[:, 0], c.ys[-1:, 0]])
    m = task.metrics(c.ys.copy(), c, model=_Oracle(series), theta=None)
    assert m["nrmse"] == 0 and m["nrmse84"] == 0 and m["nrmse_1to84"] == 0
    mean = float(c.ys.mean())
    m = task.metrics(np.full_like(c.ys, mean), c, model=_Constant(series, mean), theta=None)
    assert m["nrmse"] == pytest.approx(1.0, abs=1e-9)
    assert 0.5 < m["nrmse84"] < 1.6
    ref = task.reference_levels()
    assert ref["persistence"] < ref["mean predictor"]


# --- NARMA-10 ------------------------------------------------------------------------------------------

def test_narma10_follows_its_recurrence():
    task = make_task("narma10", washout=0)
    c = task.stream(5).next(3000)
    u, y = c.xs[:, 0], c.ys[:, 0]
    assert np.all((u >= 0) & (u <= 0.5))
    Y = np.zeros(3000 + 10)      # Y[k + 10] = y(k); y(k) = 0 for k <= 0 ... the system starts at rest
    U = np.concatenate([np.zeros(10), u])
    for k in range(3000):
        t = k + 9                # y(k) sits at Y[t]... rebuild with a plain loop
        Y[t + 1] = 0.3 * Y[t] + 0.05 * Y[t] * Y[t - 9:t + 1].sum() + 1.5 * U[t + 1 - 9] * U[t + 1] + 0.1
    np.testing.assert_allclose(y[:500], Y[10:510], rtol=1e-12)
    assert task.metrics(c.ys.copy(), c)["nmse"] == 0
    assert task.metrics(np.full_like(c.ys, y.mean()), c)["nmse"] == pytest.approx(1.0)


def test_narma10_stream_stays_bounded():
    c = make_task("narma10").stream(4).next(200_000)   # seed 4 diverges without the block redraw
    assert np.all(np.isfinite(c.ys)) and c.ys.max() <= 1.25 and c.ys.min() > 0


# --- sine ----------------------------------------------------------------------------------------------

def test_sine_encoding():
    task = make_task("sine", period=7.5, length=40, amplitude=0.5)
    c = task.stream(0).next(120)
    t = np.arange(40)
    for a, b in sequence_bounds(c):
        np.testing.assert_allclose(c.ys[a:b, 0], 0.5 * np.sin(2 * np.pi * t / 7.5))
        assert np.array_equal(c.xs[a], [1.0, 0.0]) and np.all(c.xs[a + 1:b] == 0)
    task = make_task("sine", period=10, length=30, random_phase=True)
    c = task.stream(0).next(90)
    phases = []
    for a, b in sequence_bounds(c):
        phi = np.arctan2(c.xs[a, 1], c.xs[a, 0])
        phases.append(phi)
        np.testing.assert_allclose(c.ys[a:b, 0], 0.8 * np.sin(2 * np.pi * np.arange(30) / 10 + phi), atol=1e-12)
    assert len(set(np.round(phases, 6))) == 3
    test = make_task("sine", period=10, length=100).test_set(0)
    assert 0.5 * np.mean(test.ys ** 2) == pytest.approx(make_task("sine", period=10).reference_levels()["zero predictor"])


# --- latch and delayed XOR -----------------------------------------------------------------------------

def test_latch_targets_are_the_flip_flop_state():
    task = make_task("latch", p=0.1)
    s = task.stream(0)
    c = Chunk.concat([s.next(37), s.next(500)])
    state = None
    for t in range(len(c)):
        sym = c.x_index[t]
        state = 1 if sym == 1 else 0 if sym == 2 else state
        if state is None:
            assert c.mask[t] == 0
        else:
            assert c.mask[t] == 1 and c.ys[t, 1] == state
    ref = task.reference_levels()
    assert ref["memoryless"] == pytest.approx(0.8 * np.log(2))
    assert task.metrics(np.log(c.ys + 1e-9), c)["accuracy"] == 1.0


@pytest.mark.parametrize("params", [{}, {"d1": 1, "d2": 4, "lines": 2}, {"d1": 0, "d2": 3, "lines": 1},
                                    {"d1": 5, "d2": 2, "lines": 1}])
def test_delayed_xor_targets(params):
    task = make_task("delayed_xor", **params)
    s = task.stream(1)
    c = Chunk.concat([s.next(13), s.next(300)])
    d1, d2 = task.d1, task.d2
    a, b = c.xs[:, 0].astype(int), c.xs[:, task.lines - 1].astype(int)
    for t in range(max(d1, d2), len(c)):
        assert c.ys[t, 1] == a[t - d1] ^ b[t - d2]
    assert 0.4 < c.ys[:, 1].mean() < 0.6
    assert task.n_in == task.lines


# --- a^n b^n c^n ---------------------------------------------------------------------------------------

def _legal_by_brute_force(prefix: str, n_max: int) -> set[str]:
    """Symbols c such that prefix + c is a prefix of some S a^m b^m c^m T, m = 1..n_max."""
    words = ["S" + "a" * m + "b" * m + "c" * m + "T" for m in range(1, n_max + 1)]
    return {w[len(prefix)] for w in words if w.startswith(prefix) and len(w) > len(prefix)}


def test_anbncn_targets_are_exactly_the_legal_sets():
    for n in range(1, 13):
        c = encode_anbncn(n)
        s = "".join("SabcT"[i] for i in c.x_index)
        assert s == "S" + "a" * n + "b" * n + "c" * n
        assert len(c) == 3 * n + 1 and c.resets[0] and not c.resets[1:].any()
        for t in range(len(c)):
            legal = _legal_by_brute_force(s[:t + 1], 30)
            got = {"SabcT"[k] for k in np.flatnonzero(c.ys[t] > 0)}
            assert got == legal, (n, t, got, legal)
            np.testing.assert_array_equal(c.ys[t][c.ys[t] > 0], 1 / len(legal))
    task = make_task("anbncn", n_max=5)
    c = task.stream(0).next(2000)
    ns = [(b - a - 1) // 3 for a, b in sequence_bounds(c)[:-1]]
    assert set(ns) == {1, 2, 3, 4, 5}


class _CountingOracle:
    """Predicts the legal sets exactly for strings with n <= k, and gets the last c wrong beyond."""

    def __init__(self, k):
        self.k = k

    def forward(self, theta, chunk):
        n = (len(chunk) - 1) // 3
        logits = np.log(np.where(chunk.ys > 0, chunk.ys, 1e-6))
        if n > self.k:
            logits[-1] = logits[-2]
        return None, logits


def test_anbncn_largest_n_correct_and_reference():
    assert largest_n_correct(_CountingOracle(7), None, 20) == 7
    assert largest_n_correct(_CountingOracle(0), None, 20) == 0
    assert largest_n_correct(_CountingOracle(99), None, 20) == 20
    task = make_task("anbncn", n_max=10, n_test=15)
    test = task.test_set(0)
    exact = np.log(np.where(test.ys > 0, test.ys, 1e-6))
    m = task.metrics(exact, test, model=_CountingOracle(12), theta=None)
    assert m == {"strings_correct": 1.0, "largest_n_correct": 12.0}
    c = task.stream(0).next(200_000)
    ent = -(c.ys * np.log(np.where(c.ys > 0, c.ys, 1))).sum(axis=1)
    assert ent.mean() == pytest.approx(task.reference_levels()["optimal"], rel=0.02)


# --- language models -----------------------------------------------------------------------------------

def test_char_lm_encoding_split_and_levels(tmp_path):
    text = "hello world, hello rnn. " * 50 + "the end!"
    p = tmp_path / "t.txt"
    p.write_text(text, encoding="utf-8")
    task = make_task("char_lm", path=str(p))
    assert task.vocab == sorted(set(text))
    s = task.stream(0)
    c = Chunk.concat([s.next(100), s.next(2000)])
    xs = task.decode(c.x_index)
    cont = ~c.resets[1:]                                     # target = next input, except across a wrap
    assert np.array_equal(c.x_index[1:][cont], np.argmax(c.ys, axis=1)[:-1][cont])
    train_text = text[:int(len(text) * 0.9)]
    assert xs[:50] in train_text + train_text                # read from the training text, wrapping around
    wraps = np.flatnonzero(c.resets)
    assert wraps[0] == 0 and len(wraps) >= 2                 # a reset at the start and at each wrap
    test = task.test_set(0, None)
    assert task.decode(test.x_index) + task.decode([np.argmax(test.ys[-1])]) == text[int(len(text) * 0.9):]
    # the unigram level: entropy of the corpus's character frequencies; a unigram predictor scores it
    freq = np.bincount(task.encode(text), minlength=len(task.vocab)) / len(text)
    H = -(freq[freq > 0] * np.log(freq[freq > 0])).sum()
    assert task.reference_levels()["unigram"] == pytest.approx(H)
    assert task.unigram_bits == pytest.approx(H / np.log(2))
    big = task.test_set(0, None)
    logits = np.tile(np.log(freq + 1e-300), (len(big), 1))
    assert task.metrics(logits, big)["bpc"] == pytest.approx(
        -np.mean(np.log2(freq[np.argmax(big.ys, axis=1)])), rel=1e-9)
    capped = make_task("char_lm", path=str(p), max_vocab=5)
    assert len(capped.vocab) == 5 and capped.vocab[-1] == "\ufffd"
    assert capped.stream(0).next(500).x_index.max() == 4


def test_char_lm_default_corpus():
    task = make_task("char_lm")
    from pydoc_data.topics import topics
    text = "".join(topics.values())
    assert len(task.vocab) == len(set(text)) and task.n_in == len(task.vocab)
    assert 4.0 < task.unigram_bits < 5.5
    test = task.test_set(0, 1000)
    assert task.decode(test.x_index) == text[int(len(text) * 0.9):][:1000]


def test_word_lm_tokens_sentences_and_vocabulary(tmp_path):
    # 90 training sentences, then 10 held out (the last 10%)
    text = ("The cat sat. The dog sat!\n\nA cat ran? The cat's toy; rare words: zebra.\n" * 22
            + "The cat sat. The cat sat.\n" + "The cat sat. " * 8 + "Held out sentence one. Held out two.")
    p = tmp_path / "w.txt"
    p.write_text(text, encoding="utf-8")
    task = make_task("word_lm", path=str(p), vocab_size=8)
    assert task.vocab[:3] == ["UNKNOWN_TOKEN", "SENTENCE_START", "SENTENCE_END"] and len(task.vocab) == 8
    assert task.vocab[3:] == ["the", ".", "cat", "sat", "!"]  # most frequent first, ties alphabetical
    c = task.stream(0).next(200)
    for a, b in sequence_bounds(c)[:-1]:
        assert c.x_index[a] == 1 and np.argmax(c.ys[b - 1]) == 2   # START ... END
        np.testing.assert_array_equal(c.x_index[a + 1:b], np.argmax(c.ys[a:b - 1], axis=1))
    assert task.encode("The zebra sat") == [3, 0, 6]
    assert task.decode([1, 3, 5, 0, 2, 1, 7, 2]) == "the cat UNKNOWN_TOKEN\n!"
    big = make_task("word_lm", path=str(p), vocab_size=8000)
    assert "zebra" in big.vocab and "cat's" in big.vocab and "held" not in big.vocab  # vocabulary from training part
    test = big.test_set(0, 1000)
    lines = big.decode(np.argmax(test.ys, axis=1)).split("\n")
    assert lines[-2:] == ["UNKNOWN_TOKEN UNKNOWN_TOKEN UNKNOWN_TOKEN UNKNOWN_TOKEN .",
                          "UNKNOWN_TOKEN UNKNOWN_TOKEN UNKNOWN_TOKEN ."]
    uniform = np.zeros((len(test), len(big.vocab)))
    assert big.metrics(uniform, test)["perplexity"] == pytest.approx(len(big.vocab))


def test_word_lm_default_corpus():
    task = make_task("word_lm")
    assert 1000 < len(task.vocab) <= 8000
    assert task.reference_levels()["unigram"] < task.reference_levels()["uniform"]
    test = task.test_set(0)
    assert 500 <= len(test) < 2000


# --- copy (Zucchet et al. 2023) ------------------------------------------------------------------------

@pytest.mark.parametrize("k,n_symbols,delay", [(5, 4, 10), (3, 6, 0), (1, 2, 7)])
def test_copy_shapes_masks_and_targets_are_the_pattern(k, n_symbols, delay):
    task = make_task("copy", k=k, n_symbols=n_symbols, delay=delay)
    L = 2 * k + delay
    assert (task.n_in, task.n_out, task.sequence_steps()) == (n_symbols + 2, n_symbols, L)
    c = task.stream(4).next(20 * L)
    bounds = sequence_bounds(c)
    assert bounds == [(i * L, (i + 1) * L) for i in range(20)]
    for a, b in bounds:
        sym = c.x_index[a:b]
        pattern = sym[:k]
        assert np.all(pattern < n_symbols)                                        # k symbols
        assert np.all(sym[k:k + delay] == n_symbols)                              # the blank delay
        assert np.all(sym[k + delay:] == n_symbols + 1)                           # the recall cue
        assert np.array_equal(c.mask[a:b], np.r_[np.zeros(k + delay), np.ones(k)])  # recall steps only
        assert np.array_equal(c.ys[a + k + delay:b], np.eye(n_symbols)[pattern])  # the target is the pattern
        assert c.resets[a] and not c.resets[a + 1:b].any()
    patterns = np.array([c.x_index[a:a + k] for a, _ in bounds])
    assert len(np.unique(patterns)) == min(n_symbols, n_symbols ** k)  # every symbol appears
    test = task.test_set(0, 1000)
    assert len(test) % L == 0 and len(test) >= 1000


def test_copy_levels_and_metrics():
    task = make_task("copy", k=4, n_symbols=5, delay=3)
    c = task.test_set(1, 2000)
    levels = task.reference_levels()
    assert levels == {"chance": pytest.approx(np.log(5)), "optimal": 0.0}
    from rnnlearn.tasks._seq import mean_xent
    assert mean_xent(np.zeros((len(c), 5)), c) == pytest.approx(levels["chance"], rel=1e-12)  # uniform = chance
    perfect = 30.0 * c.ys
    assert task.metrics(perfect, c) == {"symbols_correct": 1.0, "patterns_correct": 1.0}
    assert mean_xent(perfect, c) < 1e-10
    one_wrong = perfect.copy()
    first_recall = np.flatnonzero(c.mask)[0]
    one_wrong[first_recall] = np.roll(one_wrong[first_recall], 1)
    m = task.metrics(one_wrong, c)
    assert m["patterns_correct"] == pytest.approx(1 - 1 / len(sequence_bounds(c)))
    assert m["symbols_correct"] == pytest.approx(1 - 1 / c.mask.sum())


# --- mimic (Marschall, Cho and Savin 2020) -------------------------------------------------------------

def test_mimic_defaults_are_the_papers():
    task = make_task("mimic")
    assert (task.n_in, task.n_hidden, task.n_out, task.alpha, task.p_input, task.stretch) == (32, 32, 32, 1.0, 0.5, 1)
    p = task.teacher()
    assert np.allclose(p["W"] @ p["W"].T, np.eye(32))  # orthogonal
    assert np.array_equal(p["U"], make_task("mimic").teacher()["U"])  # fixed by teacher_seed
    assert not np.array_equal(p["U"], make_task("mimic", teacher_seed=1).teacher()["U"])
    c = task.stream(0).next(4000)
    assert set(np.unique(c.xs)) == {0.0, 1.0} and abs(c.xs.mean() - 0.5) < 0.02


@pytest.mark.parametrize("alpha,stretch", [(1.0, 1), (0.5, 2), (0.3, 3)])
def test_mimic_targets_are_the_teachers_outputs(alpha, stretch):
    """The targets are the teacher's outputs on the stream's inputs, through chunk boundaries: a network with
    the teacher's own weights (rnnlearn's leaky network, its kernels) has zero loss; another has not."""
    from naive_local import leaky_forward
    task = make_task("mimic", n_inputs=4, n_hidden=6, n_outputs=3, alpha=alpha, stretch=stretch)
    s = task.stream(2)
    c = Chunk.concat([s.next(n) for n in (1, 50, 7, 142)])
    if stretch > 1:  # each input is held for `stretch` steps
        blocks = c.xs[:len(c) // stretch * stretch].reshape(-1, stretch, 4)
        assert np.array_equal(blocks, np.repeat(blocks[:, :1], stretch, axis=1))
        assert not np.array_equal(blocks[:-1, 0], blocks[1:, 0])
    p = task.teacher()
    a, _, _ = leaky_forward(p, c.xs, alpha)
    assert np.abs(c.ys - (a @ p["V"].T + p["c"])).max() < 1e-13  # the slow reference of the leaky network
    model, theta = task.teacher_model()
    assert model.name == "leaky" and model.alpha == alpha
    assert model.sequence_loss(theta, c) < 1e-24
    test = task.test_set(0, 500)
    assert model.sequence_loss(theta, test) < 1e-24
    other = model.init_params(0)
    assert model.sequence_loss(other, test) / len(test) > 0.1 * task.reference_levels()["predicts the mean"]


def test_mimic_reference_level_is_the_mean_predictor():
    task = make_task("mimic", n_inputs=5, n_hidden=8, n_outputs=3, alpha=0.5, stretch=2)
    c = task.test_set(3, 20_000)
    level = task.reference_levels()["predicts the mean"]
    assert 0.5 * ((c.ys - c.ys.mean(axis=0)) ** 2).sum(axis=1).mean() == pytest.approx(level, rel=0.05)
    assert level > 0


# --- bad parameters ------------------------------------------------------------------------------------

BAD = [
    ("add", {"t1": -3}, "t1"), ("add", {"t1": 5, "t2": 5}, "t2"), ("add", {"t1": 5, "t2": 3}, "t2"),
    ("adding", {"length": -3}, "length"), ("adding", {"length": 1.5}, "length"),
    ("adding", {"variant": "x"}, "variant"), ("adding", {"variant": "hs97", "length": 10}, "length"),
    ("reber", {"threshold": 0.7}, "threshold"), ("reber", {"threshold": -1}, "threshold"),
    ("mackey_glass", {"tau": 0}, "tau"), ("mackey_glass", {"substeps": 1}, "substeps"),
    ("mackey_glass", {"washout": -1}, "washout"), ("mackey_glass", {"horizon": 0}, "horizon"),
    ("narma10", {"washout": -5}, "washout"),
    ("sine", {"period": 1}, "period"), ("sine", {"length": 0}, "length"), ("sine", {"amplitude": -1}, "amplitude"),
    ("latch", {"p": 0.6}, "p"), ("latch", {"p": 0}, "p"),
    ("delayed_xor", {"d1": -1}, "d1"), ("delayed_xor", {"lines": 3}, "lines"),
    ("delayed_xor", {"lines": 1, "d1": 2, "d2": 2}, "d2"),
    ("anbncn", {"n_max": 0}, "n_max"), ("anbncn", {"threshold": 0.5}, "threshold"),
    ("char_lm", {"path": "/nonexistent/file.txt"}, "path"), ("char_lm", {"max_vocab": 1}, "max_vocab"),
    ("word_lm", {"path": "/nonexistent/file.txt"}, "path"), ("word_lm", {"vocab_size": 2}, "vocab_size"),
    ("copy", {"k": 0}, "k"), ("copy", {"n_symbols": 1}, "n_symbols"), ("copy", {"delay": -1}, "delay"),
    ("copy", {"delay": 2.5}, "delay"),
    ("mimic", {"alpha": 0}, "alpha"), ("mimic", {"alpha": 1.5}, "alpha"), ("mimic", {"p_input": 1}, "p_input"),
    ("mimic", {"n_hidden": 0}, "n_hidden"), ("mimic", {"stretch": 0}, "stretch"),
    ("mimic", {"teacher_seed": -1}, "teacher_seed"),
]


@pytest.mark.parametrize("name,params,param", BAD, ids=[f"{n}-{p}" for n, _, p in BAD])
def test_bad_parameters_name_the_parameter(name, params, param):
    with pytest.raises(ValueError) as e:
        make_task(name, **params)
    assert str(e.value).startswith(param + " "), str(e.value)


@pytest.mark.parametrize("name", ["char_lm", "word_lm"])
def test_non_utf8_file_is_refused(tmp_path, name):
    p = tmp_path / "latin1.txt"
    p.write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e. ".encode("latin-1") * 20)
    with pytest.raises(ValueError, match=r"^path "):
        make_task(name, path=str(p))


def test_stream_length_must_be_positive():
    for name in sorted(PARAMS):
        with pytest.raises(ValueError, match=r"^T "):
            task_of(name).stream(0).next(-3)


# --- every task trains with every learner --------------------------------------------------------------

def _learners():
    from rnnlearn.algorithms import LEARNERS, BPTT, RTRL, TBPTT
    out = {"bptt": BPTT(window=12), "tbptt": TBPTT(k1=5, k2=10), "rtrl": RTRL()}
    for name, cls in LEARNERS.items():  # e.g. the EKF, once it exists
        if name not in out:
            out[name] = cls()
    return out


LEARNER_NAMES = ["bptt", "tbptt", "rtrl"]
try:
    from rnnlearn.algorithms import LEARNERS as _L
    LEARNER_NAMES += sorted(set(_L) - set(LEARNER_NAMES))
except ImportError:  # pragma: no cover
    pass


@pytest.mark.parametrize("learner_name", LEARNER_NAMES)
@pytest.mark.parametrize("name", sorted(PARAMS))
def test_every_task_trains_with_every_learner(name, learner_name):
    from rnnlearn import Elman
    from rnnlearn.optim import adam
    from rnnlearn.train import train
    # small vocabularies keep the EKF (cost ~ parameters^2 x outputs per step) quick on the language models
    task = task_of(name, **{"word_lm": {"vocab_size": 20}, "char_lm": {"max_vocab": 12}}.get(name, {}))
    model = Elman(n_in=task.n_in, n_hidden=6, n_out=task.n_out, loss=task.loss)
    learner = _learners()[learner_name]
    theta0 = model.init_params(seed=1)
    kwargs = {} if getattr(learner, "own_update", False) else {"optimizer": adam(0.01)}
    test_len = 300
    result = train(model, learner, task, steps=400, theta=theta0, seed=0, eval_every=200,
                   test_length=test_len, **kwargs)
    assert result.status == "done", result.reason
    assert result.steps == 400
    losses = [r["test_loss"] for r in result.records]
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    assert np.isfinite(result.records[-1]["train_loss"])
    assert np.all(np.isfinite(result.theta)) and not np.array_equal(result.theta, theta0)
    for key, value in result.records[-1].items():
        assert np.isfinite(value), key


class _SigmoidOracle:
    """Sigmoid outputs (logits +-5) right for n <= k and for the n in `also`; the last c wrong otherwise."""

    def __init__(self, k, also=()):
        self.k, self.also = k, set(also)

    def forward(self, theta, chunk):
        n = (len(chunk) - 1) // 3
        logits = np.where(chunk.ys > 0, 5.0, -5.0)
        if n > self.k and n not in self.also:
            logits[-1] = logits[-2]
        return None, logits


def test_anbncn_sigmoid_outputs_and_the_galloping_test():
    task = make_task("anbncn", n_max=6, outputs="sigmoid", n_test=10_000, n_exact=20)
    assert task.loss == "sigmoid_mse" and make_task("anbncn").loss == "xent"
    for n in range(1, 8):
        c = encode_anbncn(n, "sigmoid")
        legal = [set(s) for s in anbncn_legal_sets(n)]
        assert [{"SabcT"[k] for k in np.flatnonzero(y)} for y in c.ys] == legal
        assert set(np.unique(c.ys)) == {0.0, 1.0}
    test = task.test_set(0)
    m = task.metrics(np.where(test.ys > 0, 5.0, -5.0), test, model=_SigmoidOracle(1234), theta=None)
    assert m == {"strings_correct": 1.0, "largest_n_correct": 1234.0}
    # every n up to n_exact is tested; past it, galloping and bisection assume monotonicity
    for k in (0, 7, 20, 21, 40, 9_999, 10_000, 50_000):
        assert largest_n_correct(_SigmoidOracle(k), None, 10_000, outputs="sigmoid", n_exact=20) == min(k, 10_000)
    assert largest_n_correct(_SigmoidOracle(5, also=range(7, 100)), None, 100, outputs="sigmoid") == 5
    assert largest_n_correct(_SigmoidOracle(5, also=range(7, 100)), None, 100, outputs="sigmoid", n_exact=5) == 99
