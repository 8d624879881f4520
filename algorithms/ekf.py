"""Extended Kalman filter training of recurrent networks: global (GEKF, Singhal and Wu 1989) and
node-decoupled (DEKF, Puskorius and Feldkamp 1991, 1994), as set out in Haykin (ed.) 2001, "Kalman Filtering
and Neural Networks", ch. 2 (Puskorius and Feldkamp), sec. 2.3.1 (GEKF) and 2.4 (DEKF).

The weights theta are the state of a filter with the identity as dynamics and the network as measurement:
    theta_t = theta_{t-1} + w_t,  w ~ N(0, Q_t);   y_t = h_t(theta_t) + v_t,  v ~ N(0, R_t).
Each time step with mask_t > 0 makes one measurement update, with H_t = d meas_t / d theta (p x o):
    A_t = (R_t + sum_g H_g^T P_g H_g)^-1                       (o x o, shared by all groups)
    K_g = P_g H_g A_t                                           (p_g x o)
    theta_g += K_g (y_t - meas_t)
    P_g <- P_g - K_g H_g^T P_g + Q_t
GEKF is the case of one group holding every parameter; DEKF uses one group per hidden unit (the weights that
feed it) and one per output unit (row k of V and c_k), neglecting the covariance between groups: per step
O(p^2) = O(n^4) time and memory for GEKF, O(n^3) for DEKF.

Computation. A is never inverted: with the Cholesky factorization R + H^T P H = L L^T,
B = P H L^-T (p x o, a triangular solve per row) gives K (y - meas) = B L^-1 (y - meas) and
K H^T P = B B^T. The covariance update P -= B B^T (+ Q on the diagonal) is then exactly symmetric in floating
point (every entry (i, j) subtracts the same products as (j, i), in the same order), so P never needs
re-symmetrizing. The work is memory-bound (o is small), so each step makes a single pass over the rows of P
(`covariance_pass`): it applies the previous step's update P -= B B^T + Q and, on the same row, accumulates
this step's P H = P^T H (P is symmetric) as vector updates; the last update of a chunk is applied at its
end. This reads and writes P once per step, where a BLAS product P H (a dgemm with o = 2 columns ran at
5-11 GFLOP/s here) followed by the rank-o update reads it twice.
`joseph=True` uses the Joseph form (Bucy and Joseph 1968) P <- (I - K H^T) P (I - K H^T)^T + K R K^T + Q
= P - K (PH)^T - (PH) K^T + (K L)(K L)^T + Q, written so that it too stays exactly symmetric.

Measurement. "mse": meas_t = y_hat_t. "xent": meas_t = softmax(y_hat_t), the targets are the task's
probabilities and H = (diag(p) - p p^T) dy_hat/dtheta. The o probabilities sum to 1, so H^T P H is singular
(its null space is the all-ones direction); R = r I > 0 keeps A positive definite. Along that direction both
the innovation and H vanish, so A's value there never reaches the update; across the others r is the
measurement noise as usual. (Puskorius and Feldkamp's alternative, sec. 2.7.2, is an entropic cost.) A step's mask weight
w > 0 scales the measurement noise to R_t / w (a weighted loss); w = 0 makes no update.

H_t = d y_hat_t / d theta comes from the RTRL influence matrix (jacobian="rtrl", Williams and Zipser 1989;
the readout part directly, the recurrent part V M_t[:n]; exact for fixed weights, O(n^4) per step, which
then dominates even DEKF) or from truncated BPTT (jacobian="tbptt", Haykin 2001 sec. 2.6.1: for each output k,
backpropagate e_k through the last h stored steps; O(o h n^2) per step).

Noise schedules (Puskorius and Feldkamp anneal both): R_t = max(r_min, r r_decay^t), Q_t = max(q_min,
q q_decay^t), t the number of steps seen; decays of 1 (the defaults) keep them constant. Scaling p0, r and q
by one factor leaves the trajectory unchanged.

Multistream training (Feldkamp and Puskorius 1994, "Training controllers for robustness: multi-stream DEKF",
IEEE ICNN; Haykin 2001 sec. 2.5): `batch` = B streams run forward side by side (each its own state, influence
matrix or ring, and H_b, p x o), and every step makes one update from their joint measurement: H_t = [H_1 ...
H_B] (p x c, c = B o), the innovations stacked, R_t = diag(R_t / w_b) (c x c), and the equations above with
o replaced by c (A is c x c). A stream whose mask is 0 at a step contributes zero columns (no measurement).
B copies of one stream with noise B r make exactly the update of that stream with noise r; R = B r I is
the analogue of a minibatch's mean gradient (on the add task, n = 16, it reaches 0.47 in 600-800 steps for
B = 4-8 against 1,800-2,900 for B = 1; with R = I per stream the larger steps diverged for 2 of 6 runs).

Square-root form (form="sqrt"; Haykin 2001 sec. 2.6.4; Potter 1963, Battin 1964; Andrews 1968, "A square root
formulation of the Kalman covariance equations", AIAA J. 6(6), for a vector measurement). Each block is kept
as a square factor P_g = S_g S_g^T (S_0 = sqrt(p0) I), never formed. With V_g = S_g^T H_g (p_g x c) and
W_g = V_g^T V_g:
    A = R_t + sum_g W_g = L L^T;   R_g = R_t + sum_{h != g} W_h = L_g L_g^T;   M_g = L^-T (L + L_g)^-1
    theta_g += S_g V_g L^-T L^-1 (y - meas)           (= P_g H_g A^-1 (y - meas))
    S_g <- S_g - (S_g V_g M_g) V_g^T = S_g (I - V_g M_g V_g^T)
M_g solves M_g + M_g^T - M_g W_g M_g^T = A^-1, so S_g S_g^T becomes P_g - P_g H_g A^-1 H_g^T P_g exactly
(for GEKF R_g = R_t). The factor of the update, I - V_g M_g V_g^T, is non-singular (its Gram matrix is
I - V_g A^-1 V_g^T >= I - V_g (R_g + W_g)^-1 V_g^T > 0), so P stays symmetric positive definite by
construction; with q = 0, r = 1e-6, p0 = 1e5 the standard form's P -= B B^T cancels to a non-positive
diagonal within 183-1,020 steps (n = 16, 32), the factored form runs 100,000. Why this factorization: a
square (not triangular) factor keeps the update a rank-c product, O(p^2 c), vectorizable rows, the same
memory as P; Bierman's UD or a triangular Cholesky factor (Carlson) are sequential per scalar measurement,
and an orthogonal (QR) array update costs O(p^3). Costs: per step one fused row pass (the pending
S -= D V^T and this step's V = S^T H, as `covariance_pass` for P) and one read pass (S V: the gain rows);
measured 1.0-1.6x the standard form's time per step. Process noise Q = q I has no O(p^2) update of a
factor (S S^T + q I needs a re-factorization, O(p^3)), so form="sqrt" takes q = 0 (R can still anneal).

Numerical safety: a failed Cholesky factorization of R + H^T P H (a pivot <= 0 or not finite) or a diagonal
entry of P that is <= 0 or not finite ends the chunk with status NOT_POSITIVE_DEFINITE, which the training
loop records as a divergence ("covariance not positive definite at step N"); if the factorization failed
because H_t itself is not finite (an exploding influence matrix in a chaotic network) the reason says so
("non-finite measurement Jacobian at step N"). Checking full positive definiteness would cost O(p^3); the
tests check it on long runs.
"""
from __future__ import annotations

from collections import namedtuple
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.core.errors import TypingError
from numba.extending import overload

from rnnlearn.jit import internal
from rnnlearn.models import cell
from rnnlearn.models.layout import D_LOSS, D_M, D_N, D_O, D_PREC, D_S, SIGMOID_MSE, XENT
from rnnlearn.models.losses import logsumexp, loss_only
from rnnlearn.models.readout import readout
from rnnlearn.algorithms.base import (NONFINITE_JACOBIAN, NONFINITE_LOSS, NOT_POSITIVE_DEFINITE, OK, ChunkArrays,
                                      Minibatch, OwnUpdate, check_int, check_number, degree_in_n, raise_status,
                                      register, row_form_missing)
from rnnlearn.algorithms.rtrl import influence_step
from rnnlearn.algorithms.tbptt import FILLED, N_COUNTERS, NEWEST, ONE, advance, ring_backward

# plain booleans for flags passed to callees: a literal True or False compiles the callee once more for each
TRUE, FALSE = np.bool_(True), np.bool_(False)

# flags[...] (the Jacobian and the covariance form are not flags: the kernel takes them as type tokens, below)
F_JOSEPH, F_NEED_REC = 0, 1
# ctr[...] (the ring's counters, rctr, are truncated BPTT's: tbptt.NEWEST, tbptt.FILLED, ...)
STEPS = 0      # steps seen (the absolute time of the next step)
CURRENT_M = 1  # which of M[0], M[1] is the current influence matrix (jacobian="rtrl")
PENDING = 2    # 1 while the last measurement's covariance update is still to be applied
# hyper[...]
H_R, H_R_DECAY, H_R_MIN, H_Q, H_Q_DECAY, H_Q_MIN, H_Q_PENDING = range(7)


# ------------------------------------------------------------------------------------------------------
# parameter groups


def node_groups(model) -> list[np.ndarray]:
    """The node-decoupled groups of Puskorius and Feldkamp (1991): one per hidden unit, then one per output.

    Hidden unit k's group is read from the model's row form (`model.row_layout`, models/immediate.py): the
    recurrent-weight, input-weight and bias entries of every pre-activation row that belongs to unit k (for
    gated models, the unit's row of every gate), plus its extra parameters (LSTM's peepholes), in increasing
    order; these are exactly the parameters whose columns of the immediate Jacobian are non-zero only in
    unit k's state rows. The readout is shared by every model: output k's group is row k of V and c_k (and
    row k of the feed-through V_x, with the model's shortcut: output k's own input-to-output weights).
    A model may instead define `node_groups()`, returning n int64 arrays of indices into theta (or n + o
    that already end with the readout groups), each recurrent parameter in exactly one array.
    """
    n, o, m = model.n_hidden, model.n_out, model.n_in
    if hasattr(model, "node_groups"):
        groups = [np.asarray(g, dtype=np.int64).ravel() for g in model.node_groups()]
        if len(groups) == n + o:
            if model.shortcut and model.offset("Vx") not in np.concatenate(groups):
                raise ValueError(f"{type(model).__name__}.node_groups() leaves out the feed-through V_x")
            return groups
        if len(groups) != n:
            raise ValueError(f"{type(model).__name__}.node_groups() returned {len(groups)} groups, expected "
                             f"one per hidden unit ({n})")
    else:
        lay = model.row_layout
        parts = [[] for _ in range(n)]
        for r, k in enumerate(lay.unit):
            if lay.w_width[r] > 0:
                parts[k].append(lay.w_off[r] + np.arange(lay.w_width[r]))
            if lay.u_off[r] >= 0:
                parts[k].append(lay.u_off[r] + np.arange(m))
            if lay.b_off[r] >= 0:
                parts[k].append(lay.b_off[r:r + 1])
        for j, k in enumerate(lay.x_unit):
            parts[k].append(lay.x_index[j:j + 1])
        groups = [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]
    oV, oc = model.offset("V"), model.offset("c")
    for k in range(o):
        part = [oV + k * n + np.arange(n), [oc + k]]
        if model.shortcut:
            part.append(model.offset("Vx") + k * m + np.arange(m))
        groups.append(np.concatenate(part).astype(np.int64))
    return groups


def _groups_for(learner, model) -> list[np.ndarray]:
    d = learner.decoupling
    if isinstance(d, str):
        groups = [np.arange(model.n_params, dtype=np.int64)] if d == "global" else node_groups(model)
    else:
        groups = [np.asarray(g, dtype=np.int64).ravel() for g in d]
    allidx = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    if len(allidx) and (allidx.min() < 0 or allidx.max() >= model.n_params):
        raise ValueError(f"decoupling: parameter indices must lie in [0, {model.n_params})")
    if len(np.unique(allidx)) != len(allidx):
        raise ValueError("decoupling: groups must not share parameters")
    if learner.trainable == "readout":
        groups = [g[g >= model.n_rec] for g in groups]
    groups = [g for g in groups if len(g)]
    if not groups:
        raise ValueError("decoupling: no parameter left to train")
    return groups


# ------------------------------------------------------------------------------------------------------
# kernels


@internal(cache=True)
def cholesky(A, L):
    """L L^T = A (o x o, lower triangle of A read). Returns False if a pivot is <= 0 or not finite."""
    o = A.shape[0]
    for i in range(o):
        for j in range(i + 1):
            v = A[i, j]
            for k in range(j):
                v -= L[i, k] * L[j, k]
            if i == j:
                if not (v > 0.0) or not np.isfinite(v):
                    return False
                L[i, i] = np.sqrt(v)
            else:
                L[i, j] = v / L[j, j]
        for j in range(i + 1, o):
            L[i, j] = 0.0
    return True


@internal(cache=True)
def gather_jacobian(dims, s, x, xi, Jp, Hrec, perm, Hp):
    """Hp[r, k] = d meas_k / d theta_perm[r]: Jp = d meas / d y_hat (o x o) times d y_hat / d theta, whose
    recurrent part is Hrec (o x P_rec, already multiplied by Jp) and readout part is direct:
    d y_hat_l / d V_lj = h_j, d y_hat_l / d c_l = 1, and with the feed-through d y_hat_l / d V_x,lj = x_j
    (x the step's input row, or e_xi for a one-hot index xi >= 0)."""
    n, o, m = dims[D_N], dims[D_O], dims[D_M]
    PR = dims[D_PREC]
    oc = PR + o * n
    oY = oc + o  # the feed-through's offset when the model has one (perm holds no index there otherwise)
    for r in range(perm.shape[0]):
        q = perm[r]
        if q < PR:
            for k in range(o):
                Hp[r, k] = Hrec[k, q]
        elif q < oc:
            l = (q - PR) // n
            hj = s[(q - PR) - l * n]
            for k in range(o):
                Hp[r, k] = Jp[k, l] * hj
        elif q < oY:
            l = q - oc
            for k in range(o):
                Hp[r, k] = Jp[k, l]
        else:
            l = (q - oY) // m
            j = (q - oY) - l * m
            xj = (1.0 if j == xi else 0.0) if xi >= 0 else x[j]
            for k in range(o):
                Hp[r, k] = Jp[k, l] * xj


@internal(cache=True)
def covariance_pass(gstart, poff, Pflat, pending, joseph, qt, Bt, Kt, Ct, PJt, accumulate, Hp, PHt):
    """One pass over the rows of every covariance block, doing two things at once (each row is read and
    written once per step: the cost of the EKF is this pass over p^2 or sum_g p_g^2 numbers).

    pending: finish the previous step's update (Haykin 2001 sec. 2.3.1 / 2.4) P <- P - B B^T + qt I, or with
    `joseph` P <- P - K (PH)^T - (PH) K^T + C C^T + qt I, and check each new diagonal entry.
    accumulate: PHt = (P H)^T for this step's H (Hp, p_t x o), as P^T H = sum_i P[i, :] H[i, :] (P is exactly
    symmetric), row by row: vector operations, no reductions. Returns OK or NOT_POSITIVE_DEFINITE."""
    o = Hp.shape[1]
    if accumulate:
        PHt[:, :] = 0.0
    fast = pending and accumulate and not joseph and o <= 2
    for g in range(gstart.shape[0] - 1):
        a, b = gstart[g], gstart[g + 1]
        pg = b - a
        # slices taken once per group, so that the inner loops index with a range variable (no negative-index
        # wraparound test per element) and vectorize
        b0, b1, a0, a1 = Bt[0, a:b], Bt[o - 1, a:b], PHt[0, a:b], PHt[o - 1, a:b]
        for i in range(pg):
            row = Pflat[poff[g] + i * pg:poff[g] + (i + 1) * pg]
            if fast:  # the update and P H fused in one loop: one and two outputs
                x0, h0 = b0[i], Hp[a + i, 0]
                if o == 1:
                    for j in range(pg):
                        v = row[j] - x0 * b0[j]
                        row[j] = v
                        a0[j] += h0 * v
                else:
                    x1, h1 = b1[i], Hp[a + i, 1]
                    for j in range(pg):
                        v = (row[j] - x0 * b0[j]) - x1 * b1[j]
                        row[j] = v
                        a0[j] += h0 * v
                        a1[j] += h1 * v
                d = row[i] + qt
                row[i] = d
                for k in range(o):  # the diagonal's Q, which the loop above did not see
                    PHt[k, a + i] += Hp[a + i, k] * qt
                if not (d > 0.0) or not np.isfinite(d):
                    return NOT_POSITIVE_DEFINITE
                continue
            if pending:
                for k in range(o):
                    if joseph:
                        kk, cc, jj = Kt[k, a:b], Ct[k, a:b], PJt[k, a:b]
                        ki, hi, ci = kk[i], jj[i], cc[i]
                        for j in range(pg):
                            row[j] += ci * cc[j] - (ki * jj[j] + hi * kk[j])
                    else:
                        bb = Bt[k, a:b]
                        bi = bb[i]
                        for j in range(pg):
                            row[j] -= bi * bb[j]
                d = row[i] + qt
                row[i] = d
                if not (d > 0.0) or not np.isfinite(d):
                    return NOT_POSITIVE_DEFINITE
            if accumulate:
                for k in range(o):
                    hk = Hp[a + i, k]
                    if hk != 0.0:
                        acc = PHt[k, a:b]
                        for j in range(pg):
                            acc[j] += hk * row[j]
    return OK


@internal(cache=True)
def measurement_update(theta, err, rvec, joseph, perm, Hp, PHt, A, L, Bt, z, Kt, Ct, PJt):
    """The gain and the weight update (Haykin 2001 sec. 2.3.1 / 2.4; no inverse, cf. sec. 2.6.3), given P H (PHt, o x p_t):
    A^-1 = R + H^T P H = L L^T;  B = P H L^-T;  theta += B L^-1 (y - meas) = K (y - meas).
    With `joseph`, also K = B L^-1 and C = K L for the Joseph-form covariance update. The covariance update
    itself (P -= B B^T) is left to the next `covariance_pass`. Returns OK, NOT_POSITIVE_DEFINITE, or
    NONFINITE_JACOBIAN (the factorization failed because H_t is not finite: an exploding influence matrix)."""
    pt, o = Hp.shape
    A[:, :] = 0.0  # lower triangle of R + sum_g H_g^T P_g H_g
    for r in range(pt):
        for k in range(o):
            hk = Hp[r, k]
            for l in range(k + 1):
                A[k, l] += hk * PHt[l, r]
    for k in range(o):
        A[k, k] += rvec[k]
    if not cholesky(A, L):
        for r in range(pt):
            for k in range(o):
                if not np.isfinite(Hp[r, k]):
                    return NONFINITE_JACOBIAN
        return NOT_POSITIVE_DEFINITE
    for r in range(pt):  # B = P H L^-T, row by row (forward substitution)
        for k in range(o):
            v = PHt[k, r]
            for j in range(k):
                v -= L[k, j] * Bt[j, r]
            Bt[k, r] = v / L[k, k]
    for k in range(o):  # z = L^-1 (y - meas); then K (y - meas) = B z
        v = err[k]
        for j in range(k):
            v -= L[k, j] * z[j]
        z[k] = v / L[k, k]
    for r in range(pt):
        v = 0.0
        for k in range(o):
            v += Bt[k, r] * z[k]
        theta[perm[r]] += v
    if joseph:
        for r in range(pt):  # K = B L^-1 (back substitution), C = K L, and a copy of (P H)^T
            for k in range(o - 1, -1, -1):
                v = Bt[k, r]
                for j in range(k + 1, o):
                    v -= Kt[j, r] * L[j, k]
                Kt[k, r] = v / L[k, k]
            for k in range(o):
                v = 0.0
                for j in range(k, o):
                    v += Kt[j, r] * L[j, k]
                Ct[k, r] = v
                PJt[k, r] = PHt[k, r]
    return OK


# ---- the square-root form: P_g = S_g S_g^T, S_g square (p_g x p_g), never formed


@internal(cache=True, fastmath={"reassoc", "contract"})  # as covariance_pass: its loops vectorise and fuse
def factor_pass(gstart, poff, Sflat, pending, Dt, Vp, accumulate, Hp, Vt):
    """The square-root form's pass over the rows of every factor block S_g (as `covariance_pass` for P):

    pending: finish the previous step's update S <- S - D V^T (D = Dt^T, V = Vp^T, p_t x c, c columns; see
    `sqrt_update`), and check that each new diagonal entry of S is finite.
    accumulate: Vt = (S^T H)^T for this step's H (Hp, p_t x c), as sum_i S[i, :]^T H[i, :], row by row.
    Returns OK or NOT_POSITIVE_DEFINITE (a non-finite factor)."""
    c = Hp.shape[1]
    if accumulate:
        Vt[:, :] = 0.0
    for g in range(gstart.shape[0] - 1):
        a, b = gstart[g], gstart[g + 1]
        pg = b - a
        v0, v1, a0, a1 = Vp[0, a:b], Vp[c - 1, a:b], Vt[0, a:b], Vt[c - 1, a:b]
        for i in range(pg):
            row = Sflat[poff[g] + i * pg:poff[g] + (i + 1) * pg]
            if pending and accumulate and c <= 2:  # fused, as covariance_pass's fast path
                x0, h0 = Dt[0, a + i], Hp[a + i, 0]
                if c == 1:
                    for j in range(pg):
                        v = row[j] - x0 * v0[j]
                        row[j] = v
                        a0[j] += h0 * v
                else:
                    x1, h1 = Dt[1, a + i], Hp[a + i, 1]
                    for j in range(pg):
                        v = (row[j] - x0 * v0[j]) - x1 * v1[j]
                        row[j] = v
                        a0[j] += h0 * v
                        a1[j] += h1 * v
                if not np.isfinite(row[i]):
                    return NOT_POSITIVE_DEFINITE
                continue
            if pending:
                for k in range(c):
                    vk = Vp[k, a:b]
                    dk = Dt[k, a + i]
                    if dk != 0.0:
                        for j in range(pg):
                            row[j] -= dk * vk[j]
                if not np.isfinite(row[i]):
                    return NOT_POSITIVE_DEFINITE
            if accumulate:
                for k in range(c):
                    hk = Hp[a + i, k]
                    if hk != 0.0:
                        acc = Vt[k, a:b]
                        for j in range(pg):
                            acc[j] += hk * row[j]
    return OK


@internal(cache=True, fastmath={"reassoc", "contract"})
def _dot(x, y):
    """x . y (reassociated, so that the reduction vectorizes)."""
    v = 0.0
    for j in range(x.shape[0]):
        v += x[j] * y[j]
    return v


@internal(cache=True, fastmath={"reassoc", "contract"})
def _dot2(x, y0, y1):
    """(x . y0, x . y1) in one read of x (reassociated)."""
    v0 = 0.0
    v1 = 0.0
    for j in range(x.shape[0]):
        v0 += x[j] * y0[j]
        v1 += x[j] * y1[j]
    return v0, v1


@internal(cache=True)
def _lower_inverse_times(L, X, M, N):
    """M = L^-T X^-1 for lower-triangular L and X (c x c); N is a workspace (X^-1)."""
    c = L.shape[0]
    for j in range(c):  # N = X^-1, column by column (forward substitution)
        for i in range(c):
            if i < j:
                N[i, j] = 0.0
                continue
            v = 1.0 if i == j else 0.0
            for k in range(j, i):
                v -= X[i, k] * N[k, j]
            N[i, j] = v / X[i, i]
    for j in range(c):  # M = L^-T N (back substitution: L^T is upper triangular)
        for i in range(c - 1, -1, -1):
            v = N[i, j]
            for k in range(i + 1, c):
                v -= L[k, i] * M[k, j]
            M[i, j] = v / L[i, i]


@internal(cache=True)
def sqrt_update(theta, err, rvec, perm, gstart, poff, Sflat, Vt, A, L, z, w, Wg, Wsuf, Rg, Lg, Mg, Dt, Vp):
    """The gain, the weight update and the factor's update of the square-root form, given V = S^T H
    (Vt = V^T, c x p_t; c = B o columns); the update S -= D V^T itself is left to the next `factor_pass`.

    Per group g, W_g = V_g^T V_g = H_g^T P_g H_g, and
        A = R + sum_g W_g = L L^T;   z = L^-1 (y - meas);   theta_g += S_g V_g L^-T z  (= P_g H_g A^-1 (y - meas))
        R_g = A - W_g = R + sum_{h != g} W_h = L_g L_g^T;   M_g = L^-T (L + L_g)^-1;   D_g = S_g V_g M_g,
    so that S_g <- S_g - D_g V_g^T = S_g (I - V_g M_g V_g^T) gives S_g S_g^T = P_g - P_g H_g A^-1 H_g^T P_g
    (M_g + M_g^T - M_g W_g M_g^T = A^-1: Andrews 1968's block form of Potter's update). R_g is summed from
    R and the other groups' W_h (prefix and suffix sums), never as a difference. Returns OK,
    NOT_POSITIVE_DEFINITE or NONFINITE_JACOBIAN."""
    c = Vt.shape[0]
    G = gstart.shape[0] - 1
    A[:, :] = 0.0
    for g in range(G):
        a, b = gstart[g], gstart[g + 1]
        for k in range(c):
            for l in range(k + 1):
                v = _dot(Vt[k, a:b], Vt[l, a:b])
                Wg[g, k, l] = v
                Wg[g, l, k] = v
                A[k, l] += v
    for k in range(c):
        A[k, k] += rvec[k]
    if not cholesky(A, L):
        for k in range(c):
            for r in range(Vt.shape[1]):
                if not np.isfinite(Vt[k, r]):
                    return NONFINITE_JACOBIAN
        return NOT_POSITIVE_DEFINITE
    for k in range(c):  # z = L^-1 (y - meas), w = L^-T z
        v = err[k]
        for j in range(k):
            v -= L[k, j] * z[j]
        z[k] = v / L[k, k]
    for k in range(c - 1, -1, -1):
        v = z[k]
        for j in range(k + 1, c):
            v -= L[j, k] * w[j]
        w[k] = v / L[k, k]
    # M_g for every group: Wsuf[g] = sum_{h >= g} W_h (g <= G), Wsuf[G + 1] the running sum_{h < g} W_h
    pre = Wsuf[G + 1]
    Wsuf[G, :, :] = 0.0
    pre[:, :] = 0.0
    for g in range(G - 1, -1, -1):
        for k in range(c):
            for l in range(c):
                Wsuf[g, k, l] = Wsuf[g + 1, k, l] + Wg[g, k, l]
    for g in range(G):
        for k in range(c):
            for l in range(k + 1):
                Rg[k, l] = pre[k, l] + Wsuf[g + 1, k, l]
            Rg[k, k] += rvec[k]
        for k in range(c):
            for l in range(c):
                pre[k, l] += Wg[g, k, l]
        if not cholesky(Rg, Lg):
            return NOT_POSITIVE_DEFINITE
        for k in range(c):
            for l in range(k + 1):
                Lg[k, l] += L[k, l]
        _lower_inverse_times(L, Lg, Mg[g], Rg)
    for g in range(G):  # row by row: c_i = S[i, :] V_g, theta += c_i . w, D[i, :] = c_i M_g
        a, b = gstart[g], gstart[g + 1]
        pg = b - a
        for i in range(pg):
            row = Sflat[poff[g] + i * pg:poff[g] + (i + 1) * pg]
            dtheta = 0.0
            if c == 2:
                z[0], z[1] = _dot2(row, Vt[0, a:b], Vt[1, a:b])  # z is free again (w holds L^-T z)
                dtheta = z[0] * w[0] + z[1] * w[1]
            else:
                for k in range(c):
                    ck = _dot(row, Vt[k, a:b])
                    z[k] = ck
                    dtheta += ck * w[k]
            theta[perm[a + i]] += dtheta
            for k in range(c):
                v = 0.0
                for l in range(c):
                    v += z[l] * Mg[g, l, k]
                Dt[k, a + i] = v
    Vp[:, :] = Vt
    return OK


@internal(cache=True)
def truncated_jacobian_row(dims, aux, theta, dy, L, newest, s_prev, s_next, x, xi, cache, dh, reset, tabs, delta,
                           ds, ds2, g, gcols):
    """g[:P_rec] = d (dy . y_hat_t) / d theta_rec backpropagated through the newest L steps of the ring
    (Haykin 2001 sec. 2.6.1, BPTT(h) of one output's derivatives; Williams and Peng 1990): the error
    dL/dh = V^T dy of the newest step, written into dh[newest], through truncated BPTT's sweep
    (tbptt.ring_backward, injecting that one step)."""
    n, o = dims[D_N], dims[D_O]
    PR = dims[D_PREC]
    e = dh[newest]
    e[:] = 0.0
    for k in range(o):  # through the readout: dL/dh = V^T dy
        d = dy[k]
        for j in range(n):
            e[j] += theta[PR + k * n + j] * d
    # edge=None spelled out: truncated BPTT's window_backward passes its own None on, and an omitted argument is
    # another numba type, which would compile the sweep a second time
    ring_backward(dims, aux, theta, ONE, L, newest, s_prev, s_next, x, xi, cache, dh, reset, tabs, delta, ds, ds2,
                  g, gcols, None)


# ------------------------------------------------------------------------------------------------------
# the chunk kernel, compiled once per (Jacobian, form): the choice is a type, as the model kind is (cell.py)
#
# numba types every call in a kernel, taken branch or not, so a kernel holding both Jacobians and both forms
# compiled all four paths (17-24 s from an empty cache). The tokens below carry the choice in their class: the
# overloaded helpers resolve to one path while ekf_chunk is typed, and a filter compiles only its own.

# (numba types a namedtuple by its class; the one field only gives the token a value to pass)
RTRLJacobian = namedtuple("RTRLJacobian", "tag")
UnitRTRLJacobian = namedtuple("UnitRTRLJacobian", "tag")  # RTRL on a diagonal recurrence: the compact influence m
TBPTTJacobian = namedtuple("TBPTTJacobian", "tag")
StandardForm = namedtuple("StandardForm", "tag")
SqrtForm = namedtuple("SqrtForm", "tag")
JACOBIAN_TOKENS = {"rtrl": RTRLJacobian(0), "tbptt": TBPTTJacobian(0)}
UNIT_RTRL = UnitRTRLJacobian(0)
_JACOBIANS = (RTRLJacobian, UnitRTRLJacobian, TBPTTJacobian)
FORM_TOKENS = {"standard": StandardForm(0), "sqrt": SqrtForm(0)}


def _token(mode, classes, what):
    cls = getattr(mode, "instance_class", None)
    if cls not in classes:
        raise TypingError(f"ekf: {what} token must be one of {', '.join(c.__name__ for c in classes)}, got {mode}")
    return cls


def forward_stream(jm, dims, aux, theta, st, bb, t, tg, cur, xs, xis, resets):
    """Stream bb's step t, and what its H_t needs: RTRL's influence step, or the step kept in the ring."""


def recurrent_jacobian(jm, dims, aux, theta, st, bb, cur, jp, V, x, xi, tg):
    """Stream bb's H_t, recurrent part (o x P_rec), into st.Hrec[bb]: Jp V M_t (RTRL; on a diagonal
    recurrence one cell.unit_influence_grad per output from the compact m), or one truncated backward sweep
    per output (truncated BPTT). x, xi, tg: the step's input and absolute time."""


def measurement(fm, theta, st, joseph):
    """The measurement update from st.Hp and st.err (standard form or square-root form); returns a status."""


def settle(fm, st, joseph):
    """Apply the covariance (or factor) update still pending, so P is up to date between calls."""


def _forward_rtrl(jm, dims, aux, theta, st, bb, t, tg, cur, xs, xis, resets):
    sb, need_rec = st.s[bb], st.flags[F_NEED_REC] != 0
    M, Mn = st.M[bb, cur], st.M[bb, 1 - cur]
    if resets[bb, t]:
        sb[:] = 0.0
        M[:, :] = 0.0
    if need_rec:
        influence_step(dims, aux, theta, sb, xs[bb, t], xis[bb, t], tg, st.s_new[bb], st.cache[bb], st.J[bb], M, Mn)
    else:
        cell.step(dims, aux, theta, sb, xs[bb, t], xis[bb, t], tg, st.s_new[bb], st.cache[bb])
    for j in range(dims[D_S]):
        sb[j] = st.s_new[bb, j]


def _forward_unit(jm, dims, aux, theta, st, bb, t, tg, cur, xs, xis, resets):
    sb, sp = st.s[bb], st.s_new[bb]  # s_new keeps s_{t-1}: unit_influence_grad reads it
    if resets[bb, t]:
        sb[:] = 0.0
        st.m[bb, :] = 0.0
    for j in range(dims[D_S]):
        sp[j] = sb[j]
    cell.step(dims, aux, theta, sp, xs[bb, t], xis[bb, t], tg, sb, st.cache[bb])
    if st.flags[F_NEED_REC] != 0:
        cell.unit_influence_step(dims, aux, theta, sp, xs[bb, t], xis[bb, t], tg, sb, st.cache[bb], st.m[bb])


def _forward_tbptt(jm, dims, aux, theta, st, bb, t, tg, cur, xs, xis, resets):
    advance(dims, aux, theta, xs[bb], xis[bb], resets[bb], t, t + 1, st.s[bb], st.rs_prev[bb], st.rs_next[bb],
            st.rx[bb], st.rxi[bb], st.rcache[bb], st.rreset[bb], st.rtabs[bb], st.rtloc[bb], st.rctr[bb],
            st.rs_prev[bb, :0])  # the step, kept in the ring as truncated BPTT keeps it


@overload(forward_stream)
def _forward_stream(jm, dims, aux, theta, st, bb, t, tg, cur, xs, xis, resets):
    return {RTRLJacobian: _forward_rtrl, UnitRTRLJacobian: _forward_unit,
            TBPTTJacobian: _forward_tbptt}[_token(jm, _JACOBIANS, "jacobian")]


def _recurrent_rtrl(jm, dims, aux, theta, st, bb, cur, jp, V, x, xi, tg):
    np.dot(jp, V, st.JV[bb])
    np.dot(st.JV[bb], st.M[bb, 1 - cur][:dims[D_N]], st.Hrec[bb])  # the new influence matrix


def _recurrent_unit(jm, dims, aux, theta, st, bb, cur, jp, V, x, xi, tg):
    n, PR = dims[D_N], dims[D_PREC]
    hr, g, ds, JV = st.Hrec[bb], st.g[bb], st.ds[bb], st.JV[bb]
    np.dot(jp, V, JV)
    for k in range(dims[D_O]):  # row k: (d meas_k / d s_t) M_t, the readout reading s_t[:n]
        ds[:] = 0.0
        for j in range(n):
            ds[j] = JV[k, j]
        g[:PR] = 0.0
        cell.unit_influence_grad(dims, aux, theta, st.s_new[bb], x, xi, tg, st.s[bb], st.cache[bb], st.m[bb], ds, g)
        for q in range(PR):
            hr[k, q] = g[q]


def _recurrent_tbptt(jm, dims, aux, theta, st, bb, cur, jp, V, x, xi, tg):
    hr, g = st.Hrec[bb], st.g[bb]
    kr = st.rctr[bb, NEWEST]
    for k in range(dims[D_O]):
        truncated_jacobian_row(dims, aux, theta, jp[k], st.rctr[bb, FILLED], kr, st.rs_prev[bb], st.rs_next[bb],
                               st.rx[bb], st.rxi[bb], st.rcache[bb], st.rdh[bb], st.rreset[bb], st.rtabs[bb],
                               st.delta[bb], st.ds[bb], st.ds2[bb], g, st.rgcols[bb])
        for q in range(dims[D_PREC]):
            hr[k, q] = g[q]


@overload(recurrent_jacobian)
def _recurrent_jacobian(jm, dims, aux, theta, st, bb, cur, jp, V, x, xi, tg):
    return {RTRLJacobian: _recurrent_rtrl, UnitRTRLJacobian: _recurrent_unit,
            TBPTTJacobian: _recurrent_tbptt}[_token(jm, _JACOBIANS, "jacobian")]


def _measurement_standard(fm, theta, st, joseph):
    status = covariance_pass(st.gstart, st.poff, st.P, st.ctr[PENDING] != 0, joseph, st.hyper[H_Q_PENDING], st.Bt,
                             st.Kt, st.Ct, st.PJt, TRUE, st.Hp, st.PHt)
    st.ctr[PENDING] = 0
    if status == OK:
        status = measurement_update(theta, st.err, st.rvec, joseph, st.perm, st.Hp, st.PHt, st.A, st.L, st.Bt, st.z,
                                    st.Kt, st.Ct, st.PJt)
    return status


def _measurement_sqrt(fm, theta, st, joseph):
    status = factor_pass(st.gstart, st.poff, st.P, st.ctr[PENDING] != 0, st.Bt, st.Vp, TRUE, st.Hp, st.PHt)
    st.ctr[PENDING] = 0
    if status == OK:
        status = sqrt_update(theta, st.err, st.rvec, st.perm, st.gstart, st.poff, st.P, st.PHt, st.A, st.L, st.z,
                             st.w, st.Wg, st.Wsuf, st.Rg, st.Lg, st.Mg, st.Bt, st.Vp)
    return status


@overload(measurement)
def _measurement(fm, theta, st, joseph):
    return _measurement_sqrt if _token(fm, (StandardForm, SqrtForm), "form") is SqrtForm else _measurement_standard


def _settle_standard(fm, st, joseph):
    return covariance_pass(st.gstart, st.poff, st.P, TRUE, joseph, st.hyper[H_Q_PENDING], st.Bt, st.Kt, st.Ct,
                           st.PJt, FALSE, st.Hp, st.PHt)


def _settle_sqrt(fm, st, joseph):
    return factor_pass(st.gstart, st.poff, st.P, TRUE, st.Bt, st.Vp, FALSE, st.Hp, st.PHt)


@overload(settle)
def _settle(fm, st, joseph):
    return _settle_sqrt if _token(fm, (StandardForm, SqrtForm), "form") is SqrtForm else _settle_standard


@njit(cache=True)
def ekf_chunk(jm, fm, dims, aux, theta, ch, update, record, Hout, losses, st):
    """Run the EKF over one chunk `ch` (ChunkArrays of B streams: a leading batch axis on every array, B = 1
    for one stream) with state `st` (EKFState; the module docstring's equations). Each step runs every stream
    forward and makes one joint measurement update from all of them (multistream training). jm, fm: the
    Jacobian's and the form's tokens (JACOBIAN_TOKENS, FORM_TOKENS). update: make the measurement updates;
    record: write each step's d meas_t / d theta (natural parameter order, trained entries; B = 1) into
    Hout[t]. losses: (B, T). Returns (status, step)."""
    xs, ys, mask, resets, xis = ch.xs, ch.ys, ch.mask, ch.resets, ch.xis
    flags, hyper, ctr, s, yhat, meas, err, Jp = st.flags, st.hyper, st.ctr, st.s, st.yhat, st.meas, st.err, st.Jp
    perm, Hp, Hrec, rvec = st.perm, st.Hp, st.Hrec, st.rvec
    B = xs.shape[0]
    n, o = dims[D_N], dims[D_O]
    PR = dims[D_PREC]
    pt = perm.shape[0]
    loss_kind = dims[D_LOSS]
    joseph, need_rec = flags[F_JOSEPH] != 0, flags[F_NEED_REC] != 0
    V = theta[PR:PR + o * n].reshape((o, n))
    for t in range(xs.shape[1]):
        tg = ctr[STEPS]
        ctr[STEPS] += 1
        measured = False
        cur = ctr[CURRENT_M]
        for bb in range(B):
            sb = s[bb]
            forward_stream(jm, dims, aux, theta, st, bb, t, tg, cur, xs, xis, resets)
            yh, ms, jp = yhat[bb], meas[bb], Jp[bb]
            readout(dims[:], theta, sb, xs[bb, t], xis[bb, t], yh)
            lt = loss_only(loss_kind, yh, ys[bb, t], mask[bb, t])
            losses[bb, t] = lt
            if not np.isfinite(lt):
                return NONFINITE_LOSS, tg
            col = bb * o
            if not record and (mask[bb, t] == 0.0 or not update):
                if B > 1:  # no measurement from this stream: its columns of H and of the innovation are 0
                    for r in range(pt):
                        for k in range(o):
                            Hp[r, col + k] = 0.0
                    for k in range(o):
                        err[col + k] = 0.0
                continue
            # ---- measurement, innovation and Jp = d meas / d y_hat
            if loss_kind == XENT:
                lse = logsumexp(yh)
                for k in range(o):
                    ms[k] = np.exp(yh[k] - lse)
                for k in range(o):
                    for l in range(o):
                        jp[k, l] = -ms[k] * ms[l]
                    jp[k, k] += ms[k]
            elif loss_kind == SIGMOID_MSE:
                # "sigmoid_mse": independent sigmoid output units (Perez-Ortiz, Gers, Eck and Schmidhuber
                # 2003), meas = sigma(y_hat) elementwise, H = diag(meas (1 - meas)) dy_hat/dtheta
                for k in range(o):
                    ms[k] = 1.0 / (1.0 + np.exp(-yh[k]))
                    for l in range(o):
                        jp[k, l] = 0.0
                    jp[k, k] = ms[k] * (1.0 - ms[k])
            else:
                for k in range(o):
                    ms[k] = yh[k]
                    for l in range(o):
                        jp[k, l] = 0.0
                    jp[k, k] = 1.0
            for k in range(o):
                err[col + k] = ys[bb, t, k] - ms[k]
            # ---- H_t: recurrent part (o x P_rec) into Hrec, then with the readout's part in group order
            if need_rec:
                recurrent_jacobian(jm, dims, aux, theta, st, bb, cur, jp, V, xs[bb, t], xis[bb, t], tg)
            gather_jacobian(dims[:], sb, xs[bb, t], xis[bb, t], jp, Hrec[bb], perm, Hp[:, col:col + o])
            if record:
                for r in range(pt):
                    for k in range(o):
                        Hout[t, k, perm[r]] = Hp[r, k]
            if mask[bb, t] == 0.0 or not update:
                continue
            measured = True
        if need_rec:
            ctr[CURRENT_M] = 1 - cur  # RTRL's two influence buffers swap (unused by the truncated Jacobian)
        if not measured:
            continue
        # ---- measurement update, one from all streams
        rt = max(hyper[H_R_MIN], hyper[H_R] * hyper[H_R_DECAY] ** tg)
        qt = max(hyper[H_Q_MIN], hyper[H_Q] * hyper[H_Q_DECAY] ** tg)
        for bb in range(B):
            mb = mask[bb, t]
            for k in range(o):
                rvec[bb * o + k] = rt / mb if mb != 0.0 else rt
        status = measurement(fm, theta, st, joseph)
        if status != OK:
            return status, tg
        ctr[PENDING] = 1
        hyper[H_Q_PENDING] = qt
    if ctr[PENDING] != 0:  # leave P (or S) up to date between calls
        status = settle(fm, st, joseph)
        ctr[PENDING] = 0
        if status != OK:
            return status, ctr[STEPS] - 1
    return OK, ctr[STEPS]


# ------------------------------------------------------------------------------------------------------
# the learner


class EKFState(NamedTuple):
    """The filter's arrays. Every per-stream array has a leading axis of B streams (B = 1 for one stream);
    c = B o is the number of measured outputs per step (the columns of H_t)."""
    s: np.ndarray        # (B, S) state
    s_new: np.ndarray    # (B, S)
    cache: np.ndarray    # (B, C)
    M: np.ndarray        # (B, 2, S, P_rec) RTRL influence matrix and its next value (jacobian="rtrl"), else tiny
    m: np.ndarray        # (B, U) the compact influence (jacobian="rtrl" on a diagonal recurrence), else (B, 0)
    J: np.ndarray        # (B, S, S) state Jacobian (rtrl)
    Hrec: np.ndarray     # (B, o, P_rec) d meas / d theta_rec
    JV: np.ndarray       # (B, o, n) Jp V (rtrl)
    rs_prev: np.ndarray  # (B, h, S) ring: state before each step (jacobian="tbptt"; else one row)
    rs_next: np.ndarray  # (B, h, S) ring: state after each step
    rx: np.ndarray       # (B, h, m) ring: inputs
    rxi: np.ndarray      # (B, h) ring: one-hot index or -1
    rcache: np.ndarray   # (B, h, C) ring: caches
    rreset: np.ndarray   # (B, h) ring: step started a sequence
    rtabs: np.ndarray    # (B, h) ring: absolute time of each step
    rtloc: np.ndarray    # (B, h) ring: the step's row in its chunk (tbptt.advance keeps it; unused here)
    rdh: np.ndarray      # (B, h, n) ring: dL/dh injected by a sweep (only the newest row is used)
    rctr: np.ndarray     # (B, N_COUNTERS) int64 ring counters, truncated BPTT's: rctr[b, tbptt.NEWEST], ...
    rgcols: np.ndarray   # (B, h) int64: one-hot inputs: the columns of g's input block a sweep left non-zero
    delta: np.ndarray    # (B, h, G) sweep workspace
    ds: np.ndarray       # (B, S)
    ds2: np.ndarray      # (B, S)
    g: np.ndarray        # (B, P) one sweep's gradient
    yhat: np.ndarray     # (B, o)
    meas: np.ndarray     # (B, o) measurement: y_hat ("mse") or softmax(y_hat) ("xent")
    err: np.ndarray      # (c,) innovation y - meas, stream after stream
    Jp: np.ndarray       # (B, o, o) d meas / d y_hat
    perm: np.ndarray     # (p_t,) int64: trained parameters, group after group
    gstart: np.ndarray   # (groups + 1,) int64: group g is perm[gstart[g]:gstart[g+1]]
    poff: np.ndarray     # (groups + 1,) int64: group g's block is P[poff[g]:poff[g+1]] (p_g x p_g)
    P: np.ndarray        # (sum p_g^2,) the covariance blocks P_g (form="sqrt": their factors S_g), row-major
    Hp: np.ndarray       # (p_t, c) H_t in group order
    PHt: np.ndarray      # (c, p_t) (P H)^T (form="sqrt": V^T = (S^T H)^T)
    Bt: np.ndarray       # (c, p_t) (P H L^-T)^T (form="sqrt": D^T, the pending factor update S -= D V^T)
    Kt: np.ndarray       # (c, p_t) K^T (joseph)
    Ct: np.ndarray       # (c, p_t) (K L)^T (joseph)
    PJt: np.ndarray      # (c, p_t) (P H)^T kept for the Joseph update
    A: np.ndarray        # (c, c) R + H^T P H
    L: np.ndarray        # (c, c) its Cholesky factor
    z: np.ndarray        # (c,) L^-1 (y - meas)
    rvec: np.ndarray     # (c,) this step's R, per measured output (R_t / mask)
    w: np.ndarray        # (c,) L^-T z (sqrt)
    Wg: np.ndarray       # (groups, c, c) V_g^T V_g (sqrt)
    Wsuf: np.ndarray     # (groups + 2, c, c) their suffix sums and a running prefix sum (sqrt)
    Rg: np.ndarray       # (c, c) R + sum_{h != g} W_h (sqrt)
    Lg: np.ndarray       # (c, c) its Cholesky factor, then L + L_g (sqrt)
    Mg: np.ndarray       # (groups, c, c) L^-T (L + L_g)^-1 (sqrt)
    Vp: np.ndarray       # (c, p_t) V^T of the pending factor update (sqrt; else (c, 0))
    flags: np.ndarray    # int64 [joseph, need_rec]
    hyper: np.ndarray    # float64 [r, r_decay, r_min, q, q_decay, q_min, Q of the pending update]
    ctr: np.ndarray      # int64 [STEPS, CURRENT_M, PENDING]


@register
class EKF(Minibatch, OwnUpdate):
    """Extended Kalman filter training: global (GEKF) or node-decoupled (DEKF), H_t from RTRL or TBPTT.

    Makes its own update (no optimizer); the equations are in the module docstring.

    decoupling  "global" (one p x p covariance), "node" (Puskorius and Feldkamp's DEKF: one block per hidden
                unit and per output unit, see `node_groups`), or a sequence of index arrays into theta
                (explicit groups; parameters in no group are not trained)
    jacobian    "rtrl" (exact H_t, O(n^4) per step) or "tbptt" (H_t backpropagated over the last h steps)
    h           truncation depth for jacobian="tbptt"
    p0          P_0 = p0 I (Puskorius and Feldkamp's 1/delta)
    r, r_decay, r_min   measurement noise R_t = max(r_min, r r_decay^t) I
    q, q_decay, q_min   process noise Q_t = max(q_min, q q_decay^t) I
    joseph      Joseph-form covariance update
    form        "standard" (P itself) or "sqrt" (square-root form, P = S S^T: stays positive definite by
                construction; needs q = 0 and joseph=False)
    batch       streams B for multistream training (chunks with a leading batch axis, see Chunk.stack): one
                joint update per step from all B o outputs; R applies per stream (R = B r makes the update
                weigh the B streams as one)
    trainable   "all", or "readout" (only V and c: the recurrent weights stay fixed; with "mse" and q = 0 this
                is recursive least squares on the hidden states)

    Defaults: global decoupling, H from RTRL, P0 = 10 I, R = I, Q = 1e-4 I, constant (the reference global
    EKF; only the ratios of p0, r, q matter). On the add task (n = 16, 32; seeds 0-2) they reach a test
    cross-entropy of 0.47 in 1,000-3,000 steps, where RTRL with its best SGD rate needs 4,500-12,750.
    Node decoupling is much cheaper per step at n >= 32 but jumpier with constant R; annealing R
    (r=10, r_decay=0.9995, r_min=1, Puskorius and Feldkamp's recipe) steadies it.

    Cost per step (powers of n, see `cost_exponents`): global: time 4 (P H and the update of P, p^2 ~ n^4),
    memory 4. Node: time 3 with jacobian="tbptt" (n blocks of ~n^2), but 4 with "rtrl" (RTRL's J M
    dominates); memory 3 (blocks, and RTRL's M). The class attributes give the default configuration. The
    square-root form and the batch change the constants, not the powers (`cost_exponents`).
    """

    name = "ekf"
    late_defaults = {"form": "standard", "batch": 1}   # added in 0.2: stored EKF runs keep their hashes
    display_name = "EKF"
    reference = "Singhal and Wu 1989; Puskorius and Feldkamp 1994"  # multistream: Feldkamp and Puskorius 1994
    time_exponent = 4.0     # default: global decoupling with RTRL
    memory_exponent = 4.0
    kernel_family = "ekf"
    compile_seconds = 13.0  # the default comparison's filter (node, jacobian=tbptt), empty cache: 13.0 s (17.4 s when
    # every filter compiled every Jacobian and form)

    @classmethod
    def bench_params(cls, T):
        # random targets drive the default filter chaotic (a diverged run has no time per step); a large R
        # keeps the weights nearly still at the same cost per step
        return {"r": 1e6}

    def compiles_after(self):
        """H_t from truncated BPTT calls its ring code (compiled beside it, 13 s cold, 8 s once truncated BPTT's
        kernels are on disk); from RTRL, RTRL's influence step."""
        return (self.jacobian,)

    def max_n(self):
        """Global: 64 (its covariance is p x p, p ~ n^2); node-decoupled: 64 with H from RTRL (RTRL's cost),
        none with H from truncated BPTT."""
        return 64 if self.decoupling == "global" or self.jacobian == "rtrl" else None

    def bench_fits(self, model):
        """The global filter's p x p covariance is 160 MB at p = 4,500 (Elman, n = 64) and 2.5 GB for an LSTM
        of that n: the bench times it up to p = 5,000."""
        return super().bench_fits(model) and (self.decoupling != "global" or model.n_params <= 5000)

    def flops_per_step(self, model):
        """The global filter's covariance work, P H and the rank-o update of P: 4 p^2 o (None when decoupled)."""
        if self.decoupling != "global":
            return None
        return 4.0 * model.n_params ** 2 * model.n_out

    def __init__(self, decoupling="global", jacobian: str = "rtrl", h: int = 20, p0: float = 10.0,
                 r: float = 1.0, r_decay: float = 1.0, r_min: float = 0.0, q: float = 1e-4,
                 q_decay: float = 1.0, q_min: float = 0.0, joseph: bool = False, trainable: str = "all",
                 form: str = "standard", batch: int = 1):
        self.decoupling = decoupling
        self.jacobian = jacobian
        self.h = h
        self.p0 = p0
        self.r = r
        self.r_decay = r_decay
        self.r_min = r_min
        self.q = q
        self.q_decay = q_decay
        self.q_min = q_min
        self.joseph = joseph
        self.trainable = trainable
        self.form = form
        self.batch = batch

    def check(self):
        d = self.decoupling
        if isinstance(d, str):
            if d not in ("global", "node"):
                raise ValueError(f"decoupling must be 'global', 'node' or a list of index arrays, got {d!r}")
        else:
            try:
                ok = all(np.asarray(g).ndim == 1 and np.issubdtype(np.asarray(g).dtype, np.integer)
                         for g in d)
            except TypeError:
                ok = False
            if not ok:
                raise ValueError(f"decoupling must be 'global', 'node' or a list of index arrays, got {d!r}")
        if not isinstance(self.jacobian, str) or self.jacobian not in JACOBIAN_TOKENS:
            raise ValueError(f"jacobian must be one of {sorted(JACOBIAN_TOKENS)}, got {self.jacobian!r}")
        check_int("h", self.h)
        check_number("p0", self.p0, 0.0, lo_open=True)
        check_number("r", self.r, 0.0, lo_open=True)
        check_number("r_decay", self.r_decay, 0.0, 1.0, lo_open=True)
        check_number("r_min", self.r_min, 0.0)
        if self.r_decay < 1.0 and not self.r_min > 0.0:
            raise ValueError(f"r_min must be > 0 when r_decay < 1 (R must stay positive), got {self.r_min!r}")
        check_number("q", self.q, 0.0)
        check_number("q_decay", self.q_decay, 0.0, 1.0, lo_open=True)
        check_number("q_min", self.q_min, 0.0)
        if not isinstance(self.joseph, (bool, np.bool_)):
            raise ValueError(f"joseph must be True or False, got {self.joseph!r}")
        if self.trainable not in ("all", "readout"):
            raise ValueError(f"trainable must be 'all' or 'readout', got {self.trainable!r}")
        if not isinstance(self.form, str) or self.form not in FORM_TOKENS:
            raise ValueError(f"form must be one of {sorted(FORM_TOKENS)}, got {self.form!r}")
        check_int("batch", self.batch)
        if self.form == "sqrt":
            if self.q != 0.0 or self.q_min != 0.0:
                raise ValueError(f"q must be 0 with form='sqrt' (adding Q = q I to P = S S^T has no O(p^2) "
                                 f"update of the factor S), got q={self.q!r}, q_min={self.q_min!r}")
            if self.joseph:
                raise ValueError("joseph must be False with form='sqrt' (the factored update is already "
                                 "symmetric positive definite by construction)")

    def supports(self, model):
        """jacobian="rtrl" runs RTRL's dense influence step (the compact one on a diagonal recurrence) and
        decoupling="node" reads the row form: both need it (jacobian="tbptt" with global or given groups needs
        only the vector-Jacobian products)."""
        why = row_form_missing(model)
        if why and self.jacobian == "rtrl" and not self._unit(model):
            return "jacobian='rtrl' " + why[3:] + "; use jacobian='tbptt'"
        if why and isinstance(self.decoupling, str) and self.decoupling == "node" and not hasattr(model, "node_groups"):
            return "decoupling='node' " + why[3:]
        return None

    def cost_exponents(self) -> tuple[float, float]:
        """(time, memory) per step as powers of n for this configuration (module docstring). Neither the form
        nor the batch changes them: the square-root form does the same O(p^2 c) work on a factor of P's size
        (measured 1.1-1.5x the standard form's time, 2.05x for GEKF at n = 64), and B streams multiply the
        work by B (per-stream forward and H_t) and the covariance work's c = B o columns, a constant factor in n."""
        if self.decoupling == "global":
            return 4.0, 4.0
        return (4.0 if self.jacobian == "rtrl" else 3.0), 3.0

    def model_cost_exponents(self, model) -> tuple[float, float]:
        """On a diagonal recurrence (the eLSTM, the LRU) H_t costs O(o P) by any Jacobian here, so the covariance
        sets the cost: p^2 for the global filter, and for node groups (each unit's own parameters, p_g of the
        input size) their total, about p."""
        if not getattr(model, "diagonal_recurrence", False):
            return self.cost_exponents()
        e = degree_in_n(model, lambda mdl: mdl.n_params)
        return (2.0 * e, 2.0 * e) if self.decoupling == "global" else (e, e)

    def search_space(self):
        """What `rnnlearn tune` searches: P0, R and Q log-uniform over two to four decades around the defaults
        (Q not with form="sqrt", which takes q = 0). Only their ratios matter with constant R and Q; with R
        annealed towards r_min, R's scale matters too."""
        from rnnlearn.algorithms.base import Range
        space = {"p0": Range(1.0, 1e3), "r": Range(0.1, 100.0), "q": Range(1e-6, 1e-2)}
        if self.form == "sqrt":
            del space["q"]
        return space

    def gradient(self, *args, **kwargs):
        raise TypeError("the EKF makes its own update and has no gradient; use train(), or jacobians() for "
                        "its measurement Jacobians H_t")

    def init(self, model, theta, optimizer=None, seed=0):
        """Fresh filter state for `batch` streams: P_0 = p0 I on every group (form="sqrt": S_0 = sqrt(p0) I);
        the optimizer is ignored."""
        return self._init(model, self.batch)

    def _init(self, model, B):
        self.check()
        groups = _groups_for(self, model)
        sizes = np.array([len(g) for g in groups], dtype=np.int64)
        perm = np.ascontiguousarray(np.concatenate(groups), dtype=np.int64)
        gstart = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        poff = np.concatenate([[0], np.cumsum(sizes ** 2)]).astype(np.int64)
        sqrt_form = self.form == "sqrt"
        P = np.zeros(int(poff[-1]))
        for gi, pg in enumerate(sizes):
            P[poff[gi]:poff[gi + 1]].reshape(pg, pg)[np.diag_indices(pg)] = \
                np.sqrt(float(self.p0)) if sqrt_form else float(self.p0)
        S, G, C = model.n_state, model.n_delta, max(model.n_cache, 1)
        n, m, o, p, PR = model.n_hidden, model.n_in, model.n_out, model.n_params, model.n_rec
        pt, ng, c = len(perm), len(groups), B * model.n_out
        need_rec = bool((perm < PR).any())
        unit = self._unit(model)
        rtrl = self.jacobian == "rtrl" and need_rec and not unit
        tb = self.jacobian == "tbptt"
        hh = self.h if tb else 1
        flags = np.array([int(bool(self.joseph)), int(need_rec)], dtype=np.int64)
        hyper = np.array([self.r, self.r_decay, self.r_min, self.q, self.q_decay, self.q_min, 0.0])
        ctr = np.zeros(3, dtype=np.int64)
        rctr = np.zeros((B, N_COUNTERS), dtype=np.int64)
        rctr[:, NEWEST] = hh - 1
        jo = 1 if self.joseph else 0
        z = lambda *shape, dtype=np.float64: np.zeros((B,) + shape, dtype=dtype)
        return EKFState(
            z(S), z(S), z(C),
            z(2, S, PR) if rtrl else z(2, 1, 1), z(model.n_unit_influence if unit else 0),
            z(S, S) if rtrl else z(1, 1),
            z(o, PR), z(o, n),
            z(hh, S), z(hh, S), z(hh, m), z(hh, dtype=np.int64),
            z(hh, C), z(hh, dtype=np.bool_), z(hh, dtype=np.int64),
            z(hh, dtype=np.int64), z(hh, n), rctr, np.full((B, hh), -1, np.int64), z(hh, G), z(S), z(S),
            z(p if tb or unit else 1),
            z(o), z(o), np.zeros(c), z(o, o),
            perm, gstart, poff, P, np.zeros((pt, c)), np.zeros((c, pt)), np.zeros((c, pt)),
            np.zeros((c, pt * jo)), np.zeros((c, pt * jo)), np.zeros((c, pt * jo)),
            np.zeros((c, c)), np.zeros((c, c)), np.zeros(c), np.zeros(c), np.zeros(c),
            np.zeros((ng, c, c)), np.zeros((ng + 2, c, c)), np.zeros((c, c)), np.zeros((c, c)),
            np.zeros((ng, c, c)), np.zeros((c, pt if sqrt_form else 0)), flags, hyper, ctr)

    def _unit(self, model) -> bool:
        """H_t from RTRL's compact influence (cell.unit_influence_step): jacobian="rtrl" on a diagonal
        recurrence (the eLSTM, the LRU), where it is exact at O(o P_rec) a step instead of O(n^4)."""
        return self.jacobian == "rtrl" and bool(getattr(model, "diagonal_recurrence", False))

    def _run(self, model, theta, st, chunk, update, flush, losses, record=False, Hout=None):
        if Hout is None:
            Hout = np.zeros((1, 1, 1))
        B = st.s.shape[0]
        ch = ChunkArrays.of(chunk)
        if B == 1:
            if chunk.xs.ndim != 2:
                raise ValueError("a learner with batch=1 takes a chunk of one sequence")
            ch = ChunkArrays(*(a[None] for a in ch))  # one stream: a batch axis of 1 (views)
            losses = losses[None]
        elif chunk.xs.ndim != 3 or chunk.xs.shape[0] != B:
            raise ValueError(f"batch={B}: give a chunk of {B} stacked sequences (Chunk.stack)")
        jm = UNIT_RTRL if self._unit(model) else JACOBIAN_TOKENS[self.jacobian]
        status, where = ekf_chunk(jm, FORM_TOKENS[self.form], model.dims, model.aux,
                                  theta, ch, update, record, Hout, losses, st)
        return int(status), int(where)

    def jacobians(self, model, theta, xs, ys=None, mask=None, resets=None, x_index=None) -> np.ndarray:
        """H_t^T = d meas_t / d theta (T, o, p) along a sequence with theta held fixed (no updates), in the
        natural parameter order; entries of untrained parameters are 0. meas_t is y_hat_t ("mse") or
        softmax(y_hat_t) ("xent")."""
        from rnnlearn.tasks.base import Chunk
        self.check()
        model._check_theta(theta)
        xs = np.asarray(xs, dtype=np.float64)
        ys = np.zeros((len(xs), model.n_out)) if ys is None else ys
        chunk = Chunk.make(xs, ys, mask, resets, x_index)
        model.check_chunk(chunk)
        theta = theta.copy()
        state = self._init(model, 1)
        Hout = np.zeros((len(chunk), model.n_out, model.n_params))
        losses = np.empty(len(chunk))
        status, where = self._run(model, theta, state, chunk, False, False, losses, True, Hout)
        raise_status(status, where)
        return Hout

    def covariance(self, model, state) -> list[np.ndarray]:
        """The covariance blocks P_g, in group order, with each group's indices: a list of (indices into
        theta, P_g); views into the state for form="standard", S_g S_g^T (new arrays) for form="sqrt"."""
        out = self.blocks(state)
        if self.form == "sqrt":
            return [(idx, S @ S.T) for idx, S in out]
        return out

    def blocks(self, state) -> list[np.ndarray]:
        """What the state holds per group, as views: (indices into theta, P_g), or (indices, S_g) with
        P_g = S_g S_g^T for form="sqrt"."""
        out = []
        for g in range(len(state.gstart) - 1):
            a, b = state.gstart[g], state.gstart[g + 1]
            pg = b - a
            out.append((state.perm[a:b], state.P[state.poff[g]:state.poff[g + 1]].reshape(pg, pg)))
        return out
