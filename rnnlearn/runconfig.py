"""One run of a comparison: `RunConfig`, built once by rnnlearn.sweep.expand and read by the runner, the
results store, the plots, the report and `rnnlearn sample`.

A run config says everything a run does, every parameter spelled out (defaults included, so `tbptt` and
`tbptt:k1=10,k2=10` are the same run): its task, model and learner (each a `Part`: name and parameters),
its optimizer (`OptimizerSpec`, or None for learners that make their own update, like the EKF), seed, steps
and eval_every. It builds its task, model, learner and optimizer (`build_*`, the one place a stored config
becomes objects).

Identity. `to_dict()` is the plain JSON dict stored in runs.jsonl (`config`), `from_dict` reads it back; the
run's hash is the sha256 of that dict's canonical JSON (sorted keys, no spaces), first 16 hex digits, the
same dict and the same hash as before run configs were objects, so existing results folders still resume.
`group()` is the hash without the seed: runs that differ only in their seed share it.

Labels are fields, computed once from the learner object (Learner.label, Learner.display_label) and stored
with every run and every row; nothing parses them back. They are not part of the identity.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass(frozen=True)
class Part:
    """A task, model or learner: its registry name and its full parameters (JSON values; do not mutate)."""

    name: str
    params: dict

    def to_dict(self) -> dict:
        return {"name": self.name, "params": json.loads(json.dumps(self.params))}

    @classmethod
    def from_dict(cls, d: dict) -> "Part":
        return cls(str(d["name"]), json.loads(json.dumps(d.get("params", {}))))


@dataclass(frozen=True)
class OptimizerSpec:
    """The optimizer of a gradient learner: sgd, momentum or adam at a learning rate, with optional
    gradient-norm clipping before the step."""

    name: str
    lr: float
    clip: float | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "lr": self.lr, "clip": self.clip}

    @classmethod
    def from_dict(cls, d: dict | None) -> "OptimizerSpec | None":
        if d is None:
            return None
        return cls(d["name"], d["lr"], d.get("clip"))

    def build(self):
        """An rnnlearn.optim optimizer (ValueError for an unknown name)."""
        from . import optim
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}; choose from {', '.join(OPTIMIZERS)}")
        opt = getattr(optim, self.name)(self.lr)
        if self.clip is not None:
            opt = optim.chain(optim.clip_norm(self.clip), opt)
        return opt

    def label(self) -> str:
        """'sgd lr=0.01', 'adam lr=0.001 clip=1'."""
        s = f"{self.name} lr={self.lr:g}"
        return s + (f" clip={self.clip:g}" if self.clip is not None else "")


#: the optimizer label of a learner that makes its own update
OWN_UPDATE = "own update"


@dataclass(frozen=True)
class RunConfig:
    """One run: what it trains, how, for how long; its labels (computed from the learner when not given)."""

    task: Part
    model: Part
    learner: Part
    optimizer: OptimizerSpec | None
    seed: int
    steps: int
    eval_every: int
    #: Learner.label(): 'tbptt(k1=1,k2=10)' (the bare name when this rnnlearn no longer has the learner)
    label: str = field(default="", compare=False)
    #: Learner.display_label(): 'TBPTT (k1=1, k2=10)'
    display: str = field(default="", compare=False)
    #: a gradient-alignment run (rnnlearn.alignment): {"window": w, "with": [passive learners as Part dicts]};
    #: None for a plain run (and then absent from to_dict, so plain runs keep their hashes)
    alignment: dict | None = None

    def __post_init__(self):
        if not self.label or not self.display:
            label, display = _learner_labels(self.learner)
            object.__setattr__(self, "label", self.label or label)
            object.__setattr__(self, "display", self.display or display)

    def __hash__(self):
        return hash(self.hash())

    # ---- the stored form and identity ------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON dict stored in runs.jsonl as the run's `config` (what the hash is over)."""
        d = {"task": self.task.to_dict(), "model": self.model.to_dict(), "learner": self.learner.to_dict(),
             "optimizer": None if self.optimizer is None else self.optimizer.to_dict(),
             "seed": self.seed, "steps": self.steps, "eval_every": self.eval_every}
        if self.alignment is not None:
            d["alignment"] = json.loads(json.dumps(self.alignment))
        return d

    @classmethod
    def from_dict(cls, d: dict, label: str = "", display: str = "") -> "RunConfig":
        """From a stored `config` dict (labels: the stored ones when given, else computed)."""
        return cls(task=Part.from_dict(d["task"]), model=Part.from_dict(d["model"]),
                   learner=Part.from_dict(d["learner"]), optimizer=OptimizerSpec.from_dict(d["optimizer"]),
                   seed=d["seed"], steps=d["steps"], eval_every=d["eval_every"], label=label, display=display,
                   alignment=d.get("alignment"))

    @classmethod
    def from_manifest(cls, entry: dict) -> "RunConfig":
        """From a line of runs.jsonl, with the labels stored there."""
        return cls.from_dict(entry["config"], entry.get("label", ""), entry.get("display", ""))

    def hash(self) -> str:
        """The run's identity in the store: sha256 of the canonical JSON of `to_dict()`, 16 hex digits."""
        return dict_hash(self.to_dict())

    def group(self) -> str:
        """The hash without the seed: runs that differ only in the seed share it."""
        return dict_hash({k: v for k, v in self.to_dict().items() if k != "seed"})

    # ---- labels ----------------------------------------------------------------------------------------
    @property
    def n_hidden(self) -> int:
        return self.model.params["n_hidden"]

    @property
    def optimizer_label(self) -> str:
        return OWN_UPDATE if self.optimizer is None else self.optimizer.label()

    def describe(self) -> str:
        """'add elman n=32 tbptt(k1=1,k2=10) seed=0' (progress lines)."""
        text = f"{self.task.name} {self.model.name} n={self.n_hidden} {self.label} seed={self.seed}"
        if self.alignment is not None:
            text += f" aligned with {'+'.join(p['name'] for p in self.alignment['with'])}"
        return text

    def labels(self) -> dict:
        """The label fields stored with the run in runs.jsonl and in each of its results.csv rows."""
        return {"label": self.label, "display": self.display, "optimizer": self.optimizer_label}

    # ---- objects ---------------------------------------------------------------------------------------
    def build_task(self):
        from .tasks import make_task
        return make_task(self.task.name, **self.task.params)

    def build_model(self, task=None):
        """The model, sized for `task` (built when not given)."""
        from .models import make_model
        task = self.build_task() if task is None else task
        params = dict(self.model.params)
        n = params.pop("n_hidden")
        return make_model(self.model.name, n_in=task.n_in, n_hidden=n, n_out=task.n_out, loss=task.loss, **params)

    def build_learner(self):
        from .algorithms import make_learner
        return make_learner(self.learner.name, **self.learner.params)

    def build_passive(self) -> list:
        """The passive learners of an alignment run (rnnlearn.alignment), built; [] for a plain run."""
        from .algorithms import make_learner
        if self.alignment is None:
            return []
        return [make_learner(p["name"], **p.get("params", {})) for p in self.alignment["with"]]

    def build_optimizer(self):
        """The rnnlearn.optim optimizer, or None for a learner that makes its own update."""
        return None if self.optimizer is None else self.optimizer.build()

    def learner_class(self):
        """The registered learner class, or None when this rnnlearn does not have it."""
        from .algorithms import LEARNERS
        return LEARNERS.get(self.learner.name)


def dict_hash(d: dict) -> str:
    """sha256 of the canonical JSON of a dict (sorted keys, no spaces), first 16 hex digits."""
    text = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _learner_labels(learner: Part) -> tuple[str, str]:
    from .algorithms import LEARNERS
    cls = LEARNERS.get(learner.name)
    if cls is None:
        return learner.name, learner.name
    try:
        obj = cls(**learner.params)
        return obj.label(), obj.display_label()
    except TypeError:
        return learner.name, cls.display_name or learner.name
