"""The linear readout shared by every model: y_hat_t = V h_t + c, h_t the first n entries of s_t.
V (o, n) and c (o,) are the last o*n + o entries of theta."""
from numba import njit

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
