"""`rnnlearn figures`: every figure in figures/ from a declared set of experiments, reproducibly.

Each experiment writes its data into a results folder (default results/figures/NAME; runs already there are
reused, so a second call only redraws) and its figure into figures/. The experiments:

convergence_add.png     the default comparison (rnnlearn/defaults.toml): BPTT, truncated BPTT (k1 = k2 = 10 and
                        k1 = 1, k2 = 10), RTRL and the EKF on the add task, Elman n = 32, 3 seeds, 20,000 steps.
                        Same as `rnnlearn compare --out DIR` then `rnnlearn plot DIR`.
cost.png                us/step and learner state against n, log-log: BPTT and TBPTT at n = 4..512, RTRL at
                        n = 4..128, EKF at n = 4..64; slopes fitted over each learner's 3 largest sizes.
                        Same as `rnnlearn cost --out DIR --sizes 4,8,...,512 --learners bptt tbptt rtrl ekf`
                        (each learner's own size cap, Learner.max_n).
vanishing_gradient.png  ||dL_T/dh_t|| against T - t for spectral radius 0.8, 1.0, 1.2 (Elman n = 64, T = 100,
                        20 networks). Same as `rnnlearn vanishing --out DIR`.
"""
from __future__ import annotations

import os
import shutil
import time

FIGURES = "figures"
RESULTS = os.path.join("results", "figures")

COST_SIZES = [4, 8, 16, 32, 64, 128, 256, 512]
COST_LEARNERS = ["bptt", "tbptt", "rtrl", "ekf"]


def convergence_add(results, figures, jobs, log):
    from . import runner
    from .sweep import Sweep, default_settings, expand
    from .plots import convergence_figures
    sweep = Sweep.from_settings({k: v for k, v in default_settings().items()
                                        if k not in ("out", "jobs")})
    configs = expand(sweep)
    s = runner.run_sweep(configs, results, jobs=jobs, progress=True, log=log)
    if s.interrupted:
        raise KeyboardInterrupt
    return convergence_figures(results, figures, name="convergence_add.png")


def cost(results, figures, jobs, log):
    from .algorithms import LEARNERS
    from .compare import cost_sweep, _print_slopes
    from .plots import cost_figure
    learners = [l for l in COST_LEARNERS if l in LEARNERS]
    cost_sweep(results, learners, COST_SIZES, log=log)
    _print_slopes(results)
    return [cost_figure(results, os.path.join(figures, "cost.png"))]


def vanishing_gradient(results, figures, jobs, log):
    from .compare import vanishing_data
    from .plots import vanishing_figure
    from .vanishing import DEFAULT_RHOS
    vanishing_data(results, DEFAULT_RHOS, 64, 100, 20)
    return [vanishing_figure(results, os.path.join(figures, "vanishing_gradient.png"))]


#: name -> function(results folder, figures folder, jobs, log) -> paths written
EXPERIMENTS = {"convergence_add": convergence_add, "cost": cost, "vanishing_gradient": vanishing_gradient}


def run(args) -> int:
    from .runner import default_jobs
    names = args.only or list(EXPERIMENTS)
    for n in names:
        if n not in EXPERIMENTS:
            raise ValueError(f"unknown figure experiment {n!r}; choose from {', '.join(EXPERIMENTS)}")
    jobs = args.jobs or default_jobs()
    if jobs < 1:
        raise ValueError("--jobs must be a positive integer")
    os.makedirs(args.out, exist_ok=True)
    for n in names:
        folder = os.path.join(args.results, n)
        if args.fresh and os.path.isdir(folder):
            shutil.rmtree(folder)
        t0 = time.time()
        print(f"== {n} (data in {folder})", flush=True)
        for p in EXPERIMENTS[n](folder, args.out, jobs, lambda m: print(m, flush=True)):
            print(f"wrote {p}")
        print(f"== {n}: {time.time() - t0:.0f} s", flush=True)
    return 0


def add_parser(sub):
    import argparse
    p = sub.add_parser("figures", help="regenerate every figure in figures/ from its declared experiment",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=FIGURES, metavar="DIR", help=f"where the PNGs go (default: {FIGURES})")
    p.add_argument("--results", default=RESULTS, metavar="DIR",
                   help=f"where the experiments' data go, one folder each (default: {RESULTS})")
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"only these: {', '.join(EXPERIMENTS)}")
    p.add_argument("--jobs", type=int, help="local processes for the training runs (default: CPU cores)")
    p.add_argument("--fresh", action="store_true", help="delete the experiments' stored data first")
    p.set_defaults(func=run)
