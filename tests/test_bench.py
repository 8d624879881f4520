"""`rnnlearn bench` as a user runs it: the rows it must produce (timings themselves are not asserted)."""
import csv
import math
import subprocess
import sys

from rnnlearn.timing import cold_start_seconds
from rnnlearn.models import Elman


def test_bench_writes_a_row_per_model_learner_size_and_batch(tmp_path):
    out = tmp_path / "bench.csv"
    res = subprocess.run([sys.executable, "-m", "rnnlearn.cli", "bench", "--sizes", "4,8", "--no-cold",
                          "--batch", "1,2", "--min-seconds", "0.001", "--repeats", "1", "--T", "6",
                          "--csv", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(out)))
    from rnnlearn.algorithms import LEARNERS, Minibatch
    from rnnlearn.models import MODELS
    batched = {name for name, cls in LEARNERS.items() if issubclass(cls, Minibatch)}
    trains = {(m, l) for m, mcls in MODELS.items() for l, cls in LEARNERS.items()  # where the method is defined
              if not cls().supports(mcls(n_in=4, n_hidden=4, n_out=2))}
    expected = {(m, l, n, b) for m, l in trains for n in ("4", "8")
                for b in (("1", "2") if l in batched else ("1",))}
    assert {(r["model"], r["learner"], r["n"], r["batch"]) for r in rows} == expected
    assert all(float(r["us_per_step"]) > 0 and math.isfinite(float(r["us_per_step"])) for r in rows)
    assert all(float(r["state_mb"]) > 0 for r in rows)
    # peak memory while a fresh state trains one chunk: at least the state itself
    assert all(float(r["peak_mb"]) >= float(r["state_mb"]) for r in rows)
    assert "us/step" in res.stdout


def test_flop_counts_are_the_dominant_products():
    from rnnlearn.algorithms import BPTT, EKF, RTRL
    model = Elman(4, 8, 2)
    assert RTRL().flops_per_step(model) == 2 * 8 * 8 * model.n_rec
    assert EKF().flops_per_step(model) == 4 * model.n_params ** 2 * 2
    assert EKF(decoupling="node").flops_per_step(model) is None
    assert BPTT().flops_per_step(model) is None


def test_cold_start_probe_runs_for_every_model_kind():
    out = cold_start_seconds(["clockwork", "lstm"], ["tbptt"])
    assert set(out) == {"cold_compile_s", "cached_start_s"}
    assert all(v > 0 for v in out.values())


def test_bad_bench_input_is_one_line():
    for args in (["--sizes", "0"], ["--learners", "nosuch"], ["--batch", "x"], ["--compare", "matlab"],
                 ["--max-n", "rtrl"], ["--max-n", "nosuch=4"]):
        res = subprocess.run([sys.executable, "-m", "rnnlearn.cli", "bench", "--no-cold", "--sizes", "4",
                              "--min-seconds", "0.001", "--repeats", "1", *args], capture_output=True, text=True)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_word_lm_step_is_timed_on_the_tutorial_network():
    import re
    from rnnlearn.timing import word_lm_line
    line = word_lm_line(with_numpy=False)
    assert "vocabulary 8000, hidden 100, 20 words" in line
    ms = float(re.search(r"rnnlearn ([0-9.]+) ms", line).group(1))
    assert 0 < ms < 1000


def test_caps_come_from_the_classes_or_max_n(tmp_path):
    """A learner is timed up to its own Learner.max_n() unless --max-n NAME=N says otherwise; the references of
    an algorithm follow the same cap."""
    from rnnlearn.algorithms import LEARNERS, make_learner
    from rnnlearn.timing import bench_rows, fits
    from rnnlearn.models import Elman
    capped = [name for name in LEARNERS if make_learner(name).max_n() is not None]
    assert capped, "some registered learner declares a size cap"
    for name in capped:
        cap = make_learner(name).max_n()
        assert fits(name, make_learner(name), Elman(4, cap, 2)) and not fits(name, make_learner(name), Elman(4, cap + 1, 2))
        assert fits(name, make_learner(name), Elman(4, cap + 1, 2), {name: cap + 1})
    rows = bench_rows(["elman"], [("bptt", {})], [4, 8], T=4, min_seconds=0.0, repeats=1, compare=["numpy"],
                      max_n={"bptt": 4, "rtrl": 4}, progress=lambda line: None)
    assert {(r["impl"], r["learner"], r["n"]) for r in rows} == {("rnnlearn", "bptt", 4), ("numpy", "bptt", 4),
                                                                 ("numpy", "rtrl", 4)}


def test_missing_framework_is_one_line_naming_the_extra(monkeypatch, capsys):
    """--compare torch or jax where the framework is not installed: one line naming the pip extra, exit 2."""
    import importlib.util
    from rnnlearn.cli import main
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("torch", "jax") else real(name, *a))
    for framework in ("torch", "jax"):
        assert main(["bench", "--no-cold", "--sizes", "4", "--compare", framework]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and framework in err[0] and "rnnlearn[bench]" in err[0], err
