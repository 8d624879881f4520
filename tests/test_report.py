"""The shipped experiment configs are valid sweeps, and the report computes its numbers (median and range over
seeds, steps and seconds to a target, final values of task metrics) from a results folder."""
import pytest

from rnnlearn import report
from rnnlearn.report import Quote, compute
from rnnlearn.results import Store
from rnnlearn.sweep import Sweep, default_settings, expand, load_settings, shipped_configs

README_EXPERIMENTS = {"ekf_vs_rtrl", "clockwork_vs_elman", "anbncn_lstm", "char_lm"}


def test_the_readme_experiments_ship_as_configs():
    assert README_EXPERIMENTS <= set(shipped_configs())


@pytest.mark.parametrize("name", shipped_configs())
def test_every_shipped_config_is_a_valid_sweep_with_quotes(name):
    settings = default_settings()
    settings.update(load_settings(name))
    configs = expand(Sweep.from_settings(settings))
    assert configs and len({c.hash() for c in configs}) == len(configs)
    quotes = report.quotes_of(settings, name)
    assert quotes and all(q.description for q in quotes)


def _folder(tmp_path):
    """Two learners x 3 seeds of made-up runs: test losses reach 0.5 at known steps; a task metric 'acc' in
    metrics.csv; one run of learner B diverged."""
    (cfg,) = expand(Sweep(learners=["rtrl"], sizes=[4], seeds=1, steps=400, eval_every=100))
    st = Store(tmp_path).prepare()
    # (learner, label, seed) -> test loss at steps 0, 100, 200, 300, 400; acc at the same steps
    runs = {("rtrl", "A", 0): [0.9, 0.6, 0.5, 0.4, 0.3], ("rtrl", "A", 1): [0.9, 0.45, 0.4, 0.35, 0.2],
            ("rtrl", "A", 2): [0.9, 0.8, 0.7, 0.55, 0.25],
            ("bptt", "B", 0): [0.9, 0.9, 0.9, 0.9, 0.6], ("bptt", "B", 1): [0.9, 0.5, 0.4, 0.3, 0.1],
            ("bptt", "B", 2): [0.9, 0.7, 0.6]}   # diverged after step 200
    for k, ((learner, label, seed), losses) in enumerate(runs.items()):
        h = f"run{k}"
        rows = [{"run": h, "task": "add", "model": "elman", "learner": learner, "label": label,
                 "display": label.lower(), "optimizer": "sgd lr=0.1", "n_hidden": 4, "seed": seed,
                 "step": 100 * i, "wall_s": 0.5 * i, "train_loss": v, "test_loss": v} for i, v in enumerate(losses)]
        metrics = [{"run": h, "step": 100 * i, "metric": "acc", "value": 1 - v} for i, v in enumerate(losses)]
        st.append_run({"run": h, "status": "diverged" if len(losses) < 5 else "done", "config": cfg.to_dict(),
                       "label": label, "display": label.lower(), "optimizer": "sgd lr=0.1"}, rows, metrics)
    return tmp_path


def _lines(folder, **quote):
    ((_, lines),) = compute(folder, [Quote("q", **quote)])
    return {line.group["label"]: line for line in lines}


def test_steps_and_seconds_to_a_target(tmp_path):
    folder = _folder(tmp_path)
    steps = _lines(folder, statistic="first_step", target=0.5, by=["label"])
    # A reaches 0.5 at steps 200, 100, 400; B at 100 and (never, seed 0); the diverged seed 2 never does
    assert steps["A"].values == [200, 100, 400] and steps["A"].median == 200
    assert (steps["A"].low, steps["A"].high, steps["A"].missing) == (100, 400, 0)
    assert sorted(steps["B"].values) == [100] and steps["B"].missing == 2 and steps["B"].runs == 3
    secs = _lines(folder, statistic="first_seconds", target=0.5, by=["label"])
    assert secs["A"].values == [1.0, 0.5, 2.0] and secs["A"].median == 1.0
    # the learners in registry order (bptt before rtrl), not in the order of their labels
    ((_, lines),) = compute(folder, [Quote("q", by=("label",))])
    assert [line.group["label"] for line in lines] == ["B", "A"]


def test_final_values_of_a_task_metric_with_diverged_runs_apart(tmp_path):
    folder = _folder(tmp_path)
    final = _lines(folder, metric="acc", statistic="final", by=["label", "n_hidden"])
    assert final["A"].values == pytest.approx([0.7, 0.8, 0.75]) and final["A"].median == pytest.approx(0.75)
    assert final["B"].values == pytest.approx([0.4, 0.9]) and final["B"].diverged == 1
    above = _lines(folder, metric="acc", statistic="first_step", target=0.5, direction="above", by=["label"])
    assert above["A"].values == [200, 100, 400]
    ((_, lines),) = compute(folder, [Quote("q", by=("display",))])
    assert {line.group["display"] for line in lines} == {"a", "b"}
    with pytest.raises(ValueError, match="no metric 'nope'"):
        compute(folder, [Quote("q", metric="nope")])


def test_the_report_text_and_the_command(tmp_path, capsys):
    folder = _folder(tmp_path)
    cfg = tmp_path / "exp.toml"
    cfg.write_text('learners = ["rtrl"]\n[[quote]]\ndescription = "steps to 0.5"\nstatistic = "first_step"\n'
                   'target = 0.5\nby = ["label"]\n[[quote]]\ndescription = "the add task"\nmetric = "learns nothing"\n'
                   'statistic = "reference"\n')
    report.keep_config(folder, cfg)
    text = report.report(folder)
    assert "steps to 0.5: first step at which test_loss <= 0.5" in text
    line_a = next(line for line in text.splitlines() if line.strip().startswith("A "))
    assert line_a.split() == ["A", "200", "100-400", "3/3"]
    assert "(2 never reached it)" in text and "learns nothing 0.6" in text and "bits" in text
    from rnnlearn.cli import main
    assert main(["report", str(folder)]) == 0
    assert capsys.readouterr().out == text
    with pytest.raises(ValueError, match="statistic"):
        Quote.from_dict({"description": "x", "statistic": "mean"})
    with pytest.raises(ValueError, match="target"):
        Quote.from_dict({"description": "x", "statistic": "first_step"})
    with pytest.raises(ValueError, match="unknown key"):
        Quote.from_dict({"description": "x", "stat": "final"})


def test_steps_on_the_command_line_apply_to_a_config_s_learners_too():
    """A shipped config run at a reduced scale: --steps replaces the learners' own steps=."""
    from rnnlearn.cli import build_parser
    from rnnlearn.cli.options import sweep_settings
    args = build_parser().parse_args(["compare", "--config", "ekf_vs_rtrl", "--steps", "100", "--sizes", "4"])
    configs = expand(Sweep.from_settings({k: v for k, v in sweep_settings(args).items()
                                          if k not in ("out", "jobs")}))
    assert {c.steps for c in configs} == {100} and {c.n_hidden for c in configs} == {4}
    full = default_settings()
    full.update(load_settings("ekf_vs_rtrl"))
    assert {c.steps for c in expand(Sweep.from_settings(full))} == {10_000, 20_000, 30_000}


def test_at_first_and_per_seed(tmp_path):
    """at_first: a metric's value at the first evaluation at which another reaches the target (the a^n b^n c^n
    papers' stopping rule); per_seed lists the values by seed."""
    q = Quote.from_dict({"description": "d", "metric": "m", "statistic": "at_first", "when": "w", "target": 1.0,
                         "direction": "above", "per_seed": True})
    assert "at the first evaluation at which w >= 1" in q.what()
    with pytest.raises(ValueError, match="when"):
        Quote.from_dict({"description": "d", "metric": "m", "statistic": "at_first", "target": 1.0})


def test_quotes_group_by_the_full_task_and_model_specs(tmp_path):
    """task_spec and model_spec (from the manifest) tell apart runs that results.csv's task and model columns
    do not: one task at two settings, one model at two."""
    from rnnlearn.runner import run_sweep
    run_sweep(expand(Sweep(tasks=["copy:k=1,n_symbols=2,delay=1", "copy:k=1,n_symbols=2,delay=2"],
                           models=["lru:d_state=2,r_min=0.5", "lru:d_state=2,r_min=0.1"], learners=["rtrl"],
                           sizes=[2], seeds=1, steps=20, eval_every=10)), tmp_path, progress=False)
    ((_, lines),) = compute(tmp_path, [Quote("final", by=("task", "task_spec", "model_spec"))])
    groups = {(ln.group["task_spec"], ln.group["model_spec"]) for ln in lines}
    assert len(lines) == 4 == len(groups) and all(ln.group["task"] == "copy" and ln.runs == 1 for ln in lines)
    assert ("copy:delay=2,k=1,n_symbols=2", "lru:d_state=2,max_phase=6.28319,r_max=1,r_min=0.1") in groups


def test_a_final_quote_with_a_target_counts_the_runs_that_reach_it(tmp_path):
    folder = _folder(tmp_path)
    # final acc: A 0.7, 0.8, 0.75; B 0.4, 0.9 and one diverged (a failure)
    q = Quote("success", metric="acc", statistic="final", target=0.75, direction="above", by=("label",))
    text = report.format_report(compute(folder, [q]))
    rows = {line.split()[0]: line.split() for line in text.splitlines()[2:]}
    assert rows["A"][-1] == "2/3" and rows["B"][-1] == "1/3"
    assert "reached: runs whose final acc >= 0.75" in text.splitlines()[0]
    with pytest.raises(ValueError, match="target must be a number"):
        Quote.from_dict({"description": "x", "statistic": "final", "target": "high"})
