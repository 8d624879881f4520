"""The model interface as kernels that dispatch on the model's integer kind (DESIGN.md, "numba").

Every learner calls only these functions, so a new model is one module of kernels plus one branch in each
function below. Signatures (all arrays float64 and C-contiguous unless said):

step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out)
    s_t = f(s_{t-1}, x_t; theta); writes the new state and whatever the derivatives need into cache_out.
    xi >= 0 says x is one-hot at xi; t is the absolute time step (clocked models use it).
vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out)
    Given ds = dL/ds_t, writes delta = dL/d(pre-activations) (G values) and dL/ds_{t-1}.
param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g)
    Writes the recurrent-parameter gradient sum_k (d pre-activations_k / d theta)^T delta_k into g[:P_rec],
    summed over the rows of the window arrays as matrix products. `vjp` is vjp_state then param_grad.
jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J)
    J = ds_t/ds_{t-1} (S x S).
add_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M)
    M += Mbar_t = ds_t/dtheta_rec with s_{t-1} held fixed (M is S x P_rec), using the model's sparsity.
"""
from numba import njit

from . import clockwork, elman, gru, lstm
from .layout import CLOCKWORK, D_KIND, ELMAN, GRU, LSTM


@njit(cache=True)
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out):
    kind = dims[D_KIND]
    if kind == ELMAN:
        elman.step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out)
    elif kind == LSTM:
        lstm.step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out)
    elif kind == GRU:
        gru.step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out)
    elif kind == CLOCKWORK:
        clockwork.step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out)
    else:
        raise ValueError("unknown model kind")


@njit(cache=True)
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out):
    kind = dims[D_KIND]
    if kind == ELMAN:
        elman.vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out)
    elif kind == LSTM:
        lstm.vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out)
    elif kind == GRU:
        gru.vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out)
    elif kind == CLOCKWORK:
        clockwork.vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out)
    else:
        raise ValueError("unknown model kind")


@njit(cache=True)
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g):
    kind = dims[D_KIND]
    if kind == ELMAN:
        elman.param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g)
    elif kind == LSTM:
        lstm.param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g)
    elif kind == GRU:
        gru.param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g)
    elif kind == CLOCKWORK:
        clockwork.param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g)
    else:
        raise ValueError("unknown model kind")


@njit(cache=True)
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J):
    kind = dims[D_KIND]
    if kind == ELMAN:
        elman.jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J)
    elif kind == LSTM:
        lstm.jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J)
    elif kind == GRU:
        gru.jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J)
    elif kind == CLOCKWORK:
        clockwork.jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J)
    else:
        raise ValueError("unknown model kind")


@njit(cache=True)
def add_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M):
    kind = dims[D_KIND]
    if kind == ELMAN:
        elman.add_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M)
    elif kind == LSTM:
        lstm.add_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M)
    elif kind == GRU:
        gru.add_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M)
    elif kind == CLOCKWORK:
        clockwork.add_immediate(dims, aux, theta, s_prev, x, xi, t, s, cache, M)
    else:
        raise ValueError("unknown model kind")
