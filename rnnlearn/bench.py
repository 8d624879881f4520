"""`rnnlearn bench`: microseconds per time step of every learner and model at a range of sizes.

The network is the one of ../shared/ANCHORS.md: m = 4 inputs, o = 2 outputs, squared error, sequences of
T = 100 steps, batch 1, float64. A "step" is one time step of training: forward, backward (or the RTRL/EKF
recursion) and its share of the parameter update. For BPTT one update covers the whole sequence
(window = T); truncated BPTT uses windows of 10 (k1 = k2 = 10), as the numpy references do.

Times are the median over repeats after a warm-up (compile or cache load, reported apart). BLAS runs on
`--threads` threads (1 by default, to compare with single-core references). `--compare` times the same
networks in PyTorch, JAX and plain numpy (rnnlearn.bench_refs) in the same command and prints ratios.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

M_IN, O_OUT = 4, 2

def make_learner(name: str, T: int, batch: int = 1, **given):
    """The learner `name` as the benchmark runs it: its class's bench settings (Learner.bench_params),
    overridden by `given`."""
    from .algorithms import LEARNERS, make_learner as make
    params = {**(LEARNERS[name].bench_params(T) if name in LEARNERS else {}), **given}
    if batch > 1:
        params["batch"] = batch
    return make(name, **params)


def parse_learners(tokens) -> list[tuple[str, dict]]:
    """Learner specs as on the compare command line ("rtrl", "ekf:decoupling=node,jacobian=tbptt"); a token
    without ":" may also be a comma-separated list of names ("bptt,tbptt,rtrl")."""
    from .sweep import parse_spec
    specs = []
    for token in tokens:
        parts = [token] if ":" in token else [t for t in token.split(",") if t.strip()]
        specs.extend(parse_spec(part) for part in parts)
    return specs


def spec_label(name: str, params: dict) -> str:
    return name + (":" + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")


def time_learner(model, learner, T: int = 100, min_seconds: float = 0.2, repeats: int = 5, seed: int = 0):
    """Median microseconds per time step of `learner.train` on a random sequence of T steps, and the
    learner state's size. The sequence is trained on again and again (the state carries over). For a
    minibatch learner, per step of one sequence (the batch's time divided by B)."""
    from .optim import sgd
    from .tasks.base import Chunk
    rng = np.random.default_rng(seed)
    B = getattr(learner, "batch", 1)
    lead = (B, T) if B > 1 else (T,)
    chunk = Chunk.make(rng.normal(size=lead + (model.n_in,)), rng.normal(size=lead + (model.n_out,)))
    theta = model.init_params(seed)
    t0 = time.perf_counter()
    state = learner.init(model, theta, sgd(1e-4))
    learner.train(model, theta, state, chunk)
    warm_s = time.perf_counter() - t0
    peak_mb = _peak_mb(lambda: learner.train(model, theta, learner.init(model, theta, sgd(1e-4)), chunk))
    one = _time_calls(lambda: learner.train(model, theta, state, chunk), 1)
    calls = max(1, int(min_seconds / max(one, 1e-9)))
    times = [_time_calls(lambda: learner.train(model, theta, state, chunk), calls) for _ in range(repeats)]
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


_COLD_SCRIPT = r"""
import time, sys
t0 = time.perf_counter()
import numpy as np
from rnnlearn.bench import make_learner
from rnnlearn.models import make_model
from rnnlearn.tasks import Chunk
from rnnlearn.optim import sgd
t_import = time.perf_counter() - t0
x = np.zeros((3, 4)); y = np.zeros((3, 2))
for model_name in sys.argv[1].split(","):
    model = make_model(model_name, n_in=4, n_hidden=4, n_out=2)
    for name in sys.argv[2].split(","):
        L = make_learner(name, 3)
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


def _blas_threads(threads):
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=threads, user_api="blas")


def run_bench(models, learners, sizes, T=100, threads=1, min_seconds=0.2, repeats=5, compare=(),
              max_rtrl_n=128, progress=print, batches=(1,)):
    """All rows of the benchmark as dicts (one per model, learner, n, batch; plus reference rows)."""
    from .algorithms import Minibatch
    from .models import make_model
    rows = []
    with _blas_threads(threads):
        for model_name in models:
            for name, given in learners:
                for n in sizes:
                    for B in batches:
                        learner = make_learner(name, T, 1, **given)
                        if B > 1 and not isinstance(learner, Minibatch):
                            continue
                        model = make_model(model_name, n_in=M_IN, n_hidden=n, n_out=O_OUT)
                        cap = learner.max_n()
                        if learner.cost_exponents()[0] >= 4 and max_rtrl_n is not None:
                            cap = max_rtrl_n if cap is None else min(cap, max_rtrl_n)
                        if (cap is not None and n > cap) or not learner.bench_fits(model):
                            continue
                        learner = make_learner(name, T, B, **given)
                        r = time_learner(model, learner, T, min_seconds, repeats)
                        f = learner.flops_per_step(model)
                        row = {"impl": "rnnlearn", "model": model_name, "learner": name, "n": n, "batch": B,
                               "spec": spec_label(name, given), "params": model.n_params, **r,
                               "gflops": (f / r["us_per_step"] / 1e3) if f else None}
                        rows.append(row)
                        progress(_fmt(row))
        for backend in compare:
            for row in _reference_rows(backend, sizes, T, threads, max_rtrl_n):
                rows.append(row)
                progress(_fmt(row))
    return rows


def _blas_rows(sizes, threads, max_rtrl_n):
    """numpy's BLAS on the operations that dominate RTRL (J M) and the EKF (P H and P -= K (P H)^T)."""
    from . import bench_refs as refs
    from .algorithms import EKF, RTRL
    from .models import Elman
    for n in sizes:
        model = Elman(M_IN, n, O_OUT)
        if n <= max_rtrl_n:
            g = refs.blas_matmul_gflops((n, n), (n, model.n_rec), threads=threads)["gflops"]
            yield {"impl": "blas", "model": "elman", "learner": "rtrl", "n": n, "batch": 1, "spec": "J M",
                   "params": None,
                   "us_per_step": RTRL().flops_per_step(model) / g / 1e3, "us_per_step_min": None,
                   "state_mb": None, "peak_mb": None, "warmup_s": None, "gflops": g}
        if n <= EKF().max_n():
            g = refs.blas_rate_for_ekf(model.n_params, O_OUT, threads=threads)["total_gflops"]
            yield {"impl": "blas", "model": "elman", "learner": "ekf", "n": n, "batch": 1, "spec": "P H + update",
                   "params": None,
                   "us_per_step": EKF().flops_per_step(model) / g / 1e3, "us_per_step_min": None,
                   "state_mb": None, "peak_mb": None, "warmup_s": None, "gflops": g}


def _reference_rows(backend, sizes, T, threads, max_rtrl_n):
    if backend == "blas":
        yield from _blas_rows(sizes, threads, max_rtrl_n)
        return
    from . import bench_refs as refs
    fns = {"torch": [("bptt", refs.torch_bptt)],
           "jax": [("bptt", refs.jax_bptt), ("tbptt", refs.jax_tbptt), ("rtrl", refs.jax_rtrl)],
           "numpy": [("bptt", refs.numpy_bptt), ("rtrl", refs.numpy_rtrl)]}
    if backend not in fns:
        raise ValueError(f"--compare: unknown reference {backend!r}; choose from torch, jax, numpy, blas")
    for learner, fn in fns[backend]:
        for n in sizes:
            if learner == "rtrl" and n > (64 if backend == "numpy" else max_rtrl_n):
                continue
            r = fn(n, m=M_IN, o=O_OUT, threads=threads)
            yield {"impl": backend, "model": "elman", "learner": learner, "n": n, "batch": 1, "spec": learner,
                   "params": None,
                   "us_per_step": r["us_per_step"], "us_per_step_min": r.get("us_per_step_min"),
                   "state_mb": None, "peak_mb": None, "warmup_s": r.get("first_call_seconds"), "gflops": None}


def _fmt(row) -> str:
    g = f"{row['gflops']:.1f}" if row.get("gflops") else "-"
    mb = f"{row['state_mb']:.3f}" if row.get("state_mb") is not None else "-"
    pk = f"{row['peak_mb']:.3f}" if row.get("peak_mb") is not None else "-"
    w = f"{row['warmup_s']:.2f}" if row.get("warmup_s") is not None else "-"
    return (f"{row['impl']:<9} {row['model']:<10} {row['spec']:<8} {row['n']:>5} {row['batch']:>5} "
            f"{row['us_per_step']:>12.2f} {g:>8} {mb:>10} {pk:>10} {w:>8}")


HEADER = (f"{'impl':<9} {'model':<10} {'learner':<8} {'n':>5} {'batch':>5} {'us/step':>12} {'GFLOP/s':>8} "
          f"{'state MB':>10} {'peak MB':>10} {'warmup s':>8}")


def ratios(rows) -> list[str]:
    """'reference / rnnlearn' speed ratios for every reference row with a matching rnnlearn row."""
    ours = {(r["learner"], r["n"]): r["us_per_step"] for r in rows
            if r["impl"] == "rnnlearn" and r["model"] == "elman" and r["batch"] == 1 and r["spec"] == r["learner"]}
    rates = {(r["learner"], r["n"]): r["gflops"] for r in rows
             if r["impl"] == "rnnlearn" and r["model"] == "elman" and r["batch"] == 1 and r["gflops"]
             and r["spec"] == r["learner"]}
    lines = []
    for r in rows:
        key = (r["learner"], r["n"])
        if r["impl"] == "blas":
            if key in rates:
                lines.append(f"{r['learner']:<6} n={r['n']:<4} blas   {r['gflops']:8.1f} GFLOP/s on the same "
                             f"operation; rnnlearn's whole step {rates[key]:8.1f} GFLOP/s = "
                             f"{100 * rates[key] / r['gflops']:.0f}% of the BLAS rate")
            continue
        if r["impl"] != "rnnlearn" and key in ours:
            ratio = r["us_per_step"] / ours[key]
            verdict = (f"rnnlearn is {ratio:.1f}x faster" if ratio >= 1
                       else f"{r['impl']} is {1 / ratio:.1f}x faster")
            lines.append(f"{r['learner']:<6} n={r['n']:<4} {r['impl']:<6} {r['us_per_step']:10.2f} us  "
                         f"rnnlearn {ours[key]:10.2f} us  ratio {ratio:6.2f}  ({verdict})")
    return lines


def word_lm_line(with_numpy: bool) -> str:
    """The classic tutorial's word language model step (vocabulary 8000, hidden 100, one SGD step on a
    sentence of 20 words), against the tutorial's algorithm in plain numpy in this process."""
    from .experiments.word_lm_step import time_word_lm_step
    ours = time_word_lm_step()
    line = f"\nword LM step (vocabulary 8000, hidden 100, 20 words, SGD): rnnlearn {ours:.2f} ms"
    if with_numpy:
        from .bench_refs import numpy_word_lm_step
        ref = numpy_word_lm_step(vocab=8000, hidden=100, bptt_truncate=4, sentence_len=20)["ms_per_sentence"]
        line += f", numpy tutorial {ref:.2f} ms (ratio {ref / ours:.1f})"
    return line


def _csv_list(text, kind=str):
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"expected a comma-separated list, got {text!r}") from None


def run(args) -> int:
    from .algorithms import LEARNERS
    from .models import MODELS
    sizes = _csv_list(args.sizes, int)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--sizes must be positive integers, got {args.sizes!r}")
    if args.T < 1 or args.threads < 1:
        raise ValueError("--T and --threads must be >= 1")
    models = _csv_list(args.models) if args.models else sorted(MODELS)
    learners = parse_learners(args.learners) if args.learners else [(name, {}) for name in sorted(LEARNERS)]
    for m in models:
        if m not in MODELS:
            raise ValueError(f"unknown model {m!r}; choose from {', '.join(sorted(MODELS))}")
    for name, given in learners:
        make_learner(name, args.T, 1, **given)  # an unknown learner or hyperparameter fails here, in one line
    compare = _csv_list(args.compare) if args.compare else []
    print(f"rnnlearn bench: m={M_IN}, o={O_OUT}, T={args.T}, batch 1, float64, BLAS threads={args.threads}")
    if not args.no_cold:
        try:
            cs = cold_start_seconds(models, sorted({name for name, _ in learners}))
            print(f"start-up: first process (empty numba cache) {cs['cold_compile_s']:.1f} s to compile "
                  f"{len(models)} model(s) x {len(learners)} learner(s); next process "
                  f"{cs['cached_start_s']:.2f} s")
        except RuntimeError as exc:  # the timing rows below do not depend on it
            print(f"start-up: not measured ({exc})")
    print(HEADER)
    batches = _csv_list(args.batch, int)
    if not batches or min(batches) < 1:
        raise ValueError(f"--batch must be positive integers, got {args.batch!r}")
    rows = run_bench(models, learners, sizes, args.T, args.threads, args.min_seconds, args.repeats, compare,
                     args.max_rtrl_n, batches=batches)
    if args.word_lm:
        print(word_lm_line("numpy" in compare))
    if compare:
        print("\nratios (same command, same machine):")
        for line in ratios(rows):
            print("  " + line)
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {args.csv}")
    return 0


def add_parser(sub):
    p = sub.add_parser("bench", help="time every learner and model per step",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="16,32,64,128", help="hidden sizes n (default: 16,32,64,128)")
    p.add_argument("--models", default=None, help="models to time (default: all)")
    p.add_argument("--learners", nargs="+", default=None, metavar="SPEC",
                   help="learners to time, as names (bptt,rtrl) or specs (ekf:decoupling=node,jacobian=tbptt); "
                   "default: all, with their bench settings")
    p.add_argument("--T", type=int, default=100, help="sequence length (default: 100)")
    p.add_argument("--batch", default="1", help="minibatch sizes for bptt and tbptt, e.g. 1,2,8; times are "
                   "per step of one sequence (default: 1)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default: 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is shown (default: 5)")
    p.add_argument("--min-seconds", type=float, default=0.2, help="least time of one repeat (default: 0.2)")
    p.add_argument("--max-rtrl-n", type=int, default=128, help="largest n for O(n^4) learners (default: 128)")
    p.add_argument("--compare", default="", help="references to time too: torch,jax,numpy (the same networks) "
                   "and blas (numpy's BLAS on RTRL's and the EKF's dominant products)")
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-process compile measurement")
    p.add_argument("--word-lm", action="store_true", help="also time the classic tutorial's word language model "
                   "step (vocabulary 8000, hidden 100, 20 words; with --compare numpy, its numpy version too)")
    p.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    p.set_defaults(func=run)


def main(argv=None):
    from .cli import main as cli_main
    return cli_main(["bench", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
