"""Timing learners: microseconds per step and memory of one learner (`time_learner`), the benchmark's rows
(`bench_rows`, with the frameworks' references of rnnlearn.references), the cost sweep into cost.csv
(`cost_sweep`), and a fresh process's compile time (`cold_start_seconds`). The `bench` and `cost` commands
and the cost figure (rnnlearn.figures) all time through here.

The network is the one of the reference figures in BENCHMARKS.md: m = 4 inputs, o = 2 outputs, squared error, batch 1,
float64. A "step" is one time step of training: forward, backward (or the RTRL/EKF recursion) and its share
of the parameter update. Which learners are timed, with which settings and up to which size, is read from
each learner's class (Learner.bench_params, max_n, bench_fits, cost_exponents, flops_per_step); `max_n`
arguments ({name: n}, the commands' --max-n) override a learner's own cap.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

M_IN, O_OUT = 4, 2


# ----------------------------------------------------------------------------------------------------------
# one learner
# ----------------------------------------------------------------------------------------------------------

def bench_learner(name: str, T: int, batch: int = 1, **given):
    """The learner `name` as the benchmark runs it: its class's bench settings (Learner.bench_params),
    overridden by `given`; ValueError for an unknown learner or hyperparameter."""
    from .algorithms import LEARNERS, make_learner
    params = {**(LEARNERS[name].bench_params(T) if name in LEARNERS else {}), **given}
    if batch > 1:
        params["batch"] = batch
    return make_learner(name, **params)


def fits(name: str, learner, model, max_n: dict | None = None) -> bool:
    """Whether `learner` (registered as `name`) is timed on `model`: under the cap given for its name in
    `max_n` when there is one, else by the learner's own Learner.bench_fits (its max_n, and any memory limit).
    Never on a model the learner does not train (Learner.supports)."""
    if learner.supports(model):
        return False
    if max_n and name in max_n:
        return model.n_hidden <= max_n[name]
    return learner.bench_fits(model)


def time_learner(model, learner, T: int = 100, min_seconds: float = 0.2, repeats: int = 5, seed: int = 0):
    """Median microseconds per time step of `learner.train` on a random sequence of T steps, and the
    learner state's size. The sequence is trained on again and again (the state carries over). For a
    minibatch learner, per step of one sequence (the batch's time divided by B)."""
    from .optim import sgd
    from .tasks.base import Chunk
    rng = np.random.default_rng(seed)
    B = learner.batch_size
    lead = (B, T) if B > 1 else (T,)
    chunk = Chunk.make(rng.normal(size=lead + (model.n_in,)), rng.normal(size=lead + (model.n_out,)))
    theta = model.init_params(seed)
    theta0 = theta.copy()
    t0 = time.perf_counter()
    state = learner.init(model, theta, sgd(1e-4))
    learner.train(model, theta, state, chunk)
    warm_s = time.perf_counter() - t0
    peak_mb = _peak_mb(lambda: learner.train(model, theta, learner.init(model, theta, sgd(1e-4)), chunk))

    def call():
        np.copyto(theta, theta0)  # O(P), against the call's T steps of at least O(P) each
        learner.train(model, theta, state, chunk)

    one = _time_calls(call, 1)
    calls = max(1, int(min_seconds / max(one, 1e-9)))
    times = [_time_calls(call, calls) for _ in range(repeats)]
    return {"us_per_step": 1e6 * float(np.median(times)) / (T * B), "us_per_step_min": 1e6 * min(times) / (T * B),
            "state_mb": learner.state_bytes(state) / 2 ** 20, "peak_mb": peak_mb, "warmup_s": warm_s}


def _peak_mb(fn):
    """Peak memory allocated through Python's allocators (numpy's arrays) while fn runs, in MiB: a fresh
    learner state and one chunk, compiled code already loaded (the kernels allocate nothing themselves)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def _time_calls(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def blas_limit(threads):
    """Every BLAS of the process on `threads` threads inside a with block (threadpoolctl)."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=threads, user_api="blas")


# ----------------------------------------------------------------------------------------------------------
# a fresh process
# ----------------------------------------------------------------------------------------------------------

_COLD_SCRIPT = r"""
import time, sys
t0 = time.perf_counter()
import numpy as np
from rnnlearn.timing import bench_learner
from rnnlearn.models import make_model
from rnnlearn.tasks import Chunk
from rnnlearn.optim import sgd
t_import = time.perf_counter() - t0
x = np.zeros((3, 4)); y = np.zeros((3, 2))
for model_name in sys.argv[1].split(","):
    model = make_model(model_name, n_in=4, n_hidden=4, n_out=2)
    for name in sys.argv[2].split(","):
        L = bench_learner(name, 3)
        th = model.init_params(0)
        L.train(model, th, L.init(model, th, sgd(1e-3)), Chunk.make(x, y))
    model.forward(th, x)
print(t_import, time.perf_counter() - t0)
"""


def cold_start_seconds(models, learners) -> dict:
    """Seconds for a fresh process to import rnnlearn and run every (model, learner) once: first with an
    empty numba cache (compiling everything), then again with the cache the first process wrote."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold_compile_s", "cached_start_s"):
            res = subprocess.run([sys.executable, "-c", _COLD_SCRIPT, ",".join(models), ",".join(learners)],
                                 env=env, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"cold-start probe failed: {res.stderr.strip().splitlines()[-1:]}")
            out[label] = float(res.stdout.split()[-1])
    return out


# ----------------------------------------------------------------------------------------------------------
# the benchmark's rows
# ----------------------------------------------------------------------------------------------------------

def spec_label(name: str, params: dict) -> str:
    return name + (":" + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")


def bench_rows(models, learners, sizes, T=100, threads=1, min_seconds=0.2, repeats=5, compare=(), max_n=None,
               progress=print, batches=(1,)):
    """All rows of the benchmark as dicts: one per model, learner spec (name, given params), n and batch that
    the learner's class says fits (or `max_n` {name: n}); then the rows of each reference framework in
    `compare` (rnnlearn.references). Batches > 1 only for Minibatch learners."""
    from .algorithms import Minibatch
    from .models import make_model
    rows = []
    with blas_limit(threads):
        for model_name in models:
            for name, given in learners:
                for n in sizes:
                    for B in batches:
                        learner = bench_learner(name, T, 1, **given)
                        if B > 1 and not isinstance(learner, Minibatch):
                            continue
                        model = make_model(model_name, n_in=M_IN, n_hidden=n, n_out=O_OUT)
                        if not fits(name, learner, model, max_n):
                            continue
                        learner = bench_learner(name, T, B, **given)
                        r = time_learner(model, learner, T, min_seconds, repeats)
                        f = learner.flops_per_step(model)
                        row = {"impl": "rnnlearn", "model": model_name, "learner": name, "n": n, "batch": B,
                               "spec": spec_label(name, given), "params": model.n_params, **r,
                               "gflops": (f / r["us_per_step"] / 1e3) if f else None}
                        rows.append(row)
                        progress(format_row(row))
        for framework in compare:
            for row in reference_rows(framework, sizes, threads, max_n):
                rows.append(row)
                progress(format_row(row))
    return rows


def reference_rows(framework, sizes, threads=1, max_n=None):
    """The rows of one framework's references (rnnlearn.references.<framework>.TIMED) at each size, each
    capped by the size cap of the learner it reimplements (or `max_n`) and by its own."""
    from .algorithms import make_learner
    from .models import Elman
    from .references import load
    for algorithm, fn, own_cap in load(framework).TIMED:
        for n in sizes:
            if own_cap is not None and n > own_cap:
                continue
            if not fits(algorithm, make_learner(algorithm), Elman(M_IN, n, O_OUT), max_n):
                continue
            r = fn(n, m=M_IN, o=O_OUT, threads=threads)
            yield {"impl": framework, "model": "elman", "learner": algorithm, "n": n, "batch": 1,
                   "spec": r.get("spec", algorithm), "params": None,
                   "us_per_step": r["us_per_step"], "us_per_step_min": r.get("us_per_step_min"),
                   "state_mb": None, "peak_mb": None, "warmup_s": r.get("first_call_seconds"),
                   "gflops": r.get("gflops")}


HEADER = (f"{'impl':<9} {'model':<10} {'learner':<8} {'n':>5} {'batch':>5} {'us/step':>12} {'GFLOP/s':>8} "
          f"{'state MB':>10} {'peak MB':>10} {'warmup s':>8}")


def format_row(row) -> str:
    g = f"{row['gflops']:.1f}" if row.get("gflops") else "-"
    mb = f"{row['state_mb']:.3f}" if row.get("state_mb") is not None else "-"
    pk = f"{row['peak_mb']:.3f}" if row.get("peak_mb") is not None else "-"
    w = f"{row['warmup_s']:.2f}" if row.get("warmup_s") is not None else "-"
    return (f"{row['impl']:<9} {row['model']:<10} {row['spec']:<8} {row['n']:>5} {row['batch']:>5} "
            f"{row['us_per_step']:>12.2f} {g:>8} {mb:>10} {pk:>10} {w:>8}")


def ratios(rows) -> list[str]:
    """'reference / rnnlearn' speed ratios for every reference row with a matching rnnlearn row (BLAS rows:
    rnnlearn's whole-step GFLOP/s as a share of the BLAS rate)."""
    ours = {(r["learner"], r["n"]): r for r in rows
            if r["impl"] == "rnnlearn" and r["model"] == "elman" and r["batch"] == 1 and r["spec"] == r["learner"]}
    lines = []
    for r in rows:
        key = (r["learner"], r["n"])
        if r["impl"] == "rnnlearn" or key not in ours:
            continue
        if r["impl"] == "blas":
            rate = ours[key]["gflops"]
            if rate:
                lines.append(f"{r['learner']:<6} n={r['n']:<4} blas   {r['gflops']:8.1f} GFLOP/s on the same "
                             f"operation; rnnlearn's whole step {rate:8.1f} GFLOP/s = "
                             f"{100 * rate / r['gflops']:.0f}% of the BLAS rate")
            continue
        mine = ours[key]["us_per_step"]
        ratio = r["us_per_step"] / mine
        verdict = f"rnnlearn is {ratio:.1f}x faster" if ratio >= 1 else f"{r['impl']} is {1 / ratio:.1f}x faster"
        lines.append(f"{r['learner']:<6} n={r['n']:<4} {r['impl']:<6} {r['us_per_step']:10.2f} us  "
                     f"rnnlearn {mine:10.2f} us  ratio {ratio:6.2f}  ({verdict})")
    return lines


def word_lm_line(with_numpy: bool) -> str:
    """The classic tutorial's word language model step (vocabulary 8000, hidden 100, one SGD step on a
    sentence of 20 words), against the tutorial's algorithm in plain numpy in this process."""
    from .experiments.word_lm_step import time_word_lm_step
    ours = time_word_lm_step()
    line = f"\nword LM step (vocabulary 8000, hidden 100, 20 words, SGD): rnnlearn {ours:.2f} ms"
    if with_numpy:
        from .references.numpy_ref import numpy_word_lm_step
        ref = numpy_word_lm_step(vocab=8000, hidden=100, bptt_truncate=4, sentence_len=20)["ms_per_sentence"]
        line += f", numpy tutorial {ref:.2f} ms (ratio {ref / ours:.1f})"
    return line


# ----------------------------------------------------------------------------------------------------------
# the cost sweep (cost.csv, the cost figure)
# ----------------------------------------------------------------------------------------------------------

def check_memory(items) -> None:
    """Refuse (rnnlearn.memory.MemoryLimitError, one line) a timing whose learner state, theta and sequence
    do not fit, before anything is allocated; items: (learner, model, label, T)."""
    from . import memory
    for learner, model, label, T in items:
        need = (memory.learner_state_nbytes(learner, model) + 8 * 4 * model.n_params
                + 8 * T * (model.n_in + model.n_out + model.n_state + 3) * learner.batch_size)
        memory.check(need, f"timing {label} on the {model.name} network of n = {model.n_hidden}")


def cost_sweep(folder, learners=None, sizes=(8, 16, 32, 64, 128, 256), model_name="elman", T=100, T_heavy=20,
               repeats=3, min_seconds=0.2, max_n=None, again=False, log=print) -> int:
    """Time each learner spec (default: every registered learner) at each size it fits (its class's cap, or
    `max_n` {name: n}) with `time_learner` (m = 4 inputs, o = 2 outputs, squared error) and append the rows
    to cost.csv, skipping sizes already measured unless `again`. Learners whose declared time exponent is
    >= 3 run on sequences of T_heavy steps to keep the time down. Returns the number of rows measured."""
    from . import __version__
    from .algorithms import LEARNERS, make_learner
    from .models import make_model
    from .results import COST, COST_COLUMNS, Store
    from .sweep import parse_spec
    learners = list(LEARNERS) if learners is None else learners
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers, got {sizes}")
    store = Store(folder).prepare()
    plan = []
    for spec in learners:
        name, params = parse_spec(spec)
        learner = make_learner(name, **params)
        make_model(model_name, n_in=M_IN, n_hidden=1, n_out=O_OUT)  # an unknown model fails before any timing
        label, display = learner.label(), learner.display_label()
        for n in sizes:
            sized = make_model(model_name, n_in=M_IN, n_hidden=n, n_out=O_OUT)
            te, me = learner.model_cost_exponents(sized)  # RTRL's depends on the model's structure
            if fits(name, learner, sized, max_n):
                plan.append((name, params, label, display, n, float(te), float(me)))
    check_memory([(make_learner(name, **params), make_model(model_name, n_in=M_IN, n_hidden=n, n_out=O_OUT), label,
                   T if te < 3 else T_heavy) for name, params, label, display, n, te, me in plan])
    measured = 0
    with store.lock():
        have = {(r["model"], r["label"], r["n"]) for r in store.read_table(COST, COST_COLUMNS)}
        for name, params, label, display, n, te, me in plan:
            if not again and (model_name, label, n) in have:
                continue
            model = make_model(model_name, n_in=M_IN, n_hidden=n, n_out=O_OUT)
            learner = make_learner(name, **params)
            T_run = T if te < 3 else T_heavy
            with blas_limit(1):
                r = time_learner(model, learner, T_run, min_seconds, repeats)
            row = {"model": model_name, "learner": name, "label": label, "display": display, "n": n,
                   "params": model.n_params,
                   "T": T_run, "us_per_step": r["us_per_step"], "us_per_step_min": r["us_per_step_min"],
                   "state_mb": r["state_mb"], "time_exponent": te, "memory_exponent": me,
                   "version": __version__}
            store.append_rows(COST, COST_COLUMNS, [row])
            measured += 1
            log(f"{label:<22} n={n:<5} {r['us_per_step']:12.2f} us/step {r['state_mb']:12.4f} MB")
    return measured


#: how far a fitted log-log slope may be from the learner's declared exponent and still agree with it (the fit
#: over a few sizes is bent by per-step overheads and cache effects: BPTT's time slope is 1.96, RTRL's 3.87)
SLOPE_TOLERANCE = 0.5


def slope_lines(folder, points=None) -> list[str]:
    """One line per (model, learner) of folder/cost.csv: its fitted log-log time and memory slopes beside its
    declared exponents, and whether they agree within SLOPE_TOLERANCE (none when there is no cost.csv)."""
    from .plots import FIT_POINTS, cost_slopes
    from .results import COST
    if not os.path.exists(os.path.join(folder, COST)):
        return []
    lines = []
    for (model, label), s in sorted(cost_slopes(folder, points or FIT_POINTS).items()):
        (ts, tt, tn), (ms, mt, _) = s["time"], s["memory"]
        rng = f"n={int(tn.min())}..{int(tn.max())}" if len(tn) else ""
        ok = abs(ts - tt) <= SLOPE_TOLERANCE and abs(ms - mt) <= SLOPE_TOLERANCE
        verdict = "agrees with its declaration" if ok else "DIFFERS from its declared exponents"
        lines.append(f"  {model} {label:<22} time slope {ts:5.2f} (theory {tt:g})   memory slope {ms:5.2f} "
                     f"(theory {mt:g})   fit over {rng}: {verdict}")
    return lines
