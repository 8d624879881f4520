"""Every figure in figures/ from a declared set of experiments, reproducibly (the `rnnlearn figures` command).

Each experiment writes its data into a results folder (default results/figures/NAME; runs already there are
reused, so a second call only redraws) and its figure into figures/. The experiments:

convergence_add.png     the default comparison (rnnlearn/defaults.toml): BPTT, truncated BPTT (k1 = k2 = 10 and
                        k1 = 1, k2 = 10), RTRL and the EKF on the add task, Elman n = 32, 3 seeds, 20,000 steps.
                        Same as `rnnlearn compare --out DIR` then `rnnlearn plot DIR`.
cost.png                us/step and learner state against n, log-log: every registered learner at n = 4..512,
                        each up to its own size cap (Learner.max_n: `rnnlearn list learners`); slopes fitted
                        over each learner's 3 largest sizes. Same as `rnnlearn cost --out DIR --sizes
                        4,8,...,512`.
lr_sensitivity_add.png, performance_profiles_add.png
                        `rnnlearn tune` of the default comparison's learners (add task, Elman n = 32, 20,000
                        steps) at the budget of `TUNING`: 24 trials per learner of 2 seeds each, the best
                        rerun with seeds 0-2, the profiles to the test loss 0.47. Same as `rnnlearn tune --trials
                        24 --trial-seeds 2 --target 0.47 --out DIR`.
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
    from .plots import cost_figure
    from .timing import cost_sweep, slope_lines
    cost_sweep(results, None, COST_SIZES, log=log)  # every registered learner, each up to its own cap
    for line in slope_lines(results):
        log(line)
    return [cost_figure(results, os.path.join(figures, "cost.png"))]


#: the budget of the tuning behind the default comparison's settings (README)
TUNING = {"trials": 24, "trial_seeds": 2, "seeds": [0, 1, 2], "target": 0.47}


def tuning_add(results, figures, jobs, log):
    from .plots import profile_figure, sensitivity_figure
    from .sweep import Sweep, default_settings, expand
    from .tune import tune
    settings = {k: v for k, v in default_settings().items() if k not in ("out", "jobs")}
    configs = expand(Sweep.from_settings(dict(settings, seeds=[0])))
    s = tune(configs, results, trials=TUNING["trials"], trial_seeds=TUNING["trial_seeds"], seeds=TUNING["seeds"],
             targets={"": TUNING["target"]}, jobs=jobs, progress=True, log=log)
    if s.interrupted:
        raise KeyboardInterrupt
    if s.trials_failed or s.failed_reruns:
        log(f"tuning_add: some runs failed (their reasons are in {results}/trials/runs.jsonl and "
            f"{results}/runs.jsonl); no figures: a rerun retries them")
        return []
    return [sensitivity_figure(results, os.path.join(figures, "lr_sensitivity_add.png")),
            profile_figure(results, os.path.join(figures, "performance_profiles_add.png"))]


def vanishing_gradient(results, figures, jobs, log):
    from .plots import vanishing_figure
    from .vanishing import DEFAULT_RHOS, vanishing_data
    vanishing_data(results, DEFAULT_RHOS, 64, 100, 20)
    return [vanishing_figure(results, os.path.join(figures, "vanishing_gradient.png"))]


#: name -> function(results folder, figures folder, jobs, log) -> paths written
EXPERIMENTS = {"convergence_add": convergence_add, "cost": cost, "vanishing_gradient": vanishing_gradient,
               "tuning_add": tuning_add}


def make_figures(names=None, out=FIGURES, results=RESULTS, jobs=None, fresh=False, log=print) -> list[str]:
    """Run the experiments `names` (default: all), each with its data in results/NAME, drawing their figures
    into `out`; `fresh` deletes their stored data first. Returns the paths written."""
    from .runner import default_jobs
    names = names or list(EXPERIMENTS)
    for n in names:
        if n not in EXPERIMENTS:
            raise ValueError(f"unknown figure experiment {n!r}; choose from {', '.join(EXPERIMENTS)}")
    jobs = jobs or default_jobs()
    if jobs < 1:
        raise ValueError("jobs must be a positive integer")
    os.makedirs(out, exist_ok=True)
    written = []
    for n in names:
        folder = os.path.join(results, n)
        if fresh and os.path.isdir(folder):
            shutil.rmtree(folder)
        t0 = time.time()
        log(f"== {n} (data in {folder})")
        for p in EXPERIMENTS[n](folder, out, jobs, log):
            log(f"wrote {p}")
            written.append(p)
        log(f"== {n}: {time.time() - t0:.0f} s")
    return written
