"""The results store: round trips, append-only atomic writes, killed writers, corrupt files."""
import json
import os

import pytest

from rnnlearn.results import (COST, COST_COLUMNS, MANIFEST, METRICS, RESULT_COLUMNS, RESULTS, CorruptResults,
                              Store, append_atomic, csv_text)


def _rows(run, k=3, seed=0):
    return [{"run": run, "task": "add", "model": "elman", "learner": "tbptt", "label": "tbptt(k1=1,k2=10)",
             "display": "TBPTT (k1=1, k2=10)", "optimizer": "sgd lr=0.01", "n_hidden": 8, "seed": seed, "step": 100 * i, "wall_s": 0.001 * i,
             "train_loss": float("nan") if i == 0 else 0.1 / 3 * i, "test_loss": 0.7 - i / 7.0}
            for i in range(k)]


def _man(run, status="done", **kw):
    return {"run": run, "status": status, "reason": "", "config": {"seed": 0}, **kw}


def test_round_trip_is_exact(tmp_path):
    st = Store(tmp_path).prepare()
    st.append_run(_man("a"), _rows("a"), [{"run": "a", "step": 0, "metric": "bpc", "value": 1 / 3}])
    st.append_run(_man("b"), _rows("b", seed=1))
    rows, man = st.load()
    assert set(man) == {"a", "b"} and man["a"]["n_rows"] == 3
    assert len(rows) == 6
    want = _rows("a") + _rows("b", seed=1)
    for got, exp in zip(rows, want):
        for c in RESULT_COLUMNS:
            if c == "train_loss" and exp["step"] == 0:
                assert got[c] != got[c]  # nan
            else:
                assert got[c] == exp[c], c
    assert st.load_metrics() == [{"run": "a", "step": 0, "metric": "bpc", "value": 1 / 3}]
    with open(st.path(RESULTS)) as fh:
        assert fh.readline().strip() == ",".join(RESULT_COLUMNS)


def test_rows_without_manifest_line_are_ignored_and_compacted(tmp_path):
    st = Store(tmp_path).prepare()
    st.append_run(_man("a"), _rows("a"))
    # a process killed after writing run b's rows, before its manifest line
    append_atomic(st.path(RESULTS), csv_text(_rows("b"), RESULT_COLUMNS), RESULT_COLUMNS)
    rows, man = st.load()
    assert {r["run"] for r in rows} == {"a"}
    assert st.compact() == 3
    with open(st.path(RESULTS)) as fh:
        assert len(fh.read().splitlines()) == 1 + 3
    # run b is run again and completes: its rows appear once
    st.append_run(_man("b"), _rows("b"))
    rows, _ = st.load()
    assert sorted((r["run"], r["step"]) for r in rows) == sorted({(r["run"], r["step"]) for r in rows})
    assert len(rows) == 6


def test_torn_lines_are_ignored(tmp_path):
    st = Store(tmp_path).prepare()
    st.append_run(_man("a"), _rows("a"))
    text = csv_text(_rows("b"), RESULT_COLUMNS)
    with open(st.path(RESULTS), "a") as fh:   # a write cut short by a kill: half a row, no newline
        fh.write(text[: len(text) // 2 - 7])
    with open(st.path(MANIFEST), "a") as fh:
        fh.write('{"run": "b", "sta')
    rows, man = st.load()
    assert set(man) == {"a"} and len(rows) == 3
    # the next run is appended after a newline: the torn piece stays a line of its own, then is dropped
    st.append_run(_man("c"), _rows("c"))
    rows, man = st.load()
    assert set(man) == {"a", "c"} and len(rows) == 6
    st.compact()
    rows2, man2 = st.load()
    key = lambda rs: [(r["run"], r["step"], r["test_loss"], r["wall_s"]) for r in rs]  # noqa: E731
    assert key(rows2) == key(rows) and man2.keys() == man.keys()
    with open(st.path(MANIFEST)) as fh:
        assert all(json.loads(line) for line in fh)


def test_failed_run_retried_last_line_counts(tmp_path):
    st = Store(tmp_path).prepare()
    st.append_run(_man("a", "failed", reason="MemoryError"), [])
    assert st.finished() == {}
    st.append_run(_man("a"), _rows("a"))
    assert st.finished()["a"]["status"] == "done"
    assert len(st.load()[0]) == 3


@pytest.mark.parametrize("damage", ["manifest", "header", "value", "missing_rows", "columns"])
def test_corrupt_files_raise_clear_errors(tmp_path, damage):
    st = Store(tmp_path).prepare()
    st.append_run(_man("a"), _rows("a"))
    st.append_run(_man("b"), _rows("b"))
    p_res, p_man = st.path(RESULTS), st.path(MANIFEST)
    lines = open(p_res).read().splitlines(keepends=True)
    if damage == "manifest":
        with open(p_man, "a") as fh:
            fh.write("this is not json\n")
    elif damage == "header":
        lines[0] = "step,loss\n"
        open(p_res, "w").write("".join(lines))
    elif damage == "value":
        lines[2] = lines[2].replace(",100,", ",x1,")
        open(p_res, "w").write("".join(lines))
    elif damage == "missing_rows":
        open(p_res, "w").write("".join(lines[:-1]))
    elif damage == "columns":
        lines[2] = "a,add,elman\n"
        open(p_res, "w").write("".join(lines))
    with pytest.raises(CorruptResults) as e:
        st.load()
    assert "corrupt" in str(e.value) and "\n" not in str(e.value)


def test_lock_is_exclusive(tmp_path):
    st = Store(tmp_path).prepare()
    with st.lock():
        with pytest.raises(OSError, match="in use"):
            with Store(tmp_path).lock():
                pass
    with st.lock():
        pass


def test_prepare_refuses_a_file_and_an_uncreatable_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OSError):
        Store(f).prepare()
    with pytest.raises(OSError):
        Store(f / "sub").prepare()


def test_plain_tables(tmp_path):
    st = Store(tmp_path).prepare()
    row = {"model": "elman", "learner": "rtrl", "label": "rtrl", "display": "RTRL", "n": 8, "params": 100, "T": 20,
           "us_per_step": 1.5, "us_per_step_min": 1.25, "state_mb": 0.5, "time_exponent": 4.0,
           "memory_exponent": 3.0, "version": "0.1.0"}
    st.append_rows(COST, COST_COLUMNS, [row])
    with open(st.path(COST), "a") as fh:
        fh.write("elman,rtrl,rt")  # torn
    assert st.read_table(COST, COST_COLUMNS) == [row]
    assert not os.path.exists(st.path(METRICS))


def test_folders_written_before_the_display_column_still_load_and_resume(tmp_path):
    """results.csv and cost.csv of older folders have no `display` column: they read with it empty (readers
    fall back to the label), and rows appended to them keep the file's own columns."""
    old = [c for c in RESULT_COLUMNS if c != "display"]
    st = Store(tmp_path).prepare()
    append_atomic(st.path(RESULTS), csv_text(_rows("a"), old), old)
    append_atomic(st.path(MANIFEST), json.dumps(dict(_man("a"), n_rows=3, n_metrics=0)) + "\n")
    st.append_run(_man("b"), _rows("b"))
    import csv
    with open(st.path(RESULTS)) as fh:
        lines = list(csv.reader(fh))
    assert lines[0] == old and all(len(line) == len(old) for line in lines)
    rows, man = st.load()
    assert len(rows) == 6 and {r["display"] for r in rows} == {""} and set(man) == {"a", "b"}
    old_cost = [c for c in COST_COLUMNS if c != "display"]
    row = {"model": "elman", "learner": "rtrl", "label": "rtrl", "n": 8, "params": 100, "T": 20,
           "us_per_step": 1.5, "us_per_step_min": 1.25, "state_mb": 0.5, "time_exponent": 4.0,
           "memory_exponent": 3.0, "version": "0.1.0"}
    append_atomic(st.path(COST), csv_text([row], old_cost), old_cost)
    st.append_rows(COST, COST_COLUMNS, [dict(row, n=16, display="RTRL")])
    assert [(r["n"], r["display"]) for r in st.read_table(COST, COST_COLUMNS)] == [(8, ""), (16, "")]
