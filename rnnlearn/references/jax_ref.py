"""The JAX references: BPTT (lax.scan + jax.value_and_grad + SGD), truncated BPTT (windows of
TBPTT_WINDOW steps, an SGD step after each) and RTRL (the influence matrix carried through lax.scan), jit
compiled, float64. jax is optional (``pip install 'rnnlearn[bench]'``) and imported inside the functions.

Threads: XLA reads ``XLA_FLAGS`` once, when jax is first imported, so the timings run in a fresh subprocess
(``python -P jax_ref.py --jax-worker ...``: this file run as a script, rnnlearn not imported) started with
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` (for ``threads=1``) and
``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` set to ``threads``. The flags alone do NOT hold jax 0.10 to one
core: measured here, RTRL at n=64 ran with process CPU time / wall time = 1.74 under them (and 277 us/step,
against 387 on one core). So for ``threads=1`` the child also restricts itself to one CPU with
``os.sched_setaffinity`` before importing jax (``pin_core=True``, the default): XLA's helper threads then
share that core, which is what "one core" means. Every timing result carries ``cpu_per_wall`` (process CPU
seconds / wall seconds over the timed runs) to show that the pinning held, plus the flags (``xla_flags``)
and the affinity used. ``subprocess=False`` runs in this process instead (no pinning; the flags are whatever
this process had when it imported jax; the result says so).

RTRL follows the conventions of numpy_ref.py (online: an SGD step at every time step, inside the scan).
"""
from __future__ import annotations

import json
import os
import subprocess as _subprocess
import sys

import numpy as np

try:
    from .ref_common import PARAM_NAMES, TBPTT_WINDOW, init_params, make_data, measure, require
except ImportError:  # run as a script (the JAX worker, see above): rnnlearn is not imported
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ref_common import PARAM_NAMES, TBPTT_WINDOW, init_params, make_data, measure, require


_JAX = {}


def _jax_fns():
    """Build (once) and return the jitted JAX update functions."""
    if _JAX:
        return _JAX
    require("jax")
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

    res = measure(step, T, repeats, warmup, min_repeat_seconds)
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
    require("jax")
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



#: (algorithm it reimplements, timing function, its own size cap)
TIMED = [("bptt", jax_bptt, None), ("tbptt", jax_tbptt, None), ("rtrl", jax_rtrl, None)]
#: the optional framework this module needs
NEEDS = "jax"


if __name__ == "__main__":  # the JAX worker (see the module docstring)
    if len(sys.argv) == 3 and sys.argv[1] == "--jax-worker":
        _jax_worker(json.loads(sys.argv[2]))
    else:
        print("usage: jax_ref.py --jax-worker JSON  (internal; use the functions from Python)")
        sys.exit(2)
