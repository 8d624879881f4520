"""`rnnlearn compare`: train learners side by side into a results folder (rnnlearn.runner over the sweep of
rnnlearn.sweep, stored by rnnlearn.results), then draw its convergence figures (rnnlearn.plots)."""
from __future__ import annotations

import argparse
import os
import sys

from rnnlearn.cli.options import sweep_settings

DEFAULT_OUT = os.path.join("results", "compare")

COMPARE_HELP = """\
Train learners side by side and store every evaluation in a results folder (results.csv, runs.jsonl), then
draw the convergence figures there. With no options it runs the embedded default comparison
(rnnlearn/defaults.toml): BPTT, truncated BPTT, RTRL and the EKF on the add task, Elman network of 32
units, 3 seeds, 20,000 steps each.

Specs are name:key=value,...; a learner spec may set its own optimizer with optimizer=, lr= and clip=, e.g.
  rnnlearn compare --learners bptt:window=20 tbptt:k1=1,k2=10,lr=0.01 rtrl:lr=0.03 --sizes 16 32
Rerunning a command skips the runs already in the folder and finishes the rest (an interrupted sweep loses
no finished run). Results from different settings accumulate in one folder; the figures show them all.
"""


def run(args) -> int:
    from rnnlearn import memory, runner
    from rnnlearn.sweep import Sweep, check_command_settings, expand
    from rnnlearn.results import Store
    settings = sweep_settings(args)
    cores = runner.default_jobs()
    command = check_command_settings(settings, DEFAULT_OUT, cores)   # the file's and the options' alike
    out, jobs = command["out"], command["jobs"]
    log = (lambda *a, **k: None) if args.quiet else (lambda msg: print(msg, flush=True))
    if jobs > cores and not args.dask:
        log(f"running {cores} processes at a time, not {jobs}: this machine has {cores} cores "
            "(runs are single-threaded)")
        jobs = cores
    if jobs > 1 and not args.dask and not args.dry_run:
        runner.prestart_workers(jobs)   # their start-up overlaps the checks below
    sweep = Sweep.from_settings(settings)
    configs = expand(sweep)
    if args.tuned:   # every learner's tuned setting, or one line naming the first that has none
        from rnnlearn.tune import apply_tuned
        configs = apply_tuned(configs, args.tuned)
        log(f"tuned settings from {os.path.join(args.tuned, 'tuned.json')}")
    if args.dry_run:
        est = memory.sweep_estimate(configs, jobs)
        done = Store(out).finished() if os.path.isdir(out) else {}
        for c in configs:
            h = c.hash()
            print(f"{h}  {'done' if h in done else 'todo':<4}  {memory.format_bytes(est['per_run'][h]):>9}  "
                  f"{c.describe()}  {c.optimizer_label}")
        limit, where = memory.available()
        print(f"memory: largest run {memory.format_bytes(est['largest'])} ({est['largest_run']}); "
              f"{est['jobs']} at a time with the list of configs: {memory.format_bytes(est['peak'])}; "
              f"available {memory.format_bytes(limit) if limit is not None else 'unknown'} ({where})")
        if limit is not None and memory.sweep_estimate(configs, 1)["peak"] > limit:
            raise memory.MemoryLimitError(f"the largest run, {est['largest_run']}, needs about "
                                          f"{memory.format_bytes(est['largest'])}, more than the "
                                          f"{memory.format_bytes(limit)} available ({where})")
        return 0
    if not args.dask:
        jobs, _ = memory.fit_jobs(configs, jobs, log)
    else:
        memory.check(memory.sweep_estimate(configs, 1)["largest"], "the largest run of the sweep")
    store = Store(out).prepare()
    if not args.quiet:
        print(f"rnnlearn compare: {len(configs)} runs ({_shape(configs)}) -> {store.folder}", flush=True)
    if args.config:   # what `rnnlearn report` quotes from this folder
        from rnnlearn.report import keep_config
        keep_config(out, args.config)
    preload = _preload_plots() if not args.no_plot else None
    summary = runner.run_sweep(configs, out, jobs=jobs, dask=args.dask,
                               save_models=command["save_models"],
                               progress=not args.quiet, log=log)
    if summary.interrupted:
        print(f"rnnlearn compare: {'terminated' if summary.terminated else 'interrupted'}; {summary.ran} "
              f"finished runs are kept in {store.folder}. Run the same command again to finish the rest.",
              file=sys.stderr)
        return 143 if summary.terminated else 130
    if summary.ran:
        log(summary.line())
    if not args.no_plot and (summary.ran or not _has_figures(out)):
        from rnnlearn.plots import alignment_figures, convergence_figures
        if preload is not None:
            preload.join()   # matplotlib is not thread-safe: the warm-up's figure is finished first
        for p in convergence_figures(out, log=log) + (alignment_figures(out, log=log) if sweep.alignment else []):
            log(f"wrote {p}")
    if summary.failed:
        print(f"rnnlearn compare: {summary.failed} of {summary.ran} runs failed: their reasons are in "
              f"{store.path('runs.jsonl')}; a rerun retries them", file=sys.stderr)
        return 3
    return 0


def _preload_plots():
    """Import matplotlib and draw a first figure in a thread while the workers train (the parent only waits
    then), so the figures at the end do not pay for it (rnnlearn.plots.warm_up)."""
    import threading

    def load():
        try:
            from rnnlearn.plots import warm_up
            warm_up()
        except Exception:  # noqa: BLE001 - the figures at the end report any real problem
            pass
    thread = threading.Thread(target=load, name="rnnlearn-preload-plots", daemon=True)
    thread.start()
    return thread


def _shape(configs) -> str:
    k = lambda f: len({f(c) for c in configs})  # noqa: E731
    return (f"{k(lambda c: c.task.name)} task x {k(lambda c: c.model.name)} model x "
            f"{k(lambda c: c.n_hidden)} size x "
            f"{k(lambda c: (c.label, c.optimizer_label))} learner x {k(lambda c: c.seed)} seed")


def _has_figures(folder) -> bool:
    return any(f.startswith("convergence_") and f.endswith(".png") for f in os.listdir(folder))


def add_parser(sub):
    p = sub.add_parser("compare", help="train learners side by side and store the results",
                       description=COMPARE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to run (default: rnnlearn/defaults.toml)")
    from rnnlearn.sweep import shipped_configs
    g.add_argument("--config", metavar="FILE.toml|NAME", help="settings from a TOML file, or the name of a "
                   f"shipped experiment (rnnlearn/experiments/NAME.toml: {', '.join(shipped_configs())}), with "
                   "the same keys as these options: tasks, models, learners, sizes, seeds, steps, eval_every, "
                   "optimizer, lr, clip, out, jobs, save_models, and groups (tables of these keys, each a sweep "
                   "of its own: the runs are their union); options given here win. Its [[quote]] tables are what "
                   "`rnnlearn report DIR` prints")
    g.add_argument("--tasks", nargs="+", metavar="SPEC", help="tasks, e.g. add add:t1=3,t2=6 (see rnnlearn list)")
    g.add_argument("--models", nargs="+", metavar="SPEC", help="models, e.g. elman")
    g.add_argument("--learners", nargs="+", metavar="SPEC",
                   help="learners with hyperparameters, e.g. bptt:window=20 tbptt:k1=1,k2=10 rtrl ekf")
    g.add_argument("--sizes", nargs="+", metavar="N", help="hidden units n, e.g. 16 32 64")
    g.add_argument("--seeds", metavar="K|LIST", help="number of seeds (0..K-1) or a list 0,5,7")
    g.add_argument("--steps", type=int, metavar="N", help="training steps per run")
    g.add_argument("--eval-every", type=int, metavar="N", help="steps between test evaluations")
    g.add_argument("--optimizer", choices=["sgd", "momentum", "adam"],
                   help="optimizer of the gradient learners (the EKF makes its own update)")
    g.add_argument("--lr", type=float, help="learning rate (default: each learner's, see defaults.toml)")
    g.add_argument("--clip", type=float, help="clip the gradient norm to this before the step")
    g.add_argument("--tuned", metavar="DIR", help="run each learner at the setting `rnnlearn tune --out DIR` "
                   "chose for it on the same task, model and size (DIR/tuned.json); exit 2 naming a learner "
                   "DIR has none for")
    a = p.add_argument_group("gradient alignment (rnnlearn.alignment; Marschall, Cho and Savin 2020)")
    a.add_argument("--alignment", nargs="?", const="10", metavar="W",
                   help="train in windows of W steps (default 10) with passive learners beside each learner on its "
                        "trajectory, and record the cosine and norm ratio of every pair's summed gradients "
                        "(alignment.csv; figures alignment_*.png)")
    a.add_argument("--align-with", nargs="+", metavar="SPEC",
                   help="the passive learners (default: rtrl, the exact online gradient; the first is the "
                        "reference of the alignment figure); several give the matrix of pairwise alignments")
    h = p.add_argument_group("how to run")
    h.add_argument("--out", metavar="DIR", help=f"results folder (default: {DEFAULT_OUT})")
    h.add_argument("--jobs", type=int, metavar="N",
                   help="local processes running runs side by side (default: the number of CPU cores: runs are "
                        "independent and single-threaded)")
    h.add_argument("--dask", metavar="ADDRESS", help="send the runs to the Dask distributed scheduler at "
                   "ADDRESS (pip install 'rnnlearn[dask]'); same results as a local run")
    h.add_argument("--save-models", action="store_true",
                   help="save each finished run's parameters to DIR/models/RUN.npz (for rnnlearn sample)")
    h.add_argument("--no-plot", action="store_true", help="do not draw the convergence figures")
    h.add_argument("--dry-run", action="store_true", help="list the runs (done or to do) and stop")
    h.add_argument("--quiet", "-q", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=run)
