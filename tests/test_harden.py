"""Hardening: a mistake never takes the machine down, a dead worker costs one run, and every failure is
visible. One test (or more) per item of the issue; every test that could allocate runs in a subprocess under
resource.setrlimit(RLIMIT_AS), so none can take the machine's memory."""
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from rnnlearn.cli import main

GB = 2 ** 30


def _limit(nbytes):
    def pre():
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))
    return pre


def cli(*args, limit=3 * GB, timeout=180, env=None):
    """The command in a subprocess under an address-space limit (numba maps about 1 GB of it)."""
    e = dict(os.environ)
    e.pop("RNNLEARN_DEBUG", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "rnnlearn.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, preexec_fn=_limit(limit))


def assert_user_error(res, *words):
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr and "error:" in lines[0], res.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _descendants(pid):
    """Pids of every process descending from pid (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- 1. sizes are checked before work starts -------------------------------------------------------------

def test_parse_size_and_limit_from_the_environment(monkeypatch):
    from rnnlearn import memory
    assert memory.parse_size("4G") == 4 * GB and memory.parse_size("512M") == 512 * 2 ** 20
    assert memory.parse_size("2.5GB") == int(2.5 * GB) and memory.parse_size("1000") == 1000
    with pytest.raises(ValueError):
        memory.parse_size("lots")
    monkeypatch.setenv(memory.ENV, "1M")
    limit, where = memory.available()
    assert limit <= 2 ** 20 and memory.ENV in where
    with pytest.raises(memory.MemoryLimitError, match="needs about 2.0 MB"):
        memory.check(2 * 2 ** 20, "this")


def test_oversized_runs_are_refused_before_anything_is_allocated(tmp_path):
    out = str(tmp_path / "r")
    # a task parameter that sets a buffer's length: refused by its bound
    assert_user_error(cli("compare", "--tasks", "adding:length=1000000000", "--learners", "rtrl", "--sizes", "8",
                          "--seeds", "1", "--steps", "100", "--out", out), "length", "1,000,000")
    # a hundred million seeds, even with --dry-run: refused before the list is built
    t0 = time.time()
    assert_user_error(cli("compare", "--seeds", "100000000", "--dry-run", "--out", out, limit=2 * GB), "seeds")
    assert time.time() - t0 < 60
    # an LSTM EKF at n = 5000: its covariance is refused at once, with the estimate and the limit
    t0 = time.time()
    res = cli("compare", "--learners", "ekf", "--models", "lstm", "--sizes", "5000", "--seeds", "1", "--steps",
              "10", "--out", out, limit=2 * GB)
    assert_user_error(res, "needs about", "TB", "available")
    assert time.time() - t0 < 60 and not os.path.exists(os.path.join(out, "runs.jsonl"))
    # a limit given by the user
    res = cli("compare", "--learners", "rtrl", "--sizes", "64", "--seeds", "1", "--steps", "10", "--out", out,
              env={"RNNLEARN_MEMORY_LIMIT": "2M"})
    assert_user_error(res, "needs about", "RNNLEARN_MEMORY_LIMIT=2M")


def test_dry_run_prints_the_estimates(tmp_path):
    res = cli("compare", "--learners", "rtrl", "ekf", "--sizes", "8", "--seeds", "2", "--dry-run", "--out",
              str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert sum("todo" in line and ("kB" in line or "MB" in line) for line in lines) == 4
    assert "memory: largest run" in lines[-1] and "available" in lines[-1]


def test_run_estimate_bounds_what_a_run_allocates():
    """The estimate of a run is at least what train() allocates (numpy's arrays, traced by tracemalloc while
    the run executes, its kernels already compiled or loaded), and not wildly more. (Peak RSS would mix in
    LLVM's memory while compiling, which a cold cache or a second process compiling beside it brings.)"""
    script = textwrap.dedent("""
        import json, tracemalloc
        from rnnlearn.sweep import Sweep, expand
        from rnnlearn import memory, runner
        (c,) = expand(Sweep(tasks=["add"], learners=["ekf"], sizes=[48], seeds=1, steps=20, eval_every=10))
        est = memory.run_estimate(c)["total"]
        assert runner.execute(c)["manifest"]["status"] == "done"   # compile or load first
        tracemalloc.start()
        out = runner.execute(c)
        grew = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert out["manifest"]["status"] == "done", out["manifest"]["reason"]
        print(json.dumps([est, grew]))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         preexec_fn=_limit(3 * GB))
    assert res.returncode == 0, res.stderr
    est, grew = json.loads(res.stdout.splitlines()[-1])
    assert grew <= 1.2 * est + 2 ** 20 and est < 20 * max(grew, 2 ** 20), (est, grew)


# ---- 2. divergence by a criterion a user accepts ----------------------------------------------------------

def test_a_test_loss_far_above_learning_nothing_is_divergence():
    from rnnlearn import optim
    from rnnlearn.algorithms import BPTT
    from rnnlearn.models import Elman
    from rnnlearn.tasks import make_task
    from rnnlearn.train import train
    task = make_task("add")
    assert task.learns_nothing() == pytest.approx(0.662, abs=1e-3)
    assert task.divergence_bound() == pytest.approx(10 * task.learns_nothing())
    r = train(Elman(2, 8, 2, loss="xent"), BPTT(), task, steps=2000, optimizer=optim.sgd(1e3), seed=0,
              eval_every=500)
    assert r.status == "diverged" and "is above" in r.reason and "step 500" in r.reason, r.reason
    assert r.steps == 500 and r.records[-1]["step"] == 500 and r.records[-1]["test_loss"] > 6.6
    # a run that learns is not caught by it
    ok = train(Elman(2, 8, 2, loss="xent"), BPTT(), task, steps=2000, optimizer=optim.sgd(0.02), seed=0,
               eval_every=500)
    assert ok.status == "done"


# ---- 3. figures from whatever is stored ------------------------------------------------------------------

def test_a_group_that_all_diverged_does_not_stop_the_figures(tmp_path):
    out = str(tmp_path / "r")
    args = ["--sizes", "4", "--seeds", "2", "--steps", "300", "--eval-every", "100", "--jobs", "1", "--quiet",
            "--out", out]
    assert main(["compare", "--tasks", "sine", "--learners", "rtrl:lr=1000", *args]) == 0
    assert main(["compare", "--tasks", "add", "--learners", "bptt:window=5", *args]) == 0
    runs = [json.loads(line) for line in open(os.path.join(out, "runs.jsonl"))]
    assert sorted(r["status"] for r in runs) == ["diverged", "diverged", "done", "done"]
    assert main(["plot", out]) == 0
    assert os.path.exists(os.path.join(out, "convergence_sine_elman_n4.png"))
    assert os.path.exists(os.path.join(out, "convergence_add_elman_n4.png"))


def test_a_figure_that_fails_is_skipped_with_a_note(tmp_path, monkeypatch):
    from rnnlearn import plots
    out = str(tmp_path / "r")
    assert main(["compare", "--tasks", "add", "sine", "--learners", "bptt:window=5", "--sizes", "4", "--seeds",
                 "1", "--steps", "200", "--eval-every", "100", "--jobs", "1", "--quiet", "--no-plot",
                 "--out", out]) == 0
    real = plots.convergence_figure

    def broken(key, *a, **k):
        if key[0] == "add":
            raise ValueError("Data cannot be log-scaled because all values are <= 0")
        return real(key, *a, **k)

    monkeypatch.setattr(plots, "convergence_figure", broken)
    notes = []
    paths = plots.convergence_figures(out, log=notes.append)
    assert [os.path.basename(p) for p in paths] == ["convergence_sine_elman_n4.png"]
    assert any("skipped" in n and "add" in n for n in notes)


# ---- 4. a dead worker costs one run ----------------------------------------------------------------------

def _workers(pid):
    out = []
    for c in _descendants(pid):
        try:
            cmd = open(f"/proc/{c}/cmdline", "rb").read()
        except OSError:
            continue
        if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            out.append(c)
    return out


def test_killing_a_worker_mid_sweep_costs_exactly_one_run(tmp_path):
    out = tmp_path / "r"
    args = ["compare", "--learners", "rtrl", "--sizes", "12", "--seeds", "6", "--steps", "30000",
            "--eval-every", "5000", "--jobs", "2", "--quiet", "--no-plot", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "rnnlearn.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_limit(4 * GB))
    manifest = out / "runs.jsonl"
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not (manifest.exists() and manifest.read_text().count("\n") >= 1):
            time.sleep(0.05)
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    runs = [json.loads(line) for line in manifest.read_text().splitlines()]
    status = sorted(r["status"] for r in runs)
    assert len(runs) == 6 and status == ["done"] * 5 + ["failed"], status
    (failed,) = [r for r in runs if r["status"] == "failed"]
    assert "SIGKILL" in failed["reason"], failed["reason"]
    assert proc.returncode == 3 and "1 of 6 runs failed" in err, (proc.returncode, err)


# ---- 5. SIGTERM, and workers that die with their parent --------------------------------------------------

def _start_sweep(out):
    args = ["compare", "--learners", "rtrl", "--sizes", "12", "--seeds", "4", "--steps", "200000",
            "--eval-every", "50000", "--jobs", "2", "--quiet", "--no-plot", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "rnnlearn.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_limit(4 * GB))
    deadline = time.time() + 120
    while time.time() < deadline and len(_workers(proc.pid)) < 2:
        time.sleep(0.05)
    time.sleep(1.0)   # the workers are in their runs
    return proc, _descendants(proc.pid)


def _none_survive(pids, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    proc, family = _start_sweep(tmp_path / "r")
    assert len(family) >= 2, family
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err, (proc.returncode, err)
    assert time.time() - t0 < 20
    assert _none_survive(family) == []


def test_no_process_of_the_sweep_survives_its_parent_killed(tmp_path):
    proc, family = _start_sweep(tmp_path / "r")
    assert len(family) >= 2, family
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _none_survive(family) == [], "workers or the resource tracker outlived their parent"


# ---- 6. one line and exit 2 for every user error ----------------------------------------------------------

def test_bad_values_in_a_config_file(tmp_path):
    for text, word in (("out = 5\n", "out"), ("jobs = 0\n", "jobs"), ("jobs = true\n", "jobs"),
                       ('save_models = "yes"\n', "save_models")):
        p = tmp_path / "c.toml"
        p.write_text('learners = ["bptt:window=5"]\nsizes = [4]\nseeds = 1\nsteps = 100\n' + text)
        assert_user_error(cli("compare", "--config", str(p), "--dry-run"), word)


def test_sample_on_files_that_are_not_models(tmp_path):
    from rnnlearn.models import Elman
    from rnnlearn.textgen import save_model
    good = tmp_path / "good.npz"
    save_model(good, Elman(3, 4, 3), Elman(3, 4, 3).init_params(0))
    data = good.read_bytes()
    cases = {"empty.npz": b"", "text.npz": b"just some text\n", "truncated.npz": data[: len(data) // 2]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "array.npy", np.zeros(3))
    bad_meta = tmp_path / "meta.npz"
    with open(bad_meta, "wb") as fh:
        np.savez(fh, theta=np.zeros(3), meta=np.array(json.dumps({"format": "rnnlearn-model-1", "model": 5})))
    for name in list(cases) + ["array.npy", "meta.npz"]:
        res = cli("sample", str(tmp_path / name))
        assert_user_error(res)
        assert "allow_pickle" not in res.stderr


def test_cost_and_bench_at_a_size_that_does_not_fit(tmp_path):
    assert_user_error(cli("cost", "--learners", "ekf", "--sizes", "3000", "--max-n", "ekf=5000", "--out",
                          str(tmp_path / "c"), limit=2 * GB), "needs about", "available")
    assert_user_error(cli("bench", "--learners", "rtrl", "--sizes", "2000", "--max-n", "rtrl=5000", "--no-cold",
                          limit=2 * GB), "needs about")
    assert_user_error(cli("vanishing", "--n-hidden", "1000000", "--out", str(tmp_path / "v"), limit=2 * GB),
                      "needs about")


# ---- 7. the exit code says when runs failed --------------------------------------------------------------

def test_exit_code_when_runs_failed(tmp_path, monkeypatch, capsys):
    from rnnlearn import runner
    monkeypatch.setattr(runner, "execute", lambda c, **k: runner._failed(c.hash(), c, RuntimeError("boom")))
    code = main(["compare", "--learners", "bptt:window=5", "--sizes", "4", "--seeds", "2", "--steps", "100",
                 "--jobs", "1", "--quiet", "--out", str(tmp_path / "r")])
    assert code == 3 and "2 of 2 runs failed" in capsys.readouterr().err


# ---- 8. Ctrl-C within about a second, at any size ----------------------------------------------------------

def test_ctrl_c_in_process_within_a_second():
    script = textwrap.dedent("""
        import signal, threading, time, os, json
        signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest-xdist workers pass SIGINT ignored
        from rnnlearn.algorithms import EKF
        from rnnlearn.models import Elman
        from rnnlearn.tasks import make_task
        from rnnlearn.train import train, chunk_steps
        task = make_task("add")
        model = Elman(2, 48, 2, loss="xent")
        sent = []
        def later():
            time.sleep(1.0)
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        def cb(rec):
            if rec["step"] == 0:
                threading.Thread(target=later, daemon=True).start()
        try:
            train(model, EKF(), task, steps=100000, eval_every=1000, callback=cb)
        except KeyboardInterrupt:
            print(json.dumps([time.perf_counter() - sent[0], chunk_steps(model, EKF(), task)]))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         preexec_fn=_limit(3 * GB))
    assert res.returncode == 0, res.stderr
    waited, chunk = json.loads(res.stdout.splitlines()[-1])
    assert chunk < 1000 and waited < 1.5, (waited, chunk)


def test_chunks_are_sized_from_the_declared_cost_and_do_not_change_the_numbers():
    from rnnlearn import optim
    from rnnlearn.algorithms import EKF, RTRL, TBPTT, UORO
    from rnnlearn.models import Elman
    from rnnlearn.tasks import make_task
    from rnnlearn.train import MAX_CHUNK, chunk_steps, train
    task = make_task("add")
    small, big = Elman(2, 8, 2, loss="xent"), Elman(2, 64, 2, loss="xent")
    assert chunk_steps(small, TBPTT(), task) == MAX_CHUNK
    assert 1 <= chunk_steps(big, EKF(), task) < chunk_steps(big, RTRL(), task) < MAX_CHUNK
    assert chunk_steps(big, EKF(), task) == chunk_steps(Elman(2, 64, 2, loss="xent"), EKF(), task)
    for learner in (RTRL(), UORO()):   # learners whose numbers do not depend on where chunks end
        runs = [train(Elman(2, 5, 2, loss="xent"), learner, task, steps=300, optimizer=optim.sgd(0.01), seed=1,
                      eval_every=100, chunk_len=cl) for cl in (1000, 7, 1)]
        assert all(r.theta.tobytes() == runs[0].theta.tobytes() for r in runs)
        assert all([x["test_loss"] for x in r.records] == [x["test_loss"] for x in runs[0].records] for r in runs)


# ---- 9. accurate records for diverged runs ---------------------------------------------------------------

def test_a_diverged_run_is_recorded_where_it_diverged(tmp_path):
    from rnnlearn.results import Store
    out = str(tmp_path / "r")
    assert main(["compare", "--tasks", "sine", "--learners", "rtrl:lr=10", "--sizes", "4", "--seeds", "1",
                 "--steps", "1000", "--eval-every", "500", "--jobs", "1", "--quiet", "--no-plot",
                 "--out", out]) == 0
    rows, man = Store(out).load()
    (m,) = man.values()
    at = int(m["reason"].rsplit("step ", 1)[1])
    assert m["status"] == "diverged" and 0 < at < 500
    assert m["steps_done"] == at and m["us_per_step"] == pytest.approx(1e6 * m["run_s"] / at)
    assert [r["step"] for r in rows] == [0, at]
    assert m["final_test_loss"] is None or not np.isfinite(m["final_test_loss"]) \
        or m["final_test_loss"] != rows[0]["test_loss"]


# ---- 10. temporary files -----------------------------------------------------------------------------------

def test_a_failed_atomic_write_leaves_nothing_behind(tmp_path, monkeypatch):
    from rnnlearn import plots, results
    target = tmp_path / "results.csv"
    target.write_text("old\n")

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", fail)
    with pytest.raises(OSError):
        results.replace_atomic(target, "new\n")
    assert os.listdir(tmp_path) == ["results.csv"] and target.read_text() == "old\n"
    fig = plots._figure(2, 2)
    with pytest.raises(OSError):
        plots._save(fig, tmp_path / "f.png")
    assert sorted(os.listdir(tmp_path)) == ["results.csv"]


def test_a_symlink_planted_at_a_temporary_name_is_not_followed(tmp_path):
    from rnnlearn import plots, results
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "f.png.tmp.png")             # the old fixed names
    os.symlink(victim, tmp_path / f"results.csv.tmp{os.getpid()}")
    plots._save(plots._figure(2, 2), tmp_path / "f.png")
    results.replace_atomic(tmp_path / "results.csv", "a,b\n")
    assert victim.read_text() == "precious"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "results.csv").read_text() == "a,b\n"
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


# ---- 11. the config file and the command line agree --------------------------------------------------------

def test_the_config_file_and_the_command_line_are_checked_alike(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('learners = ["bptt:window=5"]\nsizes = [4]\nseeds = 1\nsteps = 100\njobs = 0\n')
    assert_user_error(cli("compare", "--config", str(p), "--dry-run"), "jobs", "0")
    assert_user_error(cli("compare", "--jobs", "0", "--dry-run"), "jobs", "0")
    assert_user_error(cli("compare", "--out", "", "--dry-run"), "out")
    p.write_text('learners = ["bptt:window=5"]\nsizes = [4]\nseeds = 1\nsteps = 100\nout = ""\n')
    assert_user_error(cli("compare", "--config", str(p), "--dry-run"), "out")
    res = cli("compare", "--learners", "bptt:window=5", "--sizes", "4", "--seeds", "1", "--jobs", "500",
              "--dry-run", "--out", str(tmp_path / "r"))
    assert res.returncode == 0 and "not 500" in res.stdout, res.stdout + res.stderr
