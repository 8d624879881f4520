"""`rnnlearn bench` as a user runs it: the rows it must produce (timings themselves are not asserted)."""
import csv
import math
import subprocess
import sys

from rnnlearn.bench import cold_start_seconds
from rnnlearn.models import Elman


def test_bench_writes_a_row_per_model_learner_size_and_batch(tmp_path):
    out = tmp_path / "bench.csv"
    res = subprocess.run([sys.executable, "-m", "rnnlearn.cli", "bench", "--sizes", "4,8", "--no-cold",
                          "--batch", "1,2", "--min-seconds", "0.001", "--repeats", "1", "--T", "6",
                          "--csv", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(out)))
    from rnnlearn.algorithms import LEARNERS
    from rnnlearn.models import MODELS
    batched = {"bptt", "tbptt"}
    expected = {(m, l, n, b) for m in MODELS for l in LEARNERS for n in ("4", "8")
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
    for args in (["--sizes", "0"], ["--learners", "nosuch"], ["--batch", "x"], ["--compare", "matlab"]):
        res = subprocess.run([sys.executable, "-m", "rnnlearn.cli", "bench", "--no-cold", "--sizes", "4",
                              "--min-seconds", "0.001", "--repeats", "1", *args], capture_output=True, text=True)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_word_lm_step_is_timed_on_the_tutorial_network():
    import re
    from rnnlearn.bench import word_lm_line
    line = word_lm_line(with_numpy=False)
    assert "vocabulary 8000, hidden 100, 20 words" in line
    ms = float(re.search(r"rnnlearn ([0-9.]+) ms", line).group(1))
    assert 0 < ms < 1000
