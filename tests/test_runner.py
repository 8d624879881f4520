"""The runner: specs, run configs and their hashes, resuming, failures, and the same numbers whether runs
execute here, in local processes or on a Dask cluster."""
import csv
import json

import pytest

from rnnlearn import runner, sweep
from rnnlearn.results import MANIFEST, RESULTS, Store
from rnnlearn.runner import run_sweep
from rnnlearn.runconfig import OptimizerSpec, Part, RunConfig
from rnnlearn.sweep import Sweep, expand, parse_spec, parse_value

TIMING = {"wall_s"}


def tiny(**kw):
    base = dict(tasks=["add"], models=["elman"], learners=["bptt:window=5", "tbptt:k1=1,k2=5,lr=0.01"],
                sizes=[4], seeds=2, steps=300, eval_every=100)
    base.update(kw)
    return Sweep(**base)


def _table(folder):
    """results.csv rows without timing columns, sorted: what must not depend on how runs were executed."""
    with open(f"{folder}/{RESULTS}") as fh:
        rows = [tuple((k, v) for k, v in r.items() if k not in TIMING) for r in csv.DictReader(fh)]
    return sorted(rows)


def test_parse_value():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("0.5") == 0.5 and parse_value("1e-3") == 0.001
    assert parse_value("true") is True and parse_value("False") is False
    assert parse_value("none") is None and parse_value("global") == "global"


def test_parse_spec():
    assert parse_spec("rtrl") == ("rtrl", {})
    assert parse_spec("tbptt:k1=1,k2=10") == ("tbptt", {"k1": 1, "k2": 10})
    assert parse_spec(" ekf:decoupling=node,joseph=true ") == ("ekf", {"decoupling": "node", "joseph": True})


@pytest.mark.parametrize("bad", ["", ":k1=1", "tbptt:", "tbptt:k1", "tbptt:k1=", "tbptt:=3", "tbptt:k1=1,,k2=2",
                                 "tbptt:k1=1,k1=2", "tb ptt:k1=1"])
def test_malformed_specs(bad):
    with pytest.raises(ValueError, match="spec"):
        parse_spec(bad)


def test_expand_normalises_defaults_so_equal_runs_share_a_hash():
    a = expand(tiny(learners=["tbptt"], seeds=1))
    b = expand(tiny(learners=["tbptt:k1=10,k2=10"], seeds=1))
    assert [c.hash() for c in a] == [c.hash() for c in b]
    c = expand(tiny(learners=["tbptt"], seeds=[1]))
    assert a[0].hash() != c[0].hash()
    assert a[0].group() == c[0].group()
    json.dumps(a[0].to_dict(), allow_nan=False)  # JSON-able
    assert len(a[0].hash()) == 16


def test_run_config_round_trips_and_keeps_the_hash_of_its_dict():
    """The hash is over the same canonical JSON dict as when run configs were dicts: these values were
    computed by that code (rnnlearn 0.1.0, commit e8b21ec), so results folders written then still resume."""
    tb, ekf = expand(Sweep(tasks=["add"], models=["elman"], learners=["tbptt:k1=1,k2=10,lr=0.01", "ekf"],
                           sizes=[8], seeds=[3], steps=500, eval_every=100))
    assert (tb.hash(), tb.group(), ekf.hash()) == ("ca85abe0e3d7c019", "0f67a36ff6de26a1", "cb12f99a0ff70e41")
    assert tb.to_dict() == {"task": {"name": "add", "params": {"labels": "soft", "t1": 5, "t2": 9}},
                            "model": {"name": "elman", "params": {"n_hidden": 8}},
                            "learner": {"name": "tbptt", "params": {"batch": 1, "k1": 1, "k2": 10}},
                            "optimizer": {"name": "sgd", "lr": 0.01, "clip": None},
                            "seed": 3, "steps": 500, "eval_every": 100}
    for c in (tb, ekf):
        back = RunConfig.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back == c and back.hash() == c.hash() and back.to_dict() == c.to_dict()
        assert (back.label, back.display, back.optimizer_label) == (c.label, c.display, c.optimizer_label)
    assert (tb.label, tb.display, tb.optimizer_label) == ("tbptt(k1=1,k2=10)", "TBPTT (k1=1, k2=10)", "sgd lr=0.01")
    assert ekf.optimizer is None and ekf.optimizer_label == "own update"
    # stored labels are kept as stored (never recomputed from, or parsed out of, anything else)
    old = RunConfig.from_manifest({"config": tb.to_dict(), "label": "x", "display": "X"})
    assert (old.label, old.display) == ("x", "X") and old.hash() == tb.hash()
    # it builds its objects
    task = tb.build_task()
    model = tb.build_model(task)
    assert (task.name, model.n_hidden, model.n_in) == ("add", 8, task.n_in)
    assert tb.build_learner().params() == {"k1": 1, "k2": 10, "batch": 1}
    assert tb.build_optimizer() is not None and ekf.build_optimizer() is None
    assert OptimizerSpec("adam", 0.001, 1.0).label() == "adam lr=0.001 clip=1"
    assert Part("rtrl", {}).to_dict() == {"name": "rtrl", "params": {}}


def test_learner_specs_set_their_own_steps_and_models_their_own_size():
    configs = expand(tiny(learners=["rtrl:steps=50,eval_every=25", "bptt"], models=["elman:n_hidden=6", "gru"],
                          sizes=[3, 4], seeds=1))
    got = sorted((c.model.name, c.n_hidden, c.learner.name, c.steps, c.eval_every) for c in configs)
    assert got == [("elman", 6, "bptt", 300, 100), ("elman", 6, "rtrl", 50, 25),
                   ("gru", 3, "bptt", 300, 100), ("gru", 3, "rtrl", 50, 25),
                   ("gru", 4, "bptt", 300, 100), ("gru", 4, "rtrl", 50, 25)]
    with pytest.raises(ValueError, match="steps"):
        expand(tiny(learners=["rtrl:steps=0"]))


def test_expand_counts_and_optimizer_precedence():
    configs = expand(tiny(learners=["bptt", "rtrl:lr=0.5,optimizer=adam,clip=1", "tbptt"], sizes=[3, 5], seeds=2))
    assert len(configs) == 2 * 3 * 2
    opt = {c.label: c.optimizer for c in configs}
    assert opt["bptt(window=20)"] == OptimizerSpec("sgd", 0.02, None)
    assert opt["rtrl"] == OptimizerSpec("adam", 0.5, 1.0)
    g = {c.label: c.optimizer for c in expand(tiny(learners=["bptt", "rtrl:lr=0.5"], lr=0.1))}
    assert g["bptt(window=20)"].lr == 0.1 and g["rtrl"].lr == 0.5


def test_groups_pair_tasks_with_models_and_union_their_runs():
    """groups: each table a sweep with the rest of the settings; the runs are their union, each once."""
    configs = expand(tiny(learners=["rtrl", "tbptt"], seeds=2, groups=[
        {"tasks": ["add:t1=6,t2=10"], "models": ["elman"]},
        {"tasks": ["add:t1=5,t2=7"], "models": ["leaky:alpha=0.5"], "seeds": [0]},
        {"tasks": ["add:t1=6,t2=10"], "models": ["elman"], "learners": ["rtrl"]}]))  # nothing new
    pairs = {(c.task.params["t1"], c.model.name) for c in configs}
    assert pairs == {(6, "elman"), (5, "leaky")}
    assert len(configs) == 2 * 2 + 2 * 1 and len({c.hash() for c in configs}) == len(configs)
    assert {c.model.params.get("alpha") for c in configs if c.model.name == "leaky"} == {0.5}


def test_own_update_learner_has_no_optimizer():
    (c,) = expand(tiny(learners=["ekf"], seeds=1))
    assert c.optimizer is None and c.optimizer_label == "own update"


@pytest.mark.parametrize("sweep, match", [
    (dict(learners=["nosuch"]), "unknown learner"),
    (dict(tasks=["nosuch"]), "unknown task"),
    (dict(models=["nosuch"]), "unknown model"),
    (dict(learners=["tbptt:k1=0"]), "k1"),
    (dict(learners=["tbptt:nope=1"]), "nope"),
    (dict(sizes=[-3]), "positive"),
    (dict(sizes=[0]), "positive"),
    (dict(seeds=0), "seeds"),
    (dict(seeds=[-1]), "seeds"),
    (dict(steps=0), "steps"),
    (dict(lr=-1.0), "lr"),
    (dict(optimizer="nesterov"), "optimizer"),
    (dict(tasks=["add:t1=9,t2=5"]), "t2"),
    (dict(groups=[]), "groups"),
    (dict(groups=[{"nope": 1}]), "nope"),
    (dict(groups=[{"groups": [{"seeds": 1}]}]), "nested"),
    (dict(groups=[{"models": ["nosuch"]}]), "unknown model"),
])
def test_bad_sweeps_raise_value_error(sweep, match):
    with pytest.raises(ValueError, match=match):
        expand(tiny(**sweep))


def test_settings_files(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('learners = ["rtrl"]\nsizes = [8]\nsteps = 100\n')
    s = sweep.load_settings(p)
    assert s == {"learners": ["rtrl"], "sizes": [8], "steps": 100}
    d = sweep.default_settings()
    assert d["tasks"] == ["add"] and d["sizes"] == [32] and d["seeds"] == 3
    p.write_text("learners = [\n")
    with pytest.raises(ValueError, match="config file"):
        sweep.load_settings(p)
    p.write_text("speed = 3\n")
    with pytest.raises(ValueError, match="unknown setting"):
        sweep.load_settings(p)


def test_sweep_resumes_and_reruns_nothing(tmp_path, capsys):
    configs = expand(tiny())
    s1 = run_sweep(configs, tmp_path, progress=False)
    assert (s1.ran, s1.done, s1.skipped) == (4, 4, 0)
    rows, man = Store(tmp_path).load()
    assert len(man) == 4 and len(rows) == 4 * 4  # steps 0, 100, 200, 300
    assert all(m["status"] == "done" and m["n_rows"] == 4 and m["peak_mem_mb"] > 0 for m in man.values())
    first = _table(tmp_path)
    s2 = run_sweep(configs, tmp_path, progress=False, log=print)
    assert s2.ran == 0 and s2.skipped == 4
    assert "nothing to do" in capsys.readouterr().out
    assert _table(tmp_path) == first
    # a larger sweep only runs what is new
    s3 = run_sweep(expand(tiny(seeds=3)), tmp_path, progress=False)
    assert (s3.ran, s3.skipped) == (2, 4)


def test_failed_and_diverged_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    good = expand(tiny(seeds=1, learners=["bptt:window=5"]))
    bad = good[0].to_dict()
    bad["learner"]["params"]["window"] = 0          # raises inside the run
    bad = RunConfig.from_dict(bad)
    diverging = expand(Sweep(tasks=["sine"], learners=["rtrl:lr=10"], sizes=[4], seeds=1, steps=300,
                             eval_every=100))
    s = run_sweep([bad] + diverging + good, tmp_path, progress=False)
    assert (s.failed, s.diverged, s.done) == (1, 1, 1)
    man = Store(tmp_path).manifest()
    st = {m["status"]: m for m in man.values()}
    assert "window" in st["failed"]["reason"] and st["failed"]["n_rows"] == 0
    assert "non-finite" in st["diverged"]["reason"]
    # failed runs are retried by the next sweep; done and diverged are not
    s2 = run_sweep([bad] + diverging + good, tmp_path, progress=False)
    assert (s2.ran, s2.failed, s2.skipped) == (1, 1, 2)


def test_interrupt_keeps_finished_runs(tmp_path, monkeypatch):
    configs = expand(tiny())
    real = runner.execute
    calls = []

    def flaky(config, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(config, **kw)

    monkeypatch.setattr(runner, "execute", flaky)
    s = run_sweep(configs, tmp_path, progress=False)
    assert s.interrupted and s.ran == 2
    monkeypatch.setattr(runner, "execute", real)
    s2 = run_sweep(configs, tmp_path, progress=False)
    assert (s2.ran, s2.skipped) == (2, 2)
    rows, man = Store(tmp_path).load()
    assert len(man) == 4 and len({(r["run"], r["step"]) for r in rows}) == len(rows) == 16


STOCHASTIC = ["bptt:window=5", "tbptt:k1=1,k2=5,lr=0.01", "uoro"]  # UORO draws from its own seeded Generator


def test_parallel_processes_give_the_same_results(tmp_path):
    configs = expand(tiny(learners=STOCHASTIC))
    run_sweep(configs, tmp_path / "one", jobs=1, progress=False)
    run_sweep(configs, tmp_path / "two", jobs=2, progress=False)
    assert _table(tmp_path / "one") == _table(tmp_path / "two")


def test_dask_local_cluster_gives_the_same_results(tmp_path):
    import distributed  # in the test extra: this test must run, never skip
    configs = expand(tiny(learners=STOCHASTIC))
    run_sweep(configs, tmp_path / "local", jobs=1, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) \
            as cluster:
        s = run_sweep(configs, tmp_path / "dask", dask=cluster.scheduler_address, progress=False)
    assert s.done == len(configs)
    assert _table(tmp_path / "local") == _table(tmp_path / "dask")
    with open(tmp_path / "dask" / MANIFEST) as fh:
        assert len(fh.readlines()) == len(configs)


def test_save_models(tmp_path):
    from rnnlearn.textgen import load_model
    configs = expand(tiny(seeds=1, learners=["bptt:window=5"]))
    run_sweep(configs, tmp_path, save_models=True, progress=False)
    (m,) = Store(tmp_path).manifest().values()
    model, theta, task = load_model(tmp_path / m["model_path"])
    assert model.n_hidden == 4 and task.name == "add" and theta.shape == (model.n_params,)


def test_first_runs_start_one_per_kernel_family_largest_kernels_first():
    """On a fresh install the workers should compile different kernels side by side: the first runs are one
    per kernel family (BPTT shares truncated BPTT's), the longest to compile first, except that the EKF
    (whose H from truncated BPTT calls truncated BPTT's ring code: Learner.compiles_after) starts `jobs`
    places after truncated BPTT, when a worker frees up and that code is on disk."""
    configs = expand(tiny(learners=["rtrl", "tbptt", "ekf:jacobian=tbptt", "bptt", "tbptt:k1=1,k2=5", "uoro"],
                          seeds=2))
    todo = [(c.hash(), c) for c in configs]
    for jobs, firsts in [(1, ["tbptt", "ekf", "rtrl", "uoro"]), (2, ["tbptt", "rtrl", "ekf", "uoro"]),
                         (4, ["tbptt", "rtrl", "uoro", "ekf"])]:
        order = [c.learner.name for _, c in runner._schedule(todo, jobs)]
        assert [("tbptt" if n == "bptt" else n) for n in order[:4]] == firsts, jobs
        assert sorted(order) == sorted(c.learner.name for c in configs)
    rtrl_h = [c for c in expand(tiny(learners=["ekf:jacobian=rtrl", "rtrl", "tbptt"], seeds=1))]
    order = [c.learner.name for _, c in runner._schedule([(c.hash(), c) for c in rtrl_h], 2)]
    assert order == ["tbptt", "rtrl", "ekf"]   # H from RTRL follows RTRL (sooner when nothing else is left)


def test_a_free_worker_skips_the_runs_of_a_family_another_worker_is_compiling():
    """runner._next_job: while one worker runs a kernel family's first run (compiling it), another worker
    starts a run of a different family if there is one, else the first waiting run."""
    from rnnlearn.runner import _family, _next_job
    configs = expand(tiny(learners=["bptt:window=5", "rtrl", "uoro"], seeds=1))
    waiting = [(c.hash(), c) for c in configs]
    bptt, rtrl, uoro = (_family(c) for _, c in waiting)
    assert _next_job(waiting, {}) == 0
    assert _next_job(waiting, {bptt: object()}) == 1
    assert _next_job(waiting, {bptt: object(), rtrl: object()}) == 2
    assert _next_job(waiting, {bptt: object(), rtrl: object(), uoro: object()}) == 0


def test_prestarted_workers_are_taken_by_the_next_pool_and_give_the_same_results(tmp_path):
    """compare starts its workers before checking the sweep (runner.prestart_workers); the pool takes them,
    stops the ones it does not need, and the results are those of one process."""
    configs = expand(tiny(learners=STOCHASTIC, seeds=1))
    run_sweep(configs, tmp_path / "one", jobs=1, progress=False)
    runner.prestart_workers(3)
    started = [w.proc for w in runner._PRESTARTED]
    run_sweep(configs, tmp_path / "two", jobs=2, progress=False)
    assert runner._PRESTARTED == []
    for p in started:
        p.join(timeout=10)
        assert not p.is_alive()
    assert _table(tmp_path / "one") == _table(tmp_path / "two")


def test_a_worker_asked_to_stop_exits_cleanly_at_once():
    """A worker told to stop leaves without tearing its interpreter down (runner._exit_now), with exit code 0,
    and every worker of a pool is asked before any is waited for (runner._stop_all)."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    workers = [runner._Worker.start(ctx) for _ in range(2)]
    runner._stop_all(workers)
    assert all(w.asked for w in workers)
    assert [w.proc.exitcode for w in workers] == [0, 0]


def test_a_family_is_compiled_at_its_first_runs_first_progress():
    """A run's first progress report comes after train()'s warm-up: its family's kernels are on disk, so the
    family's other runs may start on other workers (runner._compiled), before that first run ends."""
    from rnnlearn.runner import _compiled, _family
    (_, c), = [(x.hash(), x) for x in expand(tiny(learners=["rtrl"], seeds=1))]
    w, other = object(), object()
    warm, compiling = set(), {_family(c): w}
    _compiled(other, ("h", c), warm, compiling)
    assert compiling and not warm       # another worker's run of the family: not the one compiling it
    _compiled(w, ("h", c), warm, compiling)
    assert warm == {_family(c)} and not compiling
