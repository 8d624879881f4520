"""`rnnlearn compare`, `rnnlearn plot`, `rnnlearn cost` and `rnnlearn vanishing`: run comparisons into a
results folder and draw their figures from what is stored there."""
from __future__ import annotations

import os
import sys

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


def _settings_from_args(args) -> dict:
    from .sweep import default_settings, load_settings
    settings = default_settings()
    if args.config:
        own = load_settings(args.config)
        settings.update(own)
    cli = {"tasks": args.tasks, "models": args.models, "learners": args.learners, "sizes": args.sizes,
           "seeds": args.seeds, "steps": args.steps, "eval_every": args.eval_every,
           "optimizer": args.optimizer, "lr": args.lr, "clip": args.clip}
    given = {k: v for k, v in cli.items() if v is not None}
    if "sizes" in given:
        given["sizes"] = _int_list(given["sizes"], "--sizes")
    own = ("optimizer", "lr", "clip", "steps", "eval_every")
    if given.get("learners") is None and any(k in given for k in own):
        # an optimizer or a run length chosen on the command line applies to the learners of the config too
        from .sweep import format_params, parse_spec
        specs = []
        for s in settings.get("learners", []):
            name, params = parse_spec(s)
            for k in own:
                if k in given:
                    params.pop(k, None)
            specs.append(f"{name}:{format_params(params)}" if params else name)
        settings["learners"] = specs
    settings.update(given)
    return settings


def run_compare(args) -> int:
    from . import runner
    from .sweep import Sweep, expand
    from .results import Store
    settings = _settings_from_args(args)
    out = args.out or settings.pop("out", None) or DEFAULT_OUT
    settings.pop("out", None)
    jobs = args.jobs if args.jobs is not None else settings.pop("jobs", None) or runner.default_jobs()
    settings.pop("jobs", None)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}")
    log = (lambda *a, **k: None) if args.quiet else (lambda msg: print(msg, flush=True))
    sweep = Sweep.from_settings(settings)
    configs = expand(sweep)
    if args.dry_run:
        done = Store(out).finished() if os.path.isdir(out) else {}
        for c in configs:
            h = c.hash()
            print(f"{h}  {'done' if h in done else 'todo':<4}  {c.describe()}  {c.optimizer_label}")
        return 0
    store = Store(out).prepare()
    if not args.quiet:
        print(f"rnnlearn compare: {len(configs)} runs ({_shape(configs)}) -> {store.folder}", flush=True)
    if args.config:   # what `rnnlearn report` quotes from this folder
        from .report import keep_config
        keep_config(out, args.config)
    summary = runner.run_sweep(configs, out, jobs=jobs, dask=args.dask,
                               save_models=args.save_models or bool(settings.get("save_models")),
                               progress=not args.quiet, log=log)
    if summary.interrupted:
        print(f"rnnlearn compare: interrupted; {summary.ran} finished runs are kept in {store.folder}. "
              "Run the same command again to finish the rest.", file=sys.stderr)
        return 130
    if summary.ran:
        log(summary.line())
    if not args.no_plot and (summary.ran or not _has_figures(out)):
        from .plots import convergence_figures
        for p in convergence_figures(out):
            log(f"wrote {p}")
    if summary.failed:
        log(f"{summary.failed} runs failed: their reasons are in {store.path('runs.jsonl')}; "
            "a rerun retries them")
    return 0


def _shape(configs) -> str:
    k = lambda f: len({f(c) for c in configs})  # noqa: E731
    return (f"{k(lambda c: c.task.name)} task x {k(lambda c: c.model.name)} model x "
            f"{k(lambda c: c.n_hidden)} size x "
            f"{k(lambda c: (c.label, c.optimizer_label))} learner x {k(lambda c: c.seed)} seed")


def _has_figures(folder) -> bool:
    return any(f.startswith("convergence_") and f.endswith(".png") for f in os.listdir(folder))


def run_plot(args) -> int:
    from .plots import plot_all
    for p in plot_all(args.results_dir, args.out):
        print(f"wrote {p}")
    if args.slopes:
        _print_slopes(args.results_dir)
    return 0


# ----------------------------------------------------------------------------------------------------------
# cost
# ----------------------------------------------------------------------------------------------------------

def _parse_max_n(text) -> dict:
    from .sweep import parse_value
    out = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, eq, value = item.partition("=")
        v = parse_value(value) if eq else None
        if not eq or isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"--max-n: expected learner=N,..., got {item.strip()!r}")
        out[name.strip()] = v
    return out


def cost_sweep(folder, learners, sizes, model_name="elman", T=100, T_heavy=20, repeats=3, min_seconds=0.2,
               max_n=None, again=False, log=print) -> int:
    """Time each learner at each size with rnnlearn.bench.time_learner (m = 4 inputs, o = 2 outputs, squared
    error) and append the rows to cost.csv, skipping sizes already measured unless `again`. Learners whose
    declared time exponent is >= 3 (RTRL, the EKF) run on sequences of T_heavy steps to keep the time down.
    Returns the number of rows measured."""
    from threadpoolctl import threadpool_limits
    from . import __version__
    from .algorithms import make_learner
    from .bench import M_IN, O_OUT, time_learner
    from .models import make_model
    from .results import COST, COST_COLUMNS, Store
    from .sweep import parse_spec
    max_n = {} if max_n is None else max_n
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers, got {sizes}")
    store = Store(folder).prepare()
    plan = []
    for spec in learners:
        name, params = parse_spec(spec)
        learner = make_learner(name, **params)
        make_model(model_name, n_in=M_IN, n_hidden=1, n_out=O_OUT)
        label, display = learner.label(), learner.display_label()
        te, me = learner.cost_exponents()
        cap = max_n.get(name, learner.max_n())
        for n in sizes:
            if cap is None or n <= cap:
                plan.append((name, params, label, display, n, float(te), float(me)))
    measured = 0
    with store.lock():
        have = {(r["model"], r["label"], r["n"]) for r in store.read_table(COST, COST_COLUMNS)}
        for name, params, label, display, n, te, me in plan:
            if not again and (model_name, label, n) in have:
                continue
            model = make_model(model_name, n_in=M_IN, n_hidden=n, n_out=O_OUT)
            learner = make_learner(name, **params)
            T_run = T if te < 3 else T_heavy
            with threadpool_limits(limits=1, user_api="blas"):
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


def run_cost(args) -> int:
    from .plots import cost_figure
    sizes = _int_list(args.sizes, "--sizes")
    k = cost_sweep(args.out, args.learners, sizes, args.model, args.T, args.T_heavy, args.repeats,
                   args.min_seconds, _parse_max_n(args.max_n), args.again)
    if not k:
        print(f"nothing to measure: every size is already in {os.path.join(args.out, 'cost.csv')} "
              "(--again measures them again)")
    path = cost_figure(args.out, os.path.join(args.out, "cost.png"), args.fit_points)
    print(f"wrote {path}")
    _print_slopes(args.out, args.fit_points)
    return 0


def _print_slopes(folder, points=None):
    from .plots import FIT_POINTS, cost_slopes
    from .results import COST
    if not os.path.exists(os.path.join(folder, COST)):
        return
    for (model, label), s in sorted(cost_slopes(folder, points or FIT_POINTS).items()):
        (ts, tt, tn), (ms, mt, _) = s["time"], s["memory"]
        rng = f"n={int(tn.min())}..{int(tn.max())}" if len(tn) else ""
        print(f"  {model} {label:<22} time slope {ts:5.2f} (theory {tt:g})   memory slope {ms:5.2f} "
              f"(theory {mt:g})   fit over {rng}")


def _int_list(values, what):
    from .sweep import parse_value
    out = []
    for v in values if isinstance(values, list) else [values]:
        for part in str(v).split(","):
            if part.strip():
                x = parse_value(part)
                if isinstance(x, bool) or not isinstance(x, int):
                    raise ValueError(f"{what}: expected integers, got {part.strip()!r}")
                if x < 1:
                    raise ValueError(f"{what}: sizes must be positive integers, got {x}")
                out.append(x)
    return out


# ----------------------------------------------------------------------------------------------------------
# vanishing gradient
# ----------------------------------------------------------------------------------------------------------

def vanishing_data(folder, rhos, n_hidden, T, seeds) -> str:
    """Compute the gradient norms and (re)write vanishing.csv in `folder` (cheap and deterministic)."""
    from .results import VANISHING, VANISHING_COLUMNS, Store, csv_text, replace_atomic
    from .vanishing import experiment
    store = Store(folder).prepare()
    rows = experiment(rhos, n_hidden, T, seeds)
    with store.lock():
        replace_atomic(store.path(VANISHING), ",".join(VANISHING_COLUMNS) + "\n" + csv_text(rows, VANISHING_COLUMNS))
    return store.path(VANISHING)


def run_vanishing(args) -> int:
    from .plots import vanishing_figure
    from .sweep import parse_value
    rhos = [parse_value(v) for v in args.rhos.split(",") if v.strip()]
    if not rhos or any(isinstance(r, (bool, str)) or r is None or not r > 0 for r in rhos):
        raise ValueError(f"--rhos must be positive numbers, got {args.rhos!r}")
    for name in ("n_hidden", "T", "seeds"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer")
    data = vanishing_data(args.out, rhos, args.n_hidden, args.T, args.seeds)
    print(f"wrote {data}")
    print(f"wrote {vanishing_figure(args.out, os.path.join(args.out, 'vanishing_gradient.png'))}")
    return 0


# ----------------------------------------------------------------------------------------------------------

def add_parser(sub):
    import argparse
    p = sub.add_parser("compare", help="train learners side by side and store the results",
                       description=COMPARE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to run (default: rnnlearn/defaults.toml)")
    g.add_argument("--config", metavar="FILE.toml|NAME", help="settings from a TOML file, or the name of a "
                   "shipped experiment (rnnlearn/experiments/NAME.toml: ekf_vs_rtrl, clockwork_vs_elman, anbncn_lstm, "
                   "char_lm), with the same keys as these options: tasks, models, learners, sizes, seeds, steps, "
                   "eval_every, optimizer, lr, clip, out, jobs, save_models; options given here win. Its [[quote]] "
                   "tables are what `rnnlearn report DIR` prints")
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
    p.set_defaults(func=run_compare)

    p = sub.add_parser("plot", help="redraw the figures of a results folder",
                       description="Redraw every figure a results folder has data for: convergence (results.csv), "
                                   "cost (cost.csv) and vanishing gradient (vanishing.csv). Reads stored results "
                                   "only.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a folder written by compare, cost or vanishing")
    p.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: RESULTS_DIR)")
    p.add_argument("--slopes", action="store_true", help="also print the fitted cost slopes")
    p.set_defaults(func=run_plot)

    p = sub.add_parser("cost", help="time learners at sizes n and draw the cost figure",
                       description="Time each learner per step at each size n (rnnlearn.bench.time_learner), "
                                   "store the rows in DIR/cost.csv (sizes already measured are skipped), and "
                                   "draw DIR/cost.png with each learner's fitted log-log slope beside its "
                                   "theoretical exponent.")
    p.add_argument("--learners", nargs="+", metavar="SPEC", default=["bptt", "tbptt", "rtrl"],
                   help="learner specs (default: bptt tbptt rtrl)")
    p.add_argument("--sizes", nargs="+", default=["8,16,32,64,128,256"], metavar="N",
                   help="hidden units n (default: 8,16,32,64,128,256)")
    p.add_argument("--max-n", default="", metavar="NAME=N,...",
                   help="largest n per learner (default: each learner's own cap, Learner.max_n: rtrl 128, "
                        "ekf 64)")
    p.add_argument("--model", default="elman", help="model (default: elman)")
    p.add_argument("--T", type=int, default=100, help="sequence length of a timed call (default: 100)")
    p.add_argument("--T-heavy", type=int, default=20,
                   help="sequence length for learners of time exponent >= 3, RTRL and EKF (default: 20)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; the median counts (default: 3)")
    p.add_argument("--min-seconds", type=float, default=0.2, help="least time of one repeat (default: 0.2)")
    p.add_argument("--fit-points", type=int, default=3, help="fit slopes over this many largest sizes (default: 3)")
    p.add_argument("--again", action="store_true", help="measure sizes already in cost.csv again")
    p.add_argument("--out", default=os.path.join("results", "cost"), metavar="DIR",
                   help="results folder (default: results/cost)")
    p.set_defaults(func=run_cost)

    p = sub.add_parser("vanishing", help="gradient norm against T - t for spectral radii rho",
                       description="Compute ||dL_T/dh_t|| against T - t for Elman networks whose recurrent matrix "
                                   "has spectral radius rho (Bengio et al. 1994; Pascanu et al. 2013), store "
                                   "DIR/vanishing.csv and draw DIR/vanishing_gradient.png.")
    p.add_argument("--rhos", default="0.8,1.0,1.2", help="spectral radii (default: 0.8,1.0,1.2)")
    p.add_argument("--n-hidden", type=int, default=64, help="hidden units (default: 64)")
    p.add_argument("--T", type=int, default=100, help="sequence length (default: 100)")
    p.add_argument("--seeds", type=int, default=20, help="random networks per rho (default: 20)")
    p.add_argument("--out", default=os.path.join("results", "vanishing"), metavar="DIR",
                   help="results folder (default: results/vanishing)")
    p.set_defaults(func=run_vanishing)
