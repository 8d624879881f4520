"""The factored immediate Jacobian (models/immediate.py), the state Jacobian's products and diagonal, the row
layout, and the EKF's node groups read from it, for every model kind, dense and one-hot inputs."""
import numpy as np
import pytest

from rnnlearn.algorithms.ekf import node_groups
from rnnlearn.models import ELSTM, GRU, LRU, LSTM, ClockworkRNN, Elman, LeakyRNN, cell
from rnnlearn.models.immediate import add_factored_immediate, add_factors, dense_factors, immediate_factors
from rnnlearn.models.layout import D_NX, D_R

M_IN, O_OUT = 3, 2

BUILD = {
    "elman": lambda: Elman(M_IN, 5, O_OUT),
    "leaky": lambda: LeakyRNN(M_IN, 5, O_OUT, alpha=0.6),
    "lstm": lambda: LSTM(M_IN, 4, O_OUT),
    "lstm-peephole": lambda: LSTM(M_IN, 4, O_OUT, peephole=True),
    "gru": lambda: GRU(M_IN, 4, O_OUT),
    "clockwork": lambda: ClockworkRNN(M_IN, 6, O_OUT, modules=3),
    "elstm": lambda: ELSTM(M_IN, 4, O_OUT),
}
# clockwork periods 1, 2, 4: at t = 0 all modules tick, at t = 1 only module 0, at t = 2 modules 0 and 1
CASES = [(label, t, onehot) for label in BUILD for t in ((0, 1, 2) if label == "clockwork" else (3,))
         for onehot in (False, True)]
# models without the row form (Model.has_row_form): only the state Jacobian's kernels are checked here
NO_ROW_FORM = {"lru": lambda: LRU(M_IN, 4, O_OUT, d_state=3, r_min=0.4, r_max=0.9)}
JAC_CASES = CASES + [(label, 3, onehot) for label in NO_ROW_FORM for onehot in (False, True)]


def setup(label, t, onehot, seed=0):
    model = {**BUILD, **NO_ROW_FORM}[label]()
    rng = np.random.default_rng(seed)
    theta = model.init_params(seed)
    theta[:model.n_rec] += rng.normal(0.0, 0.3, model.n_rec)  # non-zero biases and peepholes
    s_prev = rng.normal(0.0, 0.5, model.n_state)
    if onehot:
        xi = 1
        x = np.zeros(M_IN)
        x[xi] = 1.0
    else:
        xi = -1
        x = rng.normal(size=M_IN)
    return model, theta, s_prev, x, xi, t


def run_step(model, theta, s_prev, x, xi, t):
    s = np.empty(model.n_state)
    cache = np.zeros(max(model.n_cache, 1))
    cell.step(model.dims, model.aux, theta, s_prev, x, xi, t, s, cache)
    return s, cache


def fd_immediate(model, theta, s_prev, x, xi, t, h=1e-6):
    """Central finite differences of the step's new state w.r.t. theta_rec, s_prev fixed."""
    out = np.zeros((model.n_state, model.n_rec))
    for q in range(model.n_rec):
        tp, tm = theta.copy(), theta.copy()
        tp[q] += h
        tm[q] -= h
        out[:, q] = (run_step(model, tp, s_prev, x, xi, t)[0] - run_step(model, tm, s_prev, x, xi, t)[0]) / (2 * h)
    return out


def numpy_assembly(model, D, E, s_prev, x):
    """The dense Mbar_t from the compact factors, in plain numpy: column r of the dense D_t times a_r^T."""
    lay = model.row_layout
    Dd = dense_factors(model, D)
    Mbar = np.zeros((model.n_state, model.n_rec))
    for r in range(model.dims[D_R]):
        if lay.w_width[r]:
            lo, w = lay.w_lo[r], lay.w_width[r]
            Mbar[:, lay.w_off[r]:lay.w_off[r] + w] += np.outer(Dd[:, r], s_prev[lo:lo + w])
        if lay.u_off[r] >= 0:
            Mbar[:, lay.u_off[r]:lay.u_off[r] + M_IN] += np.outer(Dd[:, r], x)
        if lay.b_off[r] >= 0:
            Mbar[:, lay.b_off[r]] += Dd[:, r]
    n = model.n_hidden
    for j in range(model.dims[D_NX]):
        Mbar[lay.x_unit[j], lay.x_index[j]] += E[0, j]
        if model.n_state > n:
            Mbar[n + lay.x_unit[j], lay.x_index[j]] += E[1, j]
    return Mbar


@pytest.mark.parametrize("label,t,onehot", CASES)
def test_factored_immediate_matches_finite_differences(label, t, onehot):
    model, theta, s_prev, x, xi, t = setup(label, t, onehot)
    s, cache = run_step(model, theta, s_prev, x, xi, t)
    dims, aux = model.dims, model.aux
    D = np.full((2, dims[D_R]), np.nan)
    E = np.full((2, dims[D_NX]), np.nan)
    immediate_factors(dims, aux, theta, s_prev, x, xi, t, s, cache, D, E)
    ref = fd_immediate(model, theta, s_prev, x, xi, t)
    scale = np.abs(ref).max()
    # the fused kernel RTRL uses, the kernel from given factors, and a numpy assembly agree with the FDs
    M1 = np.zeros((model.n_state, model.n_rec))
    add_factored_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M1)
    M2 = np.ones((model.n_state, model.n_rec))
    add_factors(dims, aux, D, E, s_prev, x, xi, M2)
    M2 -= 1.0
    M3 = numpy_assembly(model, D, E, s_prev, x)
    for M in (M1, M2, M3):
        assert np.abs(M - ref).max() <= 1e-7 * scale
    assert np.allclose(M1, M3, rtol=1e-13, atol=1e-14 * scale)
    if label == "clockwork":  # idle modules: zero factors, zero rows of Mbar_t
        idle = ~model.active(t)
        assert not D[:, idle].any() and not M1[idle].any()
        if idle.any():
            assert np.abs(ref[idle]).max() == 0.0
    if model.n_state == model.n_hidden:
        assert not D[1].any()


@pytest.mark.parametrize("label,t,onehot", JAC_CASES)
def test_state_jacobian_products_and_diagonal(label, t, onehot):
    model, theta, s_prev, x, xi, t = setup(label, t, onehot)
    s, cache = run_step(model, theta, s_prev, x, xi, t)
    dims, aux = model.dims, model.aux
    S = model.n_state
    J = np.empty((S, S))
    cell.jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J)
    # J itself against finite differences in s_prev
    h = 1e-6
    Jfd = np.empty((S, S))
    for j in range(S):
        sp, sm = s_prev.copy(), s_prev.copy()
        sp[j] += h
        sm[j] -= h
        Jfd[:, j] = (run_step(model, theta, sp, x, xi, t)[0] - run_step(model, theta, sm, x, xi, t)[0]) / (2 * h)
    assert np.abs(J - Jfd).max() <= 1e-7 * np.abs(Jfd).max()
    v = np.random.default_rng(1).normal(size=S)
    out = np.full(S, np.nan)
    cell.jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out)
    assert np.allclose(out, J @ v, rtol=1e-12, atol=1e-13)
    diag = np.full(S, np.nan)
    cell.jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, diag)
    assert np.allclose(diag, np.diag(J), rtol=1e-12, atol=1e-14)


def expected_rows(model):
    """Per row of the row form: (unit, W row offset, lo, width, U row offset, bias index), from the named
    blocks of model.unpack (index arithmetic on an arange theta), independently of the kernels."""
    p = model.unpack(np.arange(model.n_params, dtype=np.float64))
    n = model.n_hidden
    first = lambda a: int(a.ravel()[0])  # noqa: E731
    rows = []
    if isinstance(model, (Elman, LeakyRNN)):
        rows = [(k, first(p["W"][k]), 0, n, first(p["U"][k]), int(p["b"][k])) for k in range(n)]
    elif isinstance(model, LSTM):
        rows = [(k, first(p[f"W_{q}"][k]), 0, n, first(p[f"U_{q}"][k]), int(p[f"b_{q}"][k]))
                for q in "ifog" for k in range(n)]
    elif isinstance(model, GRU):
        rows = [(k, first(p[f"W_{q}"][k]), 0, n, first(p[f"U_{q}"][k]), int(p[f"b_{q}"][k]))
                for q in "zr" for k in range(n)]
        rows += [(k, None, 0, 0, first(p["U_h"][k]), int(p["b_h"][k])) for k in range(n)]
        rows += [(k, first(p["W_h"][k]), 0, n, -1, int(p["b_hr"][k])) for k in range(n)]
    elif isinstance(model, ClockworkRNN):
        ks = model.module_size
        for k in range(n):
            i, a = divmod(k, ks)
            rows.append((k, first(p[f"W_{i}"][a]), i * ks, n - i * ks, first(p["U"][k]), int(p["b"][k])))
    elif isinstance(model, ELSTM):  # z, f read c_{t-1}[k] (s_{t-1}[n + k]) through one weight; o reads none
        rows = [(k, int(p[f"w_{q}"][k]), n + k, 1, first(p[f"U_{q}"][k]), int(p[f"b_{q}"][k]))
                for q in "zf" for k in range(n)]
        rows += [(k, None, 0, 0, first(p["U_o"][k]), int(p["b_o"][k])) for k in range(n)]
    extras = []
    if isinstance(model, ELSTM):
        extras = [(k, int(p["w_o"][k])) for k in range(n)]
    if isinstance(model, LSTM) and model.peephole:
        extras = [(k, int(p[f"p_{q}"][k])) for q in "ifo" for k in range(n)]
    return rows, extras


@pytest.mark.parametrize("label", BUILD)
def test_row_layout_agrees_with_named_blocks(label):
    model = BUILD[label]()
    lay = model.row_layout
    rows, extras = expected_rows(model)
    assert len(lay.unit) == len(rows) == model.dims[D_R]
    for r, (unit, w, lo, width, u, b) in enumerate(rows):
        assert lay.unit[r] == unit and lay.w_lo[r] == lo and lay.w_width[r] == width, r
        assert lay.u_off[r] == u and lay.b_off[r] == b, r
        if width:
            assert lay.w_off[r] == w, r
    assert list(zip(lay.x_unit.tolist(), lay.x_index.tolist())) == extras
    # the rows and extras cover every recurrent parameter exactly once
    covered = [np.arange(lay.w_off[r], lay.w_off[r] + lay.w_width[r]) for r in range(len(rows))]
    covered += [lay.u_off[r] + np.arange(M_IN) for r in range(len(rows)) if lay.u_off[r] >= 0]
    covered += [lay.b_off[lay.b_off >= 0], lay.x_index]
    assert np.array_equal(np.sort(np.concatenate(covered)), np.arange(model.n_rec))
    # the offsets in dims are the named blocks'
    d = model.dims
    assert d.oW == 0 and d.oU == min(model.offset(nm) for nm, _ in model.recurrent_blocks() if nm[0] == "U")
    assert d.ob == d.oU + d.G * d.m and d.oX == d.ob + d.G


def old_node_groups(model):
    """The EKF's node groups as they were derived before the row layout: from the block-name convention
    (a block of g n rows holds g stacked gates), and the clockwork model's own per-unit listing."""
    n, m = model.n_hidden, model.n_in
    if isinstance(model, ClockworkRNN):
        k = model.module_size
        groups = []
        for row in range(n):
            i, a = divmod(row, k)
            width = n - i * k
            oW = model.offset(f"W_{i}") + a * width
            idx = list(range(oW, oW + width)) + list(range(model.offset("U") + row * m,
                                                           model.offset("U") + (row + 1) * m))
            idx.append(model.offset("b") + row)
            groups.append(np.array(idx, dtype=np.int64))
    else:
        parts = [[] for _ in range(n)]
        for name, shape in model.recurrent_blocks():
            width = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            off = model.offset(name)
            for i in range(n):
                for r in range(i, shape[0], n):
                    parts[i].append(off + r * width + np.arange(width))
        groups = [np.concatenate(p).astype(np.int64) for p in parts]
    oV, oc = model.offset("V"), model.offset("c")
    for k in range(model.n_out):
        groups.append(np.concatenate([oV + k * n + np.arange(n), [oc + k]]).astype(np.int64))
    return groups


@pytest.mark.parametrize("label", BUILD)
def test_node_groups_unchanged(label):
    model = BUILD[label]()
    new, old = node_groups(model), old_node_groups(model)
    assert len(new) == len(old)
    for a, b in zip(new, old):
        assert a.dtype == np.int64 and np.array_equal(a, b)


def test_row_layout_compiles_nothing():
    """Sizing a run reads the row form in plain Python (cell.python_kernel): in a fresh process, the EKF's
    node groups of an LSTM leave every kernel uncompiled (the parent of a sweep needs no numba start-up)."""
    import subprocess
    import sys
    code = ("from rnnlearn.algorithms.ekf import node_groups\n"
            "from rnnlearn.models import LSTM, lstm\n"
            "groups = node_groups(LSTM(2, 5, 2, peephole=True))\n"
            "assert len(groups) == 7, len(groups)\n"
            "print(len(lstm.row_form.signatures) + len(lstm.extra_form.signatures))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
