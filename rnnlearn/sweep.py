"""What a comparison runs: a sweep's settings -> run configs, each with its hash (rnnlearn.runner executes them).

Specs. Tasks, models and learners are named with their parameters as `name:key=value,key=value`, values read
as int, float, bool (true/false) or str: `add:t1=3,t2=6`, `tbptt:k1=1,k2=10`. A learner spec may also carry
its own optimizer with the reserved keys `optimizer` (sgd, momentum, adam), `lr` and `clip` (gradient norm
clipping before the step), and its own run length with `steps` and `eval_every`: `rtrl:lr=0.03`,
`bptt:window=50,optimizer=adam,lr=0.001,clip=1`, `ekf:steps=10000`. A model spec may fix its own size with
`n_hidden` (that model then runs at that size only, whatever `sizes` says): `elman:n_hidden=25`.

Settings (the command's options, or the same keys in a TOML file; rnnlearn/defaults.toml is the default):
tasks, models, learners (lists of specs), sizes (hidden units n), seeds (a count, or a list), steps, eval_every,
optimizer, lr, clip. A gradient learner with no learning rate given uses its class's `default_lr`. A file may
also hold what the command does with the runs (`COMMAND_KEYS`): out, jobs, save_models, a description, and
the numbers `rnnlearn report` quotes from the results ([[quote]] tables, rnnlearn.report). The experiments
behind README's numbers ship as such files (rnnlearn/experiments/NAME.toml; `--config NAME` finds them).

Each run is a rnnlearn.runconfig.RunConfig; its hash is its identity in the store: a rerun skips the runs
whose hash has a final status (done or diverged), and retries the failed ones.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .runconfig import OPTIMIZERS, OptimizerSpec, Part, RunConfig

OPTIMIZER_KEYS = ("optimizer", "lr", "clip")
#: reserved keys of a learner spec that set its run length
RUN_KEYS = ("steps", "eval_every")
SETTINGS = ("tasks", "models", "learners", "sizes", "seeds", "steps", "eval_every", "optimizer", "lr", "clip",
            "alignment", "groups")
#: keys a settings file may hold beside SETTINGS, for the command (not the sweep)
COMMAND_KEYS = ("out", "jobs", "save_models", "description", "quote")


# ----------------------------------------------------------------------------------------------------------
# specs and settings
# ----------------------------------------------------------------------------------------------------------

def parse_value(text: str):
    """'3' -> 3, '0.5' -> 0.5, '1e-3' -> 0.001, 'true' -> True, 'none' -> None, anything else: the string."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def parse_spec(text: str, what: str = "learner") -> tuple[str, dict]:
    """'name:key=value,key=value' -> (name, {key: value}); ValueError naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty {what} spec")
    name, sep, rest = text.strip().partition(":")
    name = name.strip()
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"malformed {what} spec {text!r}: expected name:key=value,key=value")
    params: dict = {}
    if sep:
        if not rest.strip():
            raise ValueError(f"malformed {what} spec {text!r}: nothing after ':'")
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key or not key.replace("_", "").isalnum() or not value.strip():
                raise ValueError(f"malformed {what} spec {text!r}: {item.strip()!r} is not key=value")
            if key in params:
                raise ValueError(f"malformed {what} spec {text!r}: {key!r} given twice")
            params[key] = parse_value(value)
    return name, params


def format_params(params: dict) -> str:
    return ",".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def default_settings() -> dict:
    """The embedded default comparison (rnnlearn/defaults.toml)."""
    from importlib import resources
    return parse_settings(resources.files("rnnlearn").joinpath("defaults.toml").read_text(), "defaults.toml")


def shipped_configs() -> list[str]:
    """Names of the sweep configs that ship with the package (rnnlearn/experiments/NAME.toml)."""
    from importlib import resources
    folder = resources.files("rnnlearn").joinpath("experiments")
    return sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".toml"))


def config_text(path) -> tuple[str, str]:
    """(TOML text, where) of a settings file: a path, or the name of a shipped config (`shipped_configs`)."""
    p = os.fspath(path)
    if not os.path.exists(p) and p in shipped_configs():
        from importlib import resources
        return resources.files("rnnlearn").joinpath("experiments", p + ".toml").read_text(), p + ".toml"
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return fh.read(), p
    except FileNotFoundError:
        raise ValueError(f"config file {p!r} does not exist (nor is it a shipped config: "
                         f"{', '.join(shipped_configs())})") from None
    except OSError as exc:
        raise ValueError(f"config file {p!r}: {exc.strerror or exc}") from None


def load_settings(path) -> dict:
    """Settings from a TOML file or a shipped config's name; ValueError for a missing file, a syntax error or
    an unknown key."""
    return parse_settings(*config_text(path))


def check_command_settings(settings: dict, default_out: str, default_jobs: int) -> dict:
    """{out, jobs, save_models} of a comparison, checked the same way whether they come from a TOML file or
    the command line (which puts its values into the settings first): out a non-empty folder name, jobs a
    positive integer, save_models true or false. ValueError naming the setting."""
    out = settings.get("out")
    out = default_out if out is None else out
    if not isinstance(out, str) or not out.strip():
        raise ValueError(f"out (the results folder) must be a non-empty folder name, got {out!r}")
    jobs = settings.get("jobs")
    jobs = default_jobs if jobs is None else jobs
    if isinstance(jobs, str):
        jobs = parse_value(jobs)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    save = settings.get("save_models", False)
    if not isinstance(save, bool):
        raise ValueError(f"save_models must be true or false, got {save!r}")
    desc = settings.get("description")
    if desc is not None and not isinstance(desc, str):
        raise ValueError(f"description must be a string, got {desc!r}")
    return {"out": out, "jobs": jobs, "save_models": save}


def parse_settings(text: str, where: str = "config") -> dict:
    import tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {where}: {exc}") from None
    out = {}
    for key, value in data.items():
        k = key.replace("-", "_")
        if k in COMMAND_KEYS:   # allowed in a file, used by the command
            out[k] = value
            continue
        if k not in SETTINGS:
            raise ValueError(f"config file {where}: unknown setting {key!r}; known: "
                             f"{', '.join(SETTINGS + COMMAND_KEYS)}")
        out[k] = value
    return out


# ----------------------------------------------------------------------------------------------------------
# sweep -> run configs
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Sweep:
    """What to run: every combination of task x model x size x learner x seed."""

    tasks: list = field(default_factory=lambda: ["add"])
    models: list = field(default_factory=lambda: ["elman"])
    learners: list = field(default_factory=lambda: ["bptt", "tbptt", "rtrl"])
    sizes: list = field(default_factory=lambda: [32])
    seeds: object = 3
    steps: int = 20_000
    eval_every: int = 1000
    optimizer: str | None = None
    lr: float | None = None
    clip: float | None = None
    #: gradient alignment (rnnlearn.alignment): {"window": w, "with": [learner specs]} (either key may be left
    #: out: window 10, with ["rtrl"]), or None for plain runs
    alignment: dict | None = None
    #: a list of tables of the settings above (but groups), each a sweep of its own with the rest of this one's
    #: settings: the runs are their union. For experiments that pair tasks with models instead of crossing
    #: them (Marschall, Cho and Savin's add task at lags (6, 10) on Elman units and (5, 7) on leaky ones).
    groups: list | None = None

    @classmethod
    def from_settings(cls, settings: dict) -> "Sweep":
        unknown = set(settings) - set(SETTINGS) - set(COMMAND_KEYS)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in settings.items() if k in SETTINGS})

    def seed_list(self) -> list[int]:
        s = self.seeds
        if isinstance(s, str):
            s = [parse_value(v) for v in s.split(",")] if "," in s else parse_value(s)
        if isinstance(s, bool):
            raise ValueError(f"seeds must be a count or a list of integers, got {self.seeds!r}")
        if isinstance(s, int):
            from .memory import MAX_RUNS
            if s < 1:
                raise ValueError(f"seeds must be a positive count, got {s}")
            if s > MAX_RUNS:   # before the list is built
                raise ValueError(f"seeds: {s:,} seeds is more than the {MAX_RUNS:,} runs one sweep may hold")
            return list(range(s))
        if isinstance(s, (list, tuple)) and s and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                     for v in s):
            return list(s)
        raise ValueError(f"seeds must be a count or a list of integers >= 0, got {self.seeds!r}")


def _as_list(value, what) -> list:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value:
        return list(value)
    raise ValueError(f"{what} must be a non-empty list, got {value!r}")


def _positive_int(name, value) -> int:
    if isinstance(value, str):
        value = parse_value(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _optimizer_spec(learner, own: dict, sweep: Sweep) -> OptimizerSpec:
    name = own.get("optimizer", sweep.optimizer) or "sgd"
    lr = own.get("lr", sweep.lr)
    if lr is None:
        lr = learner.default_lr
    clip = own.get("clip", sweep.clip)
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    for key, v in (("lr", lr), ("clip", clip)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise ValueError(f"{key} must be a positive number, got {v!r}")
    spec = OptimizerSpec(name, float(lr), None if clip is None else float(clip))
    spec.build()  # checks the values
    return spec


def expand(sweep: Sweep) -> list[RunConfig]:
    """Every run config of the sweep, checked (an unknown name, a bad parameter or size: ValueError); with
    groups, the union of each group's runs (each run once)."""
    if sweep.groups is not None:
        if not isinstance(sweep.groups, (list, tuple)) or not sweep.groups:
            raise ValueError(f"groups must be a non-empty list of tables of settings, got {sweep.groups!r}")
        configs, seen = [], set()
        base = {k: getattr(sweep, k) for k in SETTINGS if k != "groups"}
        for i, group in enumerate(sweep.groups):
            if not isinstance(group, dict) or not group:
                raise ValueError(f"groups[{i}] must be a table of settings, got {group!r}")
            bad = (set(group) - set(SETTINGS)) | ({"groups"} & set(group))
            if bad:
                raise ValueError(f"groups[{i}]: unknown or nested setting(s) {', '.join(sorted(bad))}")
            for c in expand(Sweep(**{**base, **group})):
                if c.hash() not in seen:
                    seen.add(c.hash())
                    configs.append(c)
        from .memory import check_run_count
        check_run_count(len(configs))
        return configs
    return _expand_one(sweep)


def _expand_one(sweep: Sweep) -> list[RunConfig]:
    from .algorithms import make_learner
    from .models import make_model
    from .tasks import make_task

    tasks = [parse_spec(s, "task") for s in _as_list(sweep.tasks, "tasks")]
    models = [parse_spec(s, "model") for s in _as_list(sweep.models, "models")]
    learners = [parse_spec(s, "learner") for s in _as_list(sweep.learners, "learners")]
    sizes = sweep.sizes
    if isinstance(sizes, str):
        sizes = [parse_value(v) for v in sizes.split(",") if v.strip()]
    sizes = [_positive_int("sizes (hidden units n)", n) for n in _as_list(sizes, "sizes")]
    seeds = sweep.seed_list()
    steps = _positive_int("steps", sweep.steps)
    eval_every = _positive_int("eval_every", sweep.eval_every)

    from .memory import check_run_count
    n_sizes = sum(len(sizes) if "n_hidden" not in p else 1 for _, p in models)
    check_run_count(len(tasks) * n_sizes * len(learners) * len(seeds))   # before the list is built

    alignment = _alignment(sweep.alignment)

    learner_cfgs = []
    for name, params in learners:
        own = {k: params.pop(k) for k in OPTIMIZER_KEYS if k in params}
        run = {k: _positive_int(f"learner {name!r}: {k}", params.pop(k)) for k in RUN_KEYS if k in params}
        learner = make_learner(name, **params)
        if learner.own_update and own:
            raise ValueError(f"learner {name!r} makes its own update: it takes no {', '.join(sorted(own))}")
        opt = None if learner.own_update else _optimizer_spec(learner, own, sweep)
        learner_cfgs.append((Part(name, _jsonable(learner.identity_params())), opt, learner.label(),
                             learner.display_label(), run.get("steps", steps), run.get("eval_every", eval_every),
                             learner))

    configs = []
    for tname, tparams in tasks:
        task = make_task(tname, **tparams)
        tcfg = Part(tname, _jsonable(task.params()))
        for mname, mparams in models:
            mparams = dict(mparams)
            own_n = mparams.pop("n_hidden", None)
            for n in sizes if own_n is None else [_positive_int(f"model {mname!r}: n_hidden", own_n)]:
                model = _make_model(make_model, mname, mparams, n, task)
                mcfg = Part(mname, _jsonable(_model_params(model)))
                for lcfg, opt, label, display, l_steps, l_every, learner in learner_cfgs:
                    if alignment is not None:
                        from .alignment import check
                        check(model, learner, alignment[1], alignment[0]["window"])
                        for what, v in (("steps", l_steps), ("eval_every", l_every)):
                            if v % alignment[0]["window"]:
                                raise ValueError(f"--alignment: {what} ({v}) must be a multiple of the alignment "
                                                 f"window ({alignment[0]['window']})")
                    for seed in seeds:
                        configs.append(RunConfig(task=tcfg, model=mcfg, learner=lcfg, optimizer=opt, seed=seed,
                                                 steps=l_steps, eval_every=l_every, label=label,
                                                 display=display,
                                                 alignment=None if alignment is None else alignment[0]))
    return configs


def _alignment(setting):
    """({"window": w, "with": [Part dicts]}, the passive learners) of an alignment setting, or None."""
    if setting is None or setting is False:
        return None
    from .alignment import DEFAULT_WINDOW, DEFAULT_WITH
    from .algorithms import make_learner
    if setting is True:
        setting = {}
    if not isinstance(setting, dict) or set(setting) - {"window", "with"}:
        raise ValueError(f"alignment must be a table with the keys window and with, got {setting!r}")
    window = _positive_int("alignment window", setting.get("window", DEFAULT_WINDOW))
    specs = [parse_spec(s, "learner") for s in _as_list(setting.get("with", list(DEFAULT_WITH)), "alignment with")]
    parts, passive = [], []
    for name, params in specs:
        if set(params) & (set(OPTIMIZER_KEYS) | set(RUN_KEYS)):
            raise ValueError(f"passive learner {name!r}: it does not train, it takes no "
                             f"{', '.join(sorted(set(params) & (set(OPTIMIZER_KEYS) | set(RUN_KEYS))))}")
        learner = make_learner(name, **params)
        passive.append(learner)
        parts.append(Part(name, _jsonable(learner.identity_params())).to_dict())
    return {"window": window, "with": parts}, passive


def _make_model(make_model, name, params, n, task):
    for key in ("n_in", "n_out", "n_hidden", "loss"):
        if key in params:
            raise ValueError(f"model {name!r}: {key} is set by the task and --sizes, not in the model spec")
    try:
        return make_model(name, n_in=task.n_in, n_hidden=n, n_out=task.n_out, loss=task.loss, **params)
    except TypeError as exc:
        raise ValueError(f"model {name!r}: {exc}") from None


def _model_params(model) -> dict:
    cfg = dict(model.config())
    for key in ("n_in", "n_out", "loss"):
        cfg.pop(key, None)
    return cfg


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
