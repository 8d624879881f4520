"""Whole-sequence kernels for inference: run a model over a chunk, and its loss."""
import numpy as np
from numba import njit

from . import cell
from .layout import D_C, D_LOSS, D_S
from .losses import loss_only
from .readout import readout


@njit(cache=True)
def forward(dims, aux, theta, s0, xs, xis, resets, t0, states_out, yhat_out):
    """states_out[t] = s_t and yhat_out[t] = y_hat_t for t in the chunk, starting from state s0 at absolute
    time t0; the state is set to zero where resets[t] is True."""
    S = dims[D_S]
    cache = np.zeros(max(dims[D_C], 1))
    s = s0.copy()
    zero = np.zeros(S)
    for t in range(xs.shape[0]):
        s_prev = zero if resets[t] else s
        cell.step(dims, aux, theta, s_prev, xs[t], xis[t], t0 + t, states_out[t], cache)
        s = states_out[t]
        readout(dims[:], theta, s, xs[t], xis[t], yhat_out[t])


@njit(cache=True)
def total_loss(dims, yhat, ys, mask):
    """sum_t mask_t * l(y_hat_t, y_t)."""
    tot = 0.0
    for t in range(yhat.shape[0]):
        if mask[t] != 0.0:
            tot += loss_only(dims[D_LOSS], yhat[t], ys[t], mask[t])
    return tot
