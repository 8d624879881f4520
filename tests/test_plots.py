"""Figures from stored results only; the slope fit; the vanishing-gradient computation against plain numpy."""
import numpy as np
import pytest

from rnnlearn import plots
from rnnlearn.results import COST, COST_COLUMNS, Store
from rnnlearn.runner import run_sweep
from rnnlearn.sweep import Sweep, expand
from rnnlearn.vanishing import gradient_norms

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == PNG


def test_fit_slope_recovers_a_power_law():
    n = np.array([8, 16, 32, 64, 128])
    y = 3.0 * n ** 2.0 + 50.0          # overhead that matters only at small n
    slope, used = plots.fit_slope(n, y, points=3)
    assert list(used) == [32, 64, 128] and abs(slope - 2.0) < 0.05
    assert abs(plots.fit_slope(n, 0.1 * n ** 4.0)[0] - 4.0) < 1e-9


def test_convergence_figure_from_stored_results(tmp_path):
    run_sweep(expand(Sweep(learners=["bptt:window=5", "rtrl"], sizes=[4], seeds=2, steps=300, eval_every=100)),
              tmp_path, progress=False)
    (path,) = plots.convergence_figures(tmp_path)
    assert path.endswith("convergence_add_elman_n4.png") and _is_png(path)
    data, _ = plots.convergence_data(tmp_path)
    groups = data[("add", "elman", 4)]
    assert {k[0] for k in groups} == {"bptt(window=5)", "rtrl"} and all(len(s) == 2 for s in groups.values())


def test_cost_figure_and_slopes_from_cost_csv(tmp_path):
    st = Store(tmp_path).prepare()
    rows = []
    for label, name, te, me, sizes in (("bptt(window=20)", "bptt", 2.0, 2.0, [16, 32, 64, 128]),
                                       ("rtrl", "rtrl", 4.0, 3.0, [8, 16, 32])):
        for n in sizes:
            rows.append({"model": "elman", "learner": name, "label": label, "n": n, "params": n * n, "T": 100,
                         "us_per_step": 0.01 * n ** te, "us_per_step_min": 0.01 * n ** te,
                         "state_mb": 1e-5 * n ** me, "time_exponent": te, "memory_exponent": me,
                         "version": "test"})
    st.append_rows(COST, COST_COLUMNS, rows)
    slopes = plots.cost_slopes(tmp_path)
    assert abs(slopes[("elman", "rtrl")]["time"][0] - 4.0) < 1e-9
    assert abs(slopes[("elman", "bptt(window=20)")]["memory"][0] - 2.0) < 1e-9
    path = plots.cost_figure(tmp_path, tmp_path / "cost.png")
    assert _is_png(path)
    from rnnlearn.timing import slope_lines
    assert all(line.endswith("agrees with its declaration") for line in slope_lines(tmp_path))


def test_a_slope_far_from_its_declaration_is_called_out(tmp_path):
    st = Store(tmp_path).prepare()
    st.append_rows(COST, COST_COLUMNS, [
        {"model": "elman", "learner": "rtrl", "label": "rtrl", "n": n, "params": n * n, "T": 20,
         "us_per_step": 0.01 * n ** 3.0, "us_per_step_min": 0.01 * n ** 3.0, "state_mb": 1e-5 * n ** 3.0,
         "time_exponent": 4.0, "memory_exponent": 3.0, "version": "test"} for n in (8, 16, 32)])
    from rnnlearn.timing import slope_lines
    (line,) = slope_lines(tmp_path)
    assert "time slope  3.00 (theory 4)" in line and line.endswith("DIFFERS from its declared exponents")


def test_vanishing_gradient_matches_numpy_and_the_bound(tmp_path):
    from rnnlearn.models import Elman
    from rnnlearn.models.base import orthogonal
    rho, n, T, seed = 0.9, 6, 12, 3
    g = gradient_norms(rho, n_hidden=n, T=T, seed=seed, input_scale=1.0)
    # the same network in plain numpy: h_t = tanh(W h_{t-1} + U x_t + b), backpropagated by hand
    rng = np.random.default_rng(np.random.SeedSequence([seed, round(rho * 1000), n]))
    model = Elman(4, n, 1)
    theta = model.init_params(int(rng.integers(2 ** 31)))
    p = model.unpack(theta)
    p["W"][:] = rho * orthogonal(rng, n)
    xs = rng.normal(size=(T, 4))
    h = np.zeros(n)
    hs = []
    for x in xs:
        h = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        hs.append(h)
    y = p["V"] @ hs[-1] + p["c"]
    d = p["V"].T @ (y - rng.normal(size=1))
    ref = [np.linalg.norm(d)]
    for i in range(T - 1, 0, -1):
        d = p["W"].T @ ((1 - hs[i] ** 2) * d)
        ref.append(np.linalg.norm(d))
    np.testing.assert_allclose(g, ref, rtol=1e-10)
    assert np.all(g <= g[0] * rho ** np.arange(T) * (1 + 1e-12))   # ||dL/dh_t|| <= rho^(T-t) ||dL/dh_T||


def test_vanishing_and_plot_all(tmp_path):
    from rnnlearn.vanishing import vanishing_data
    vanishing_data(tmp_path, [0.8, 1.2], 8, 20, 3)
    paths = plots.plot_all(tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["vanishing_gradient.png"] and _is_png(paths[0])
    with pytest.raises(ValueError, match="no results"):
        plots.plot_all(tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None


def _synthetic(folder, curves, with_display=True):
    """A results folder of made-up runs of the add task: curves = [(learner, label, display, optimizer)]."""
    import json
    from rnnlearn.results import MANIFEST, RESULT_COLUMNS, RESULTS, append_atomic, csv_text
    (cfg,) = expand(Sweep(learners=["rtrl"], sizes=[4], seeds=1, steps=200, eval_every=100))
    st = Store(folder).prepare()
    for k, (learner, label, display, opt) in enumerate(curves):
        rows = [{"run": f"r{k}", "task": "add", "model": "elman", "learner": learner, "label": label,
                 "display": display, "optimizer": opt, "n_hidden": 4, "seed": 0, "step": 100 * i,
                 "wall_s": 0.01 * i, "train_loss": 0.7, "test_loss": 0.7 - 0.01 * i - 0.001 * k} for i in range(3)]
        man = {"run": f"r{k}", "status": "done", "config": cfg.to_dict(), "label": label, "optimizer": opt}
        if with_display:
            st.append_run(dict(man, display=display), rows)
        else:   # a folder written before display labels were stored
            cols = [c for c in RESULT_COLUMNS if c != "display"]
            append_atomic(st.path(RESULTS), csv_text(rows, cols), cols)
            append_atomic(st.path(MANIFEST), json.dumps(dict(man, n_rows=3)) + "\n")


def _legend(monkeypatch, folder):
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or str(path))
    plots.convergence_figures(folder)
    (fig,) = figs
    return [t.get_text() for t in fig.legends[0].get_texts()]


def test_legends_are_the_stored_display_labels_in_registry_order(tmp_path, monkeypatch):
    # a display label that could not be derived from the label: the stored text is drawn, not recomputed
    _synthetic(tmp_path, [("rtrl", "rtrl", "Real-time RL", "sgd lr=0.03"),
                          ("bptt", "zzz(window=5)", "Backprop (w 5)", "sgd lr=0.02")])
    assert _legend(monkeypatch, tmp_path) == ["Backprop (w 5), sgd lr=0.02", "Real-time RL, sgd lr=0.03"]


def test_legends_of_folders_without_display_labels_are_the_stored_labels(tmp_path, monkeypatch):
    _synthetic(tmp_path, [("rtrl", "rtrl", "", "sgd lr=0.03"), ("tbptt", "tbptt(k1=1,k2=10)", "", "sgd lr=0.01")],
               with_display=False)
    assert _legend(monkeypatch, tmp_path) == ["tbptt(k1=1,k2=10), sgd lr=0.01", "rtrl, sgd lr=0.03"]


def _final_metric(store, metric):
    """{run: the metric at the run's last evaluation}, straight from metrics.csv."""
    last = {}
    for m in store.load_metrics():
        if m["metric"] == metric and (m["run"] not in last or m["step"] > last[m["run"]][0]):
            last[m["run"]] = (m["step"], m["value"])
    return {r: v for r, (_, v) in last.items()}


def test_success_figure_plots_the_success_rates_of_the_results(tmp_path):
    sweep = Sweep(models=["lru:d_state=2,r_min=0.5"], sizes=[2], seeds=3, steps=120, eval_every=60,
                  optimizer="adam", lr=0.01,
                  groups=[{"tasks": [f"copy:k=1,n_symbols=2,delay={d}"], "learners": ["rtrl", f"bptt:window={2 + d}"]}
                          for d in (1, 3)])
    run_sweep(expand(sweep), tmp_path, progress=False)
    store = Store(tmp_path)
    _, manifest = store.load()
    finals = _final_metric(store, "symbols_correct")
    threshold = float(np.median(list(finals.values())))   # some runs above, some below
    data = plots.success_data(tmp_path, "symbols_correct", threshold)
    lru = "lru:d_state=2,max_phase=6.28319,r_max=1,r_min=0.5"   # the full spec, defaults included
    # BPTT's window is the whole sequence (2k + delay) at each delay: one line
    assert set(data) == {(lru, "RTRL"), (lru, "BPTT (window = sequence)")}
    for (model, line), points in data.items():
        assert sorted(points) == [1, 3]
        for delay, (values, runs) in points.items():
            want = sorted(finals[h] for h, e in manifest.items() if e["config"]["task"]["params"]["delay"] == delay
                          and e["config"]["learner"]["name"] == ("rtrl" if line == "RTRL" else "bptt"))
            assert sorted(values) == want and runs == 3
            assert plots.success_rate(values, runs, threshold) == sum(v >= threshold for v in want) / 3
    assert plots.success_rate([0.95, 0.5], 3, 0.9) == 1 / 3   # a diverged run (no final value) is a failure
    path = plots.success_figure(tmp_path, tmp_path / "copy.png", "symbols_correct", threshold, chance=0.5)
    assert _is_png(path)


def test_target_figure_plots_the_steps_and_seconds_to_target_of_the_results(tmp_path):
    sweep = Sweep(tasks=["copy:k=1,n_symbols=2,delay=2"], sizes=[3], seeds=2, steps=200, eval_every=50,
                  optimizer="adam", lr=0.02,
                  groups=[{"models": ["elman"], "learners": ["rtrl"]},
                          {"models": ["lru:d_state=3"], "learners": ["rtrl", "bptt:window=4"]}])
    run_sweep(expand(sweep), tmp_path, progress=False)
    rows, manifest = Store(tmp_path).load()
    target = float(np.median([r["test_loss"] for r in rows]))
    data = plots.target_data(tmp_path, target)
    lru = "lru:d_state=3,max_phase=6.28319,r_max=1,r_min=0"
    assert set(data) == {("elman", "RTRL"), (lru, "RTRL"), (lru, "BPTT (window=4)")}
    for (model, display), d in data.items():
        runs = [h for h, e in manifest.items() if e["display"] == display and e["config"]["model"]["name"] ==
                model.split(":")[0]]
        first = {}
        for r in sorted(rows, key=lambda r: r["step"]):
            if r["run"] in runs and r["run"] not in first and r["test_loss"] <= target:
                first[r["run"]] = (r["step"], r["wall_s"])
        assert d["runs"] == 2 == len(d["us_per_step"])
        assert sorted(d["steps"]) == sorted(s for s, _ in first.values())
        assert sorted(d["seconds"]) == sorted(w for _, w in first.values())
    path = plots.target_figure(tmp_path, tmp_path / "target.png", target)
    assert _is_png(path)


def test_final_loss_figure_plots_each_learners_final_losses_per_task_and_model(tmp_path):
    """The Marschall-Cho-Savin figure: one panel per (task, model) of a grouped sweep, each learner's median
    and range of its runs' last test loss, read back here from results.csv itself."""
    import csv
    sweep = Sweep(learners=["rtrl", "tbptt:k1=2,k2=4"], sizes=[4], seeds=2, steps=200, eval_every=100,
                  groups=[{"tasks": ["add:t1=6,t2=10"], "models": ["elman"]},
                          {"tasks": ["add:t1=5,t2=7"], "models": ["leaky:alpha=0.5"]}])
    run_sweep(expand(sweep), tmp_path, progress=False)
    numbers, _ = plots.final_losses(tmp_path)
    assert set(numbers) == {("add", "elman", 4), ("add", "leaky", 4)}
    last = {}
    with open(tmp_path / "results.csv") as f:
        for r in csv.DictReader(f):
            k = (r["model"], r["display"], r["seed"])
            if int(r["step"]) >= last.get(k, (-1, 0))[0]:
                last[k] = (int(r["step"]), float(r["test_loss"]))
    for (task, model, n), per in numbers.items():
        assert set(per) == {"RTRL", "TBPTT (k1=2, k2=4)"}
        for display, f in per.items():
            finals = [v for (m, d, _), (_, v) in last.items() if m == model and d == display]
            assert f["runs"] == 2 and f["diverged"] == 0
            assert f["median"] == pytest.approx(np.median(finals)) and f["high"] == pytest.approx(max(finals))
    path = plots.final_loss_figure(tmp_path, tmp_path / "final.png")
    assert _is_png(path)


def test_profiles_of_a_tuning_without_a_target_take_targets_by_task(tmp_path):
    """profile_data: a tuning run without --target has no profiles, unless targets are given per task name;
    then each learner's steps to that target are the median over its reruns (inf when missed)."""
    from rnnlearn.tune import tune
    configs = expand(Sweep(learners=["rtrl", "bptt:window=5"], sizes=[4], seeds=1, steps=300, eval_every=100))
    tune(configs, tmp_path, trials=2, seeds=[0, 1], progress=False, log=lambda *a: None)
    assert plots.profile_data(tmp_path)[0] == {}
    times, targets = plots.profile_data(tmp_path, {"add": 10.0})  # every run is below 10 at its first point
    (key,) = times
    assert targets == {key: 10.0} and set(times[key]) == {"RTRL, sgd", "BPTT (window=5), sgd"}
    assert all(steps == 0.0 for steps, _ in times[key].values())
    never, _ = plots.profile_data(tmp_path, {"add": 0.0})
    assert all(np.isinf(steps) for steps, _ in never[key].values())
    assert _is_png(plots.profile_figure(tmp_path, tmp_path / "p.png", targets_by_task={"add": 10.0}))
