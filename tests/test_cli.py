"""The command line: every command has --help; bad input gives one line on stderr and exit code 2 (no
traceback); the same command twice does nothing the second time; a sweep killed midway resumes without
losing or duplicating a row."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rnnlearn.cli import build_parser, main

TINY = ["--learners", "bptt:window=5", "--sizes", "4", "--seeds", "2", "--steps", "200", "--eval-every", "100",
        "--jobs", "1", "--quiet"]


def cli(*args, timeout=120):
    env = dict(os.environ)
    env.pop("RNNLEARN_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "rnnlearn.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_user_error(res, *words):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr and "error:" in lines[0]
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("command", ["list", "compare", "plot", "cost", "vanishing", "figures", "bench", "sample",
                                     "report"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([command, "--help"])
    assert e.value.code == 0
    assert "usage: rnnlearn " + command in capsys.readouterr().out


def test_list_shows_learners_with_parameters(capsys):
    assert main(["list", "learners"]) == 0
    out = capsys.readouterr().out
    assert "tbptt" in out and "k1=10" in out and "rtrl" in out


@pytest.mark.parametrize("args, words", [
    (["--learners", "nosuch"], ["unknown learner", "nosuch"]),
    (["--tasks", "nosuch"], ["unknown task", "nosuch"]),
    (["--learners", "tbptt:k1"], ["malformed", "k1"]),
    (["--learners", "tbptt:k1=one"], ["k1"]),
    (["--sizes", "-3"], ["positive"]),
    (["--sizes", "4", "--seeds", "0"], ["seeds"]),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    res = cli("compare", "--out", str(tmp_path / "r"), "--steps", "10", "--quiet", *args)
    assert_user_error(res, *words)
    assert not (tmp_path / "r" / "results.csv").exists()


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_user_error(cli("compare", *TINY, "--out", str(blocker / "results")), "output folder")
    # a folder nobody can create, root included (CI runs as root, so a chmod-ed folder would not do)
    assert_user_error(cli("compare", *TINY, "--out", "/proc/rnnlearn-test/results"), "output folder")


def test_corrupt_results_file(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "runs.jsonl").write_text("{this is not json}\n")
    assert_user_error(cli("compare", *TINY, "--out", str(out)), "corrupt")
    assert_user_error(cli("plot", str(out)), "corrupt")
    (out / "runs.jsonl").unlink()
    (out / "results.csv").write_text("a,b,c\n1,2,3\n")
    assert_user_error(cli("plot", str(out)), "corrupt")


def test_bad_config_file_and_missing_folder(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("learners = [\n")
    assert_user_error(cli("compare", "--config", str(p), "--out", str(tmp_path / "r")), "config file")
    assert_user_error(cli("plot", str(tmp_path / "nothing")), "does not exist")


def test_same_command_twice_does_nothing_the_second_time(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["compare", *TINY, "--out", out, "--no-plot"]) == 0
    before = open(os.path.join(out, "results.csv")).read()
    args = [a for a in TINY if a != "--quiet"]
    assert main(["compare", *args, "--out", out, "--no-plot"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert open(os.path.join(out, "results.csv")).read() == before


def test_config_file_and_plot(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('learners = ["tbptt:k1=2,k2=4"]\nsizes = [3]\nseeds = [5]\nsteps = 200\neval_every = 100\n'
                   'optimizer = "adam"\nlr = 0.01\n')
    out = tmp_path / "r"
    assert main(["compare", "--config", str(cfg), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    (m,) = [json.loads(line) for line in open(out / "runs.jsonl")]
    assert m["config"]["seed"] == 5 and m["config"]["optimizer"]["name"] == "adam"
    assert m["config"]["learner"]["params"]["k1"] == 2 and m["config"]["model"]["params"]["n_hidden"] == 3
    assert os.path.exists(out / "convergence_add_elman_n3.png")
    assert main(["plot", str(out), "--out", str(tmp_path / "figs")]) == 0
    assert os.path.exists(tmp_path / "figs" / "convergence_add_elman_n3.png")


def test_killed_sweep_resumes_without_losing_or_duplicating_rows(tmp_path):
    """SIGKILL a sweep after its first run is recorded; the rerun keeps it, does the rest, and every run's rows
    are complete and appear once."""
    out = tmp_path / "r"
    args = ["compare", "--learners", "rtrl", "--sizes", "16", "--seeds", "6", "--steps", "20000",
            "--eval-every", "2000", "--jobs", "1", "--quiet", "--no-plot", "--out", str(out)]
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "rnnlearn.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "runs.jsonl"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if manifest.exists() and manifest.read_text().count("\n") >= 1:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    first = manifest.read_text().count("\n")
    assert 1 <= first < 6, first   # killed midway
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    runs = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(runs) == 6 and len({r["run"] for r in runs}) == 6
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    keys = [(r["run"], int(r["step"])) for r in rows]
    assert len(keys) == len(set(keys)) == 6 * 11            # steps 0, 2000, ..., 20000 for every run
    assert all(len(r) == 13 and r["test_loss"] for r in rows)


def test_train_save_sample(tmp_path, capsys):
    """A language model trained by compare --save-models, then sampled by `rnnlearn sample`."""
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat. " * 40)
    out = tmp_path / "lm"
    assert main(["compare", "--tasks", f"char_lm:path={text}", "--learners", "tbptt:k1=5,k2=5", "--sizes", "8",
                 "--seeds", "1", "--steps", "200", "--eval-every", "100", "--jobs", "1", "--quiet", "--no-plot",
                 "--save-models", "--out", str(out)]) == 0
    (m,) = [json.loads(line) for line in open(out / "runs.jsonl")]
    capsys.readouterr()
    assert main(["sample", str(out / m["model_path"]), "--length", "30", "--temperature", "0.5", "--seed", "1",
                 "--prime", "the "]) == 0
    sample = capsys.readouterr().out
    assert sample.startswith("the ") and len(sample.rstrip("\n")) == 34
    assert_user_error(cli("sample", str(tmp_path / "missing.npz")), "does not exist")
