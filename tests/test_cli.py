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


@pytest.mark.parametrize("command", ["list", "compare", "tune", "plot", "cost", "vanishing", "figures", "bench",
                                     "sample", "report", "cache", "anbncn"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([command, "--help"])
    assert e.value.code == 0
    assert "usage: rnnlearn " + command in capsys.readouterr().out


def test_list_shows_learners_with_parameters(capsys):
    from rnnlearn.algorithms import LEARNERS
    assert main(["list", "learners"]) == 0
    out = capsys.readouterr().out
    assert "tbptt" in out and "k1=10" in out and "rtrl" in out
    for name, cls in LEARNERS.items():  # what each class declares
        t, m = cls().cost_exponents()
        assert name in out and cls.display_name in out and cls.reference in out
        assert f"time n^{t:g}, memory n^{m:g}" in out
        assert all(c in out for c in cls.capabilities())
        if cls.default_lr is not None:
            assert f"default learning rate: {cls.default_lr:g}" in out
    assert "not lstm: RFLO (Murray 2019) is defined for leaky rate units" in out  # where a method is not defined


def test_every_command_module_has_add_parser_and_run():
    import importlib
    from rnnlearn.cli import COMMANDS
    for name in COMMANDS:
        module = importlib.import_module(name)
        assert callable(module.add_parser) and callable(module.run), name


def test_no_import_circle():
    """The library does not import the commands, and no command module imports another."""
    from rnnlearn.cli import COMMANDS
    script = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
              "print(' '.join(m for m in sys.modules if m.startswith('rnnlearn.cli')))")
    for lib in ("rnnlearn.timing", "rnnlearn.figures", "rnnlearn.references", "rnnlearn.kernel_cache"):
        out = subprocess.run([sys.executable, "-c", script, lib], capture_output=True, text=True, check=True)
        assert out.stdout.split() == [], (lib, out.stdout)
    for name in COMMANDS:
        out = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, check=True)
        others = set(out.stdout.split()) & (set(COMMANDS) - {name})
        assert not others, (name, others)


def test_python_dash_m_rnnlearn():
    for module in ("rnnlearn", "rnnlearn.cli"):
        res = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.startswith("rnnlearn "), res.stderr


def _fake_cache(tmp_path):
    """A package tree with cached kernels in __pycache__ folders and in a NUMBA_CACHE_DIR-style folder."""
    import hashlib
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "sub" / "__pycache__").mkdir(parents=True)
    (pkg / "mod.py").write_text("")
    (pkg / "sub" / "kern.py").write_text("")
    kernels = [pkg / "__pycache__" / "mod.f-3.py311.nbi", pkg / "__pycache__" / "mod.f-3.py311.1.nbc",
               pkg / "sub" / "__pycache__" / "kern.g-9.py311.nbi"]
    kept = [pkg / "__pycache__" / "mod.cpython-311.pyc", pkg / "sub" / "kern.py"]
    cache = tmp_path / "numba_cache"
    sub = cache / ("sub_" + hashlib.sha1(str(pkg / "sub").encode()).hexdigest())
    sub.mkdir(parents=True)
    kernels.append(sub / "kern.g-9.py311.nbc")
    other = cache / "otherproject_0123" / "x.f-1.py311.nbi"  # another project's kernels: left alone
    other.parent.mkdir()
    for f in kernels + [kept[0], other]:
        f.write_bytes(b"x" * 10)
    return pkg, cache, kernels, kept + [other]


def test_cache_info_and_clear_on_a_copy(tmp_path):
    from rnnlearn import kernel_cache
    pkg, cache, kernels, kept = _fake_cache(tmp_path)
    status = kernel_cache.info([pkg], [cache])
    assert status["files"] == len(kernels) and status["bytes"] == 10 * len(kernels)
    removed = kernel_cache.clear([pkg], [cache])
    assert sorted(removed) == sorted(str(k) for k in kernels)
    assert not any(k.exists() for k in kernels) and all(k.exists() for k in kept)
    assert kernel_cache.clear([pkg], [cache]) == []


def test_cache_command(monkeypatch, tmp_path, capsys):
    from rnnlearn import kernel_cache
    pkg, cache, kernels, kept = _fake_cache(tmp_path)
    monkeypatch.setattr(kernel_cache, "package_dirs", lambda: [str(pkg)])
    monkeypatch.setattr(kernel_cache, "user_cache_dirs", lambda env=None: [str(cache)])
    assert main(["cache", "info"]) == 0
    assert f"{len(kernels)} files" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert all(f"removed {k}" in out for k in kernels) and not any(k.exists() for k in kernels)
    assert main(["cache", "clear"]) == 0 and "nothing to remove" in capsys.readouterr().out


def test_numba_cache_dir_is_searched(tmp_path):
    from rnnlearn import kernel_cache
    assert str(tmp_path) in kernel_cache.user_cache_dirs({"NUMBA_CACHE_DIR": str(tmp_path)})
    assert kernel_cache.package_dirs()[0].endswith("rnnlearn")


@pytest.mark.parametrize("args, words", [
    (["--learners", "nosuch"], ["unknown learner", "nosuch"]),
    (["--tasks", "nosuch"], ["unknown task", "nosuch"]),
    (["--learners", "tbptt:k1"], ["malformed", "k1"]),
    (["--learners", "tbptt:k1=one"], ["k1"]),
    (["--sizes", "-3"], ["positive"]),
    (["--sizes", "4", "--seeds", "0"], ["seeds"]),
    (["--models", "lru", "--learners", "kf_rtrl", "--sizes", "4"], ["cannot train a lru network", "row form"]),
    (["--models", "lstm", "--learners", "rflo", "--sizes", "4"], ["cannot train a lstm network"]),
    (["--models", "lstm:theta0=no/such.npy", "--sizes", "4"], ["theta0", "no/such.npy", "does not exist"]),
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


def test_anbncn_solution_and_breaking(tmp_path, capsys):
    """`rnnlearn anbncn solution` writes the hand net for theta0=; a run started from it and saved is read by
    `rnnlearn anbncn breaking`, which prints the failure model's table (the exact net: no cell leaves its
    window up to --n-max, measured 100 = the task's n_test here)."""
    import numpy as np
    from rnnlearn.tasks.anbncn_solution import anbncn_model, anbncn_solution
    sol = tmp_path / "sol.npy"
    assert main(["anbncn", "solution", "--gain", "40", "--scale", "20", "--out", str(sol)]) == 0
    assert np.array_equal(np.load(sol), anbncn_solution(anbncn_model(), 40.0, 20.0))
    out = tmp_path / "fromsol"
    model = f"lstm:peephole=true,init=uniform,init_scale=0.1,b_i=-1.0,b_f=2.0,b_o=-2.0,theta0={sol}"
    assert main(["compare", "--tasks", "anbncn:n_max=10,outputs=sigmoid,n_test=100,n_exact=20", "--models", model,
                 "--learners", "rtrl:optimizer=sgd,lr=1e-9", "--sizes", "3", "--seeds", "1", "--steps", "10",
                 "--eval-every", "10", "--jobs", "1", "--quiet", "--no-plot", "--save-models",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["anbncn", "breaking", str(out), "--n-max", "50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| seed | measured | predicted | cell | window |")
    assert lines[2].startswith("| 0 | 100 | > 50 | 0 | -0.19 .. 0.19 | 0.00 |")
    assert_user_error(cli("anbncn", "breaking", str(tmp_path / "nothere")), "does not exist")
    assert_user_error(cli("anbncn", "breaking", str(tmp_path)), "no saved models")
    lm = tmp_path / "lm"
    assert main(["compare", "--tasks", "add", "--learners", "rtrl", "--sizes", "3", "--seeds", "1", "--steps", "10",
                 "--eval-every", "10", "--jobs", "1", "--quiet", "--no-plot", "--save-models", "--out", str(lm)]) == 0
    assert_user_error(cli("anbncn", "breaking", str(lm)), "needs an LSTM")
    assert_user_error(cli("anbncn", "solution", "--gain", "-1", "--out", str(sol)), "gain must be")
    assert_user_error(cli("anbncn", "solution", "--out", str(tmp_path / "sol.txt")), "sol.txt")
