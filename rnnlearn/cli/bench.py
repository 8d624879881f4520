"""`rnnlearn bench`: microseconds per time step of every learner and model at a range of sizes
(rnnlearn.timing), and, with --compare, of the frameworks' references (rnnlearn.references)."""
from __future__ import annotations

import csv

from rnnlearn.cli import options

DESCRIPTION = """\
Time every learner and model per time step: m = 4 inputs, o = 2 outputs, squared error, sequences of T = 100
steps, batch 1, float64. A "step" is one time step of training: forward, backward (or the RTRL/EKF recursion)
and its share of the parameter update. Each learner runs with its class's bench settings (Learner.bench_params,
e.g. one update per sequence for BPTT, windows of 10 for truncated BPTT) up to its own size cap
(Learner.max_n, see `rnnlearn list learners`; --max-n overrides it).

Times are the median over repeats after a warm-up (compile or cache load, reported apart). BLAS runs on
--threads threads (1 by default, to compare with single-core references). --compare times the same networks
in PyTorch, JAX and plain numpy (rnnlearn.references) in the same command and prints ratios."""


def run(args) -> int:
    from rnnlearn.algorithms import LEARNERS
    from rnnlearn.models import MODELS
    from rnnlearn import references, timing
    sizes = options.csv_list(args.sizes, int, "--sizes")
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--sizes must be positive integers, got {args.sizes!r}")
    if args.T < 1 or args.threads < 1:
        raise ValueError("--T and --threads must be >= 1")
    models = options.csv_list(args.models) if args.models else sorted(MODELS)
    learners = options.learner_specs(args.learners) if args.learners else [(name, {}) for name in sorted(LEARNERS)]
    for m in models:
        if m not in MODELS:
            raise ValueError(f"unknown model {m!r}; choose from {', '.join(sorted(MODELS))}")
    for name, given in learners:
        timing.bench_learner(name, args.T, 1, **given)  # an unknown learner or hyperparameter fails here
    batches = options.csv_list(args.batch, int, "--batch")
    if not batches or min(batches) < 1:
        raise ValueError(f"--batch must be positive integers, got {args.batch!r}")
    max_n = options.max_n(args.max_n)
    from rnnlearn.models import make_model
    from rnnlearn.algorithms import Minibatch
    timing.check_memory([(learner, model, learner.label(), args.T)
                         for name, given in learners for b in batches
                         if b == 1 or issubclass(LEARNERS[name], Minibatch)
                         for m in models for n in sizes
                         for learner in [timing.bench_learner(name, args.T, b, **given)]
                         for model in [make_model(m, n_in=timing.M_IN, n_hidden=n, n_out=timing.O_OUT)]
                         if timing.fits(name, learner, model, max_n) and learner.supports(model) is None])
    compare = options.csv_list(args.compare) if args.compare else []
    for framework in compare:
        references.load(framework)  # an unknown or uninstalled framework fails here, before any timing
    print(f"rnnlearn bench: m={timing.M_IN}, o={timing.O_OUT}, T={args.T}, batch 1, float64, "
          f"BLAS threads={args.threads}")
    if not args.no_cold:
        try:
            cs = timing.cold_start_seconds(models, sorted({name for name, _ in learners}))
            print(f"start-up: first process (empty numba cache) {cs['cold_compile_s']:.1f} s to compile "
                  f"{len(models)} model(s) x {len(learners)} learner(s); next process "
                  f"{cs['cached_start_s']:.2f} s")
        except RuntimeError as exc:  # the timing rows below do not depend on it
            print(f"start-up: not measured ({exc})")
    print(timing.HEADER)
    rows = timing.bench_rows(models, learners, sizes, args.T, args.threads, args.min_seconds, args.repeats,
                             compare, max_n, batches=batches)
    if args.word_lm:
        print(timing.word_lm_line("numpy" in compare))
    if compare:
        print("\nratios (same command, same machine):")
        for line in timing.ratios(rows):
            print("  " + line)
    if args.csv and rows:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {args.csv}")
    return 0


def add_parser(sub):
    import argparse
    p = sub.add_parser("bench", help="time every learner and model per step",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="16,32,64,128", help="hidden sizes n (default: 16,32,64,128)")
    p.add_argument("--models", default=None, help="models to time (default: all)")
    p.add_argument("--learners", nargs="+", default=None, metavar="SPEC",
                   help="learners to time, as names (bptt,rtrl) or specs (ekf:decoupling=node,jacobian=tbptt); "
                   "default: all, with their bench settings")
    p.add_argument("--T", type=int, default=100, help="sequence length (default: 100)")
    p.add_argument("--batch", default="1", help="minibatch sizes, e.g. 1,2,8, for the learners that train on "
                   "minibatches (the Minibatch ones); times are per step of one sequence (default: 1)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default: 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is shown (default: 5)")
    p.add_argument("--min-seconds", type=float, default=0.2, help="least time of one repeat (default: 0.2)")
    p.add_argument("--max-n", default="", metavar="NAME=N,...",
                   help=options.MAX_N_HELP + "; also caps the references of that algorithm")
    p.add_argument("--compare", default="", metavar="FRAMEWORK,...",
                   help="references to time too: torch,jax,numpy (the same networks; torch and jax need "
                   "pip install 'rnnlearn[bench]') and blas (numpy's BLAS on RTRL's and the EKF's dominant "
                   "products)")
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-process compile measurement")
    p.add_argument("--word-lm", action="store_true", help="also time the classic tutorial's word language model "
                   "step (vocabulary 8000, hidden 100, 20 words; with --compare numpy, its numpy version too)")
    p.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    p.set_defaults(func=run)
