"""The immediate Jacobian in factored form, one generic implementation for every model.

The immediate Jacobian Mbar_t = ds_t/dtheta_rec with s_{t-1} held fixed (Williams and Zipser 1989, eq. 13:
the delta_ik z_j(t) term of p^k_ij(t+1) = f'(a_k)[sum_l w_kl p^l_ij(t) + delta_ik z_j(t)]) factors by
pre-activation row. Every model is made of rows z_r = W_r s_{t-1}[lo_r : lo_r + width_r] + U_r x_t + b_r, so

    ds_t / dtheta_r = D_t[:, r] a_r,t^T,      a_r,t = [s_{t-1}[lo_r : lo_r + width_r], x_t, 1]

with theta_r = (W_r, U_r, b_r) and D_t[:, r] = ds_t/dz_r (S x R). This is the Kronecker structure that
SnAp (Menick et al. 2021, "Practical real time recurrent learning with a sparse approximation", ICLR) and the
approximations of RTRL surveyed by Marschall, Cho and Savin (2020, "A unified framework of online learning
algorithms for training recurrent neural networks", JMLR 21) store and propagate instead of Mbar_t itself.

Static part, the row form (per model: the kernel `row_form(dims, aux, r)` in its module, also as arrays on
the model, `model.row_layout`): row r's hidden unit k_r, the offset of its recurrent-weight row in theta
and the slice (lo, width) of s_{t-1} it reads (width 0: none), the offset of its input-weight row (-1: none;
one-hot inputs index it), the index of its bias (-1: none).
    Elman      R = n:  row k = (W[k], U[k], b[k]) reading all of h_{t-1}
    LSTM       R = 4n: row q n + k = gate q in (i, f, o, g) of unit k, (W_q[k], U_q[k], b_q[k])
    GRU        R = 4n: z and r rows (W_z[k], U_z[k], b_z[k]), (W_r[k], ...); the candidate is two rows,
               its input part (-, U_h[k], b_h[k]) and its recurrent part (W_h[k], -, b_hr[k]), because the
               reset gate r_k multiplies only the latter: hh = tanh(U_h x + b_h + r (W_h h + b_hr)), so
               b_hr fits the row form, with its own coefficient (that of W_h[k]).
    Leaky      R = n:  as Elman
    Clockwork  R = n:  row k of module i = (W_i[k - i n/g], U[k], b[k]) reading h_{t-1}[i n/g : n]
Extras, the parameters outside the row form (`extra_form(dims, aux, j)` = (unit, index into theta)):
LSTM's peepholes p_i, p_f, p_o (3n, j = q n + k), each touching only h_k and c_k; none in the other models.

Dynamic part, the factors (`row_factor`, `extra_factor`, per model): every row and extra touches only its
own unit's state rows, h_k and (LSTM) c_k, so D_t is stored compactly as D (2, R): D[0, r] = dh_k/dz_r and
D[1, r] = dc_k/dz_r (k = k_r; row 1 is zero when S = n), and likewise E (2, NX) for the extras: the dense
D_t has D[0, r] at (k_r, r) and D[1, r] at (n + k_r, r), and Mbar_t[n_c + k, idx_j] = E[c, j]. Clockwork's
idle modules have zero columns of D at that step. The coefficients:
    Elman      D[0, k] = 1 - h_k^2
    LSTM       i: (e_c a_i, a_i), f: (e_c a_f, a_f), o: (e_o, 0), g: (e_c a_g, a_g), with a_i = g i (1 - i),
               a_f = c_{t-1} f (1 - f), a_g = i (1 - g^2), e_o = tanh(c) o (1 - o), e_c = dh/dc =
               o (1 - tanh(c)^2) (+ e_o p_o); peepholes p_i: a_i c_{t-1} (e_c, 1), p_f: a_f c_{t-1} (e_c, 1),
               p_o: (e_o c_t, 0)
    GRU        z: (h_{t-1} - hh) z (1 - z); r: a_h q r (1 - r); candidate input: a_h = (1 - z)(1 - hh^2);
               candidate recurrent: a_h r
    Leaky      D[0, k] = alpha (1 - r_k^2), r = tanh(z) kept in the cache
    Clockwork  1 - h_k^2 for active modules, 0 for idle ones

`add_factored_immediate` is what RTRL's influence step uses (M += Mbar_t, from the factors computed row by
row, touching only the non-zero entries: O(R (n + m)) per step, O(R) with one-hot inputs); `immediate_factors`
writes D and E for learners that keep them; `add_factors` adds given D, E into a dense M.
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from ..jit import internal
from . import cell
from .layout import D_N, D_NX, D_R, D_S, FAST


class RowLayout(NamedTuple):
    """The row form as arrays (int64): per row r < R its unit, recurrent-weight row offset, the slice of
    s_{t-1} it reads (lo, width), input-weight row offset (-1: none), bias index (-1: none); per extra
    parameter j < NX its unit and its index into theta."""
    unit: np.ndarray
    w_off: np.ndarray
    w_lo: np.ndarray
    w_width: np.ndarray
    u_off: np.ndarray
    b_off: np.ndarray
    x_unit: np.ndarray
    x_index: np.ndarray


def row_layout(model) -> RowLayout:
    """The model's row form as arrays (RowLayout), read from its kernels' `row_form` and `extra_form` run as
    plain Python: sizing a run (the EKF's node groups, the memory check before a sweep) compiles nothing, which
    in the first `rnnlearn compare` spared the parent a second of numba's start-up before any run began."""
    dims, aux = model.dims, model.aux
    row_form, extra_form = cell.python_kernel("row_form", dims), cell.python_kernel("extra_form", dims)
    rows = np.array([row_form(dims, aux, r) for r in range(dims[D_R])], dtype=np.int64).reshape(-1, 6)
    extras = np.array([extra_form(dims, aux, j) for j in range(dims[D_NX])], dtype=np.int64).reshape(-1, 2)
    return RowLayout(*[a.copy() for a in rows.T], *[a.copy() for a in extras.T])


@internal(cache=True, fastmath=FAST, inline="always")
def _add_row(M, row, c, s_prev, lo, width, x, xi, w, u, b):
    """M[row, w + j] += c s_prev[lo + j] (j < width), M[row, u + j] += c x_j (one entry when x is one-hot at
    xi >= 0; none when u < 0), M[row, b] += c (none when b < 0): one row's block c a_t^T of the immediate
    Jacobian. Plain indexing, no views: a view's reference counting cost more than a short row's adds."""
    for j in range(width):
        M[row, w + j] += c * s_prev[lo + j]
    if u >= 0:
        if xi >= 0:
            M[row, u + xi] += c
        else:
            for j in range(x.shape[0]):
                M[row, u + j] += c * x[j]
    if b >= 0:
        M[row, b] += c


@njit(cache=True, fastmath=FAST)
def add_factored_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M):
    """M += Mbar_t (M is S x P_rec): each row's factors from the model's `row_factor`, added as D a_t^T at
    the row's offsets (zero factors skipped: clockwork's idle modules, the LSTM output gate's c entry),
    then the extras. No scratch: RTRL's influence step calls it between J_t M and the next step."""
    n = dims[D_N]
    two = dims[D_S] > n
    for r in range(dims[D_R]):
        dh, dc = cell.row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r)
        if dh == 0.0 and dc == 0.0:
            continue
        unit, w, lo, width, u, b = cell.row_form(dims, aux, r)
        if dh != 0.0:
            _add_row(M, unit, dh, s_prev, lo, width, x, xi, w, u, b)
        if two and dc != 0.0:
            _add_row(M, n + unit, dc, s_prev, lo, width, x, xi, w, u, b)
    for j in range(dims[D_NX]):
        dh, dc = cell.extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j)
        unit, idx = cell.extra_form(dims, aux, j)
        M[unit, idx] += dh
        if two:
            M[n + unit, idx] += dc


@njit(cache=True, fastmath=FAST)
def immediate_factors(dims, aux, theta, s_prev, x, xi, t, s, cache, D, E):
    """D (2, R) and E (2, NX) = the compact factors of Mbar_t (module docstring): D[0, r] = dh_k/dz_r,
    D[1, r] = dc_k/dz_r for row r's unit k (0 when S = n), E likewise for the extra parameters."""
    for r in range(dims[D_R]):
        dh, dc = cell.row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r)
        D[0, r] = dh
        D[1, r] = dc
    for j in range(dims[D_NX]):
        dh, dc = cell.extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j)
        E[0, j] = dh
        E[1, j] = dc


@njit(cache=True, fastmath=FAST)
def add_factors(dims, aux, D, E, s_prev, x, xi, M):
    """M += the immediate Jacobian assembled from given factors D (2, R), E (2, NX) (as `immediate_factors`
    writes them) and the row form; only the non-zero entries of D and E are visited."""
    n = dims[D_N]
    two = dims[D_S] > n
    for r in range(dims[D_R]):
        dh = D[0, r]
        dc = D[1, r]
        if dh == 0.0 and dc == 0.0:
            continue
        unit, w, lo, width, u, b = cell.row_form(dims, aux, r)
        if dh != 0.0:
            _add_row(M, unit, dh, s_prev, lo, width, x, xi, w, u, b)
        if two and dc != 0.0:
            _add_row(M, n + unit, dc, s_prev, lo, width, x, xi, w, u, b)
    for j in range(dims[D_NX]):
        unit, idx = cell.extra_form(dims, aux, j)
        M[unit, idx] += E[0, j]
        if two:
            M[n + unit, idx] += E[1, j]


def dense_factors(model, D) -> np.ndarray:
    """The dense S x R matrix D_t = ds_t/dz (column r = ds_t/dz_r) from the compact D (2, R)."""
    n, S = model.n_hidden, model.n_state
    unit = model.row_layout.unit
    out = np.zeros((S, model.dims[D_R]))
    cols = np.arange(model.dims[D_R])
    out[unit, cols] = D[0]
    if S > n:
        out[n + unit, cols] = D[1]
    return out
