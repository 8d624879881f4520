"""The linear readout shared by every model: y_hat_t = V h_t + c, h_t the first n entries of s_t.
V (o, n) and c (o,) are the last o*n + o entries of theta."""
import numpy as np
from numba import njit

from ..blas import gemm
from .layout import FAST, D_N, D_O, D_PREC


@njit(cache=True, fastmath=FAST)
def readout(dims, theta, s, y_out):
    n, o = dims[D_N], dims[D_O]
    oV = dims[D_PREC]
    oc = oV + o * n
    for k in range(o):
        a = theta[oc + k]
        r = oV + k * n
        for j in range(n):
            a += theta[r + j] * s[j]
        y_out[k] = a


@njit(cache=True, fastmath=FAST)
def readout_vjp(dims, theta, s, dy, g, ds):
    """g[V] += dy (x) h, g[c] += dy, ds[:n] += V^T dy (both accumulate)."""
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


@njit(cache=True, fastmath=FAST)
def readout_rows(dims, theta, S, lo, hi, Y):
    """Y[lo:hi] = S[lo:hi, :n] V^T + c for a block of steps: one matrix product when the state is h."""
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


# what readout_vjp_rows does with V's gradient
V_ADD = 0    # g[V] += DY^T H
V_WRITE = 1  # g[V] = DY^T H (one pass less over a large readout)
V_SKIP = 2   # leave g[V] alone (the caller steps V itself: readout_sgd_rows)


@njit(cache=True, fastmath=FAST)
def readout_vjp_rows(dims, theta, S, DY, lo, hi, g, DH, tmp, v_mode):
    """For a block of steps: V's gradient DY^T S[:, :n] as v_mode says, g[c] += the sum of DY's rows, and
    DH[lo:hi] = DY V (the error each step's output sends into its h). tmp is (o, n) scratch."""
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


@njit(cache=True)
def readout_sgd_rows(dims, theta, S, DY, lo, hi, lr):
    """V -= lr DY[lo:hi]^T S[lo:hi] as one BLAS product accumulating into V (S holds h: S.shape[1] == n)."""
    n, o = dims[D_N], dims[D_O]
    oV = dims[D_PREC]
    if hi > lo:
        gemm(-lr, DY[lo:hi].T, S[lo:hi], 1.0, theta[oV:oV + o * n].reshape((o, n)))
