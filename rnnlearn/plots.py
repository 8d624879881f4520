"""Figures drawn from stored results only (a results folder of rnnlearn.results): convergence, cost, the
vanishing gradient, gradient alignment, and a tuning folder's learning-rate sensitivity and time-to-target
performance profiles. `rnnlearn plot RESULTS_DIR` redraws every figure whose data the folder holds.

Figures are built with matplotlib's object interface on the Agg canvas (no pyplot, no global backend switch,
so importing this module never changes a user's interactive backend).
"""
from __future__ import annotations

import os
import re

import numpy as np

from .results import ALIGNMENT, COST, COST_COLUMNS, MANIFEST, RESULTS, VANISHING, VANISHING_COLUMNS, Store

DPI = 150
#: the fit of a cost slope uses each learner's FIT_POINTS largest sizes (where per-step overheads no longer
#: dominate); the sizes of an experiment are chosen so that these are in the asymptotic range.
FIT_POINTS = 3
LOSS_AXIS = {"xent": "test cross-entropy (nats per step)", "mse": "test loss (½ squared error per step)"}


def _figure(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def warm_up() -> None:
    """Import matplotlib and draw a small figure into memory: its first figure loads fonts, the text layout and
    the PNG writer (about half a second), which `compare` pays here, in a thread, while its workers train."""
    import io
    fig = _figure(2.0, 1.5)
    ax = fig.add_subplot()
    _style(ax)
    ax.plot([1, 10], [1.0, 0.5], label="warm-up")
    ax.set_xscale("log")
    ax.set_xlabel("steps")
    ax.legend(fontsize=8)
    fig.savefig(io.BytesIO(), format="png", dpi=DPI)


def _style(ax):
    ax.grid(True, which="major", color="0.88", lw=0.6)
    ax.grid(True, which="minor", color="0.94", lw=0.4)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def _save(fig, path) -> str:
    """Draw into a unique temporary file beside `path` (created exclusively: a symlink planted there is never
    followed) and rename it over `path`; the temporary file is removed when anything fails."""
    from .results import temporary_beside
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = temporary_beside(path, ".png")
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=DPI, metadata={"Software": None})
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _rank(learner: str) -> int:
    """A learner's place in the registry (rnnlearn.algorithms.LEARNERS): the order figures list learners in."""
    from .algorithms import LEARNERS
    return list(LEARNERS).index(learner) if learner in LEARNERS else len(LEARNERS)


class _Seeds(dict):
    """{seed: series} of one curve, with the stored learner name and display label of its runs."""

    def __init__(self, learner: str, display: str):
        super().__init__()
        self.learner, self.display = learner, display


def _colors(keys):
    from matplotlib import colormaps
    cmap = colormaps["tab10"]
    return {k: cmap(i % 10) for i, k in enumerate(keys)}


# ----------------------------------------------------------------------------------------------------------
# convergence
# ----------------------------------------------------------------------------------------------------------

def convergence_data(folder):
    """{(task, model, n_hidden): {(label, optimizer): {seed: {"step", "wall_s", "test_loss"} arrays}}} and the
    manifest. Each curve's {seed: ...} also carries `learner` and `display` (the stored display label; the
    stored label in folders written before it was stored)."""
    rows, manifest = Store(folder).load()
    data: dict = {}
    for r in rows:
        key = (r["task"], r["model"], r["n_hidden"])
        group = data.setdefault(key, {})
        series = group.get((r["label"], r["optimizer"]))
        if series is None:
            series = group[(r["label"], r["optimizer"])] = _Seeds(r["learner"], r["display"] or r["label"])
        s = series.setdefault(r["seed"], {"step": [], "wall_s": [], "test_loss": [], "run": r["run"]})
        s["step"].append(r["step"])
        s["wall_s"].append(r["wall_s"])
        s["test_loss"].append(r["test_loss"])
    for groups in data.values():
        for series in groups.values():
            for s in series.values():
                order = np.argsort(s["step"])
                for k in ("step", "wall_s", "test_loss"):
                    s[k] = np.asarray(s[k], dtype=float)[order]
    return data, manifest


def _stack(series, field, steps):
    """(seeds, len(steps)) array of `field` at the given steps, NaN where a run stopped (diverged)."""
    out = np.full((len(series), len(steps)), np.nan)
    index = {s: i for i, s in enumerate(steps)}
    for j, s in enumerate(series.values()):
        for st, v in zip(s["step"], s[field]):
            out[j, index[st]] = v
    return out


def _reference_levels(manifest, task_name, model_name=None):
    """The task's reference levels, from the first run of it in the manifest (on that model, if given: a
    folder may hold one task with different parameters on different models)."""
    from .runconfig import RunConfig
    for entry in manifest.values():
        cfg = entry.get("config", {})
        if cfg.get("task", {}).get("name") == task_name and (
                model_name is None or cfg.get("model", {}).get("name") == model_name):
            try:
                return RunConfig.from_manifest(entry).build_task().reference_levels()
            except Exception:  # a task no longer available: draw without its levels
                return {}
    return {}


def convergence_figure(key, groups, manifest, path) -> str:
    """Test loss against steps (left) and against the learner's wall-clock seconds (right, log): the median
    over seeds as a line, the range over seeds as a band, the task's reference levels as dotted lines."""
    import warnings
    from matplotlib.transforms import blended_transform_factory
    task, model, n = key
    fig = _figure(11, 4.6)
    ax_s, ax_w = fig.subplots(1, 2, sharey=True)
    keys = sorted(groups, key=lambda k: (_rank(groups[k].learner), k))
    colors = _colors(keys)
    finals, starts, lows = [], [], []
    handles = []
    timed = False   # some run has a point at a positive time (the right panel's log axis needs one)
    n_seeds = set()
    loss_kind = "xent"
    for entry in manifest.values():
        if entry.get("config", {}).get("task", {}).get("name") == task:
            from .tasks import TASKS
            loss_kind = getattr(TASKS.get(task), "loss", "mse")
            break
    for k in keys:
        series = groups[k]
        n_seeds.add(len(series))
        steps = np.unique(np.concatenate([s["step"] for s in series.values()]))
        loss = _stack(series, "test_loss", steps)
        wall = _stack(series, "wall_s", steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med, lo, hi = np.nanmedian(loss, 0), np.nanmin(loss, 0), np.nanmax(loss, 0)
            wmed = np.nanmedian(wall, 0)
        diverged = sum(1 for s in series.values()
                       if manifest.get(s["run"], {}).get("status") == "diverged")
        text = f"{series.display}, {k[1]}"
        if diverged:
            text += f" [{'all ' if diverged == len(series) else ''}{diverged}/{len(series)} diverged]"
        c = colors[k]
        (h,) = ax_s.plot(steps, med, color=c, lw=1.6, label=text)
        ax_s.fill_between(steps, lo, hi, color=c, alpha=0.18, lw=0)
        pos = (wmed > 0) & np.isfinite(wmed) & np.isfinite(med)
        timed = timed or bool(pos.any())
        ax_w.plot(wmed[pos], med[pos], color=c, lw=1.6)
        ax_w.fill_between(wmed[pos], lo[pos], hi[pos], color=c, alpha=0.18, lw=0)
        handles.append(h)
        good = med[np.isfinite(med)]
        if len(good):
            finals.append(good[-1])
            starts.append(good[0])
            lows.append(np.nanmin(lo))
    levels = _reference_levels(manifest, task)
    finite = [v for v in (starts + list(levels.values())) if np.isfinite(v)]
    low = [v for v in (lows + list(levels.values())) if np.isfinite(v)]
    if finite and low:
        top, bottom = (max(levels.values()) if levels else max(finite)), min(low)
        pad = 0.06 * (top - bottom if top > bottom else abs(top) + 1e-3)
        ax_s.set_ylim(bottom - pad, top + pad)
    end = np.median(finals) if finals else np.inf
    for ax in (ax_s, ax_w):
        tr = blended_transform_factory(ax.transAxes, ax.transData)
        for name, v in levels.items():
            ax.axhline(v, color="0.35", ls=(0, (1, 2)), lw=1.0, zorder=1)
            if ax is ax_s:
                below = end > v
                ax.text(0.99, v, f"{name} ({v:.3f})", transform=tr, ha="right", va="top" if below else "bottom",
                        fontsize=8, color="0.25")
        _style(ax)
    if timed:
        ax_w.set_xscale("log")   # (not when no run has a positive time: every one diverged at once)
    else:
        ax_w.text(0.5, 0.5, "no run has timed steps\n(all diverged or failed at the start)",
                  transform=ax_w.transAxes, ha="center", va="center", fontsize=9, color="0.3")
    ax_s.set_xlabel("training steps (time steps of the stream)", fontsize=10)
    ax_w.set_xlabel("wall-clock time in the learner (s, log scale)", fontsize=10)
    ax_s.set_ylabel(LOSS_AXIS.get(loss_kind, "test loss"), fontsize=10)
    from matplotlib.ticker import FuncFormatter
    if max((s["step"].max() for g in groups.values() for s in g.values()), default=0) >= 10_000:
        ax_s.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))
    k_seeds = "/".join(str(v) for v in sorted(n_seeds))
    fig.suptitle(f"{task} task, {model.capitalize() if model == 'elman' else model} network, n = {n} hidden "
                 f"units: median over {k_seeds} seeds, band = range over seeds", fontsize=11)
    longest = max((len(h.get_label()) for h in handles), default=0)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3 if longest < 45 else 2),
               fontsize=9, frameon=False)
    return _save(fig, path)


def convergence_figures(folder, out_dir=None, name=None, log=None) -> list[str]:
    """One convergence figure per (task, model, n) in the folder; returns the paths written.

    Drawn from whatever is stored: a group whose runs all diverged is drawn with them marked as such; runs
    that failed (no rows) are counted in a note; a figure that cannot be drawn is skipped with a note (to
    `log`, default stderr), never stopping the other figures."""
    import sys
    note = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
    data, manifest = convergence_data(folder)
    out_dir = folder if out_dir is None else out_dir
    failed: dict = {}
    for entry in manifest.values():
        if entry.get("status") == "failed" and not entry.get("n_rows"):
            cfg = entry.get("config") or {}
            try:
                key = (cfg["task"]["name"], cfg["model"]["name"], cfg["model"]["params"]["n_hidden"])
            except (KeyError, TypeError):
                continue
            failed[key] = failed.get(key, 0) + 1
    for key in sorted(set(failed) - set(data)):
        note(f"no convergence figure for {key[0]} {key[1]} n={key[2]}: all {failed[key]} of its runs failed "
             "(their reasons are in runs.jsonl)")
    paths = []
    for key in sorted(data):
        task, model, n = key
        fname = name if (name and len(data) == 1) else f"convergence_{task}_{model}_n{n}.png"
        try:
            paths.append(convergence_figure(key, data[key], manifest, os.path.join(out_dir, fname)))
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - one figure's problem must not stop the others
            note(f"skipped the convergence figure for {task} {model} n={n}: {type(exc).__name__}: "
                 f"{str(exc).splitlines()[0] if str(exc) else ''}")
        if failed.get(key):
            note(f"{task} {model} n={n}: {failed[key]} failed runs are not drawn (their reasons are in runs.jsonl)")
    return paths


def final_losses(folder) -> tuple[dict, dict]:
    """({(task, model, n): {display label: {"median", "low", "high", "diverged", "runs", "optimizer"}}}, the
    manifest): each learner's final test loss over seeds (rnnlearn.report's `final`: a diverged run counted
    apart, not in the numbers), learners in registry order."""
    from .report import Quote, compute
    q = Quote("final", metric="test_loss", by=("task", "model", "n_hidden", "learner", "display", "optimizer"))
    ((_, lines),) = compute(folder, [q])
    _, manifest = Store(folder).load()
    out: dict = {}
    for line in sorted(lines, key=lambda ln: (_rank(ln.group["learner"]), ln.group["display"])):
        g = line.group
        out.setdefault((g["task"], g["model"], g["n_hidden"]), {})[g["display"]] = {
            "median": line.median, "low": line.low, "high": line.high, "diverged": line.diverged,
            "runs": line.runs, "optimizer": g["optimizer"]}
    return out, manifest


def final_loss_figure(folder, path, title=None) -> str:
    """Final test loss per learner (rows) per task and model (one panel each, the order of the results):
    median over seeds as a dot, the range as a bar, the learner's optimizer beside it (tuned settings differ
    by task), the task's reference levels as dotted lines; a learner with diverged seeds says how many.
    Marschall, Cho and Savin's (2020) figure of every learner on each task (numbers: `final_losses`)."""
    from matplotlib.transforms import blended_transform_factory
    data, manifest = final_losses(folder)
    if not data:
        raise ValueError(f"no results in {os.fspath(folder)!r}")
    keys = list(data)
    rows = []
    for per in data.values():
        for display in per:
            if display not in rows:
                rows.append(display)
    fig = _figure(3.8 * len(keys) + 1.8, 0.34 * len(rows) + 1.6)
    axes = np.atleast_1d(fig.subplots(1, len(keys), sharey=True))
    for ax, key in zip(axes, keys):
        task, model, n = key
        levels = _reference_levels(manifest, task, model)
        # the scale: up to a little above the worst reference level (learning nothing), so that one diverging
        # seed does not squeeze every other learner into a corner
        cap = 1.25 * max(levels.values()) if levels and max(levels.values()) > 0 else None
        for display, f in data[key].items():
            row = rows.index(display)
            med, lo, hi, bad = f["median"], f["low"], f["high"], f["diverged"]
            note = "" if f["optimizer"] in ("sgd", "own update") else re.sub(
                r"\d+\.\d+(e-?\d+)?", lambda mt: f"{float(mt.group(0)):.3g}", f["optimizer"].replace("sgd ", ""))
            if bad:
                note += f"{', ' if note else ''}{bad}/{f['runs']} diverged"
            if np.isfinite(med):
                if cap is not None and hi > cap:  # off the scale: the bar stops at the edge, its end written
                    note = f"{note}{', ' if note else ''}to {hi:.3g}"
                    hi = cap
                ax.plot([lo, hi], [row, row], color="0.6", lw=2.4, solid_capstyle="butt")
                ax.plot([min(med, hi)], [row], "o", color="C3" if bad else "C0", ms=5)
            if note and np.isfinite(hi):
                ax.annotate(note, (hi, row), xytext=(5, 0), textcoords="offset points", fontsize=6.5,
                            color="0.35", va="center", ha="left")
            elif note:
                ax.text(0.995, row, note, transform=ax.get_yaxis_transform(), fontsize=6.5, color="0.35",
                        va="center", ha="right")
        tr = blended_transform_factory(ax.transData, ax.transAxes)
        for name, v in levels.items():
            ax.axvline(v, color="0.35", ls=(0, (1, 2)), lw=1.0, zorder=1)
            ax.text(v, 0.0, f" {name} ({v:.3g})", transform=tr, rotation=90, fontsize=6.5, color="0.3",
                    va="bottom", ha="right")
        entry = next((e["config"] for e in manifest.values()
                      if e.get("config", {}).get("task", {}).get("name") == task
                      and e.get("config", {}).get("model", {}).get("name") == model), {})
        tparams = entry.get("task", {}).get("params", {}) or {}
        mparams = entry.get("model", {}).get("params", {}) or {}
        shown = ", ".join(f"{a} = {b}" for a, b in tparams.items() if a in ("t1", "t2"))
        alpha = f", alpha = {mparams['alpha']:g}" if "alpha" in mparams else ""
        ax.set_title(f"{task}{f' ({shown})' if shown else ''}, {model} n = {n}{alpha}", fontsize=9)
        ax.set_xlabel("final test loss", fontsize=9)
        _style(ax)
    axes[0].set_yticks(range(len(rows)), rows, fontsize=8)
    axes[0].invert_yaxis()
    n_seeds = sorted({f["runs"] for per in data.values() for f in per.values()})
    fig.suptitle(title or f"Final test loss of every learner: median (dot) and range (bar) over "
                 f"{'/'.join(map(str, n_seeds))} seeds", fontsize=10)
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# cost
# ----------------------------------------------------------------------------------------------------------

def fit_slope(n, y, points: int = FIT_POINTS) -> tuple[float, np.ndarray]:
    """Least-squares slope of log y against log n over the `points` largest n; (slope, the n used)."""
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(n)
    n, y = n[order][-points:], y[order][-points:]
    if len(n) < 2:
        return float("nan"), n
    slope = np.polyfit(np.log(n), np.log(y), 1)[0]
    return float(slope), n


def cost_slopes(folder, points: int = FIT_POINTS) -> dict:
    """{(model, label): {"time": (slope, theory, n_fit), "memory": (slope, theory, n_fit)}} from cost.csv."""
    rows = Store(folder).read_table(COST, COST_COLUMNS)
    out = {}
    for (model, label), rs in _by_learner(rows).items():
        n = [r["n"] for r in rs]
        ts, tn = fit_slope(n, [r["us_per_step"] for r in rs], points)
        ms, mn = fit_slope(n, [r["state_mb"] for r in rs], points)
        out[(model, label)] = {"time": (ts, rs[0]["time_exponent"], tn), "memory": (ms, rs[0]["memory_exponent"], mn)}
    return out


def _by_learner(rows):
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["model"], r["label"]), {})[r["n"]] = r  # a size measured twice: the last counts
    return {k: [v[n] for n in sorted(v)] for k, v in groups.items()}


def cost_figure(folder, path, points: int = FIT_POINTS) -> str:
    """Microseconds per step (left) and learner state in MB (right) against n, log-log, each learner's
    measured points with its fitted slope over the largest sizes (dashed), printed beside the theory."""
    rows = Store(folder).read_table(COST, COST_COLUMNS)
    if not rows:
        raise ValueError(f"no cost data in {os.fspath(folder)!r} (run `rnnlearn cost --out {os.fspath(folder)}`)")
    groups = _by_learner(rows)
    keys = sorted(groups, key=lambda k: (_rank(groups[k][0]["learner"]), k))
    colors = _colors(keys)
    markers = "osD^vP*X"
    fig = _figure(11, 4.6)
    axes = fig.subplots(1, 2)
    for ax, field, theory_key, ylabel, what in (
            (axes[0], "us_per_step", "time_exponent", "time per step (µs)", "time"),
            (axes[1], "state_mb", "memory_exponent", "learner state (MB)", "memory")):
        for i, k in enumerate(keys):
            rs = groups[k]
            n = np.array([r["n"] for r in rs], dtype=float)
            y = np.array([r[field] for r in rs], dtype=float)
            slope, nfit = fit_slope(n, y, points)
            theory = rs[0][theory_key]
            model = k[0]
            name = (rs[0]["display"] or rs[0]["label"]) + (f" [{model}]" if len({m for m, _ in keys}) > 1 else "")
            text = f"{name}: slope {slope:.2f} (theory {theory:g})" if np.isfinite(slope) else name
            ax.plot(n, y, marker=markers[i % len(markers)], ms=5, lw=1.2, color=colors[k], label=text)
            if np.isfinite(slope) and len(nfit) >= 2:
                sel = np.isin(n, nfit)
                c0 = np.polyfit(np.log(n[sel]), np.log(y[sel]), 1)
                xs = np.array([nfit.min() / 1.25, nfit.max() * 1.25])
                ax.plot(xs, np.exp(np.polyval(c0, np.log(xs))), color=colors[k], ls="--", lw=1.0, alpha=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden units n (log scale)", fontsize=10)
        ax.set_ylabel(ylabel + ", log scale", fontsize=10)
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        _style(ax)
        from matplotlib.ticker import ScalarFormatter
        ax.xaxis.set_major_formatter(ScalarFormatter())
    t = sorted({r["T"] for r in rows})
    fig.suptitle(f"Cost per time step against hidden units n (Elman, batch 1, float64, one BLAS thread; median of "
                 f"timed repeats on sequences of T = {'/'.join(map(str, t))} steps)\nDashed: log-log fit over each "
                 f"learner's {points} largest sizes; its slope is printed beside the theoretical exponent",
                 fontsize=10)
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# vanishing gradient
# ----------------------------------------------------------------------------------------------------------

def vanishing_figure(folder, path) -> str:
    """||dL_T/dh_t|| against T - t for each spectral radius rho: median over seeds with the 10-90 percentile
    band, and rho^(T-t) ||dL_T/dh_T|| dashed (the bound: exact while the units stay in tanh's linear range)."""
    rows = Store(folder).read_table(VANISHING, VANISHING_COLUMNS)
    if not rows:
        raise ValueError(f"no vanishing-gradient data in {os.fspath(folder)!r} "
                         f"(run `rnnlearn vanishing --out {os.fspath(folder)}`)")
    by_rho: dict = {}
    for r in rows:
        by_rho.setdefault(r["rho"], {}).setdefault(r["seed"], {})[r["lag"]] = r["grad_norm"]
    fig = _figure(6.8, 4.6)
    ax = fig.subplots()
    colors = _colors(sorted(by_rho))
    info = rows[0]
    for rho in sorted(by_rho):
        seeds = by_rho[rho]
        lags = np.array(sorted(next(iter(seeds.values()))))
        g = np.array([[seeds[s].get(l, np.nan) for l in lags] for s in sorted(seeds)])
        med = np.nanmedian(g, 0)
        lo, hi = np.nanpercentile(g, 10, 0), np.nanpercentile(g, 90, 0)
        c = colors[rho]
        ax.plot(lags, med, color=c, lw=1.8, label=f"ρ = {rho:g}")
        ax.fill_between(lags, lo, hi, color=c, alpha=0.2, lw=0)
        ax.plot(lags, med[0] * rho ** lags.astype(float), color=c, ls="--", lw=1.0)
    ax.plot([], [], color="0.4", ls="--", lw=1.0, label="ρ$^{T-t}$ ‖∂L$_T$/∂h$_T$‖ (linear regime)")
    ax.set_yscale("log")
    ax.set_xlabel("T − t (steps back from the loss)", fontsize=10)
    ax.set_ylabel("‖∂L$_T$/∂h$_t$‖ (log scale)", fontsize=10)
    ax.legend(fontsize=9, frameon=False, loc="lower left")
    _style(ax)
    n_seeds = len(next(iter(by_rho.values())))
    ax.set_title(f"Elman network, n = {info['n_hidden']}, W = ρ × orthogonal (spectral radius ρ), small inputs\n"
                 f"median over {n_seeds} random networks and inputs, band = 10–90th percentile", fontsize=10)
    ax.text(0.98, 0.36, "for ρ > 1 the state grows until tanh saturates;\nsaturated units (tanh′ ≈ 0) hold the "
            "gradient\nfar below ρ$^{T-t}$ over the last steps", transform=ax.transAxes, ha="right", va="center",
            fontsize=8, color="0.3")
    return _save(fig, path)


# ----------------------------------------------------------------------------------------------------------
# gradient alignment
# ----------------------------------------------------------------------------------------------------------

def alignment_data(folder) -> dict:
    """{(task, model, n_hidden): {run group: {"label", "display", "optimizer", "window", "names" (display
    labels of learner 0, 1, ...), "seeds": {seed: rows of alignment.csv}}}} of the folder's alignment runs."""
    st = Store(folder)
    manifest = st.manifest()
    out: dict = {}
    for r in st.load_alignment(manifest):
        entry = manifest[r["run"]]
        cfg = entry["config"]
        key = (cfg["task"]["name"], cfg["model"]["name"], cfg["model"]["params"]["n_hidden"])
        g = out.setdefault(key, {}).setdefault(entry.get("group", r["run"]), {
            "label": entry.get("label", cfg["learner"]["name"]), "learner": cfg["learner"]["name"],
            "display": entry.get("display") or entry.get("label", ""), "optimizer": entry.get("optimizer", ""),
            "window": cfg.get("alignment", {}).get("window"), "names": {}, "seeds": {}})
        g["names"][r["a"]] = r["a_display"] or r["a_label"]
        g["names"][r["b"]] = r["b_display"] or r["b_label"]
        g["seeds"].setdefault(cfg["seed"], []).append(r)
    return out


def alignment_figure(key, groups, path) -> str:
    """Cosine between each trained learner's window update and the first passive learner's (the exact online
    gradient by default) against steps (left), and their norm ratio (right, log): median over seeds as a line,
    range over seeds as a band; one curve per trained learner."""
    import warnings
    task, model, n = key
    fig = _figure(11, 4.6)
    ax_c, ax_r = fig.subplots(1, 2, sharex=True)
    keys = sorted(groups, key=lambda k: (_rank(groups[k]["learner"]), groups[k]["label"], k))
    colors = _colors(keys)
    refs, windows, handles = set(), set(), []
    for k in keys:
        g = groups[k]
        refs.add(g["names"].get(1, "?"))
        windows.add(g["window"])
        per_seed = {sd: {r["step"]: r for r in rows if r["a"] == 0 and r["b"] == 1} for sd, rows in g["seeds"].items()}
        steps = sorted({s for d in per_seed.values() for s in d})
        if not steps:
            continue
        cos = np.array([[d[s]["cosine"] if s in d else np.nan for s in steps] for d in per_seed.values()])
        ratio = np.array([[d[s]["norm_ratio"] if s in d else np.nan for s in steps] for d in per_seed.values()])
        c = colors[k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for ax, y in ((ax_c, cos), (ax_r, ratio)):
                more = len(g["names"]) - 2
                (h,) = ax.plot(steps, np.nanmedian(y, 0), color=c, lw=1.6,
                               label=f"{g['display']}, {g['optimizer']}" + (f" [+{more} passive]" if more else ""))
                ax.fill_between(steps, np.nanmin(y, 0), np.nanmax(y, 0), color=c, alpha=0.18, lw=0)
        handles.append(h)
    ax_c.axhline(1.0, color="0.35", ls=(0, (1, 2)), lw=1.0)
    ax_c.axhline(0.0, color="0.6", lw=0.6)
    ax_r.axhline(1.0, color="0.35", ls=(0, (1, 2)), lw=1.0)
    ax_r.set_yscale("log")
    ref = "/".join(sorted(refs))
    ax_c.set_ylabel(f"cosine with {ref}'s update", fontsize=10)
    ax_r.set_ylabel(f"norm ratio |learner| / |{ref}| (log scale)", fontsize=10)
    for ax in (ax_c, ax_r):
        ax.set_xlabel("training steps", fontsize=10)
        _style(ax)
    w = "/".join(str(v) for v in sorted(windows, key=str))
    n_seeds = "/".join(str(v) for v in sorted({len(g["seeds"]) for g in groups.values()}))
    fig.suptitle(f"Gradient alignment with {ref} run passively on each learner's trajectory: {task} task, "
                 f"{model.capitalize() if model == 'elman' else model} n = {n}\nupdates summed over windows of "
                 f"{w} steps; mean per evaluation interval, median over {n_seeds} seeds, band = range",
                 fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=9, frameon=False)
    return _save(fig, path)


def alignment_matrix(group) -> tuple[list[str], np.ndarray]:
    """(names, K x K mean cosine) of one run group: each run's mean over all its counted windows (weighted by
    the windows of each record), then the mean over seeds; the diagonal is 1."""
    K = max(group["names"]) + 1
    per_seed = []
    for rows in group["seeds"].values():
        num, den = np.zeros((K, K)), np.zeros((K, K))
        for r in rows:
            if r["windows"] > 0 and np.isfinite(r["cosine"]):
                num[r["a"], r["b"]] += r["cosine"] * r["windows"]
                den[r["a"], r["b"]] += r["windows"]
        with np.errstate(all="ignore"):
            m = num / den
        m = np.where(np.isnan(m), m.T, m)
        np.fill_diagonal(m, 1.0)
        per_seed.append(m)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(np.array(per_seed), 0)
    return [group["names"][i] for i in range(K)], mean


def alignment_matrix_figure(key, group, path) -> str:
    """The matrix of pairwise alignments of learners run side by side on one trajectory (the first one
    trains), averaged over the run and the seeds."""
    names, m = alignment_matrix(group)
    K = len(names)
    names = [f"{names[0]} (trains)"] + names[1:]
    fig = _figure(1.2 + 0.75 * K + 2.0, 1.0 + 0.75 * K)
    ax = fig.subplots()
    im = ax.imshow(m, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
    for i in range(K):
        for j in range(K):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(m[i, j]) > 0.6 else "black")
    ax.set_xticks(range(K), names, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(K), names, fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8, label="mean cosine of the window updates")
    task, model, n = key
    ax.set_title(f"Pairwise gradient alignment on one trajectory: {task}, {model} n = {n},\nwindows of "
                 f"{group['window']} steps, mean over the run and {len(group['seeds'])} seeds", fontsize=9)
    return _save(fig, path)


def alignment_figures(folder, out_dir=None, log=None) -> list[str]:
    """alignment_TASK_MODEL_nN.png per (task, model, n) with alignment runs, and alignment_matrix_...png for
    every run group with more than one passive learner; returns the paths written."""
    out_dir = folder if out_dir is None else out_dir
    paths = []
    for key, groups in sorted(alignment_data(folder).items()):
        task, model, n = key
        paths.append(alignment_figure(key, groups, os.path.join(out_dir, f"alignment_{task}_{model}_n{n}.png")))
        for g in sorted(groups.values(), key=lambda g: (_rank(g["learner"]), g["label"])):
            if len(g["names"]) > 2:
                safe = "".join(ch if ch.isalnum() else "_" for ch in g["label"]).strip("_")
                paths.append(alignment_matrix_figure(
                    key, g, os.path.join(out_dir, f"alignment_matrix_{task}_{model}_n{n}_{safe}.png")))
    return paths


# ----------------------------------------------------------------------------------------------------------
# tuning (a folder of `rnnlearn tune`, rnnlearn.tune)
# ----------------------------------------------------------------------------------------------------------

def _task_text(task: dict) -> str:
    from .sweep import format_params
    return f"{task['name']}({format_params(task['params'])})" if task.get("params") else task["name"]


def sensitivity_data(folder) -> dict:
    """{(task text, model, n): {(display label, optimizer): {lr: [final test loss of each seed]}}} from the
    trials of a tuning folder (DIR/trials), gradient learners only; a diverged run's loss is inf."""
    import math
    from .tune import TRIALS
    manifest = Store(os.path.join(os.fspath(folder), TRIALS)).manifest()
    data: dict = {}
    for e in manifest.values():
        cfg = e.get("config") or {}
        if e.get("status") not in ("done", "diverged") or not cfg.get("optimizer"):
            continue
        key = (_task_text(cfg["task"]), cfg["model"]["name"], cfg["model"]["params"]["n_hidden"])
        curve = (e.get("display") or e.get("label"), cfg["optimizer"]["name"], cfg["learner"]["name"])
        loss = e.get("final_test_loss")
        loss = float(loss) if e["status"] == "done" and loss is not None and math.isfinite(loss) else math.inf
        data.setdefault(key, {}).setdefault(curve, {}).setdefault(float(cfg["optimizer"]["lr"]), []).append(loss)
    return data


def sensitivity_figure(folder, path) -> str:
    """Final test loss against the learning rate, one curve per learner (median over the seeds of each
    trial's rate as a line, their range as a band; a rate at which a seed diverged marked x at the top),
    the chosen rate starred; one panel per task, model and size. Read from the stored trials only."""
    import warnings
    from .tune import load_tuned
    data = sensitivity_data(folder)
    if not data:
        raise ValueError(f"no trials of gradient learners in {os.path.join(os.fspath(folder), 'trials')!r}")
    chosen = {(_task_text(e["task"]), e["model"], e["n_hidden"], e["learner"], e["label"]): e["params"].get("lr")
              for e in load_tuned(folder, missing_ok=True).values()}
    keys = sorted(data)
    fig = _figure(max(5.2 * min(len(keys), 3), 8.0), 4.4 * ((len(keys) + 2) // 3) + 0.6)
    axes = np.atleast_1d(fig.subplots((len(keys) + 2) // 3, min(len(keys), 3), squeeze=False)).ravel()
    curves = sorted({c for k in keys for c in data[k]}, key=lambda c: (_rank(c[2]), c))
    colors = _tuning_colors(folder, [f"{c[0]}, {c[1]}" for c in curves])
    colors = {c: colors[f"{c[0]}, {c[1]}"] for c in curves}
    handles = {}
    for ax, key in zip(axes, keys):
        finite_all = [v for c in data[key].values() for vs in c.values() for v in vs if np.isfinite(v)]
        levels = _levels_of(key[0])
        bottom = min(finite_all) if finite_all else 0.0
        top = max(finite_all) if finite_all else 1.0
        if levels:   # losses far above learning nothing are drawn at the top (a ^ on the curve's colour)
            nothing = max(levels.values())
            top = min(top, nothing + 0.5 * (nothing - min(bottom, min(levels.values()))))
        for c in curves:
            if c not in data[key]:
                continue
            by_lr = data[key][c]
            lrs = np.array(sorted(by_lr))
            vals = [np.array(by_lr[lr]) for lr in lrs]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fin = [v[np.isfinite(v)] for v in vals]
                med = np.array([np.median(v) if len(v) == len(u) else np.nan for v, u in zip(fin, vals)])
                lo = np.array([v.min() if len(v) else np.nan for v in fin])
                hi = np.array([v.max() if len(v) else np.nan for v in fin])
            color = colors[c]
            (h,) = ax.plot(lrs, np.minimum(med, top), color=color, lw=1.5, marker="o", ms=3)
            ax.fill_between(lrs, np.minimum(lo, top), np.minimum(hi, top), color=color, alpha=0.18, lw=0)
            above = med > top
            if above.any():
                ax.plot(lrs[above], [top] * int(above.sum()), ls="none", marker="^", color=color, ms=6)
            div = [lr for lr, v in zip(lrs, vals) if not np.all(np.isfinite(v))]
            if div:
                ax.plot(div, [top + 0.04 * (top - bottom + 1e-9)] * len(div), ls="none", marker="x", color=color,
                        ms=6, clip_on=False)
            lab = f"{c[0]}, {c[1]}"
            best = chosen.get((key[0], key[1], key[2], c[2], lab))
            if best is not None and best in by_lr:
                i = int(np.searchsorted(lrs, best))
                ax.plot([best], [med[i] if np.isfinite(med[i]) else lo[i]], marker="*", ms=13, color=color,
                        mec="k", mew=0.6, ls="none", zorder=5)
            handles[c] = (h, lab)
        for name, v in levels.items():
            if bottom - 0.05 * (top - bottom) <= v <= top:
                ax.axhline(v, color="0.35", ls=(0, (1, 2)), lw=1.0, zorder=1)
                ax.text(0.01, v, f" {name} ({v:.3f})", transform=ax.get_yaxis_transform(), fontsize=7,
                        color="0.25", va="bottom")
        pad = 0.05 * (top - bottom + 1e-9)
        ax.set_ylim(bottom - pad, top + 2 * pad)
        ax.set_xscale("log")
        ax.set_title(f"{key[0]}, {key[1]} n = {key[2]}", fontsize=10)
        ax.set_xlabel("learning rate (log scale)", fontsize=10)
        ax.set_ylabel("final test loss", fontsize=10)
        _style(ax)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    fig.suptitle("Learning-rate sensitivity (tuning trials): median over seeds, band = range,\n"
                 "x = a seed diverged, ^ = above the axis, * = the chosen rate", fontsize=10)
    fig.legend(handles=[h for h, _ in handles.values()], labels=[lab for _, lab in handles.values()],
               loc="outside lower center", ncol=min(len(handles), 3), fontsize=9, frameon=False)
    return _save(fig, path)


def _levels_of(task_text: str) -> dict:
    """The reference levels of a task given as `_task_text` writes it ({} when it cannot be built)."""
    from .sweep import parse_spec
    from .tasks import make_task
    try:
        name, _, rest = task_text.partition("(")
        params = parse_spec(f"{name}:{rest[:-1]}", "task")[1] if rest else {}
        return make_task(name, **params).reference_levels()
    except Exception:  # noqa: BLE001 - drawn without its levels
        return {}


def _tuning_colors(folder, labels) -> dict:
    """{label: colour}, the same for a learner in every tuning figure of a folder: the tuned learners in
    registry order, then any other label."""
    from .tune import load_tuned
    entries = sorted(load_tuned(folder, missing_ok=True).values(), key=lambda e: (_rank(e["learner"]), e["label"]))
    order = list(dict.fromkeys([e["label"] for e in entries] + sorted(labels)))
    return _colors(order)


def profile_data(folder, targets_by_task: dict | None = None) -> tuple[dict, dict]:
    """({(task text, model, n): {learner label: (steps, learner seconds) to target, median over seeds, inf for
    a miss}}, {problem: target}) from a tuning folder's tuned.json and its reruns (results.csv). The target is
    the tuning's (--target), or `targets_by_task[task name]` for a tuning that had none."""
    from .tune import load_tuned, time_to_target
    given = targets_by_task or {}
    tuned = []
    for e in load_tuned(folder).values():
        target = e.get("target") if e.get("target") is not None else given.get(e["task"]["name"])
        if target is not None:
            tuned.append(dict(e, target=target))
    rows, _ = Store(folder).load()
    by_run: dict = {}
    for r in rows:
        by_run.setdefault(r["run"], []).append(r)
    times: dict = {}
    targets: dict = {}
    for e in tuned:
        key = (_task_text(e["task"]), e["model"], e["n_hidden"])
        t = np.array([time_to_target(by_run.get(h, []), e["target"]) for h in e["runs"]])
        times.setdefault(key, {})[e["label"]] = tuple(float(np.median(t[:, j])) for j in range(2))
        targets[key] = e["target"]
    return times, targets


def performance_profiles(times: dict, which: int) -> tuple[list[str], dict]:
    """AlgoPerf's performance profiles: for each learner, the ratios t / (best t on that problem) over the
    problems (inf where it missed, or was not run there); (learners, {learner: sorted ratios})."""
    learners = sorted({lab for t in times.values() for lab in t})
    ratios = {lab: [] for lab in learners}
    for t in times.values():
        best = min(v[which] for v in t.values())
        for lab in learners:
            v = t.get(lab, (np.inf, np.inf))[which]
            ratios[lab].append(v / best if np.isfinite(v) and np.isfinite(best) and best > 0 else
                               (1.0 if v == best and np.isfinite(v) else np.inf))
    return learners, {k: sorted(v) for k, v in ratios.items()}


def profile_figure(folder, path, tau_max: float = 16.0, targets_by_task: dict | None = None) -> str:
    """Time-to-target performance profiles (AlgoPerf's form): the fraction of problems (task, model, n) on
    which a learner reaches the target within a factor tau of the fastest learner there, against tau, in
    steps (left) and learner seconds (right); a miss counts as infinity (never reached)."""
    times, targets = profile_data(folder, targets_by_task)
    if not times:
        raise ValueError(f"no tuned settings with a target loss in {os.fspath(folder)!r} (rnnlearn tune --target)")
    fig = _figure(11, 4.6)
    axes = fig.subplots(1, 2, sharey=True)
    handles = []
    for which, ax, unit in ((0, axes[0], "steps"), (1, axes[1], "learner seconds")):
        learners, ratios = performance_profiles(times, which)
        finite = [r for v in ratios.values() for r in v if np.isfinite(r)]
        taus = np.geomspace(1.0, max([tau_max] + [1.5 * r for r in finite]), 400)
        colors = _tuning_colors(folder, learners)
        order = [lab for lab in colors if lab in ratios]
        for i, lab in enumerate(order):   # wider lines first: a profile that coincides with another shows
            r = np.array(ratios[lab])
            rho = [(r <= tau).mean() for tau in taus]
            (h,) = ax.step(taus, rho, where="post", color=colors[lab], lw=max(3.6 - 0.45 * i, 1.0), label=lab,
                           alpha=0.9)
            if which == 0:
                handles.append(h)
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(f"tau: within this factor of the fastest ({unit} to the target)", fontsize=10)
        _style(ax)
    axes[0].set_ylabel("fraction of problems", fontsize=10)
    import textwrap
    def short(task_text):  # the task's name and the parameters that tell its problems apart (lags)
        name, _, rest = task_text.partition("(")
        kept = [kv for kv in rest.rstrip(")").split(",") if kv.split("=")[0] in ("t1", "t2", "delay")]
        return f"{name}({','.join(kept)})" if kept else name
    tg = "; ".join(f"{short(k[0])} {k[1]} n={k[2]}: {v:g}" for k, v in sorted(targets.items()))
    fig.suptitle("\n".join(textwrap.wrap(f"Time-to-target performance profiles over {len(times)} problem(s), "
                                         f"tuned settings, median over seeds; targets {tg}", 125)), fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3), fontsize=9, frameon=False)
    return _save(fig, path)


def tuning_figures(folder, out_dir=None, log=None) -> list[str]:
    """The figures of a tuning folder: learning-rate sensitivity (when it has gradient learners' trials) and
    the performance profiles (when its tunings have a target)."""
    import sys
    from .tune import TUNED, load_tuned
    note = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
    out_dir = os.fspath(folder) if out_dir is None else out_dir
    paths = []
    if sensitivity_data(folder):
        paths.append(sensitivity_figure(folder, os.path.join(out_dir, "lr_sensitivity.png")))
    tuned = load_tuned(folder, missing_ok=True)
    if any(e.get("target") is not None for e in tuned.values()):
        paths.append(profile_figure(folder, os.path.join(out_dir, "performance_profiles.png")))
    elif tuned:
        note(f"no performance profiles: the tunings in {os.path.join(os.fspath(folder), TUNED)} have no target "
             "loss (rnnlearn tune --target LOSS)")
    return paths


# ----------------------------------------------------------------------------------------------------------

def plot_all(folder, out_dir=None) -> list[str]:
    """Every figure the folder has data for; ValueError when it has none (or a corrupt file)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"results folder {folder!r} does not exist")
    out_dir = folder if out_dir is None else out_dir
    paths = []
    st = Store(folder)
    found = False
    if os.path.exists(st.path(MANIFEST)) or os.path.exists(st.path(RESULTS)):
        found = True
        paths += convergence_figures(folder, out_dir)
    if os.path.exists(st.path(ALIGNMENT)):
        found = True
        paths += alignment_figures(folder, out_dir)
    if os.path.exists(st.path(COST)):
        found = True
        paths.append(cost_figure(folder, os.path.join(out_dir, "cost.png")))
    if os.path.exists(st.path(VANISHING)):
        found = True
        paths.append(vanishing_figure(folder, os.path.join(out_dir, "vanishing_gradient.png")))
    from .tune import TRIALS, TUNED
    if os.path.exists(st.path(TUNED)) or os.path.isdir(st.path(TRIALS)):
        found = True
        paths += tuning_figures(folder, out_dir)
    if not found:
        raise ValueError(f"no results in {folder!r} (expected {RESULTS}, {COST} or {VANISHING})")
    return paths


# ----------------------------------------------------------------------------------------------------------
# success against a task parameter; steps and seconds to a target
# ----------------------------------------------------------------------------------------------------------

def _model_text(spec: str) -> str:
    """A model spec's label in figures: its class's `spec_label` ('lru:d_state=32,r_max=1.0,r_min=0.0' ->
    'LRU, r in [0, 1]'), else the spec."""
    from .models import MODELS
    from .sweep import parse_spec
    name, params = parse_spec(spec, "model")
    label = MODELS[name].spec_label(params) if name in MODELS else None
    return spec if label is None else label


def success_data(folder, metric: str = "symbols_correct", threshold: float = 0.9, param: str = "delay") -> dict:
    """{(model spec, learner line): {value of the task's `param`: (finals, runs)}}: each run's final
    `metric` (rnnlearn.report's `final`, over seeds), grouped by the full model spec, the learner and the
    task's `param`. A learner whose `window` is the task's whole sequence (Task.sequence_steps: a window that
    changes with the delay) is one line, "NAME (window = sequence)". A run that diverged counts among `runs`
    with no final value (a failure). A point's success rate is `success_rate(finals, runs, threshold)`."""
    from .report import Quote, compute, spec_of
    from .sweep import parse_spec
    from .tasks import TASKS
    q = Quote("final", metric=metric, by=("model_spec", "task_spec", "label", "display"))
    ((_, lines),) = compute(folder, [q])
    _, manifest = Store(folder).load()
    learner = {(spec_of(e, "model"), spec_of(e, "task"), e.get("label")): e["config"]["learner"]
               for e in manifest.values() if "config" in e}
    out: dict = {}
    for line in lines:
        g = line.group
        name, tparams = parse_spec(g["task_spec"], "task")
        if param not in tparams:
            raise ValueError(f"task {g['task_spec']!r} has no parameter {param!r}")
        text = g["display"]
        spec = learner.get((g["model_spec"], g["task_spec"], g["label"]), {})
        window = (spec.get("params") or {}).get("window")
        steps = getattr(TASKS[name](**tparams), "sequence_steps", None) if name in TASKS else None
        if window is not None and steps is not None and window == steps():
            from .algorithms import LEARNERS
            text = f"{getattr(LEARNERS.get(spec['name']), 'display_name', spec['name'])} (window = sequence)"
        points = out.setdefault((g["model_spec"], text), {})
        if tparams[param] in points:
            raise ValueError(f"two learners draw as {text!r} at {param} = {tparams[param]}")
        points[tparams[param]] = (list(line.values), line.runs)
    return out


def success_rate(finals, runs: int, threshold: float) -> float:
    """The fraction of `runs` whose final value is at least `threshold` (a diverged run has none: a failure)."""
    return sum(1 for v in finals if v >= threshold) / runs if runs else float("nan")


def success_figure(folder, path, metric: str = "symbols_correct", threshold: float = 0.9,
                   param: str = "delay", chance: float | None = None, title: str | None = None) -> str:
    """Success rate (the fraction of seeds whose final `metric` is >= `threshold`, left) and the median final
    `metric` with its range over seeds (right) against the task's `param` (log axis), one line per (model,
    learner): the copy task's success against its delay."""
    data = success_data(folder, metric, threshold, param)
    if not data:
        raise ValueError(f"no results in {os.fspath(folder)!r}")
    models = list(dict.fromkeys(m for m, _ in data))
    learners = list(dict.fromkeys(lr for _, lr in data))
    colors = _colors(learners)
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D"]
    fig = _figure(11, 4.6)
    ax_r, ax_m = fig.subplots(1, 2, sharex=True)
    seeds = set()
    for (model, learner), points in data.items():
        i = models.index(model)
        xs = sorted(points)
        rate = [success_rate(*points[x], threshold) for x in xs]
        shift = 1.0 + 0.025 * (learners.index(learner) - (len(learners) - 1) / 2)  # overlapping rates stay visible
        finals = [np.asarray(points[x][0], dtype=float) for x in xs]
        seeds.update(points[x][1] for x in xs)
        med = [np.median(f) if len(f) else np.nan for f in finals]
        lo = [f.min() if len(f) else np.nan for f in finals]
        hi = [f.max() if len(f) else np.nan for f in finals]
        kw = dict(color=colors[learner], ls=styles[i % 4], marker=markers[i % 4], ms=4, lw=1.5)
        ax_r.plot([x * shift for x in xs], rate, label=f"{learner}, {_model_text(model)}", **kw)
        ax_m.plot(xs, med, **kw)
        ax_m.fill_between(xs, lo, hi, color=colors[learner], alpha=0.12, lw=0)
    ax_m.axhline(threshold, color="0.35", ls=(0, (1, 2)), lw=1.0)
    ax_m.text(0.99, threshold, f"success ({threshold:g})", transform=ax_m.get_yaxis_transform(), ha="right",
              va="bottom", fontsize=8, color="0.25")
    if chance is not None:
        ax_m.axhline(chance, color="0.35", ls=(0, (1, 2)), lw=1.0)
        ax_m.text(0.99, chance, f"chance ({chance:g})", transform=ax_m.get_yaxis_transform(), ha="right",
                  va="bottom", fontsize=8, color="0.25")
    for ax in (ax_r, ax_m):
        ax.set_xscale("log")
        ax.set_xticks(sorted({x for p in data.values() for x in p}))
        ax.xaxis.set_major_formatter(_plain_ticks())
        ax.minorticks_off()
        ax.set_xlabel(f"{param}", fontsize=10)
        _style(ax)
    ax_r.set_ylim(-0.04, 1.04)
    ax_r.set_ylabel(f"success rate: fraction of seeds,\nfinal {metric} >= {threshold:g}", fontsize=9)
    ax_m.set_ylabel(f"final {metric}:\nmedian, band = range over seeds", fontsize=9)
    fig.suptitle(f"{title or f'Success against {param}'}: {'/'.join(map(str, sorted(seeds)))} seeds per point",
                 fontsize=10)
    ax_r.set_title(f"points nudged apart along {param} where they coincide", fontsize=8, loc="left", color="0.3")
    fig.legend(loc="outside lower center", ncol=min(len(data), 4), fontsize=8, frameon=False)
    return _save(fig, path)


def _plain_ticks():
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda x, _: f"{x:g}")


def target_data(folder, target: float, metric: str = "test_loss", direction: str = "below") -> dict:
    """{(model spec, learner display): {"steps": [...], "seconds": [...], "runs": k, "us_per_step": [...]}}:
    each run's first step and learner seconds at which `metric` reaches `target` (rnnlearn.report's
    first_step and first_seconds; runs that never do are among `runs` only), and each run's us/step."""
    from .report import Quote, compute
    by = ("model_spec", "label", "display")
    q_steps = Quote("steps", metric=metric, statistic="first_step", target=target, direction=direction, by=by)
    q_secs = Quote("seconds", metric=metric, statistic="first_seconds", target=target, direction=direction, by=by)
    (_, steps), (_, secs) = compute(folder, [q_steps, q_secs])
    _, manifest = Store(folder).load()
    from .report import spec_of
    out: dict = {}
    for a, b in zip(steps, secs):
        assert a.group == b.group
        key = (a.group["model_spec"], a.group["display"])
        us = [e["us_per_step"] for e in manifest.values() if e.get("status") == "done"
              and spec_of(e, "model") == key[0] and e.get("label") == a.group["label"]]
        out[key] = {"steps": list(a.values), "seconds": list(b.values), "runs": a.runs, "us_per_step": us}
    return out


def target_figure(folder, path, target: float, metric: str = "test_loss", direction: str = "below",
                  title: str | None = None) -> str:
    """Steps (left) and learner seconds (right, log) to a target, one row per (model, learner): the median
    over the seeds that reached it as a dot, their range as a bar, how many reached it and the median us/step
    beside it; the rows sorted by median seconds, slowest at the top (never reached: last)."""
    data = target_data(folder, target, metric, direction)
    if not data:
        raise ValueError(f"no results in {os.fspath(folder)!r}")
    keys = sorted(data, key=lambda k: -np.median(data[k]["seconds"]) if data[k]["seconds"] else np.inf)
    fig = _figure(11, 0.55 * len(keys) + 1.9)
    ax_s, ax_w = fig.subplots(1, 2, sharey=True)
    colors = _colors(keys)
    for row, k in enumerate(keys):
        d = data[k]
        for ax, vals in ((ax_s, d["steps"]), (ax_w, d["seconds"])):
            if vals:
                ax.plot([min(vals), max(vals)], [row, row], color=colors[k], lw=2.6, alpha=0.45,
                        solid_capstyle="butt")
                ax.plot([np.median(vals)], [row], "o", color=colors[k], ms=6)
                ax.annotate(f"{len(vals)}/{d['runs']}", (max(vals), row), xytext=(5, 0), textcoords="offset points",
                            fontsize=7, color="0.35", va="center")
            else:
                ax.text(0.5, row, f"0/{d['runs']} reached", transform=ax.get_yaxis_transform(), fontsize=7,
                        color="0.35", va="center", ha="center")
    ax_w.set_xscale("log")
    labels = [f"{_model_text(m)} + {lr}\n({np.median(data[(m, lr)]['us_per_step']):.3g} us/step)"
              if data[(m, lr)]["us_per_step"] else f"{_model_text(m)} + {lr}" for m, lr in keys]
    ax_s.set_yticks(range(len(keys)), labels, fontsize=8)
    ax_s.invert_yaxis()
    sign = "<=" if direction == "below" else ">="
    ax_s.set_xlabel(f"steps to {metric} {sign} {target:g}", fontsize=10)
    ax_w.set_xlabel(f"learner seconds to {metric} {sign} {target:g} (log)", fontsize=10)
    ax_s.set_xlim(left=0)
    for ax in (ax_s, ax_w):
        _style(ax)
    fig.suptitle(title or f"Steps and seconds to {metric} {sign} {target:g}", fontsize=10)
    ax_s.set_title("median (dot) and range (bar) over the seeds that reached it; reached/runs beside",
                   fontsize=8, loc="left", color="0.3")
    return _save(fig, path)
