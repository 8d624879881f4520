"""Per-step losses and their gradients with respect to the raw output y_hat:
"mse": l = 0.5 ||y_hat - y||^2;  "xent": l = -sum_k y_k log softmax(y_hat)_k (y one-hot or soft);
"sigmoid_mse": l = 0.5 ||sigma(y_hat) - y||^2, independent sigmoid output units trained with squared error on
targets in [0, 1] (e.g. 1 for every legal next symbol, Gers and Schmidhuber 2001). Each is multiplied by the
step's weight w (the task's mask)."""
import numpy as np
from numba import njit

from ..jit import internal
from .layout import FAST, MSE, SIGMOID_MSE
from .vecmath import exp_nonpos, sigmoid


@internal(cache=True)
def _max(v):
    mx = v[0]
    for k in range(1, v.shape[0]):
        if v[k] > mx:
            mx = v[k]
    return mx


@internal(cache=True, error_model="numpy")
def _exp_shifted(v, mx, out):
    """out = exp(v - mx), vectorised (vecmath; v <= mx)."""
    for k in range(v.shape[0]):
        out[k] = exp_nonpos(v[k] - mx)


@internal(cache=True, fastmath=FAST)
def _sum(v):
    z = 0.0
    for k in range(v.shape[0]):
        z += v[k]
    return z


@internal(cache=True, fastmath=FAST)
def _xent_sums(yhat, y, lse):
    """(-sum_k y_k (yhat_k - lse), sum_k y_k)."""
    l = 0.0
    ysum = 0.0
    for k in range(yhat.shape[0]):
        l -= y[k] * (yhat[k] - lse)
        ysum += y[k]
    return l, ysum


@internal(cache=True)
def logsumexp(v):
    """log sum_k exp(v_k), stable for large |v|."""
    mx = _max(v)
    z = 0.0
    for k in range(v.shape[0]):
        z += np.exp(v[k] - mx)
    return mx + np.log(z)


@njit(cache=True, fastmath=FAST)
def loss_grad(loss_kind, yhat, y, w, dy):
    """Return w * l(yhat, y) and write d(w * l)/d yhat into dy. The softmax's exponentials are computed once
    (into dy) and vectorised: with a vocabulary of 8000 they are most of a language model's loss."""
    o = yhat.shape[0]
    if loss_kind == MSE:
        l = 0.0
        for k in range(o):
            r = yhat[k] - y[k]
            l += r * r
            dy[k] = w * r
        return 0.5 * w * l
    if loss_kind == SIGMOID_MSE:
        l = 0.0
        for k in range(o):
            sk = sigmoid(yhat[k])
            r = sk - y[k]
            l += r * r
            dy[k] = w * r * sk * (1.0 - sk)
        return 0.5 * w * l
    mx = _max(yhat)
    _exp_shifted(yhat, mx, dy)
    z = _sum(dy)
    l, ysum = _xent_sums(yhat, y, mx + np.log(z))
    f = w * ysum / z
    for k in range(o):
        dy[k] = f * dy[k] - w * y[k]
    return w * l


@internal(cache=True)
def loss_only(loss_kind, yhat, y, w):
    """w * l(yhat, y) without the gradient."""
    o = yhat.shape[0]
    if loss_kind == MSE:
        l = 0.0
        for k in range(o):
            r = yhat[k] - y[k]
            l += r * r
        return 0.5 * w * l
    if loss_kind == SIGMOID_MSE:
        l = 0.0
        for k in range(o):
            r = sigmoid(yhat[k]) - y[k]
            l += r * r
        return 0.5 * w * l
    return w * _xent_sums(yhat, y, logsumexp(yhat))[0]


def softmax(logits):
    """Row-wise softmax of logits (numpy, for analysis and sampling)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
