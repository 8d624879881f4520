"""`rnnlearn tune`: the same budget of trials for every learner over its declared search space, the best
setting rerun with several seeds (rnnlearn.tune), then the tuning figures (rnnlearn.plots)."""
from __future__ import annotations

import argparse
import os
import sys

from rnnlearn.cli.options import sweep_settings

DEFAULT_OUT = os.path.join("results", "tune")
DEFAULT_TRIALS = 20

TUNE_HELP = """\
Tune every learner with the same budget of trials over the hyperparameters its class declares
(Learner.search_space: the learning rate for gradient learners, log-uniform over three decades around its
default; P0, R and Q for the EKF), scored on the held-out loss at the end of the run (--score final) or on the
steps to a target loss (--score time, a miss counts as infinity). The trials' settings are quasi-random
(Optuna's QMCSampler, scrambled Sobol with a fixed seed; trial 0 is the learner's default setting), fixed by
trial number: the same command gives the same chosen settings, and a killed command, run again, loses no
trial and repeats none. Each learner's best setting is then rerun with --seeds seeds, and written to
DIR/tuned.json for `rnnlearn compare --tuned DIR`. No pruning (every trial runs its full length).

What to tune is given as to `rnnlearn compare` (default: its default comparison, rnnlearn/defaults.toml); a
value a learner spec gives to a tuned key (lr=0.01) is replaced by the tuned one. Example:
  rnnlearn tune --learners rtrl uoro --trials 20 --steps 20000 --seeds 3 --target 0.47
"""


def run(args) -> int:
    from rnnlearn import runner
    from rnnlearn.sweep import Sweep, check_command_settings, expand
    from rnnlearn.tune import parse_targets, tune
    settings = sweep_settings(args)
    cores = runner.default_jobs()
    command = check_command_settings(settings, DEFAULT_OUT, cores)
    out, jobs = command["out"], min(command["jobs"], cores)
    sweep = Sweep.from_settings({k: v for k, v in settings.items() if k not in ("out", "jobs", "save_models",
                                                                             "description", "quote")})
    seeds = sweep.seed_list()          # the reruns' seeds
    sweep.seeds = [0]
    configs = expand(sweep)
    targets = parse_targets(args.target)
    log = (lambda *a, **k: None) if args.quiet else (lambda msg: print(msg, flush=True))
    s = tune(configs, out, trials=args.trials, seeds=seeds, trial_seeds=args.trial_seeds, score=args.score,
             targets=targets, jobs=jobs, progress=not args.quiet, log=log)
    if s.interrupted:
        print(f"rnnlearn tune: {'terminated' if s.terminated else 'interrupted'}; every finished run is kept in "
              f"{out}. Run the same command again to finish the rest.", file=sys.stderr)
        return 143 if s.terminated else 130
    if s.trials_failed:
        print(f"rnnlearn tune: {s.trials_failed} trials have failed runs (their reasons are in "
              f"{os.path.join(out, 'trials', 'runs.jsonl')}); a rerun retries them", file=sys.stderr)
        return 3
    _report(s, out, seeds, log)
    if not args.no_plot:
        from rnnlearn.plots import tuning_figures
        for p in tuning_figures(out, log=log):
            log(f"wrote {p}")
    if s.failed_reruns:
        print(f"rnnlearn tune: {s.failed_reruns} reruns failed: their reasons are in "
              f"{os.path.join(out, 'runs.jsonl')}; a rerun retries them", file=sys.stderr)
        return 3
    return 0


def _report(s, out, seeds, log) -> None:
    """One line per chosen setting, with its trial's score and its reruns' final losses."""
    import numpy as np
    from rnnlearn.results import Store
    manifest = Store(out).manifest()
    log(f"rnnlearn tune: chosen settings ({s.chosen[0]['trials']} trials each, score {s.chosen[0]['score']}; "
        f"reruns with seeds {','.join(map(str, seeds))}) -> {os.path.join(out, 'tuned.json')}")
    for e in s.chosen:
        finals = [manifest.get(h, {}).get("final_test_loss") for h in e["runs"]]
        finals = np.array([np.nan if v is None else v for v in finals], dtype=float)
        val = f"{e['value']:.4g}" if e["score"] == "final" else f"{e['value']:g} steps"
        rer = (f"reruns: median {np.nanmedian(finals):.4f}, range {np.nanmin(finals):.4f}-{np.nanmax(finals):.4f}"
               if np.isfinite(finals).any() else "reruns: all diverged")
        params = ", ".join(f"{k}={v:.3g}" for k, v in e["params"].items())
        log(f"  {e['task']['name']} {e['model']} n={e['n_hidden']}  {e['label']:<40} {params:<32} "
            f"trial {e['trial']:>3}: {val};  {rer}")


def add_parser(sub):
    p = sub.add_parser("tune", help="tune every learner with the same budget of trials",
                       description=TUNE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to tune (default: rnnlearn/defaults.toml, as compare)")
    g.add_argument("--config", metavar="FILE.toml|NAME", help="settings from a TOML file or a shipped experiment, "
                   "as for rnnlearn compare; options given here win")
    g.add_argument("--tasks", nargs="+", metavar="SPEC", help="tasks, e.g. add add:t1=3,t2=6")
    g.add_argument("--models", nargs="+", metavar="SPEC", help="models, e.g. elman")
    g.add_argument("--learners", nargs="+", metavar="SPEC", help="learners, e.g. bptt:window=20 rtrl uoro ekf")
    g.add_argument("--sizes", nargs="+", metavar="N", help="hidden units n, e.g. 32")
    g.add_argument("--steps", type=int, metavar="N", help="training steps of every trial and rerun")
    g.add_argument("--eval-every", type=int, metavar="N", help="steps between test evaluations")
    g.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], help="optimizer of the gradient learners")
    g.add_argument("--clip", type=float, help="clip the gradient norm to this before the step")
    t = p.add_argument_group("the search")
    t.add_argument("--trials", type=int, default=DEFAULT_TRIALS, metavar="N",
                   help=f"trials per learner, the same for every learner (default {DEFAULT_TRIALS})")
    t.add_argument("--trial-seeds", type=int, default=1, metavar="S",
                   help="seeds each trial trains (its value: their mean; default 1)")
    t.add_argument("--seeds", metavar="K|LIST", help="seeds the best setting is rerun with (default: the config's, 3)")
    t.add_argument("--score", choices=["final", "time"], default="final",
                   help="final: the held-out loss at the end (default); time: the steps to --target")
    t.add_argument("--target", nargs="+", metavar="LOSS|TASK=LOSS",
                   help="target test loss, for every task or per task (add=0.47): --score time scores by it, and "
                        "the performance profiles are drawn to it")
    h = p.add_argument_group("how to run")
    h.add_argument("--out", metavar="DIR", help=f"tuning folder (default: {DEFAULT_OUT})")
    h.add_argument("--jobs", type=int, metavar="N", help="local processes running trials side by side "
                   "(default: the number of CPU cores)")
    h.add_argument("--no-plot", action="store_true", help="do not draw the tuning figures")
    h.add_argument("--quiet", "-q", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=run)
