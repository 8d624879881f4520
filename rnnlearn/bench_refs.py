"""External reference implementations that ``rnnlearn bench --compare`` times our kernels against.

Every reference trains exactly rnnlearn's Elman network (rnnlearn/models/elman.py), with exactly one training step:

    h_0 = 0;  h_t = tanh(W h_{t-1} + U x_t + b);  y_hat_t = V h_t + c
    L = sum_t 0.5 ||y_hat_t - y_t||^2,  t = 1..T,  batch 1,  float64
    W n x n, U n x m, b n, V o x n, c o

One *training step* (one "update") is forward over the T steps, backward, and a plain SGD update of all
five parameters with learning rate ``lr``. Timings are reported as microseconds per time step: the median
wall time of one update divided by T.

Functions (each timing function returns a dict with at least ``us_per_step`` and ``loss``):

=========================  ====================================================================
``torch_bptt``             torch.nn.RNN(tanh) + nn.Linear, autograd, torch.optim.SGD (CPU)
``jax_bptt``               lax.scan + jax.value_and_grad + SGD, jit-compiled (in a subprocess)
``jax_rtrl``               RTRL in JAX: influence matrix carried through lax.scan (subprocess)
``numpy_rtrl``             straightforward numpy RTRL, Python loop over time, online SGD
``numpy_bptt``             plain numpy BPTT, Python loop over time
``numpy_word_lm_step``     the classic RNN-tutorial word LM step (vocab 8000, hidden 100, truncation 4)
``blas_matmul_gflops``     numpy's own matrix-product rate on given shapes
``blas_rate_for_ekf``      BLAS rate on the EKF covariance-update shapes
=========================  ====================================================================

and, for the tests, one-update functions that take and return parameter dicts
(``torch_bptt_update``, ``jax_bptt_update``, ``jax_rtrl_update``, ``numpy_bptt_update``,
``numpy_rtrl_update``, ``numpy_word_lm_update``).

Conventions shared by all of them
---------------------------------
* ``loss`` in the result is the loss of the *first* update from the seeded initial parameters, so the same
  seed gives the same number in every backend (a cheap check that they compute the same network).
  ``loss_last`` is the loss at the end of the timed runs.
* Timing: warm up first (this includes JIT compilation, reported as ``first_call_seconds``), calibrate a
  ``number`` of updates per repeat so one repeat lasts at least ``min_repeat_seconds``, run ``repeats``
  repeats and report the median (``us_per_step``) and the minimum (``us_per_step_min``).
* Threads: ``threads`` pins torch (``torch.set_num_threads``), XLA (flags set before jax is imported, see
  below) and numpy's OpenBLAS (through its ``openblas_set_num_threads`` entry point, found with ctypes in
  the loaded libraries, as threadpoolctl does; restored afterwards). Compare against ``threads=1``.

RTRL conventions
----------------
The recurrent parameters are ordered unit by unit: row i of A = [W U b] (n x K, K = n + m + 1), flattened
row-major, so P_rec = n K = n^2 + n m + n and the influence matrix M is n x P_rec (viewed as n x n x K).
With z_t = [h_{t-1}; x_t; 1] and D_t = diag(1 - h_t^2):

    J_t = D_t W,   Mbar_t[i, i*K:(i+1)*K] = D_t[i] z_t,   M_t = J_t M_{t-1} + Mbar_t
    e_t = y_hat_t - y_t,   dL/dA += reshape((V^T e_t)^T M_t, (n, K)),   dL/dV += e_t h_t^T,   dL/dc += e_t

``online=True`` (the default, what RTRL is for, and what the numpy reference of Marschall, Cho & Savin 2020
does): at each time step, forward with the current parameters, update M, take that step's gradient and
apply the SGD update at once, so one "sequence update" is T parameter updates. ``online=False``: the
parameters stay fixed over the sequence, the per-step gradients are summed (this equals the BPTT gradient
exactly) and one SGD update follows. Both cost the same per step (J M dominates); both are timed per step.

JAX and threads
---------------
XLA reads ``XLA_FLAGS`` once, when jax is first imported, so the JAX timings run in a fresh subprocess
(``python -P bench_refs.py --jax-worker ...``: this file run as a script, the package not imported)
started with ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` (for
``threads=1``) and ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` set to ``threads``. The flags alone do NOT
hold jax 0.10 to one core: measured here, RTRL at n=64 ran with process CPU time / wall time = 1.74 under
them (and 277 us/step, against 387 on one core). So for ``threads=1`` the child also restricts itself to
one CPU with ``os.sched_setaffinity`` before importing jax (``pin_core=True``, the default): XLA's helper
threads then share that core, which is what "one core" means. Every timing result carries
``cpu_per_wall`` (process CPU seconds / wall seconds over the timed runs) to show that the pinning held,
plus the flags (``xla_flags``) and the affinity used. ``subprocess=False`` runs in this process instead
(no pinning; the flags are whatever this process had when it imported jax; the result says so).

Optional dependencies: torch and jax are imported lazily inside the functions; install them with
``pip install 'rnnlearn[bench]'``.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import math
import os
import statistics
import subprocess as _subprocess
import sys
import time

import numpy as np

__all__ = [
    "init_params", "make_data",
    "torch_bptt", "torch_bptt_update",
    "jax_bptt", "jax_bptt_update", "jax_rtrl", "jax_rtrl_update",
    "numpy_bptt", "numpy_bptt_update", "numpy_rtrl", "numpy_rtrl_update",
    "numpy_word_lm_step", "numpy_word_lm_update", "init_word_lm_params",
    "blas_matmul_gflops", "blas_rate_for_ekf", "blas_threads", "available_backends",
]

PARAM_NAMES = ("W", "U", "b", "V", "c")
TBPTT_WINDOW = 10  # truncated BPTT references: k1 = k2 = 10, as rnnlearn's TBPTT() default
_INSTALL_HINT = "pip install 'rnnlearn[bench]'"


# ----------------------------------------------------------------------------------------------------------
# shared set-up
# ----------------------------------------------------------------------------------------------------------

def init_params(n, m=4, o=2, seed=0):
    """Seeded Elman parameters as a dict of C-contiguous float64 arrays (W, U, b, V, c)."""
    rng = np.random.default_rng(seed)
    return {
        "W": rng.standard_normal((n, n)) * (0.9 / math.sqrt(n)),
        "U": rng.standard_normal((n, m)) / math.sqrt(m),
        "b": 0.1 * rng.standard_normal(n),
        "V": rng.standard_normal((o, n)) / math.sqrt(n),
        "c": 0.1 * rng.standard_normal(o),
    }


def make_data(T=100, m=4, o=2, seed=0):
    """Seeded inputs x (T x m) and targets y (T x o)."""
    rng = np.random.default_rng(seed + 1_000_003)
    return rng.standard_normal((T, m)), rng.standard_normal((T, o))


def _copy_params(params):
    return {k: np.array(params[k], dtype=np.float64, order="C", copy=True) for k in PARAM_NAMES}


def available_backends():
    """The optional backends importable here, e.g. ``['torch', 'jax']`` (without importing them)."""
    return [name for name in ("torch", "jax") if importlib.util.find_spec(name) is not None]


def _require(name):
    if importlib.util.find_spec(name) is None:
        raise ImportError(
            f"the {name} reference needs {name}, which is not installed: {_INSTALL_HINT}"
        )


def _measure(step, T, repeats, warmup, min_repeat_seconds):
    """Time ``step()`` (one sequence update). Returns the timing fields of a result dict."""
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0  # includes JIT compilation where there is one
    for _ in range(max(0, warmup - 1)):
        step()
    t0 = time.perf_counter()
    step()
    one = max(time.perf_counter() - t0, 1e-9)
    number = max(1, int(math.ceil(min_repeat_seconds / one)))
    times = []
    cpu = wall = 0.0
    for _ in range(max(1, repeats)):
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(number):
            step()
        t1 = time.perf_counter()
        cpu += time.process_time() - c0
        wall += t1 - t0
        times.append((t1 - t0) / number)
    med = statistics.median(times)
    return {
        # process CPU time / wall time over the timed runs: about 1 when one core does the work,
        # near the thread count when more run (a check that the thread pinning held)
        "cpu_per_wall": cpu / max(wall, 1e-12),
        "us_per_step": med / T * 1e6,
        "us_per_step_min": min(times) / T * 1e6,
        "seconds_per_update": med,
        "first_call_seconds": first,
        "repeats": len(times),
        "number": number,
        "T": T,
    }


# ----------------------------------------------------------------------------------------------------------
# BLAS thread control (numpy / scipy OpenBLAS), without threadpoolctl
# ----------------------------------------------------------------------------------------------------------

_SET_NAMES = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
              "openblas_set_num_threads64_", "openblas_set_num_threads")
_GET_NAMES = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
              "openblas_get_num_threads64_", "openblas_get_num_threads")


def _openblas_handles():
    """(get, set) function pairs of every OpenBLAS loaded in this process (Linux: /proc/self/maps)."""
    paths = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 6 and "openblas" in parts[-1].lower() and parts[-1] not in paths:
                    paths.append(parts[-1])
    except OSError:
        return []
    handles = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        get = next((getattr(lib, s) for s in _GET_NAMES if hasattr(lib, s)), None)
        set_ = next((getattr(lib, s) for s in _SET_NAMES if hasattr(lib, s)), None)
        if get is not None and set_ is not None:
            get.restype = ctypes.c_int
            set_.argtypes = [ctypes.c_int]
            handles.append((get, set_))
    return handles


@contextlib.contextmanager
def blas_threads(threads):
    """Pin every loaded OpenBLAS to ``threads`` threads inside the block; yields how many were pinned.

    ``threads=None`` leaves them alone. Import numpy (and scipy.linalg) before entering.
    """
    if threads is None:
        yield 0
        return
    handles = _openblas_handles()
    old = [get() for get, _ in handles]
    for _, set_ in handles:
        set_(int(threads))
    try:
        yield len(handles)
    finally:
        for (_, set_), k in zip(handles, old):
            set_(int(k))


# ----------------------------------------------------------------------------------------------------------
# numpy BPTT (Python loop over time)
# ----------------------------------------------------------------------------------------------------------

def _numpy_bptt_step(p, x, y, lr):
    """One BPTT update in place on the dict ``p``; returns the loss before the update."""
    W, U, b, V, c = (p[k] for k in PARAM_NAMES)
    T = x.shape[0]
    n = W.shape[0]
    hs = np.zeros((T + 1, n))  # hs[t + 1] = h_t ; hs[0] = h_0 = 0
    for t in range(T):
        hs[t + 1] = np.tanh(W @ hs[t] + U @ x[t] + b)
    H = hs[1:]
    E = H @ V.T + c - y  # T x o
    loss = 0.5 * float(np.sum(E * E))
    dH = E @ V  # T x n : dL/dh_t from the readout
    dA = np.zeros((T, n))  # dL/da_t
    g = np.zeros(n)
    for t in range(T - 1, -1, -1):
        g = (dH[t] + g) * (1.0 - H[t] * H[t])
        dA[t] = g
        g = W.T @ g
    gW = dA.T @ hs[:-1]
    gU = dA.T @ x
    gb = dA.sum(axis=0)
    gV = E.T @ H
    gc = E.sum(axis=0)
    W -= lr * gW
    U -= lr * gU
    b -= lr * gb
    V -= lr * gV
    c -= lr * gc
    return loss


def numpy_bptt_update(params, x, y, lr=1e-3):
    """One plain-numpy BPTT update. Returns (new params dict, loss before the update)."""
    p = _copy_params(params)
    loss = _numpy_bptt_step(p, np.asarray(x, float), np.asarray(y, float), lr)
    return p, loss


def numpy_bptt(n, m=4, o=2, T=100, repeats=15, threads=1, seed=0, lr=1e-3, warmup=2,
               min_repeat_seconds=0.05):
    """Time plain numpy BPTT (Python loop over time steps)."""
    p = init_params(n, m, o, seed)
    x, y = make_data(T, m, o, seed)
    losses = []
    with blas_threads(threads) as pinned:
        res = _measure(lambda: losses.append(_numpy_bptt_step(p, x, y, lr)), T, repeats, warmup,
                       min_repeat_seconds)
    res.update(loss=losses[0], loss_last=losses[-1], n=n, m=m, o=o, threads=threads,
               blas_libs_pinned=pinned, backend="numpy", algorithm="bptt")
    return res


# ----------------------------------------------------------------------------------------------------------
# numpy RTRL (Python loop over time, online updates): the "numpy reference RTRL"
# ----------------------------------------------------------------------------------------------------------

def _numpy_rtrl_run(p, x, y, lr, online=True, immediate="kron"):
    """RTRL over one sequence, in place on ``p``; returns the summed loss.

    ``immediate="kron"`` builds the immediate Jacobian Mbar_t densely (n x nK, as kron(diag(D), z)) and
    adds it, the way a straightforward numpy RTRL (e.g. Marschall et al.'s) does; ``"sparse"`` adds
    D_i z into the n diagonal blocks only.
    """
    W, U, b, V, c = (p[k] for k in PARAM_NAMES)
    T = x.shape[0]
    n, m = U.shape
    K = n + m + 1
    M = np.zeros((n, n * K))
    h = np.zeros(n)
    loss = 0.0
    diag = np.arange(n)
    if not online:
        gA = np.zeros((n, K))
        gV = np.zeros_like(V)
        gc = np.zeros_like(c)
    for t in range(T):
        z = np.concatenate((h, x[t], (1.0,)))
        h = np.tanh(W @ h + U @ x[t] + b)
        D = 1.0 - h * h
        J = D[:, None] * W
        M = np.dot(J, M)
        if immediate == "kron":
            M += np.kron(np.diag(D), z)
        else:
            M.reshape(n, n, K)[diag, diag, :] += D[:, None] * z
        e = V @ h + c - y[t]
        loss += 0.5 * float(e @ e)
        q = V.T @ e
        g = np.dot(q, M).reshape(n, K)
        if online:
            W -= lr * g[:, :n]
            U -= lr * g[:, n:n + m]
            b -= lr * g[:, n + m]
            V -= lr * np.outer(e, h)
            c -= lr * e
        else:
            gA += g
            gV += np.outer(e, h)
            gc += e
    if not online:
        W -= lr * gA[:, :n]
        U -= lr * gA[:, n:n + m]
        b -= lr * gA[:, n + m]
        V -= lr * gV
        c -= lr * gc
    return loss


def numpy_rtrl_update(params, x, y, lr=1e-3, online=True, immediate="kron"):
    """RTRL over one sequence in numpy. Returns (new params dict, summed loss)."""
    p = _copy_params(params)
    loss = _numpy_rtrl_run(p, np.asarray(x, float), np.asarray(y, float), lr, online, immediate)
    return p, loss


def numpy_rtrl(n, m=4, o=2, T=50, repeats=7, threads=1, seed=0, lr=1e-3, online=True,
               immediate="kron", warmup=1, min_repeat_seconds=0.05):
    """Time the straightforward numpy RTRL (Python loop over time, np.dot for J @ M, online updates)."""
    p = init_params(n, m, o, seed)
    x, y = make_data(T, m, o, seed)
    losses = []
    with blas_threads(threads) as pinned:
        res = _measure(lambda: losses.append(_numpy_rtrl_run(p, x, y, lr, online, immediate)), T,
                       repeats, warmup, min_repeat_seconds)
    res.update(loss=losses[0], loss_last=losses[-1], n=n, m=m, o=o, threads=threads,
               blas_libs_pinned=pinned, online=online, immediate=immediate, backend="numpy",
               algorithm="rtrl")
    return res


# ----------------------------------------------------------------------------------------------------------
# PyTorch BPTT
# ----------------------------------------------------------------------------------------------------------

class _TorchElman:
    """nn.RNN(tanh) + nn.Linear + SGD holding our parameters.

    nn.RNN has two biases (b_ih + b_hh); ours has one. b_ih carries b and b_hh is held at zero with
    requires_grad=False, so the network and the SGD update are exactly ours (training both would move
    the effective bias twice as fast).
    """

    def __init__(self, params, x, y, lr):
        import torch

        self.torch = torch
        n, m = params["U"].shape
        o = params["V"].shape[0]
        self.rnn = torch.nn.RNN(m, n, num_layers=1, nonlinearity="tanh", bias=True).double()
        self.lin = torch.nn.Linear(n, o).double()
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(torch.from_numpy(params["W"]))
            self.rnn.weight_ih_l0.copy_(torch.from_numpy(params["U"]))
            self.rnn.bias_ih_l0.copy_(torch.from_numpy(params["b"]))
            self.rnn.bias_hh_l0.zero_()
            self.lin.weight.copy_(torch.from_numpy(params["V"]))
            self.lin.bias.copy_(torch.from_numpy(params["c"]))
        self.rnn.bias_hh_l0.requires_grad_(False)
        self.trainable = [self.rnn.weight_hh_l0, self.rnn.weight_ih_l0, self.rnn.bias_ih_l0,
                          self.lin.weight, self.lin.bias]
        self.opt = torch.optim.SGD(self.trainable, lr=lr)
        T = x.shape[0]
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).reshape(T, 1, m)
        self.y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64)).reshape(T, 1, o)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        hs, _ = self.rnn(self.x)  # h_0 = 0
        err = self.lin(hs) - self.y
        loss = 0.5 * (err * err).sum()
        loss.backward()
        self.opt.step()
        return loss.item()

    def params(self):
        vals = [t.detach().numpy().copy() for t in self.trainable]
        return dict(zip(("W", "U", "b", "V", "c"), vals))


@contextlib.contextmanager
def _torch_threads(threads):
    import torch

    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def torch_bptt_update(params, x, y, lr=1e-3, threads=1):
    """One PyTorch update (nn.RNN + nn.Linear, autograd, SGD). Returns (new params dict, loss)."""
    _require("torch")
    with _torch_threads(threads):
        net = _TorchElman(params, np.asarray(x, float), np.asarray(y, float), lr)
        loss = net.step()
        return net.params(), loss


def torch_bptt(n, m=4, o=2, T=100, repeats=15, threads=1, seed=0, lr=1e-3, warmup=3,
               min_repeat_seconds=0.05):
    """Time PyTorch BPTT on the CPU: nn.RNN(tanh) + nn.Linear, autograd, torch.optim.SGD, float64."""
    _require("torch")
    import torch

    p = init_params(n, m, o, seed)
    x, y = make_data(T, m, o, seed)
    losses = []
    with _torch_threads(threads), blas_threads(threads):
        net = _TorchElman(p, x, y, lr)
        res = _measure(lambda: losses.append(net.step()), T, repeats, warmup, min_repeat_seconds)
    res.update(loss=losses[0], loss_last=losses[-1], n=n, m=m, o=o, threads=threads,
               backend="torch", version=torch.__version__, algorithm="bptt")
    return res


# ----------------------------------------------------------------------------------------------------------
# JAX (BPTT and RTRL); jitted functions are built once per process, lazily
# ----------------------------------------------------------------------------------------------------------

_JAX = {}


def _jax_fns():
    """Build (once) and return the jitted JAX update functions."""
    if _JAX:
        return _JAX
    _require("jax")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    def bptt_loss(params, x, y):
        W, U, b, V, c = params
        a_in = x @ U.T + b  # input projection for all steps at once, outside the recurrence

        def cell(h, a_t):
            h = jnp.tanh(W @ h + a_t)
            return h, h

        _, hs = lax.scan(cell, jnp.zeros(W.shape[0], dtype=W.dtype), a_in)
        err = hs @ V.T + c - y
        return 0.5 * jnp.sum(err * err)

    def bptt_update(params, x, y, lr):
        loss, grads = jax.value_and_grad(bptt_loss)(params, x, y)
        return tuple(p - lr * g for p, g in zip(params, grads)), loss

    def tbptt_update(params, x, y, lr, k):
        """Truncated BPTT with k1 = k2 = k (T a multiple of k): an SGD step after each window of k steps,
        the state carried into the next window without its gradient."""
        def window_loss(params, h0, xw, yw):
            W, U, b, V, c = params
            a_in = xw @ U.T + b

            def cell(h, a_t):
                h = jnp.tanh(W @ h + a_t)
                return h, h

            h_last, hs = lax.scan(cell, h0, a_in)
            err = hs @ V.T + c - yw
            return 0.5 * jnp.sum(err * err), h_last

        def window(carry, xy):
            params, h = carry
            (loss, h), grads = jax.value_and_grad(window_loss, has_aux=True)(params, h, *xy)
            return (tuple(p - lr * g for p, g in zip(params, grads)), h), loss

        T = x.shape[0]
        h0 = jnp.zeros(params[0].shape[0], dtype=params[0].dtype)
        (params, _), losses = lax.scan(window, (tuple(params), h0),
                                       (x.reshape(T // k, k, -1), y.reshape(T // k, k, -1)))
        return params, jnp.sum(losses)

    def rtrl_run(params, x, y, lr, online):
        W, U, b, V, c = params
        n, m = U.shape
        K = n + m + 1
        idx = jnp.arange(n)

        def step(carry, xy):
            (W, U, b, V, c), h, M, gsum = carry
            x_t, y_t = xy
            z = jnp.concatenate([h, x_t, jnp.ones(1, dtype=h.dtype)])
            h1 = jnp.tanh(W @ h + U @ x_t + b)
            D = 1.0 - h1 * h1
            M = ((D[:, None] * W) @ M.reshape(n, n * K)).reshape(n, n, K)
            M = M.at[idx, idx, :].add(D[:, None] * z[None, :])
            e = V @ h1 + c - y_t
            gA = ((V.T @ e) @ M.reshape(n, n * K)).reshape(n, K)
            g = (gA[:, :n], gA[:, n:n + m], gA[:, n + m], jnp.outer(e, h1), e)
            p = (W, U, b, V, c)
            if online:
                p = tuple(pi - lr * gi for pi, gi in zip(p, g))
            else:
                gsum = tuple(s + gi for s, gi in zip(gsum, g))
            return (p, h1, M, gsum), 0.5 * (e @ e)

        zeros = tuple(jnp.zeros_like(q) for q in params)
        M0 = jnp.zeros((n, n, K), dtype=W.dtype)
        h0 = jnp.zeros(n, dtype=W.dtype)
        (p, _, _, gsum), losses = lax.scan(step, (tuple(params), h0, M0, zeros), (x, y))
        if not online:
            p = tuple(pi - lr * gi for pi, gi in zip(p, gsum))
        return p, jnp.sum(losses)

    _JAX["jax"] = jax
    _JAX["jnp"] = jnp
    _JAX["bptt"] = jax.jit(bptt_update, donate_argnums=0)
    _JAX["tbptt"] = jax.jit(lambda p, x, y, lr: tbptt_update(p, x, y, lr, TBPTT_WINDOW), donate_argnums=0)
    _JAX["rtrl_online"] = jax.jit(lambda p, x, y, lr: rtrl_run(p, x, y, lr, True), donate_argnums=0)
    _JAX["rtrl_seq"] = jax.jit(lambda p, x, y, lr: rtrl_run(p, x, y, lr, False), donate_argnums=0)
    return _JAX


def _jax_update(kind, params, x, y, lr):
    f = _jax_fns()
    jnp = f["jnp"]
    p = tuple(jnp.asarray(np.array(params[k], dtype=np.float64)) for k in PARAM_NAMES)
    new, loss = f[kind](p, jnp.asarray(np.asarray(x, np.float64)), jnp.asarray(np.asarray(y, np.float64)),
                        jnp.float64(lr))
    return {k: np.asarray(v) for k, v in zip(PARAM_NAMES, new)}, float(loss)


def jax_bptt_update(params, x, y, lr=1e-3):
    """One JAX BPTT update in this process. Returns (new params dict, loss)."""
    return _jax_update("bptt", params, x, y, lr)


def jax_tbptt_update(params, x, y, lr=1e-3):
    """Truncated BPTT in JAX over one sequence, windows of TBPTT_WINDOW steps, one SGD step per window.
    Returns (new params dict, summed loss)."""
    return _jax_update("tbptt", params, x, y, lr)


def jax_rtrl_update(params, x, y, lr=1e-3, online=True):
    """RTRL over one sequence in JAX in this process. Returns (new params dict, summed loss)."""
    return _jax_update("rtrl_online" if online else "rtrl_seq", params, x, y, lr)


def _jax_time_inprocess(kind, n, m, o, T, repeats, seed, lr, warmup, min_repeat_seconds):
    f = _jax_fns()
    jax, jnp = f["jax"], f["jnp"]
    fn = f[kind]
    p0 = init_params(n, m, o, seed)
    x, y = make_data(T, m, o, seed)
    state = [tuple(jnp.asarray(p0[k]) for k in PARAM_NAMES)]
    xj, yj, lrj = jnp.asarray(x), jnp.asarray(y), jnp.float64(lr)
    losses = []

    def step():
        state[0], loss = fn(state[0], xj, yj, lrj)
        jax.block_until_ready(state[0])
        losses.append(loss)

    res = _measure(step, T, repeats, warmup, min_repeat_seconds)
    res.update(loss=float(losses[0]), loss_last=float(losses[-1]), n=n, m=m, o=o, backend="jax",
               version=jax.__version__, xla_flags=os.environ.get("XLA_FLAGS", ""),
               device=str(jax.devices()[0]))
    return res


def _xla_flags(threads):
    if threads is None:
        return os.environ.get("XLA_FLAGS", "")
    if int(threads) == 1:
        return "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={int(threads)}"


def _jax_time(kind, algorithm, n, m, o, T, repeats, threads, seed, lr, warmup, min_repeat_seconds,
              subprocess, pin_core, timeout):
    _require("jax")
    args = dict(kind=kind, n=n, m=m, o=o, T=T, repeats=repeats, seed=seed, lr=lr, warmup=warmup,
                min_repeat_seconds=min_repeat_seconds)
    if not subprocess:
        if "jax" in sys.modules:
            note = "jax was already imported in this process: XLA_FLAGS as they were then"
        else:
            os.environ["XLA_FLAGS"] = _xla_flags(threads)
            note = "XLA_FLAGS set in this process before importing jax"
        res = _jax_time_inprocess(**args)
        res.update(threads=threads, subprocess=False, note=note, algorithm=algorithm)
        return res
    env = dict(os.environ)
    env["XLA_FLAGS"] = _xla_flags(threads)
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(int(threads))
    args["pin_core"] = bool(pin_core and threads is not None and int(threads) == 1)
    cmd = [sys.executable, "-P", os.path.abspath(__file__), "--jax-worker", json.dumps(args)]
    proc = _subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"JAX worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(lines[-1])
    res.update(threads=threads, subprocess=True, algorithm=algorithm)
    return res


def jax_bptt(n, m=4, o=2, T=100, repeats=15, threads=1, seed=0, lr=1e-3, warmup=3,
             min_repeat_seconds=0.05, subprocess=True, pin_core=True, timeout=900):
    """Time BPTT in JAX: lax.scan + value_and_grad + SGD, float64, jit-compiled, donated buffers.

    Runs in a fresh subprocess so the XLA thread flags take effect, pinned to one CPU for ``threads=1``
    (see the module docstring).
    """
    return _jax_time("bptt", "bptt", n, m, o, T, repeats, threads, seed, lr, warmup,
                     min_repeat_seconds, subprocess, pin_core, timeout)


def jax_tbptt(n, m=4, o=2, T=100, repeats=15, threads=1, seed=0, lr=1e-3, warmup=3,
              min_repeat_seconds=0.05, subprocess=True, pin_core=True, timeout=900):
    """Time truncated BPTT in JAX, windows of TBPTT_WINDOW steps (k1 = k2) with an SGD step after each, as
    rnnlearn's TBPTT(10, 10): a scan over windows, each a scan + value_and_grad."""
    return _jax_time("tbptt", "tbptt", n, m, o, T, repeats, threads, seed, lr, warmup,
                     min_repeat_seconds, subprocess, pin_core, timeout)


def jax_rtrl(n, m=4, o=2, T=50, repeats=7, threads=1, seed=0, lr=1e-3, online=True, warmup=2,
             min_repeat_seconds=0.05, subprocess=True, pin_core=True, timeout=900):
    """Time RTRL in JAX: M (n x P_rec) carried through lax.scan, M_t = J_t M_{t-1} + Mbar_t.

    ``online=True``: an SGD update at every time step (inside the scan); ``online=False``: parameters
    fixed over the sequence, gradients summed, one update after it. Reported per time step either way.
    """
    res = _jax_time("rtrl_online" if online else "rtrl_seq", "rtrl", n, m, o, T, repeats, threads,
                    seed, lr, warmup, min_repeat_seconds, subprocess, pin_core, timeout)
    res["online"] = online
    return res


def _jax_worker(args):
    if args.pop("pin_core", False):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    res = _jax_time_inprocess(**args)
    res["affinity"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(res), flush=True)


# ----------------------------------------------------------------------------------------------------------
# The RNN-tutorial word language model, plain numpy
# ----------------------------------------------------------------------------------------------------------

def init_word_lm_params(vocab=8000, hidden=100, seed=0):
    """Tutorial-style initialisation: U (hidden x vocab), V (vocab x hidden), W (hidden x hidden),
    uniform in +-1/sqrt(fan-in); no biases."""
    rng = np.random.default_rng(seed)
    return {
        "U": rng.uniform(-1.0, 1.0, (hidden, vocab)) / math.sqrt(vocab),
        "V": rng.uniform(-1.0, 1.0, (vocab, hidden)) / math.sqrt(hidden),
        "W": rng.uniform(-1.0, 1.0, (hidden, hidden)) / math.sqrt(hidden),
    }


def _word_lm_sgd_step(p, words, targets, lr, bptt_truncate):
    """One SGD step on one sentence, the tutorial's algorithm; updates ``p`` in place, returns the loss.

    s_t = tanh(U[:, w_t] + W s_{t-1}) (one-hot input as a column lookup), o_t = softmax(V s_t), loss =
    sum_t -log o_t[target_t]. Forward and the output layer loop over time one word at a time; the error
    at each output is backpropagated through at most ``bptt_truncate`` earlier steps (bptt_truncate + 1
    recurrent steps counting its own); fresh dense gradient arrays every call, as in the tutorial.
    """
    U, V, W = p["U"], p["V"], p["W"]
    T = len(words)
    hidden = W.shape[0]
    vocab = V.shape[0]
    s = np.zeros((T + 1, hidden))  # s[-1] is the zero initial state
    out = np.zeros((T, vocab))
    for t in range(T):
        s[t] = np.tanh(U[:, words[t]] + W.dot(s[t - 1]))
        a = V.dot(s[t])
        ea = np.exp(a - np.max(a))
        out[t] = ea / np.sum(ea)
    loss = -float(np.sum(np.log(out[np.arange(T), targets])))
    dU = np.zeros(U.shape)
    dV = np.zeros(V.shape)
    dW = np.zeros(W.shape)
    d_out = out
    d_out[np.arange(T), targets] -= 1.0
    for t in range(T - 1, -1, -1):
        dV += np.outer(d_out[t], s[t])
        delta = V.T.dot(d_out[t]) * (1.0 - s[t] ** 2)
        for k in range(t, max(0, t - bptt_truncate) - 1, -1):
            dW += np.outer(delta, s[k - 1])
            dU[:, words[k]] += delta
            delta = W.T.dot(delta) * (1.0 - s[k - 1] ** 2)
    U -= lr * dU
    V -= lr * dV
    W -= lr * dW
    return loss


def numpy_word_lm_update(params, words, targets, lr=0.005, bptt_truncate=4):
    """One tutorial word-LM SGD step on one sentence. Returns (new params dict, loss)."""
    p = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    loss = _word_lm_sgd_step(p, np.asarray(words), np.asarray(targets), lr, bptt_truncate)
    return p, loss


def numpy_word_lm_step(vocab=8000, hidden=100, bptt_truncate=4, sentence_len=20, repeats=7, threads=1,
                       seed=0, lr=0.005, warmup=1, min_repeat_seconds=0.0):
    """Time the classic RNN-tutorial word LM step in plain numpy: milliseconds per sentence.

    One SGD step on one sentence of ``sentence_len`` random word ids (inputs w_0..w_{L-1}, targets the
    next words), vocabulary ``vocab``, hidden ``hidden``, truncation ``bptt_truncate``.
    """
    p = init_word_lm_params(vocab, hidden, seed)
    rng = np.random.default_rng(seed + 7)
    sent = rng.integers(0, vocab, sentence_len + 1)
    words, targets = sent[:-1], sent[1:]
    losses = []
    with blas_threads(threads) as pinned:
        res = _measure(lambda: losses.append(_word_lm_sgd_step(p, words, targets, lr, bptt_truncate)),
                       sentence_len, repeats, warmup, min_repeat_seconds)
    res.update(ms_per_sentence=res["seconds_per_update"] * 1e3, loss=losses[0], loss_last=losses[-1],
               vocab=vocab, hidden=hidden, bptt_truncate=bptt_truncate, sentence_len=sentence_len,
               threads=threads, blas_libs_pinned=pinned, backend="numpy", algorithm="word_lm")
    return res


# ----------------------------------------------------------------------------------------------------------
# BLAS rates
# ----------------------------------------------------------------------------------------------------------

def _median_time(fn, repeats, min_repeat_seconds):
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    number = max(1, int(math.ceil(min_repeat_seconds / one)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times), min(times)


def blas_matmul_gflops(a_shape, b_shape, threads=1, repeats=7, min_repeat_seconds=0.05, seed=0):
    """numpy's own matrix-product rate (``np.dot(A, B, out=C)``, float64) on the given shapes.

    For RTRL's J M: ``blas_matmul_gflops((n, n), (n, n*n + n*m + n))``. GFLOP/s = 2 a0 a1 b1 / time.
    """
    (p, q), (q2, r) = a_shape, b_shape
    if q != q2:
        raise ValueError(f"shapes {a_shape} and {b_shape} do not chain")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p, q))
    B = rng.standard_normal((q, r))
    C = np.empty((p, r))
    with blas_threads(threads) as pinned:
        med, best = _median_time(lambda: np.dot(A, B, out=C), repeats, min_repeat_seconds)
    flops = 2.0 * p * q * r
    return {"gflops": flops / med / 1e9, "gflops_best": flops / best / 1e9, "seconds": med,
            "flops": flops, "a_shape": tuple(a_shape), "b_shape": tuple(b_shape), "threads": threads,
            "blas_libs_pinned": pinned}


def blas_rate_for_ekf(p, o, threads=1, repeats=7, min_repeat_seconds=0.05, seed=0):
    """BLAS rates on the EKF covariance-update shapes: P (p x p), H (p x o), K (p x o).

    * ``PH``: ``np.dot(P, H, out=...)`` (2 p^2 o flops);
    * ``rank_update_numpy``: ``P -= K @ HtP`` as a numpy user writes it (temporary p x p; 2 p^2 o + p^2);
    * ``rank_update_gemm``: the same update in place through BLAS dgemm with beta = 1 (scipy), the rate
      a kernel calling BLAS directly can get;
    * ``total_gflops``: PH followed by the in-place rank update, the EKF's two big products.
    """
    from scipy.linalg import blas as sblas

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p, p))
    P = A @ A.T / p + np.eye(p)
    P0 = P.copy()
    H = rng.standard_normal((p, o))
    K = 1e-6 * rng.standard_normal((p, o))
    PH = np.empty((p, o))
    HtP = np.ascontiguousarray(PH.T)
    out = {"p": p, "o": o, "threads": threads}
    with blas_threads(threads) as pinned:
        med, _ = _median_time(lambda: np.dot(P, H, out=PH), repeats, min_repeat_seconds)
        out["PH_gflops"], out["PH_seconds"] = 2.0 * p * p * o / med / 1e9, med

        def numpy_update():
            P[...] -= K @ HtP

        med, _ = _median_time(numpy_update, repeats, min_repeat_seconds)
        out["rank_update_numpy_gflops"] = (2.0 * p * p * o + p * p) / med / 1e9
        out["rank_update_numpy_seconds"] = med
        P[...] = P0
        PT = P.T  # Fortran-ordered view of the C-ordered P: dgemm updates it in place

        def gemm_update():
            # P^T <- P^T - HtP^T K^T  ==  P <- P - K HtP
            sblas.dgemm(-1.0, HtP.T, K.T, 1.0, PT, overwrite_c=True)

        med, _ = _median_time(gemm_update, repeats, min_repeat_seconds)
        out["rank_update_gemm_gflops"] = 2.0 * p * p * o / med / 1e9
        out["rank_update_gemm_seconds"] = med
        out["total_seconds"] = out["PH_seconds"] + med
        out["total_gflops"] = 4.0 * p * p * o / out["total_seconds"] / 1e9
        out["blas_libs_pinned"] = pinned
    return out


if __name__ == "__main__":  # the JAX worker (see the module docstring)
    if len(sys.argv) == 3 and sys.argv[1] == "--jax-worker":
        _jax_worker(json.loads(sys.argv[2]))
    else:
        print("usage: bench_refs.py --jax-worker JSON  (internal; use the functions from Python)")
        sys.exit(2)
