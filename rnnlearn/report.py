"""The numbers a comparison quotes, computed from its stored results only: `rnnlearn report DIR`.

A sweep config (a TOML file, e.g. rnnlearn/experiments/ekf_vs_rtrl.toml) declares what it quotes in
[[quote]] tables:

    [[quote]]
    description = "steps to a test cross-entropy of 0.47"
    metric = "test_loss"          # a results.csv column (test_loss, train_loss, wall_s) or a task metric of
                                  # metrics.csv (bpc, nrmse, largest_n_correct, ...); default test_loss
    statistic = "first_step"      # final | first_step | first_seconds | reference; default final
    target = 0.47                 # first_step, first_seconds: the level to reach
    direction = "below"           # reached at or below the target (default), or "above" (at or above)
    by = ["label", "optimizer", "n_hidden"]   # how runs group (results.csv columns); this is the default
                                              # task_spec, model_spec: the task's / model's full spec
                                              # (copy:delay=40,k=3,...), to tell apart one task's settings

`at_first` is the metric at a run's first evaluation at which the metric named by `when` reaches the target
(e.g. the generalisation of a^n b^n c^n when the training set is first all correct, the papers' stopping
rule; runs that never get there are counted apart). `per_seed = true` adds the values run by run, in seed
order. `final` is the metric at a run's last evaluation (runs that diverged are counted apart, not in the numbers);
with a `target`, `final` also counts the runs whose final value reaches it (a success rate: a diverged run
is a failure);
`first_step` / `first_seconds` are the step / learner seconds (wall_s) of a run's first evaluation at which
the metric reaches the target (runs that never do are counted apart); `reference` prints the task's
reference level named by `metric` (Task.reference_levels, in nats per step, and bits for cross-entropy
tasks). Each group prints the median and the range (min-max) over its runs, i.e. over seeds.

`rnnlearn compare --config NAME` keeps the config it ran in the results folder (config.toml), which the
report reads; `--config` here reports a folder with another config's quotes. A folder without one reports
each group's final test loss.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

#: the sweep config a comparison ran with, kept in its results folder
CONFIG = "config.toml"
STATISTICS = ("final", "first_step", "first_seconds", "reference", "at_first")
RESULT_METRICS = ("test_loss", "train_loss", "wall_s")
GROUP_COLUMNS = ("task", "model", "learner", "label", "display", "optimizer", "n_hidden", "task_spec", "model_spec")
#: group columns read from a run's manifest entry, not results.csv: its task's and model's full spec
SPEC_COLUMNS = ("task_spec", "model_spec")
DEFAULT_BY = ("label", "optimizer", "n_hidden")


@dataclass(frozen=True)
class Quote:
    """One number a config quotes (see the module's docstring)."""

    description: str
    metric: str = "test_loss"
    statistic: str = "final"
    target: float | None = None
    direction: str = "below"
    by: tuple = DEFAULT_BY
    when: str | None = None
    per_seed: bool = False

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> "Quote":
        known = {"description", "metric", "statistic", "target", "direction", "by", "when", "per_seed"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{where}: [[quote]] has unknown key(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        if not isinstance(d.get("description"), str) or not d["description"].strip():
            raise ValueError(f"{where}: every [[quote]] needs a description")
        q = cls(**{**d, "by": tuple(d.get("by", DEFAULT_BY))})
        if q.statistic not in STATISTICS:
            raise ValueError(f"{where}: quote {q.description!r}: statistic must be one of {', '.join(STATISTICS)}, "
                             f"got {q.statistic!r}")
        if q.statistic == "at_first" and not isinstance(q.when, str):
            raise ValueError(f"{where}: quote {q.description!r}: at_first needs `when`, the metric to watch")
        if q.statistic in ("first_step", "first_seconds", "at_first") and (isinstance(q.target, bool)
                                                 or not isinstance(q.target, (int, float))):
            raise ValueError(f"{where}: quote {q.description!r}: {q.statistic} needs a numeric target")
        if q.statistic == "final" and q.target is not None and (isinstance(q.target, bool)
                                                                 or not isinstance(q.target, (int, float))):
            raise ValueError(f"{where}: quote {q.description!r}: target must be a number, got {q.target!r}")
        if q.direction not in ("below", "above"):
            raise ValueError(f"{where}: quote {q.description!r}: direction must be below or above")
        bad = [b for b in q.by if b not in GROUP_COLUMNS]
        if bad:
            raise ValueError(f"{where}: quote {q.description!r}: cannot group by {bad}; "
                             f"choose from {', '.join(GROUP_COLUMNS)}")
        return q

    def what(self) -> str:
        if self.statistic == "reference":
            return f"the task's reference level {self.metric!r}"
        sign = "<=" if self.direction == "below" else ">="
        if self.statistic == "final":
            return f"final {self.metric}" + ("" if self.target is None else
                                             f" (reached: runs whose final {self.metric} {sign} {self.target:g})")
        if self.statistic == "at_first":
            return f"{self.metric} at the first evaluation at which {self.when} {sign} {self.target:g}"
        unit = "step" if self.statistic == "first_step" else "learner seconds"
        return f"first {unit} at which {self.metric} {sign} {self.target:g}"


@dataclass
class Line:
    """One group of runs of a quote: its values over seeds, and the runs not counted in them."""

    group: dict
    values: list = field(default_factory=list)
    runs: int = 0
    missing: int = 0      # first_*: never reached the target
    diverged: int = 0     # final: diverged (no final value)
    seeds: list = field(default_factory=list)  # the seed of each value

    @property
    def median(self) -> float:
        return float(np.median(self.values)) if self.values else math.nan

    @property
    def low(self) -> float:
        return float(min(self.values)) if self.values else math.nan

    @property
    def high(self) -> float:
        return float(max(self.values)) if self.values else math.nan


def quotes_of(settings: dict, where: str = "config") -> list[Quote]:
    return [Quote.from_dict(d, where) for d in settings.get("quote", [])]


def keep_config(folder, name_or_path) -> str:
    """Copy the sweep config (a path or a shipped name) into the results folder, checked; returns the path."""
    from .results import Store, replace_atomic
    from .sweep import config_text, parse_settings
    text, where = config_text(name_or_path)
    quotes_of(parse_settings(text, where), where)
    store = Store(folder).prepare()
    replace_atomic(store.path(CONFIG), text)
    return store.path(CONFIG)


def folder_quotes(folder, config=None) -> list[Quote]:
    """The quotes of `config` (a path or shipped name), else of the folder's kept config, else the default:
    each group's final test loss."""
    from .sweep import load_settings
    if config is None and os.path.exists(os.path.join(folder, CONFIG)):
        config = os.path.join(folder, CONFIG)
    if config is not None:
        quotes = quotes_of(load_settings(config), os.fspath(config))
        if quotes:
            return quotes
    return [Quote("final test loss")]


def compute(folder, quotes: list[Quote]) -> list[tuple[Quote, list[Line]]]:
    """Each quote's lines from the stored results of `folder` (results.csv, metrics.csv, runs.jsonl)."""
    from .results import Store
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"results folder {folder!r} does not exist")
    store = Store(folder)
    rows, manifest = store.load()
    if not manifest:
        raise ValueError(f"no runs in {folder!r} (run `rnnlearn compare --out {folder}` first)")
    need_metrics = any(q.metric not in RESULT_METRICS and q.statistic != "reference" for q in quotes)
    metrics = store.load_metrics(manifest) if need_metrics else []
    runs: dict[str, dict] = {}
    for r in rows:
        run = runs.setdefault(r["run"], {"row": r, "evals": {}})
        run["evals"][r["step"]] = {k: r[k] for k in RESULT_METRICS}
    for m in metrics:
        if m["run"] in runs:
            runs[m["run"]]["evals"].setdefault(m["step"], {})[m["metric"]] = m["value"]
    out = []
    for q in quotes:
        if q.statistic == "reference":
            out.append((q, _reference(q, manifest)))
            continue
        lines: dict[tuple, Line] = {}
        order: dict[tuple, int] = {}
        for h, run in runs.items():
            row = run["row"]
            group = {b: (row[b] or row["label"]) if b == "display" else
                     spec_of(manifest[h], b[:-5]) if b in SPEC_COLUMNS else row[b] for b in q.by}
            line = lines.setdefault(tuple(group.values()), Line(group))
            order.setdefault(tuple(group.values()), _rank(row["learner"]))
            line.runs += 1
            steps = sorted(s for s in run["evals"] if q.metric in run["evals"][s])
            if q.statistic == "final":
                if manifest[h]["status"] != "done" or not steps:
                    line.diverged += 1
                else:
                    line.values.append(run["evals"][steps[-1]][q.metric])
                    line.seeds.append(row["seed"])
                continue
            watch = q.when if q.statistic == "at_first" else q.metric
            hit = next((s for s in sorted(run["evals"]) if watch in run["evals"][s]
                        and _reached(run["evals"][s][watch], q)), None)
            if hit is not None and q.statistic == "at_first" and q.metric not in run["evals"][hit]:
                hit = None
            if hit is None:
                line.missing += 1
            else:
                line.values.append(hit if q.statistic == "first_step" else run["evals"][hit]["wall_s"]
                                   if q.statistic == "first_seconds" else run["evals"][hit][q.metric])
                line.seeds.append(row["seed"])
        if all(not line.values for line in lines.values()) and q.metric not in RESULT_METRICS:
            known = sorted({k for run in runs.values() for e in run["evals"].values() for k in e})
            raise ValueError(f"quote {q.description!r}: no metric {q.metric!r} in {folder!r}; "
                             f"it has {', '.join(known)}")
        out.append((q, [lines[k] for k in sorted(lines, key=lambda k: (order[k], [_natural(v) for v in k]))]))
    return out


def _natural(v) -> list:
    """Sort key of a group value with its numbers compared as numbers (delay=5 before delay=10, 8 before 16)."""
    import re
    return [(0, float(t), "") if re.fullmatch(r"\d+(\.\d*)?", t) else (1, 0.0, t)
            for t in re.split(r"(\d+(?:\.\d*)?)", str(v)) if t]


def spec_of(entry: dict, part: str) -> str:
    """The spec `name:key=value,...` of a run's task or model (`part`), from its manifest entry; a model's
    n_hidden is left out (it is the n_hidden column)."""
    from .sweep import format_params
    cfg = entry.get("config", {}).get(part, {})
    params = {k: v for k, v in sorted((cfg.get("params") or {}).items()) if not (part == "model" and k == "n_hidden")}
    return f"{cfg.get('name', '?')}{':' if params else ''}{format_params(params)}"


def _reached(v, q: Quote) -> bool:
    return v <= q.target if q.direction == "below" else v >= q.target


def _rank(learner):
    from .algorithms import LEARNERS
    return list(LEARNERS).index(learner) if learner in LEARNERS else len(LEARNERS)


def _reference(q: Quote, manifest) -> list[Line]:
    from .runconfig import RunConfig
    lines, seen = [], set()
    for entry in manifest.values():
        cfg = RunConfig.from_manifest(entry)
        key = (cfg.task.name, repr(sorted(cfg.task.params.items())))
        if key in seen:
            continue
        seen.add(key)
        task = cfg.build_task()
        levels = task.reference_levels()
        if q.metric not in levels:
            raise ValueError(f"quote {q.description!r}: task {task.name!r} has no reference level {q.metric!r}; "
                             f"it has {', '.join(levels) or 'none'}")
        lines.append(Line({"task": task.name, "loss": task.loss}, [levels[q.metric]], runs=1))
    return lines


def _num(v, statistic) -> str:
    if v != v:
        return "-"
    if statistic == "first_step":
        return f"{int(v):,}"
    return f"{v:.3g}" if statistic == "first_seconds" else f"{v:.4g}"


def format_report(results, folder=None) -> str:
    out = []
    if folder is not None:
        out.append(f"results in {os.fspath(folder)}: median and range over seeds")
    for q, lines in results:
        out.append("")
        out.append(f"{q.description}: {q.what()}")
        if q.statistic == "reference":
            for line in lines:
                v = line.values[0]
                bits = f" = {v / math.log(2):.3f} bits" if line.group["loss"] == "xent" else ""
                out.append(f"  {line.group['task']}: {q.metric} {v:.4g} nats per step{bits}")
            continue
        success = q.statistic == "final" and q.target is not None
        heads = (list(q.by) + ["median", "range", "runs"] + (["reached"] if success else [])
                 + (["per seed"] if q.per_seed else []))
        table = []
        for line in lines:
            rng = (f"{_num(line.low, q.statistic)}-{_num(line.high, q.statistic)}" if len(line.values) > 1
                   else _num(line.low, q.statistic))
            note = f"{len(line.values)}/{line.runs}"
            if line.missing:
                note += f" ({line.missing} never reached it)"
            if line.diverged:
                note += f" ({line.diverged} diverged)"
            row = [str(line.group[b]) for b in q.by] + [_num(line.median, q.statistic), rng, note]
            if success:
                row.append(f"{sum(_reached(v, q) for v in line.values)}/{line.runs}")
            if q.per_seed:
                row.append(" ".join(f"{sd}:{_num(v, q.statistic)}" for sd, v in sorted(zip(line.seeds, line.values))))
            table.append(row)
        widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(heads)]
        out.append("  " + "  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
        for r in table:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(out).lstrip("\n") + "\n"


def report(folder, config=None) -> str:
    """The report of a results folder as text (what `rnnlearn report DIR` prints)."""
    return format_report(compute(folder, folder_quotes(folder, config)), folder)
