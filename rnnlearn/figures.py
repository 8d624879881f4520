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
mcs_study.png, mcs_alignment.png, mcs_profiles.png
                        Marschall, Cho and Savin (2020) rerun (rnnlearn/experiments/mcs_study.toml): every
                        learner tuned per task at `MCS_TUNING` (8 trials of one seed, 100,000 steps), rerun
                        with 20 seeds on add (6, 10) Elman, add (5, 7) leaky alpha = 0.5 and Mimic; the
                        pairwise gradient alignment of the approximations on RTRL's trajectory (add (6, 10),
                        5 seeds, windows of 10 steps); the time-to-target profiles over the three problems
                        (`MCS_TARGETS`). About 12 minutes on 2 cores.
copy_lru.png, copy_target.png
                        the copy task on the LRU (rnnlearn/experiments/copy_lru.toml): success rate (final
                        recall accuracy >= 0.9) against the delay of RTRL, truncated BPTT (window 10) and BPTT
                        over whole sequences, two initialisations, 5 seeds; and (copy_target.toml) steps and
                        learner seconds to a test cross-entropy of 0.05 at delay 10 of Elman+RTRL, LRU+RTRL and
                        LRU+BPTT, 5 seeds. Same as `rnnlearn compare --config copy_lru --out DIR` and
                        `rnnlearn compare --config copy_target --out DIR2`, then `rnnlearn report` of each.
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


#: the budget of the Marschall-Cho-Savin study (rnnlearn/experiments/mcs_study.toml): trials per learner and
#: task, seeds per trial; the best setting rerun with the config's 20 seeds
MCS_TUNING = {"trials": 8, "trial_seeds": 1}
#: the targets of the study's performance profiles: add, between the optimum 0.454 and learning the first lag
#: only (0.519); Mimic, a squared error of 0.2 (predicting the mean: 3.24)
MCS_TARGETS = {"add": 0.47, "mimic": 0.2}
#: the learners run side by side on RTRL's trajectory for the alignment matrix (update period 1 or 10: the
#: window of 10 steps covers one update of each; FSS's period is n = 32 steps, so it is left out)
MCS_ALIGNED = ["tbptt:k1=10,k2=10", "uoro", "kf_rtrl", "rkf_rtrl", "snap:n=1", "rflo", "eprop", "kernl", "dni"]


def mcs_study(results, figures, jobs, log):
    """The Marschall-Cho-Savin study: every learner tuned per task (rnnlearn tune), rerun with 20 seeds, the
    final losses drawn per task; and the pairwise alignment of the approximations on RTRL's trajectory on the
    add task (6, 10), with each learner's cosine with RTRL beside its final loss."""
    from . import runner
    from .plots import alignment_data, alignment_matrix_figure, final_loss_figure
    from .sweep import Sweep, expand, load_settings
    from .tune import tune
    settings = {k: v for k, v in load_settings("mcs_study").items() if k not in ("out", "jobs", "quote",
                                                                                 "description")}
    configs = expand(Sweep.from_settings(settings))
    s = tune(configs, results, trials=MCS_TUNING["trials"], trial_seeds=MCS_TUNING["trial_seeds"],
             seeds=Sweep.from_settings(settings).seed_list(), jobs=jobs, progress=True, log=log)
    if s.interrupted:
        raise KeyboardInterrupt
    from .plots import profile_figure
    paths = [profile_figure(results, os.path.join(figures, "mcs_profiles.png"), targets_by_task=MCS_TARGETS),
             final_loss_figure(results, os.path.join(figures, "mcs_study.png"),
                               title="Marschall, Cho and Savin (2020) rerun: final test loss after 100,000 steps, "
                                     "n = 32, each learner at its tuned SGD rate; median (dot), range (bar) over "
                                     "20 seeds")]
    aligned = os.path.join(os.path.dirname(os.fspath(results)), "mcs_alignment")
    sweep = Sweep.from_settings(dict(settings, groups=None, tasks=["add:t1=6,t2=10"], models=["elman"],
                                     learners=["rtrl"], seeds=5, alignment={"window": 10,
                                                                           "with": ["rtrl"] + MCS_ALIGNED}))
    a = runner.run_sweep(expand(sweep), aligned, jobs=jobs, progress=True, log=log)
    if a.interrupted:
        raise KeyboardInterrupt
    for key, groups in alignment_data(aligned).items():
        for g in groups.values():
            paths.append(alignment_matrix_figure(key, g, os.path.join(figures, "mcs_alignment.png")))
    return paths


def vanishing_gradient(results, figures, jobs, log):
    from .plots import vanishing_figure
    from .vanishing import DEFAULT_RHOS, vanishing_data
    vanishing_data(results, DEFAULT_RHOS, 64, 100, 20)
    return [vanishing_figure(results, os.path.join(figures, "vanishing_gradient.png"))]


#: the copy experiments' success threshold (final symbols_correct) and target (test cross-entropy, nats)
COPY_SUCCESS = 0.9
COPY_TARGET = 0.05


def _run_config(name, results, jobs, log):
    """Run the shipped sweep config `name` into `results` (its config kept there for `rnnlearn report`)."""
    from . import runner
    from .report import keep_config
    from .sweep import Sweep, expand, load_settings
    s = runner.run_sweep(expand(Sweep.from_settings(load_settings(name))), results, jobs=jobs, progress=True,
                         log=log)
    keep_config(results, name)
    if s.interrupted:
        raise KeyboardInterrupt


def copy_lru(results, figures, jobs, log):
    from .plots import success_figure, target_figure
    delays, target = os.path.join(results, "delays"), os.path.join(results, "target")
    _run_config("copy_lru", delays, jobs, log)
    _run_config("copy_target", target, jobs, log)
    return [success_figure(delays, os.path.join(figures, "copy_lru.png"), "symbols_correct", COPY_SUCCESS,
                           "delay", chance=0.25,
                           title="Copy task (k = 3 of 4 symbols), LRU n = 32, Adam, 100,000 steps: recall "
                                 "accuracy against delay"),
            target_figure(target, os.path.join(figures, "copy_target.png"), COPY_TARGET,
                          title=f"Copy task (k = 3 of 4 symbols, delay 10), n = 32, Adam: steps and learner "
                                f"seconds to a test cross-entropy of {COPY_TARGET:g} nats (chance 1.386)")]


#: name -> function(results folder, figures folder, jobs, log) -> paths written
EXPERIMENTS = {"convergence_add": convergence_add, "cost": cost, "vanishing_gradient": vanishing_gradient,
               "tuning_add": tuning_add, "copy_lru": copy_lru, "mcs_study": mcs_study}


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
