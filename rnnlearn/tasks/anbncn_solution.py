"""a^n b^n c^n with the peephole LSTM of rnnlearn/experiments/anbncn_gers.toml: a hand-made solution, and the
failure model of trained nets (`breaking_n`). README "a^n b^n c^n as in the papers", issue 15.

A hand-made solution (`anbncn_solution`) for that LSTM (3 memory
blocks of one cell, independent sigmoid outputs): it predicts every string up to n = 10,000 under the task's own
test (rnnlearn/tasks/anbncn.py, largest_n_correct), so the model and the test can express and measure the
result Gers and Schmidhuber 2001 and Perez-Ortiz et al. 2003 report.

Every gate reads only the input (W = 0, peepholes 0) with weights of size `gain`, so each gate is 0 or 1 to
~e^-gain (exactly 1.0 in float64 for gain >= 38) and each cell adds exactly +1, -1 or 0 per symbol:

    cell 1 (A): +1 per a, -1 per b (input gate open on a and b only);  c_A = #a - #b
    cell 2 (B): +1 per b, -1 per c;                                    c_B = #b - #c
    cell 3 (F): set to 1 by a b (forget gate closed, input gate open on b), kept otherwise: "a b was seen"

The output gates are open (h = tanh c), the string's reset gives c = 0 at S, and the counts are non-negative
integers, so each h is 0 or at least tanh(1) = 0.76. With indicators A = [c_A > 0], B, F the legal sets are
a: F = 0;  b: A = 1;  c: A = 0 and B = 1;  T: F = 1 and A = B = 0 (after S all three are 0, after the a's
A = 1, in the b's A = B = F = 1 until the n-th b gives A = 0, after the n-th c B = 0), read out linearly with
the threshold 0.38 ~ tanh(1) / 2 (`scale` multiplies the readout, so sets the outputs' saturation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anbncn import A, B, C, S, T_, encode_anbncn, steps_ok
from .base import Chunk

CELL_A, CELL_B, CELL_F = 0, 1, 2
THRESHOLD = 0.38   # between 0 and tanh(1) / 2: the readout's cut on each h


def anbncn_model(n_blocks: int = 3):
    """The model of anbncn_gers.toml (its options do not change the parameter layout)."""
    from ..models import LSTM
    return LSTM(5, n_blocks, 5, loss="sigmoid_mse", peephole=True, init="uniform", init_scale=0.1,
                b_i=-1.0, b_f=2.0, b_o=-2.0)


def anbncn_solution(model=None, gain: float = 40.0, scale: float = 20.0) -> np.ndarray:
    """theta of the counter network above for `model` (default anbncn_model(); its first three blocks are
    used, any others are switched off: input gate closed, output gate closed)."""
    model = anbncn_model() if model is None else model
    check_anbncn_lstm(model, "anbncn_solution")
    if not model.peephole or model.shortcut or model.n_hidden < 3:
        raise ValueError("anbncn_solution needs the peephole LSTM of anbncn_gers without shortcut, >= 3 blocks")
    for name, v in (("gain", gain), ("scale", scale)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    L = float(gain)
    theta = np.zeros(model.n_params)
    p = model.unpack(theta)
    Ui, Uf, Ug = p["U_i"], p["U_f"], p["U_g"]
    p["b_i"][:] = -L       # input gates closed unless a symbol opens them
    p["b_f"][:] = L        # forget gates open: keep the count
    p["b_o"][:] = L        # output gates open: h = tanh(c)
    p["b_o"][3:] = -L      # extra blocks: silent
    # A: +1 per a, -1 per b
    Ui[CELL_A, A] = Ui[CELL_A, B] = 2 * L
    Ug[CELL_A, A], Ug[CELL_A, B] = L, -L
    # B: +1 per b, -1 per c
    Ui[CELL_B, B] = Ui[CELL_B, C] = 2 * L
    Ug[CELL_B, B], Ug[CELL_B, C] = L, -L
    # F: c = 1 after a b (forget and write), kept otherwise
    Ui[CELL_F, B] = 2 * L
    Uf[CELL_F, B] = -2 * L
    Ug[CELL_F, B] = L
    # the readout, y = scale (V' h - cut): a: F = 0;  b: A;  c: B and not A;  T: F and not A, not B
    V, c = p["V"], p["c"]
    V[:] = 0.0
    c[:] = -scale * THRESHOLD
    c[S] = -scale                               # S never follows
    V[A, CELL_F], c[A] = -scale, scale * THRESHOLD
    V[B, CELL_A] = scale
    V[C, CELL_B], V[C, CELL_A] = scale, -2 * scale
    V[T_, CELL_F], V[T_, CELL_A], V[T_, CELL_B] = scale, -2 * scale, -2 * scale
    return theta


def check_anbncn_lstm(model, what: str = "this analysis") -> None:
    """ValueError unless `model` is an LSTM with the task's 5 inputs and 5 outputs (state (h, c))."""
    from ..models import LSTM
    if not isinstance(model, LSTM) or model.n_in != 5 or model.n_out != 5:
        desc = f"{getattr(model, 'name', type(model).__name__)} with {getattr(model, 'n_in', '?')} inputs, " \
               f"{getattr(model, 'n_out', '?')} outputs"
        raise ValueError(f"{what} needs an LSTM of the a^n b^n c^n task (5 inputs, 5 outputs), got {desc}")


# -- the failure model: where a trained net's counter leaves the window its readout tolerates -----------------

def probe_step(n: int) -> int:
    """The step of the string S a^n b^n c^n after which the failure model looks at the cells: after the
    (n-2)-th c (step 3n - 2), two steps before the block's end, where the trained nets first fail."""
    return 3 * n - 2


def cells_at_probe(model, theta, n: int) -> np.ndarray:
    """The cell values c (n_hidden,) after the (n-2)-th c of the string n, run from the zero state."""
    states, _ = model.forward(theta, encode_anbncn(n, "sigmoid"))
    return states[probe_step(n), model.n_hidden:].copy()


def _rest_correct(model, theta, chunk, s_probe, k, shift) -> bool:
    """Is the rest of `chunk` (after the probe step) predicted correctly with cell k shifted by `shift`?"""
    t0 = probe_step((len(chunk) - 1) // 3)
    s0 = s_probe.copy()
    s0[model.n_hidden + k] += shift
    rest = Chunk.make(chunk.xs[t0 + 1:], chunk.ys[t0 + 1:], resets=np.zeros(len(chunk) - t0 - 1, bool),
                      x_index=chunk.x_index[t0 + 1:])
    _, y_hat = model.forward(theta, rest, s0=s0)
    return bool(steps_ok(y_hat, rest.ys, outputs="sigmoid").all())


def _margin(model, theta, chunk, s_probe, k, sign, start=1e-3, limit=1e3, iters=40) -> float:
    """The largest shift sign * m (m >= 0, to ~1e-12 relative) of cell k that keeps the rest correct: doubling
    from `start`, then bisection; inf if `limit` still keeps it correct (the cell is not read there)."""
    lo, hi = 0.0, start
    while _rest_correct(model, theta, chunk, s_probe, k, sign * hi):
        lo, hi = hi, 2 * hi
        if hi > limit:
            return np.inf
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _rest_correct(model, theta, chunk, s_probe, k, sign * mid) else (lo, mid)
    return lo


def _check_n0(n0):
    if isinstance(n0, bool) or not isinstance(n0, (int, np.integer)) or n0 < 2:
        raise ValueError(f"n0 must be an integer >= 2 (the probe is after the (n0-2)-th c), got {n0!r}")


def count_windows(model, theta, n0: int = 10) -> np.ndarray:
    """(n_hidden, 2): per cell k, the interval [lo, hi] its value may occupy after the (n0-2)-th c of the
    string n0 with the rest of that string still predicted correctly (the net's own dynamics and readout;
    the other cells as they are; +-inf where a shift of 1e3 is still tolerated). None if the rest of the
    string n0 fails already unshifted."""
    check_anbncn_lstm(model, "count_windows")
    _check_n0(n0)
    chunk = encode_anbncn(n0, "sigmoid")
    s_probe = model.forward(theta, chunk)[0][probe_step(n0)]
    if not _rest_correct(model, theta, chunk, s_probe, 0, 0.0):
        return None
    ref = s_probe[model.n_hidden:]
    return np.array([(ref[k] - _margin(model, theta, chunk, s_probe, k, -1.0),
                      ref[k] + _margin(model, theta, chunk, s_probe, k, +1.0)) for k in range(model.n_hidden)])


@dataclass(frozen=True)
class Breaking:
    """What `breaking_n` predicts. n: the predicted largest n (None: no cell leaves its window up to n_max);
    cell: the cell that leaves first (or, if none does, the one with the narrowest window); window: that
    cell's [lo, hi]; value_n0: its value at the probe of the string n0; windows: every cell's window
    (if the string n0 already fails after the probe: n = n0 - 1, cell 0, empty windows at the values)."""

    n: int | None
    cell: int
    window: tuple
    value_n0: float
    windows: np.ndarray


def breaking_n(model, theta, n0: int = 10, n_max: int = 400) -> Breaking:
    """The failure model of the trained nets of anbncn_gers (README, table 3): each cell's count may occupy the
    window `count_windows(n0)` at the probe (after the (n-2)-th c); the cells drift as n grows; the predicted
    largest n is the last n before some cell's value at the probe of the string n leaves its window
    (strings n0 + 1 .. n_max are tried). It predicts failures at the c block's end only (a net that first
    fails elsewhere, e.g. in the a block, fails earlier than predicted)."""
    _check_n0(n0)
    if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max <= n0:
        raise ValueError(f"n_max must be an integer > n0 = {n0}, got {n_max!r}")
    windows = count_windows(model, theta, n0)
    ref = cells_at_probe(model, theta, n0)
    if windows is None:   # the string n0 itself fails after the probe: no window to leave
        windows = np.stack([ref, ref], axis=1)
        return Breaking(n0 - 1, 0, tuple(windows[0]), float(ref[0]), windows)
    for n in range(n0 + 1, n_max + 1):
        v = cells_at_probe(model, theta, n)
        out = [k for k in range(model.n_hidden) if not windows[k, 0] < v[k] < windows[k, 1]]
        if out:
            k = out[0]
            return Breaking(n - 1, k, tuple(windows[k]), float(ref[k]), windows)
    k = int(np.argmin(windows[:, 1] - windows[:, 0]))
    return Breaking(None, k, tuple(windows[k]), float(ref[k]), windows)


@dataclass(frozen=True)
class BreakingRow:
    """One saved net of a results folder against the failure model (README, table 3)."""

    seed: int
    label: str
    measured: int            # largest_n_correct under the run's own task
    breaking: Breaking
    value_2n0: float         # the cell's value at the probe of the string 2 n0
    value_failing: float     # ... and of the first failing string, measured + 1


def breaking_rows(folder, n0: int = 10, n_max: int = 400) -> list[BreakingRow]:
    """`breaking_n` for every model that `rnnlearn compare --save-models` saved in folder/models, in (label,
    seed) order, with the measured largest n (the run's task: n_test, n_exact). ValueError for a missing
    folder, no saved models, or a saved model that is not an LSTM of the sigmoid-output a^n b^n c^n task."""
    import glob
    import json
    import os

    from ..textgen import load_model
    from .anbncn import largest_n_correct
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"results folder {folder!r} does not exist")
    paths = sorted(glob.glob(os.path.join(folder, "models", "*.npz")))
    if not paths:
        raise ValueError(f"no saved models in {os.path.join(folder, 'models')!r} "
                         "(run `rnnlearn compare ... --save-models` into it)")
    rows = []
    for p in paths:
        model, theta, task = load_model(p)
        try:
            check_anbncn_lstm(model, "the failure model")
        except ValueError as exc:
            raise ValueError(f"{p!r}: {exc}") from None
        if task is None or task.name != "anbncn" or task.outputs != "sigmoid":
            raise ValueError(f"{p!r} was not trained on the anbncn task with outputs=sigmoid")
        with np.load(p, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
        run = meta.get("run", {})
        b = breaking_n(model, theta, n0, n_max)
        measured = largest_n_correct(model, theta, task.n_test, outputs="sigmoid", n_exact=task.n_exact or None)
        rows.append(BreakingRow(int(run.get("seed", -1)), _run_label(run), measured, b,
                                float(cells_at_probe(model, theta, 2 * n0)[b.cell]),
                                float(cells_at_probe(model, theta, max(measured + 1, 2))[b.cell])))
    return sorted(rows, key=lambda r: (r.label, r.seed))


def _run_label(run: dict) -> str:
    from ..sweep import format_params
    learner = run.get("learner", {})
    params = learner.get("params") or {}
    return f"{learner.get('name', '?')}{':' if params else ''}{format_params(params)}"
