"""What a comparison runs: a sweep's settings -> run configs, each with its hash (rnnlearn.runner executes them).

Specs. Tasks, models and learners are named with their parameters as `name:key=value,key=value`, values read
as int, float, bool (true/false) or str: `add:t1=3,t2=6`, `tbptt:k1=1,k2=10`. A learner spec may also carry
its own optimizer with the reserved keys `optimizer` (sgd, momentum, adam), `lr` and `clip` (gradient norm
clipping before the step): `rtrl:lr=0.03`, `bptt:window=50,optimizer=adam,lr=0.001,clip=1`.

Settings (the command's options, or the same keys in a TOML file; rnnlearn/defaults.toml is the default):
tasks, models, learners (lists of specs), sizes (hidden units n), seeds (a count, or a list), steps, eval_every,
optimizer, lr, clip. A gradient learner with no learning rate given uses its class's `default_lr`.

A run config is a plain dict, JSON-able, with every parameter spelled out (defaults included, so `tbptt` and
`tbptt:k1=10,k2=10` are the same run): task, model, learner (each {name, params}), optimizer ({name, lr, clip}
or None for learners that make their own update, like the EKF), seed, steps, eval_every. Its hash (sha256 of
the canonical JSON, first 16 hex digits) is the run's identity in the store: a rerun skips the runs whose
hash has a final status (done or diverged), and retries the failed ones.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field

OPTIMIZER_KEYS = ("optimizer", "lr", "clip")
OPTIMIZERS = ("sgd", "momentum", "adam")
SETTINGS = ("tasks", "models", "learners", "sizes", "seeds", "steps", "eval_every", "optimizer", "lr", "clip")


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


def load_settings(path) -> dict:
    """Settings from a TOML file; ValueError for a missing file, a syntax error or an unknown key."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ValueError(f"config file {os.fspath(path)!r} does not exist") from None
    except OSError as exc:
        raise ValueError(f"config file {os.fspath(path)!r}: {exc.strerror or exc}") from None
    return parse_settings(text, os.fspath(path))


def parse_settings(text: str, where: str = "config") -> dict:
    import tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {where}: {exc}") from None
    out = {}
    for key, value in data.items():
        k = key.replace("-", "_")
        if k in ("out", "jobs"):   # allowed in a file, used by the command
            out[k] = value
            continue
        if k not in SETTINGS:
            raise ValueError(f"config file {where}: unknown setting {key!r}; known: {', '.join(SETTINGS)}")
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

    @classmethod
    def from_settings(cls, settings: dict) -> "Sweep":
        unknown = set(settings) - set(SETTINGS) - {"out", "jobs"}
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
            if s < 1:
                raise ValueError(f"seeds must be a positive count, got {s}")
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


def make_optimizer(spec: dict | None):
    """An rnnlearn.optim optimizer from {name, lr, clip}; None stays None (the EKF makes its own update)."""
    if spec is None:
        return None
    from . import optim
    name = spec["name"]
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    opt = getattr(optim, name)(spec["lr"])
    if spec.get("clip") is not None:
        opt = optim.chain(optim.clip_norm(spec["clip"]), opt)
    return opt


def _optimizer_spec(learner, own: dict, sweep: Sweep):
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
    spec = {"name": name, "lr": float(lr), "clip": None if clip is None else float(clip)}
    make_optimizer(spec)  # checks the values
    return spec


def expand(sweep: Sweep, log=None) -> list[dict]:
    """Every run config of the sweep, checked (an unknown name, a bad parameter or size: ValueError)."""
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

    learner_cfgs = []
    for name, params in learners:
        own = {k: params.pop(k) for k in OPTIMIZER_KEYS if k in params}
        learner = make_learner(name, **params)
        if learner.own_update and own:
            raise ValueError(f"learner {name!r} makes its own update: it takes no {', '.join(sorted(own))}")
        opt = None if learner.own_update else _optimizer_spec(learner, own, sweep)
        learner_cfgs.append(({"name": name, "params": _jsonable(learner.params())}, opt))

    configs = []
    for tname, tparams in tasks:
        task = make_task(tname, **tparams)
        tcfg = {"name": tname, "params": _jsonable(task.params())}
        for mname, mparams in models:
            for n in sizes:
                model = _make_model(make_model, mname, mparams, n, task)
                mcfg = {"name": mname, "params": _jsonable(_model_params(model))}
                for lcfg, opt in learner_cfgs:
                    for seed in seeds:
                        configs.append({"task": tcfg, "model": mcfg, "learner": lcfg, "optimizer": opt,
                                        "seed": seed, "steps": steps, "eval_every": eval_every})
    return copy.deepcopy(configs)


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


def config_hash(config: dict) -> str:
    """sha256 of the canonical JSON of a run config (sorted keys, no spaces), first 16 hex digits."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def group_key(config: dict) -> str:
    """The hash of a config without its seed: runs that differ only in the seed share it."""
    return config_hash({k: v for k, v in config.items() if k != "seed"})


def learner_label(config: dict) -> str:
    """'tbptt(k1=1,k2=10)': the learner's own label (Learner.label), or its bare name when the installed
    rnnlearn no longer has it."""
    from .algorithms import LEARNERS
    lc = config["learner"]
    cls = LEARNERS.get(lc["name"])
    if cls is None:
        return lc["name"]
    try:
        return cls(**lc["params"]).label()
    except TypeError:
        return lc["name"]


def optimizer_label(config: dict) -> str:
    o = config["optimizer"]
    if o is None:
        return "own update"
    s = f"{o['name']} lr={o['lr']:g}"
    return s + (f" clip={o['clip']:g}" if o.get("clip") is not None else "")


def describe(config: dict) -> str:
    return (f"{config['task']['name']} {config['model']['name']} n={config['model']['params']['n_hidden']} "
            f"{learner_label(config)} seed={config['seed']}")
