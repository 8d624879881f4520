"""Tuning: the same budget of trials for every learner over its own search space (Learner.search_space), each
trial a run through rnnlearn.runner, then each learner's best setting rerun with several seeds (the
`rnnlearn tune` command); `rnnlearn compare --tuned DIR` runs with the settings chosen here (`apply_tuned`).

The benchmark suites for training algorithms set the rules: AlgoPerf's equal budget of quasi-random trials
per algorithm and its time-to-target score (a miss counts as infinity); DeepOBS's pick of the best setting by
final performance and its rerun with several seeds.

A tuning folder DIR holds
  optuna.journal  Optuna's journal file storage: one study per (task, model, n, learner less its tuned keys,
                  optimizer less its rate, run length, score): the trials' settings, states and values
  trials/         the trials' runs: a results folder as `rnnlearn compare` writes (results.csv, runs.jsonl)
  results.csv, runs.jsonl   the reruns of each study's best setting with seeds 0..K-1 (a compare folder)
  tuned.json      each study's chosen setting and how it was found (what `compare --tuned DIR` reads)

Determinism. A study's settings are fixed by trial number before any trial runs: Optuna's QMCSampler
(scrambled Sobol, seed SAMPLER_SEED) generates them, trial 0 being the learner's default setting (from which
the sampler takes the search space), and each is enqueued in the journal (`Study.enqueue_trial`: one journal
line), so trial k has the same setting in every process whatever was killed when. Trial k trains seeds
TRIAL_SEED + k S + j, j < S (S = trial_seeds): seeded by its number, apart from the rerun seeds 0..K-1.
Its value: the mean final held-out loss over its seeds ("final"; a diverged run counts as infinity), or the
median number of steps to the target loss ("time"; a miss counts as infinity), ties broken by the final
loss, then by the trial number. The same command twice chooses the same settings.

Resumption. A trial's runs are stored in trials/ as each finishes (atomically, rnnlearn.results) and its
value is told to the study once all of them are there. A command killed with SIGKILL leaves the trials it
was running RUNNING in the journal: the next command takes them up again under their own numbers, trains
only the runs that never finished (the same configs: the same numbers) and tells the same values; no trial
is lost or run twice. A run that failed (an exception, a worker killed) leaves its trial RUNNING too: a
rerun retries it, as `compare` retries failed runs.

No pruning. Successive halving and Hyperband stop a trial by comparison with the trials that have reported
so far, which makes the chosen setting depend on the order in which trials finish when several run at once;
at budgets of tens of short runs the full runs are affordable, and every trial's whole curve is kept.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .results import Store, replace_atomic
from .runconfig import OptimizerSpec, Part, RunConfig, dict_hash

JOURNAL = "optuna.journal"
TRIALS = "trials"
TUNED = "tuned.json"
LOCK = ".rnnlearn-tune.lock"
#: the seed of the scrambled Sobol sequence every study draws its settings from
SAMPLER_SEED = 0
#: trial k trains seeds TRIAL_SEED + k S + j: never the rerun seeds 0..K-1
TRIAL_SEED = 10_000
SCORES = ("final", "time")


# ----------------------------------------------------------------------------------------------------------
# a setting applied to a run config
# ----------------------------------------------------------------------------------------------------------

def space_of(config: RunConfig) -> dict:
    """The learner's search space for this configuration (Learner.search_space)."""
    return config.build_learner().search_space()


def with_params(config: RunConfig, params: dict, seed: int) -> RunConfig:
    """`config` with the hyperparameters `params` (constructor arguments, or "lr": the optimizer's rate) and
    `seed`: the one place a tuned setting becomes a run."""
    from .algorithms import make_learner
    from .sweep import _jsonable
    learner = dict(config.learner.params)
    opt = config.optimizer
    for k, v in params.items():
        if k == "lr":
            if opt is None:
                raise ValueError(f"learner {config.learner.name!r} makes its own update: it takes no lr")
            opt = OptimizerSpec(opt.name, float(v), opt.clip)
        else:
            learner[k] = v
    obj = make_learner(config.learner.name, **learner)
    return RunConfig(task=config.task, model=config.model, learner=Part(config.learner.name,
                     _jsonable(obj.identity_params())), optimizer=opt, seed=int(seed), steps=config.steps,
                     eval_every=config.eval_every)


def untuned(config: RunConfig, space: dict | None = None) -> dict:
    """The config's dict without its seed and the keys its learner's search space tunes."""
    space = space_of(config) if space is None else space
    d = config.to_dict()
    d.pop("seed")
    d["learner"]["params"] = {k: v for k, v in d["learner"]["params"].items() if k not in space}
    if d["optimizer"] is not None and "lr" in space:
        d["optimizer"].pop("lr")
    return d


def lookup_key(config: RunConfig) -> str:
    """What `compare --tuned` matches a run to a tuned setting by: task, model, learner and optimizer, less
    the tuned keys, the seed and the run length."""
    d = untuned(config)
    for k in ("steps", "eval_every"):
        d.pop(k)
    return dict_hash(d)


def base_label(config: RunConfig, space: dict | None = None) -> str:
    """The learner's label less the tuned keys ('ekf(decoupling=node,...)' without r), its optimizer's name
    appended for gradient learners: how figures name a tuned learner across tasks."""
    space = space_of(config) if space is None else space
    cls = config.learner_class()
    params = {k: v for k, v in config.learner.params.items() if k not in space}
    from .algorithms.base import _constructor_params
    defaults = _constructor_params(cls)
    shown = {k: v for k, v in params.items() if k in cls.key_params or v != defaults.get(k)}
    from .sweep import format_params
    label = f"{cls.display_name} ({format_params(shown).replace(',', ', ')})" if shown else cls.display_name
    return label if config.optimizer is None else f"{label}, {config.optimizer.name}"


def default_point(config: RunConfig, space: dict) -> dict:
    """Trial 0: the learner's default setting (class default_lr, constructor defaults), inside the ranges."""
    from .algorithms.base import _constructor_params
    cls = config.learner_class()
    defaults = _constructor_params(cls)
    out = {}
    for k, r in space.items():
        v = float(cls.default_lr if k == "lr" else defaults[k])
        out[k] = min(max(v, r.low), r.high)
    return out


# ----------------------------------------------------------------------------------------------------------
# studies
# ----------------------------------------------------------------------------------------------------------

def _optuna():
    try:
        import optuna
    except ImportError:   # pragma: no cover - a dependency
        raise ValueError("rnnlearn tune needs Optuna: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _distributions(space: dict) -> dict:
    from optuna.distributions import FloatDistribution
    return {k: FloatDistribution(float(r.low), float(r.high), log=bool(r.log)) for k, r in sorted(space.items())}


def _sampler():
    optuna = _optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # QMCSampler is marked experimental
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=SAMPLER_SEED,
                                          warn_independent_sampling=False, warn_asynchronous_seeding=False)


def trial_points(space: dict, first: dict, n: int) -> list[dict]:
    """The settings of trials 0..n-1: `first`, then the scrambled Sobol points of Optuna's QMCSampler in its
    order (drawn in a study in memory: a pure function of the space, `first` and n, and each list a prefix of
    the longer ones)."""
    optuna = _optuna()
    dists = _distributions(space)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # Sobol's balance warning for counts that are not powers of 2
        study = optuna.create_study(sampler=_sampler(), direction="minimize")
        study.enqueue_trial(first)
        out = []
        for _ in range(n):
            t = study.ask(dists)
            out.append({k: float(t.params[k]) for k in dists})
            study.tell(t, 0.0)
    return out


@dataclass
class Study:
    """One learner's tuning on one task, model and size: its base run config (seed 0, the untuned values),
    its search space, its name in the journal and its trials' settings."""

    config: RunConfig
    space: dict
    name: str
    lookup: str
    label: str
    target: float | None
    points: list = field(default_factory=list)
    study: object = None

    def trial_configs(self, number: int, trial_seeds: int) -> list[RunConfig]:
        return [with_params(self.config, self.points[number], TRIAL_SEED + number * trial_seeds + j)
                for j in range(trial_seeds)]


def make_studies(configs: list[RunConfig], score: str, targets: dict, trial_seeds: int) -> list[Study]:
    """A Study per distinct base config; ValueError for a learner with nothing to tune, a time score without
    a target, and the like."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    out, seen = [], set()
    for c in configs:
        space = space_of(c)
        if not space:
            raise ValueError(f"learner {c.label!r} declares no search space: there is nothing to tune")
        target = target_for(c.task, targets)
        if score == "time" and target is None:
            raise ValueError(f"--score time needs a target loss for task {c.task.name!r} (--target LOSS)")
        key = {"base": untuned(c, space), "score": score, "trial_seeds": trial_seeds,
               "target": target if score == "time" else None,
               "space": {k: [r.low, r.high, r.log] for k, r in sorted(space.items())}}
        name = f"{c.task.name}-{c.model.name}-n{c.n_hidden}-{c.learner.name}-{dict_hash(key)}"
        if name in seen:
            continue
        seen.add(name)
        out.append(Study(c, space, name, lookup_key(c), base_label(c, space), target))
    return out


def parse_targets(tokens) -> dict:
    """{task spec or "": loss} from ['0.47'] (every task) or ['add=0.47', 'add:t1=3,t2=6=0.5']."""
    from .sweep import parse_spec, parse_value
    out = {}
    for tok in tokens or []:
        spec, eq, value = str(tok).rpartition("=")
        v = parse_value(value if eq else tok)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"--target: expected a positive loss or TASK=LOSS, got {tok!r}")
        if eq and spec:
            name, params = parse_spec(spec, "task")
            out[_task_key(name, params)] = float(v)
        else:
            out[""] = float(v)
    return out


def _task_key(name, params) -> str:
    from .tasks import make_task
    from .sweep import _jsonable
    return dict_hash(Part(name, _jsonable(make_task(name, **params).params())).to_dict())


def target_for(task: Part, targets: dict) -> float | None:
    return targets.get(dict_hash(task.to_dict()), targets.get(""))


def _repair_journal(path) -> None:
    """Undo what a command killed while writing the journal left (called under the folder's lock, so no other
    rnnlearn process writes it): Optuna's lock file (which it would otherwise wait 30 s to call stale), and a
    last line torn short (the next line appended would run into it)."""
    from optuna.storages.journal import _file
    lock = path + getattr(_file, "LOCK_FILE_SUFFIX", ".lock")
    if os.path.lexists(lock):
        os.unlink(lock)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        fh.truncate(data.rfind(b"\n") + 1)
        fh.flush()
        os.fsync(fh.fileno())


def open_studies(folder, studies: list[Study], n_trials: int) -> None:
    """Create (or load) each study in DIR/optuna.journal and enqueue the settings of its trials up to
    n_trials; ValueError when a stored trial's setting is not the one this rnnlearn draws (another search
    space: use another folder)."""
    optuna = _optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    path = os.path.join(os.fspath(folder), JOURNAL)
    _repair_journal(path)
    storage = JournalStorage(JournalFileBackend(path))
    for s in studies:
        s.points = trial_points(s.space, default_point(s.config, s.space), n_trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(storage=storage, study_name=s.name, sampler=_sampler(),
                                        direction="minimize", load_if_exists=True)
        if "config" not in study.user_attrs:
            study.set_user_attr("config", untuned(s.config, s.space))
            study.set_user_attr("label", s.label)
        trials = study.get_trials(deepcopy=False)
        for t in trials[:n_trials]:
            if t.system_attrs.get("fixed_params") != s.points[t.number]:
                raise ValueError(f"{path}: trial {t.number} of study {s.name} has the setting "
                                 f"{t.system_attrs.get('fixed_params')}, not {s.points[t.number]}: it was made "
                                 "with another search space (tune into another --out folder)")
        for p in s.points[len(trials):]:
            study.enqueue_trial(p)
        s.study = study


def _state(name):
    from optuna.trial import TrialState
    return getattr(TrialState, name)


def pending_trials(s: Study, n_trials: int) -> list[int]:
    """Numbers of the trials below n_trials still to finish: those a killed command left RUNNING, then the
    WAITING ones, started (RUNNING) in order of number."""
    trials = s.study.get_trials(deepcopy=False)
    running = [t.number for t in trials if t.number < n_trials and t.state == _state("RUNNING")]
    waiting = [t.number for t in trials if t.number < n_trials and t.state == _state("WAITING")]
    dists = _distributions(s.space)
    for k in waiting:
        t = s.study.ask(dists)   # pops the lowest-numbered waiting trial, with its enqueued setting
        if t.number != k:
            raise RuntimeError(f"study {s.name}: expected trial {k} next, Optuna started {t.number}")
        running.append(k)
    return sorted(running)


def trial_outcome(runs: list[dict], rows_by_run: dict, target: float | None) -> dict | None:
    """{final_loss, steps_to_target} of a trial from its runs' manifest entries (None while one of them is
    missing or failed): the mean final loss (a diverged run: inf) and the median steps to the target (a
    miss: inf)."""
    if any(r is None or r["status"] == "failed" for r in runs):
        return None
    finals = [float(r["final_test_loss"]) if r["status"] == "done" and r.get("final_test_loss") is not None
              and math.isfinite(r["final_test_loss"]) else math.inf for r in runs]
    out = {"final_loss": float(np.mean(finals))}
    if target is not None:
        out["steps_to_target"] = float(np.median([time_to_target(rows_by_run.get(r["run"], []), target)[0]
                                                  for r in runs]))
    return out


def time_to_target(rows: list[dict], target: float) -> tuple[float, float]:
    """(steps, learner seconds) of the first evaluation at or below `target`; (inf, inf) for a miss."""
    for r in sorted(rows, key=lambda r: r["step"]):
        if math.isfinite(r["test_loss"]) and r["test_loss"] <= target:
            return float(r["step"]), float(r["wall_s"])
    return math.inf, math.inf


def best_trial(s: Study, n_trials: int):
    """The complete trial below n_trials with the lowest (value, final loss, number); None until all are
    complete."""
    trials = [t for t in s.study.get_trials(deepcopy=False) if t.number < n_trials]
    if len(trials) < n_trials or any(t.state != _state("COMPLETE") for t in trials):
        return None
    return min(trials, key=lambda t: (t.value, t.user_attrs.get("final_loss", math.inf), t.number))


# ----------------------------------------------------------------------------------------------------------
# the command's work
# ----------------------------------------------------------------------------------------------------------

@dataclass
class TuneSummary:
    studies: int = 0
    trials_run: int = 0
    trials_failed: int = 0
    chosen: list = field(default_factory=list)   # tuned.json entries of this command's studies
    interrupted: bool = False
    terminated: bool = False
    failed_reruns: int = 0


@contextmanager
def _lock(folder):
    fd = os.open(os.path.join(folder, LOCK), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(f"tuning folder {folder!r} is in use by another rnnlearn tune") from None
        yield
    finally:
        os.close(fd)


def tune(configs: list[RunConfig], folder, *, trials: int, seeds: list[int], trial_seeds: int = 1,
         score: str = "final", targets: dict | None = None, jobs: int = 1, progress: bool = False,
         log=print) -> TuneSummary:
    """Tune each distinct base config of `configs` (seeds ignored) with `trials` trials, rerun each best
    setting with `seeds`, write DIR/tuned.json. Resumes whatever an earlier command left in `folder`."""
    from . import runner
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"--trials must be a positive integer, got {trials!r}")
    if isinstance(trial_seeds, bool) or not isinstance(trial_seeds, int) or trial_seeds < 1:
        raise ValueError(f"--trial-seeds must be a positive integer, got {trial_seeds!r}")
    studies = make_studies(configs, score, targets or {}, trial_seeds)
    folder = Store(folder).prepare().folder
    summary = TuneSummary(studies=len(studies))
    with _lock(folder):
        open_studies(folder, studies, trials)
        trials_dir = os.path.join(folder, TRIALS)
        todo = [(s, k) for s in studies for k in pending_trials(s, trials)]
        if todo:
            log(f"{len(todo)} trials to run ({len(studies)} studies x {trials} trials, "
                f"{trial_seeds} seed{'s' if trial_seeds > 1 else ''} each)")
            run_configs = [c for s, k in todo for c in s.trial_configs(k, trial_seeds)]
            sw = runner.run_sweep(run_configs, trials_dir, jobs=jobs, progress=progress, log=log)
            summary.interrupted, summary.terminated = sw.interrupted, sw.terminated
            summary.trials_run, summary.trials_failed = _tell(todo, trials_dir, trial_seeds, score)
        if summary.interrupted or summary.trials_failed:
            return summary
        reruns, chosen = [], []
        for s in studies:
            best = best_trial(s, trials)
            params = dict(s.points[best.number])
            runs = [with_params(s.config, params, seed) for seed in seeds]
            reruns += runs
            chosen.append(_entry(s, best, params, runs, trials, trial_seeds, score))
        done = Store(folder).finished()
        if any(c.hash() not in done for c in reruns):
            sw = runner.run_sweep(reruns, folder, jobs=jobs, progress=progress, log=log)
            summary.interrupted, summary.terminated = sw.interrupted, sw.terminated
            summary.failed_reruns = sw.failed
            if sw.interrupted:
                return summary
        write_tuned(folder, chosen)
        summary.chosen = chosen
    return summary


def _tell(todo, trials_dir, trial_seeds, score) -> tuple[int, int]:
    """Tell each pending trial whose runs are all stored its value; (told, left with a failed run)."""
    rows, manifest = Store(trials_dir).load()
    by_run: dict = {}
    for r in rows:
        by_run.setdefault(r["run"], []).append(r)
    told = failed = 0
    for s, k in todo:
        runs = [manifest.get(c.hash()) for c in s.trial_configs(k, trial_seeds)]
        out = trial_outcome(runs, by_run, s.target)
        if out is None:
            failed += any(r is not None and r["status"] == "failed" for r in runs)
            continue
        value = out["final_loss"] if score == "final" else out["steps_to_target"]
        from optuna.trial import Trial
        trial = Trial(s.study, s.study.get_trials(deepcopy=False)[k]._trial_id)
        for key, v in out.items():
            trial.set_user_attr(key, v)
        s.study.tell(trial, value)
        told += 1
    return told, failed


def _entry(s: Study, best, params, runs, trials, trial_seeds, score) -> dict:
    label_params = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
    return {"key": s.lookup, "study": s.name, "task": s.config.task.to_dict(), "model": s.config.model.name,
            "n_hidden": s.config.n_hidden, "learner": s.config.learner.name, "label": s.label,
            "params": params, "describe": f"{s.label}: {label_params}", "trial": best.number,
            "value": best.value, "final_loss": best.user_attrs.get("final_loss"),
            "steps_to_target": best.user_attrs.get("steps_to_target"), "score": score, "target": s.target,
            "trials": trials, "trial_seeds": trial_seeds, "steps": s.config.steps,
            "eval_every": s.config.eval_every, "seeds": [c.seed for c in runs], "runs": [c.hash() for c in runs]}


def write_tuned(folder, entries: list[dict]) -> None:
    """Merge `entries` into DIR/tuned.json (by lookup key: the newest tuning of a learner wins), atomically."""
    old = load_tuned(folder, missing_ok=True)
    old.update({e["key"]: e for e in entries})
    text = json.dumps({"tuned": list(old.values())}, indent=1, sort_keys=True, allow_nan=True) + "\n"
    replace_atomic(os.path.join(folder, TUNED), text)


def load_tuned(folder, missing_ok: bool = False) -> dict:
    """{lookup key: entry} of DIR/tuned.json; ValueError (one line) when there is none."""
    folder = os.fspath(folder)
    path = os.path.join(folder, TUNED)
    if not os.path.exists(path):
        if missing_ok:
            return {}
        why = "does not exist" if not os.path.isdir(folder) else "has no tuned settings (no tuned.json)"
        raise ValueError(f"tuning folder {folder!r} {why}: run `rnnlearn tune --out {folder}` first")
    try:
        with open(path, encoding="utf-8") as fh:
            return {e["key"]: e for e in json.load(fh)["tuned"]}
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not a tuned.json written by rnnlearn tune") from None


def apply_tuned(configs: list[RunConfig], folder) -> list[RunConfig]:
    """`configs` with each learner's tuned setting from DIR/tuned.json; ValueError naming the first learner
    DIR has no tuned setting for."""
    tuned = load_tuned(folder)
    out = []
    for c in configs:
        e = tuned.get(lookup_key(c))
        if e is None:
            there = sorted({f"{t['label']} on {t['task']['name']} n={t['n_hidden']}" for t in tuned.values()})
            raise ValueError(f"{os.fspath(folder)!r} has no tuned setting for {base_label(c)} on {c.task.name} "
                             f"{c.model.name} n={c.n_hidden} (tuned there: {'; '.join(there) or 'nothing'})")
        out.append(with_params(c, e["params"], c.seed))
    return out
