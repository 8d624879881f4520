"""rnnlearn tune: the search spaces declared on the learner classes; settings fixed by trial number; a tuning
killed with SIGKILL and resumed loses no trial, repeats none and gets the same values as one never
interrupted; the same command twice chooses the same settings; `compare --tuned DIR` runs them; bad input
gives one line and exit code 2; the tuning figures are drawn from the stored trials."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnlearn import tune
from rnnlearn.algorithms import LEARNERS, make_learner
from rnnlearn.algorithms.base import LR_SPAN, GradientLearner, OwnUpdate, Range
from rnnlearn.cli import main
from rnnlearn.sweep import Sweep, expand

LEARNERS_ARGS = ["--learners", "bptt:window=5", "ekf:decoupling=node,jacobian=tbptt"]
TRIALS = 4
ARGS = ["tune", *LEARNERS_ARGS, "--sizes", "6", "--steps", "1500", "--eval-every", "250", "--trials", str(TRIALS),
        "--seeds", "2", "--target", "0.66", "--jobs", "1", "--quiet"]


def cli(*args, timeout=300):
    env = dict(os.environ)
    env.pop("RNNLEARN_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "rnnlearn.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line_error(res, *words):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in lines[0], lines[0]


def studies(folder) -> dict:
    """{study name: [(number, state, params, value, user attrs)]} read back from the journal."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    storage = JournalStorage(JournalFileBackend(os.path.join(folder, tune.JOURNAL)))
    out = {}
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        out[summary.study_name] = [(t.number, t.state.name, t.system_attrs.get("fixed_params"), t.value,
                                    dict(t.user_attrs)) for t in study.get_trials()]
    return out


def manifest_lines(path) -> list[dict]:
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def chosen(folder) -> dict:
    with open(os.path.join(folder, tune.TUNED)) as fh:
        return {e["label"]: (e["trial"], e["params"]) for e in json.load(fh)["tuned"]}


# ---- the search spaces live on the classes ------------------------------------------------------------------

def test_search_spaces_are_declared_on_the_classes():
    for name, cls in LEARNERS.items():
        space = cls().search_space()
        assert space, name
        if issubclass(cls, GradientLearner):   # the default: the rate, three decades around default_lr
            assert space["lr"] == Range(cls.default_lr / LR_SPAN, cls.default_lr * LR_SPAN, True), name
            assert math.isclose(math.sqrt(space["lr"].low * space["lr"].high), cls.default_lr)
            assert set(space) == ({"lr", "lr_kernel"} if name == "kernl" else {"lr"}), name
        else:
            assert issubclass(cls, OwnUpdate) and "lr" not in space
    kernl = make_learner("kernl", lr_kernel=0.02).search_space()["lr_kernel"]   # KeRNL's kernel has a rate too
    assert math.isclose(math.sqrt(kernl.low * kernl.high), 0.02) and kernl.log
    assert set(make_learner("kernl", lr_kernel=0.0).search_space()) == {"lr"}      # a fixed kernel stays fixed
    ekf = make_learner("ekf").search_space()
    assert set(ekf) == {"p0", "r", "q"} and all(r.log for r in ekf.values())
    assert set(make_learner("ekf", form="sqrt", q=0.0).search_space()) == {"p0", "r"}   # sqrt form takes q = 0


def test_settings_are_fixed_by_trial_number_and_trial_zero_is_the_default():
    (c,) = expand(Sweep(learners=["rtrl"], sizes=[4], seeds=[0], steps=10, eval_every=10))
    space = tune.space_of(c)
    first = tune.default_point(c, space)
    assert first == {"lr": LEARNERS["rtrl"].default_lr}
    a, b = tune.trial_points(space, first, 9), tune.trial_points(space, first, 5)
    assert a[:5] == b and a[0] == first                   # a pure function of the number, prefixes agree
    lrs = np.array([p["lr"] for p in a])
    assert len(set(lrs)) == 9 and np.all((lrs >= space["lr"].low) & (lrs <= space["lr"].high))
    u = np.sort(np.log(lrs[1:] / space["lr"].low) / np.log(space["lr"].high / space["lr"].low))
    assert np.all(np.diff(u) > 0.03)                      # quasi-random: the points spread over the range
    run = tune.with_params(c, a[3], seed=7)
    assert run.optimizer.lr == a[3]["lr"] and run.seed == 7 and run.learner == c.learner
    assert tune.lookup_key(run) == tune.lookup_key(c)     # the tuned keys, seed and length are not in the key


def test_a_spec_value_of_a_tuned_key_does_not_change_the_study():
    a, b = expand(Sweep(learners=["ekf:decoupling=node,r=10", "ekf:decoupling=node,r=3"], sizes=[4], seeds=[0]))
    assert tune.lookup_key(a) == tune.lookup_key(b)
    (sa,), (sb,) = tune.make_studies([a], "final", {}, 1), tune.make_studies([b], "final", {}, 1)
    assert sa.name == sb.name


# ---- killed and resumed; twice the same ---------------------------------------------------------------------

def test_killed_tuning_resumes_losing_no_trial_and_repeating_none(tmp_path):
    """SIGKILL `rnnlearn tune` once some trial runs are stored; the rerun finishes every trial under its own
    number, runs no run twice, and ends with exactly the trials, values and chosen settings of a tuning that
    was never interrupted (the same command into another folder), which a third run leaves as they are."""
    killed, whole = str(tmp_path / "killed"), str(tmp_path / "whole")
    proc = subprocess.Popen([sys.executable, "-m", "rnnlearn.cli", *ARGS, "--no-plot", "--out", killed],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = os.path.join(killed, tune.TRIALS, "runs.jsonl")
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(runs) and open(runs).read().count("\n") >= 2:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    at_kill = len(manifest_lines(runs))
    assert 2 <= at_kill < 2 * TRIALS, at_kill             # killed in the middle of the study
    left = studies(killed)
    assert not os.path.exists(os.path.join(killed, tune.TUNED))
    assert sum(t[1] == "RUNNING" for ts in left.values() for t in ts) >= 1   # trials the kill left unfinished

    res = cli(*ARGS, "--out", killed)
    assert res.returncode == 0, res.stderr
    res = cli(*ARGS, "--no-plot", "--out", whole)
    assert res.returncode == 0, res.stderr

    resumed, never = studies(killed), studies(whole)
    assert resumed == never and len(resumed) == 2
    for ts in resumed.values():
        assert [t[0] for t in ts] == list(range(TRIALS)) and all(t[1] == "COMPLETE" for t in ts)
        assert all(math.isfinite(t[3]) or t[3] == math.inf for t in ts)
    trial_runs = manifest_lines(runs)
    assert len(trial_runs) == 2 * TRIALS and len({r["run"] for r in trial_runs}) == 2 * TRIALS   # none twice
    assert {r["config"]["seed"] for r in trial_runs} == {tune.TRIAL_SEED + k for k in range(TRIALS)}
    assert chosen(killed) == chosen(whole)
    assert os.path.exists(os.path.join(killed, "lr_sensitivity.png"))
    assert os.path.exists(os.path.join(killed, "performance_profiles.png"))

    # the same command again: nothing to run, the same choice
    before = open(os.path.join(killed, tune.TUNED)).read()
    assert main([*ARGS, "--no-plot", "--out", killed]) == 0
    assert open(os.path.join(killed, tune.TUNED)).read() == before and studies(killed) == never
    assert len(manifest_lines(runs)) == 2 * TRIALS

    # compare --tuned runs the chosen settings
    out = str(tmp_path / "cmp")
    assert main(["compare", *LEARNERS_ARGS, "--sizes", "6", "--steps", "1500", "--eval-every", "250", "--seeds", "2",
                 "--jobs", "1", "--quiet", "--no-plot", "--tuned", killed, "--out", out]) == 0
    ran = manifest_lines(os.path.join(out, "runs.jsonl"))
    with open(os.path.join(killed, tune.TUNED)) as fh:
        entries = {e["learner"]: e for e in json.load(fh)["tuned"]}
    assert len(ran) == 4
    for r in ran:
        params = entries[r["config"]["learner"]["name"]]["params"]
        got = dict(r["config"]["learner"]["params"], lr=(r["config"]["optimizer"] or {}).get("lr"))
        assert all(got[k] == v for k, v in params.items()), (got, params)
    # ... and they are the runs the tuning reran (the same configs: the same hashes)
    assert {r["run"] for r in ran} == {h for e in entries.values() for h in e["runs"]}

    # a learner the folder has no tuned setting for: one line, exit 2
    one_line_error(cli("compare", "--learners", "rtrl", "--sizes", "6", "--tuned", killed, "--out", out),
                   "no tuned setting for RTRL", "tuned there")


# ---- bad input -------------------------------------------------------------------------------------------------

def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RNNLEARN_DEBUG", raising=False)

    def error(*args):
        code = main(list(args))
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, (code, err)
        return err[0]

    base = ["--sizes", "4", "--steps", "100", "--eval-every", "50", "--out", str(tmp_path / "t"), "--quiet"]
    assert "unknown learner 'nosuch'" in error("tune", "--learners", "nosuch", *base)
    assert "--trials must be a positive integer, got 0" in error("tune", "--learners", "rtrl", "--trials", "0", *base)
    assert "--trial-seeds" in error("tune", "--learners", "rtrl", "--trial-seeds", "-1", *base)
    assert "--target" in error("tune", "--learners", "rtrl", "--score", "time", *base)
    assert "'zero'" in error("tune", "--learners", "rtrl", "--target", "zero", *base)
    empty = tmp_path / "empty"
    empty.mkdir()
    line = error("compare", "--learners", "rtrl", "--sizes", "4", "--tuned", str(empty))
    assert "no tuned settings" in line and "rnnlearn tune" in line
    assert "does not exist" in error("compare", "--learners", "rtrl", "--sizes", "4", "--tuned",
                                     str(tmp_path / "missing"))
    assert not os.path.exists(tmp_path / "t" / tune.JOURNAL)   # nothing was started


# ---- the figures' arithmetic --------------------------------------------------------------------------------------

def test_performance_profiles_count_a_miss_as_infinity():
    from rnnlearn.plots import performance_profiles
    inf = math.inf
    times = {"p1": {"A": (100.0, 1.0), "B": (200.0, 0.5)},
             "p2": {"A": (inf, inf), "B": (300.0, 3.0)},
             "p3": {"A": (50.0, 2.0)}}                   # B not run on p3: a miss
    learners, r = performance_profiles(times, 0)
    assert learners == ["A", "B"]
    assert r["A"] == [1.0, 1.0, inf] and r["B"] == [1.0, 2.0, inf]
    _, w = performance_profiles(times, 1)
    assert w["A"] == [1.0, 2.0, inf] and w["B"] == [1.0, 1.0, inf]


def test_time_to_target_is_the_first_evaluation_at_or_below_it():
    rows = [{"step": s, "wall_s": s / 100, "test_loss": v} for s, v in ((0, 0.7), (100, float("nan")),
                                                                         (200, 0.5), (300, 0.4))]
    assert tune.time_to_target(rows[::-1], 0.5) == (200.0, 2.0)
    assert tune.time_to_target(rows, 0.3) == (math.inf, math.inf)


def test_time_score_chooses_the_fewest_steps_to_the_target_ties_by_final_loss(tmp_path):
    configs = expand(Sweep(learners=["bptt:window=5"], sizes=[4], seeds=[0], steps=600, eval_every=100))
    s = tune.tune(configs, tmp_path / "t", trials=5, seeds=[0], score="time", targets=tune.parse_targets(["0.69"]),
                  log=lambda *a: None)
    (e,) = s.chosen
    (trials,) = studies(str(tmp_path / "t")).values()
    steps = [t[4]["steps_to_target"] for t in trials]
    assert [t[3] for t in trials] == steps and e["value"] == min(steps) < math.inf
    tied = [t for t in trials if t[4]["steps_to_target"] == min(steps)]
    best = min(tied, key=lambda t: (t[4]["final_loss"], t[0]))
    assert e["trial"] == best[0] and e["params"] == best[2] and e["target"] == 0.69
