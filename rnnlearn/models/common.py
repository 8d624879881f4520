"""The pieces every model's kernels share. Each model is made of pre-activation rows
a_r = sum_j W_rj s_{t-1,j} + sum_j U_rj x_tj + b_r (Elman: one per unit; LSTM: four; GRU: three), so its
step and its weight gradients repeat the same row computations, kept here once (the immediate Jacobian's
row form: immediate.py).
Inputs may be one-hot (xi >= 0): then U x is the column lookup U[:, xi]."""
import numpy as np

from ..jit import internal
from .layout import D_G, D_M, D_OU, D_OX, FAST, PROJECTED


@internal(cache=True, fastmath=FAST)
def row_dot(theta, w, v, lo, width):
    """sum_j theta[w + j] * v[lo + j] for j < width: a row of W (at offset w) times (part of) the state."""
    row = theta[w:w + width]  # slices first: indices from range() are provably >= 0, so no wraparound
    vv = v[lo:lo + width]      # checks stop LLVM from vectorising (4x slower at n = 128 without this)
    a = 0.0
    for j in range(width):
        a += row[j] * vv[j]
    return a


@internal(cache=True, inline="always")
def _four_rows(theta, q, width):
    """Four consecutive rows of a row-major block starting at offset q, as slices."""
    return (theta[q:q + width], theta[q + width:q + 2 * width], theta[q + 2 * width:q + 3 * width],
            theta[q + 3 * width:q + 4 * width])


@internal(cache=True, fastmath=FAST)
def matvec_rows(theta, w, width, v, lo, rows, out):
    """out[r] = sum_j theta[w + r width + j] v[lo + j] for r < rows: a row-major block of W times (part of)
    the state. Four rows at a time share each load of v (half the loads of one dot product per row)."""
    vv = v[lo:lo + width]
    r = 0
    while r + 4 <= rows:
        w0, w1, w2, w3 = _four_rows(theta, w + r * width, width)
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for j in range(width):
            vj = vv[j]
            a0 += w0[j] * vj
            a1 += w1[j] * vj
            a2 += w2[j] * vj
            a3 += w3[j] * vj
        out[r] = a0
        out[r + 1] = a1
        out[r + 2] = a2
        out[r + 3] = a3
        r += 4
    while r < rows:
        out[r] = row_dot(theta, w + r * width, v, lo, width)
        r += 1


@internal(cache=True, fastmath=FAST)
def matvec_t_rows(theta, w, width, d, rows, out):
    """out[j] += sum_r theta[w + r width + j] d[r] for j < width: the transposed product W^T d of a
    row-major block, four rows per pass over out (a third of the loads and stores of one row per pass)."""
    o = out[:width]
    r = 0
    while r + 4 <= rows:
        w0, w1, w2, w3 = _four_rows(theta, w + r * width, width)
        d0, d1, d2, d3 = d[r], d[r + 1], d[r + 2], d[r + 3]
        for j in range(width):
            o[j] += w0[j] * d0 + w1[j] * d1 + w2[j] * d2 + w3[j] * d3
        r += 4
    while r < rows:
        wr = theta[w + r * width:w + (r + 1) * width]
        dr = d[r]
        for j in range(width):
            o[j] += wr[j] * dr
        r += 1


@internal(cache=True, fastmath=FAST)
def row_input(theta, oU, ob, m, r, x, xi):
    """Row r's input pre-activation b_r + U_r x (U is G x m at offset oU, b at ob): a lookup when x is one-hot
    at xi >= 0, and x[r] itself when xi == PROJECTED (x then holds all G of them, computed for a whole window
    at once by `project_inputs`)."""
    if xi == PROJECTED:
        return x[r]
    a = theta[ob + r]
    if xi >= 0:
        return a + theta[oU + r * m + xi]
    row = theta[oU + r * m:oU + r * m + m]
    for j in range(m):
        a += row[j] * x[j]
    return a


@internal(cache=True, fastmath=FAST)
def project_inputs(dims, theta, X, Z):
    """Z[k] = b + U X[k] for every row of the dense inputs X (K x m), as one matrix product: every model's
    input pre-activations (G rows of U and b; b follows U in every layout), hoisted out of the recurrence.
    A model without biases (dims' oX == ob: the LRU) gets Z[k] = U X[k]."""
    oU, G, m = dims[D_OU], dims[D_G], dims[D_M]
    ob = oU + G * m
    np.dot(X, theta[oU:ob].reshape((G, m)).T, Z)
    if dims[D_OX] == ob:
        return
    b = theta[ob:ob + G]
    for k in range(Z.shape[0]):
        zk = Z[k]
        for r in range(G):
            zk[r] += b[r]


@internal(cache=True, fastmath=FAST)
def input_and_bias_grad(g, oU, ob, G, Delta, X, XI):
    """dL/dU = Delta^T X (G x m, at offset oU) and dL/db = the column sums of Delta (G, at offset ob), over
    all rows of the window. Dense inputs: written. One-hot inputs: added into the columns seen, XI[k], so
    a window costs O(K G) and not O(G m) (a language model's m is its vocabulary); the caller keeps g's
    input block zero outside them (`clear_input_columns`)."""
    m = X.shape[1]
    K = Delta.shape[0]
    if K > 0 and XI[0] >= 0:
        for k in range(K):
            c = XI[k]
            for r in range(G):
                g[oU + r * m + c] += Delta[k, r]
    else:
        np.dot(Delta.T, X, g[oU:oU + G * m].reshape((G, m)))
    for r in range(G):
        g[ob + r] = 0.0
    for k in range(K):
        for r in range(G):
            g[ob + r] += Delta[k, r]


@internal(cache=True)
def clear_input_columns(dims, g, cols):
    """Zero columns `cols` (entries < 0 skipped) of g's input block (G x m at dims[D_OU])."""
    oU, G, m = dims[D_OU], dims[D_G], dims[D_M]
    for c in cols:
        if c >= 0:
            for r in range(G):
                g[oU + r * m + c] = 0.0


@internal(cache=True)
def distinct_columns(XI, cols):
    """cols = the distinct entries of XI, then -1s (cols has XI's length). A quadratic scan: windows are
    short, and numba compiles a sort for over a second."""
    count = 0
    for k in range(XI.shape[0]):
        c = XI[k]
        seen = False
        for j in range(count):
            if cols[j] == c:
                seen = True
                break
        if not seen:
            cols[count] = c
            count += 1
    for j in range(count, cols.shape[0]):
        cols[j] = -1
