"""The linear readout shared by every model: y_hat_t = V h_t + c, h_t the first n entries of s_t, and with the
model's shortcut=True also the input's feed-through: y_hat_t = V h_t + V_x x_t + c (the input-to-output
shortcut connections of Gers and Schmidhuber 2001, IEEE TNN 12(6), and Perez-Ortiz, Gers, Eck and Schmidhuber
2003). The readout is theta[P_rec:]: V (o, n), c (o,), then V_x (o, m) at dims[D_OY] (-1: no feed-through).

Every kernel takes the step's input as the dense row x_t and its one-hot index xi_t (>= 0: x_t is the unit
vector e_xi, read as one column of V_x; -1: x_t is read). V_x's gradient dy (x) x_t is direct: it never
reaches the state, so no learner's state-side recursion sees it. Without the feed-through the kernels compute
what they computed before it existed, bit for bit (one test of dims[D_OY] per call, outside the loops)."""
import numpy as np
from numba import njit

from ..jit import internal
from ..blas import gemm
from .layout import FAST, D_M, D_N, D_O, D_OY, D_PREC


@njit(cache=True, fastmath=FAST)
def readout(dims, theta, s, x, xi, y_out):
    """y_out = V s[:n] + c (+ V_x x)."""
    n, o = dims[D_N], dims[D_O]
    oV = dims[D_PREC]
    oc = oV + o * n
    for k in range(o):
        a = theta[oc + k]
        r = oV + k * n
        for j in range(n):
            a += theta[r + j] * s[j]
        y_out[k] = a
    if dims[D_OY] >= 0:
        shortcut_add(dims, theta, x, xi, y_out)


@internal(cache=True, fastmath=FAST)
def shortcut_add(dims, theta, x, xi, y_out):
    """y_out += V_x x (one column of V_x for a one-hot input)."""
    m, o, oY = dims[D_M], dims[D_O], dims[D_OY]
    Vx = theta[oY:oY + o * m].reshape((o, m))
    if xi >= 0:
        for k in range(o):
            y_out[k] += Vx[k, xi]
    else:
        for k in range(o):
            a = 0.0
            for j in range(m):
                a += Vx[k, j] * x[j]
            y_out[k] += a


@internal(cache=True, fastmath=FAST)
def shortcut_grad(dims, x, xi, dy, g):
    """g[V_x] += dy (x) x (one column for a one-hot input)."""
    m, o, oY = dims[D_M], dims[D_O], dims[D_OY]
    gx = g[oY:oY + o * m].reshape((o, m))
    if xi >= 0:
        for k in range(o):
            gx[k, xi] += dy[k]
    else:
        for k in range(o):
            d = dy[k]
            if d == 0.0:
                continue
            for j in range(m):
                gx[k, j] += d * x[j]


@njit(cache=True, fastmath=FAST)
def readout_vjp(dims, theta, s, x, xi, dy, g, ds):
    """g[V] += dy (x) h, g[c] += dy, ds[:n] += V^T dy (both accumulate); g[V_x] += dy (x) x."""
    n, o = dims[D_N], dims[D_O]
    oV = dims[D_PREC]
    oc = oV + o * n
    for k in range(o):
        d = dy[k]
        if d == 0.0:
            continue
        r = oV + k * n
        for j in range(n):
            g[r + j] += d * s[j]
            ds[j] += theta[r + j] * d
        g[oc + k] += d
    if dims[D_OY] >= 0:
        shortcut_grad(dims, x, xi, dy, g)


@internal(cache=True, fastmath=FAST)
def readout_rows(dims, theta, S, X, XI, lo, hi, Y):
    """Y[lo:hi] = S[lo:hi, :n] V^T + c (+ X[lo:hi] V_x^T, X's rows read where XI < 0) for a block of steps:
    one matrix product when the state is h."""
    n, o = dims[D_N], dims[D_O]
    oV = dims[D_PREC]
    oc = oV + o * n
    if hi <= lo:
        return
    if S.shape[1] == n:
        np.dot(S[lo:hi], theta[oV:oc].reshape((o, n)).T, Y[lo:hi])
    else:
        for r in range(lo, hi):
            for k in range(o):
                a = 0.0
                q = oV + k * n
                for j in range(n):
                    a += theta[q + j] * S[r, j]
                Y[r, k] = a
    for r in range(lo, hi):
        for k in range(o):
            Y[r, k] += theta[oc + k]
    if dims[D_OY] >= 0:
        for r in range(lo, hi):
            shortcut_add(dims, theta, X[r], XI[r], Y[r])


# what readout_vjp_rows does with V's gradient
V_ADD = 0    # g[V] += DY^T H
V_WRITE = 1  # g[V] = DY^T H (one pass less over a large readout)
V_SKIP = 2   # leave g[V] alone (the caller steps V itself: readout_sgd_rows)


@internal(cache=True, fastmath=FAST)
def readout_vjp_rows(dims, theta, S, X, XI, DY, lo, hi, g, DH, tmp, v_mode):
    """For a block of steps: V's gradient DY^T S[:, :n] as v_mode says, g[c] += the sum of DY's rows, and
    DH[lo:hi] = DY V (the error each step's output sends into its h). tmp is (o, n) scratch. With the
    feed-through, g[V_x] += DY^T X (whatever v_mode: only V is ever stepped by readout_sgd_rows)."""
    n, o = dims[D_N], dims[D_O]
    oV = dims[D_PREC]
    oc = oV + o * n
    if hi <= lo:
        return
    V = theta[oV:oc].reshape((o, n))
    if S.shape[1] == n:
        np.dot(DY[lo:hi], V, DH[lo:hi])
        if v_mode == V_WRITE:
            np.dot(DY[lo:hi].T, S[lo:hi], g[oV:oc].reshape((o, n)))
        elif v_mode == V_ADD:
            np.dot(DY[lo:hi].T, S[lo:hi], tmp)
            for k in range(o):
                q = oV + k * n
                for j in range(n):
                    g[q + j] += tmp[k, j]
    else:
        for r in range(lo, hi):
            for j in range(n):
                DH[r, j] = 0.0
            for k in range(o):
                d = DY[r, k]
                q = oV + k * n
                for j in range(n):
                    if v_mode != V_SKIP:
                        g[q + j] += d * S[r, j]
                    DH[r, j] += d * V[k, j]
    gc = g[oc:oc + o]
    for r in range(lo, hi):
        dyr = DY[r]
        for k in range(o):
            gc[k] += dyr[k]
    if dims[D_OY] >= 0:
        for r in range(lo, hi):
            shortcut_grad(dims, X[r], XI[r], DY[r], g)


@internal(cache=True)
def readout_sgd_rows(dims, theta, S, DY, lo, hi, lr):
    """V -= lr DY[lo:hi]^T S[lo:hi] as one BLAS product accumulating into V (S holds h: S.shape[1] == n).
    V only: the feed-through's gradient goes through g (readout_vjp_rows) like c's."""
    n, o = dims[D_N], dims[D_O]
    oV = dims[D_PREC]
    if hi > lo:
        gemm(-lr, DY[lo:hi].T, S[lo:hi], 1.0, theta[oV:oV + o * n].reshape((o, n)))
