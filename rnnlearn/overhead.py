"""What `learner.gradient` costs beyond the compiled call it makes (a rerunnable measurement).

`gradient_overhead` times, on the same random sequence of T steps with BLAS on one thread:
  grad_us   one `learner.gradient(model, theta, xs, ys)` call (what a script computing gradients pays);
  kernel_us the compiled call gradient makes, alone: `learner._run(model, theta, state, chunk, update=False,
            flush=True, losses)` on a state, chunk and losses made once;
  train_us  one `learner.train(model, theta, state, chunk)` call on a state kept between calls (plain SGD
            with a tiny rate; the bench's time per step times T; it also updates theta, which gradient does
            not, so it can cost more than gradient);
and the ratio grad_us / kernel_us - 1 as the overhead. The learner is configured as the bench configures it
(Learner.bench_params: BPTT's window = T, so train runs the kernel gradient runs; truncated BPTT's windows of
10). `cold_compile_seconds` is the start-up with an empty numba cache, one fresh process per learner.

    python -m rnnlearn.overhead      # elman; bptt, tbptt at n = 32, 256; rtrl at n = 32 (O(n^4): see main)
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def _call_us(fns, min_seconds, repeats):
    """Microseconds per call of each function: the best of `repeats` timings, taken in turn (the machine's
    other load then weighs on all alike), each of enough calls to last min_seconds."""
    calls = []
    for fn in fns:
        fn()
        t0 = time.perf_counter()
        fn()
        calls.append(max(1, int(min_seconds / max(time.perf_counter() - t0, 1e-9))))
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(calls[i]):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / calls[i])
    return [1e6 * b for b in best]


def gradient_overhead(model_name: str, learner_name: str, n: int, T: int = 100, min_seconds: float = 0.2,
                      repeats: int = 7, seed: int = 0, threads: int = 1) -> dict:
    """Best-of-repeats microseconds of one gradient call, of the kernel call it makes, and of one train call on the
    same T steps (see the module docstring), and the overhead grad_us / kernel_us - 1."""
    from threadpoolctl import threadpool_limits

    from .timing import M_IN, O_OUT, bench_learner as make_learner
    from .models import make_model
    from .optim import sgd
    from .tasks.base import Chunk
    model = make_model(model_name, n_in=M_IN, n_hidden=n, n_out=O_OUT)
    learner = make_learner(learner_name, T)
    rng = np.random.default_rng(seed)
    xs, ys = rng.normal(size=(T, M_IN)), rng.normal(size=(T, O_OUT))
    chunk = Chunk.make(xs, ys)
    theta = model.init_params(seed)
    with threadpool_limits(limits=threads, user_api="blas"):
        th = theta.copy()
        state = learner.init(model, th, sgd(1.0))
        losses = np.empty(T)
        th2 = theta.copy()
        state2 = learner.init(model, th2, sgd(1e-12))
        grad_us, kernel_us, train_us = _call_us(
            [lambda: learner.gradient(model, theta, xs, ys),
             lambda: learner._run(model, th, state, chunk, False, True, losses),
             lambda: learner.train(model, th2, state2, chunk)], min_seconds, repeats)
    return {"model": model_name, "learner": learner_name, "n": n, "T": T, "grad_us": grad_us,
            "kernel_us": kernel_us, "train_us": train_us, "overhead": grad_us / kernel_us - 1.0}


_COLD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np
from rnnlearn.timing import bench_learner as make_learner
from rnnlearn.models import make_model
from rnnlearn.tasks.base import Chunk
from rnnlearn.optim import sgd
model = make_model(sys.argv[1], n_in=4, n_hidden=4, n_out=2)
L = make_learner(sys.argv[2], 3)
th = model.init_params(0)
t1 = time.perf_counter()
L.train(model, th, L.init(model, th, sgd(1e-3)), Chunk.make(np.zeros((3, 4)), np.zeros((3, 2))))
print(time.perf_counter() - t1)
"""


def cold_compile_seconds(model_name: str, learner_name: str) -> tuple[float, float]:
    """(seconds of a learner's first train call from an empty numba cache, the same with the cache the first
    process wrote), each in a fresh process."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):
            res = subprocess.run([sys.executable, "-c", _COLD, model_name, learner_name], env=env,
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(res.stderr.strip().splitlines()[-1:])
            out.append(float(res.stdout.split()[-1]))
    return out[0], out[1]


def main(models=("elman",), learners=("bptt", "tbptt", "rtrl"), sizes=(32, 256), T=100, quartic_max_n=32):
    from .timing import bench_learner
    for model_name in models:
        for name in learners:
            quartic = bench_learner(name, T).cost_exponents()[0] >= 4
            for n in sizes:
                if quartic and n > quartic_max_n:
                    continue  # O(n^4): seconds per call at n = 256, where set-up is nothing beside it
                r = gradient_overhead(model_name, name, n, T)
                print(f"{model_name:8s} {name:6s} n={n:4d} T={T}  gradient {r['grad_us']:9.1f} us  "
                      f"kernel {r['kernel_us']:9.1f} us  train {r['train_us']:9.1f} us  overhead {100 * r['overhead']:+6.1f}%", flush=True)


if __name__ == "__main__":
    main()
