"""The results store of a comparison: tidy CSV rows plus a JSON-lines manifest, append-only and atomic.

A results folder holds

results.csv   one row per evaluation point of every run, with the columns `RESULT_COLUMNS`
metrics.csv   the tasks' own measures (bits per character, accuracy, ...) in long form: run, step, metric,
              value (a task's metrics differ from another's, so they cannot share fixed columns); read by
              `rnnlearn report` (rnnlearn.report)
config.toml   the sweep config `rnnlearn compare --config` ran with, whose [[quote]] tables the report prints
runs.jsonl    one line per finished run: its config and config hash, status (done, diverged, failed) and
              reason, compile_s, us_per_step, peak_mem_mb, the package version, ...
cost.csv      timings of learners at sizes n (`rnnlearn cost`), `COST_COLUMNS`
vanishing.csv gradient norms ||dL_T/dh_t|| against T - t (`rnnlearn vanishing`), `VANISHING_COLUMNS`
alignment.csv gradient alignment of runs of `rnnlearn compare --alignment` (rnnlearn.alignment): per
              evaluation and pair of learners (a < b, learner 0 the one that trains), the mean cosine and norm
              ratio over the interval's windows, `ALIGNMENT_COLUMNS`; written with its run like metrics.csv

How a run is written, so that a killed process loses no finished run and leaves nothing half-counted: the
run's rows are formatted into one complete buffer and written with a single `os.write` on a file descriptor
opened with O_APPEND, then fsync'ed; its metrics likewise; the manifest line comes LAST. A run counts only once
its manifest line is complete, and the manifest records how many rows the run wrote. On reading, rows whose
run has no manifest line (a process killed between the writes) are ignored, and `compact` (called before a
sweep resumes, under the folder's lock) rewrites the files without them, atomically (temporary file, fsync,
rename), so a rerun never duplicates a row. Anything else that does not parse is reported as a corrupt file
(`CorruptResults`, a ValueError: one line on the command line, exit code 2).
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
from contextlib import contextmanager

RESULTS = "results.csv"
METRICS = "metrics.csv"
MANIFEST = "runs.jsonl"
COST = "cost.csv"
VANISHING = "vanishing.csv"
ALIGNMENT = "alignment.csv"
LOCK = ".rnnlearn.lock"

#: results.csv columns. `run` is the config hash; `label` names the learner with its hyperparameters
#: (Learner.label), `display` is the same as figures show it (Learner.display_label), and `optimizer` names
#: its optimizer (so several settings of one learner can be told apart on a plot). Stored, never parsed.
RESULT_COLUMNS = ["run", "task", "model", "learner", "label", "display", "optimizer", "n_hidden", "seed", "step",
                  "wall_s", "train_loss", "test_loss"]
METRIC_COLUMNS = ["run", "step", "metric", "value"]
COST_COLUMNS = ["model", "learner", "label", "display", "n", "params", "T", "us_per_step", "us_per_step_min",
                "state_mb", "time_exponent", "memory_exponent", "version"]
#: a column added since folders were first written: files without it are read with it empty (readers fall back
#: to `label`), and rows appended to such a file are written in its own columns
ADDED = "display"
VANISHING_COLUMNS = ["rho", "n_hidden", "T", "input_scale", "seed", "lag", "grad_norm"]
ALIGNMENT_COLUMNS = ["run", "step", "a", "a_label", "a_display", "b", "b_label", "b_display", "cosine",
                     "norm_ratio", "windows"]

_INT = {"n_hidden", "seed", "step", "n", "params", "T", "lag", "a", "b", "windows"}
_FLOAT = {"wall_s", "train_loss", "test_loss", "value", "us_per_step", "us_per_step_min", "state_mb",
          "time_exponent", "memory_exponent", "rho", "grad_norm", "input_scale", "cosine", "norm_ratio"}
FINAL = ("done", "diverged")   # a run with one of these statuses is not run again


class CorruptResults(ValueError):
    """A results file that cannot be read (not written by rnnlearn, or damaged)."""


# ----------------------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------------------

def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return str(v)


def csv_text(rows, columns) -> str:
    """Rows (dicts) as CSV text without a header, every float written exactly (repr round-trips)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in columns])
    return buf.getvalue()


def _write_all(fd, data: bytes) -> None:
    """One os.write of the whole buffer (regular files take it whole; loop only on a short write)."""
    view = memoryview(data)
    while view:
        k = os.write(fd, view)
        view = view[k:]


def append_atomic(path, text: str, header: list[str] | None = None) -> None:
    """Append `text` (complete lines) to `path` with one write on an O_APPEND descriptor, then fsync.

    A new (or empty) file gets the CSV `header` first. A file whose last line was torn by a killed process
    (no final newline) is first given a newline, so the torn piece stays a line of its own, which readers
    drop (its run has no manifest line)."""
    data = text.encode()
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size == 0 and header is not None:
            data = (",".join(header) + "\n").encode() + data
        elif size > 0 and _last_byte(path) != b"\n":
            data = b"\n" + data
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def _fsync_dir(folder) -> None:
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_beside(path, suffix=""):
    """(fd, name) of a new temporary file in `path`'s folder: a unique name, created exclusively (O_EXCL, so
    nothing planted there, a symlink say, is followed), readable as a normal file once renamed."""
    import tempfile
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
    except OSError:  # pragma: no cover - a file system without modes
        pass
    return fd, tmp


def replace_atomic(path, text: str) -> None:
    """Write `text` to a unique temporary file beside `path`, fsync it, and rename it over `path`; the
    temporary file is removed when anything fails."""
    path = os.fspath(path)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(os.path.dirname(path) or ".")


class Store:
    """A results folder. `append_run` writes one finished run; `load` reads everything back, checked."""

    def __init__(self, folder):
        self.folder = os.fspath(folder)

    def path(self, name) -> str:
        return os.path.join(self.folder, name)

    def prepare(self) -> "Store":
        """Create the folder and check that it is writable (OSError with a clear message otherwise)."""
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise OSError(f"output folder {self.folder!r} is a file, not a folder")
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create output folder {self.folder!r}: {exc.strerror or exc}") from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise OSError(f"output folder {self.folder!r} is not writable")
        return self

    @contextmanager
    def lock(self):
        """Hold the folder's lock: one sweep writes into a folder at a time."""
        fd = os.open(self.path(LOCK), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OSError(f"results folder {self.folder!r} is in use by another rnnlearn process") from None
            yield self
        finally:
            os.close(fd)

    # --- runs -------------------------------------------------------------------------------------------
    def append_run(self, manifest: dict, rows: list[dict], metrics: list[dict] = (),
                   alignment: list[dict] = ()) -> None:
        """Write one finished run: its rows, its metrics, its alignment rows, then (last) its manifest line."""
        manifest = dict(manifest, n_rows=len(rows), n_metrics=len(metrics))
        if alignment:
            manifest["n_alignment"] = len(alignment)
        mp = self.path(MANIFEST)
        if os.path.exists(mp) and os.path.getsize(mp) and _last_byte(mp) != b"\n":
            self.compact()  # a manifest line torn by a killed writer: drop it before appending
        if rows:
            cols = _file_columns(self.path(RESULTS), RESULT_COLUMNS)
            append_atomic(self.path(RESULTS), csv_text(rows, cols), cols)
        if metrics:
            append_atomic(self.path(METRICS), csv_text(metrics, METRIC_COLUMNS), METRIC_COLUMNS)
        if alignment:
            append_atomic(self.path(ALIGNMENT), csv_text(alignment, ALIGNMENT_COLUMNS), ALIGNMENT_COLUMNS)
        line = json.dumps(manifest, sort_keys=True, allow_nan=True, default=_json_default) + "\n"
        append_atomic(self.path(MANIFEST), line)

    def manifest(self) -> dict[str, dict]:
        """run hash -> its manifest entry (the last line of that run counts: a failed run may be retried)."""
        out: dict[str, dict] = {}
        path = self.path(MANIFEST)
        if not os.path.exists(path):
            return out
        with open(path, "rb") as fh:
            raw = fh.read()
        lines = raw.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline; else a line torn by a killed writer
        del torn
        for k, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                run = entry["run"]
                entry["status"]
            except (ValueError, KeyError, TypeError):
                raise CorruptResults(f"{path}: line {k} is not a run record written by rnnlearn "
                                     "(corrupt results file; move it away to start afresh)") from None
            out[run] = entry
        return out

    def finished(self) -> dict[str, dict]:
        """Runs that will not be run again (status done or diverged)."""
        return {k: v for k, v in self.manifest().items() if v["status"] in FINAL}

    def load(self) -> tuple[list[dict], dict[str, dict]]:
        """(rows of results.csv that belong to recorded runs, manifest), every value typed and checked."""
        manifest = self.manifest()
        rows = _read_run_rows(self.path(RESULTS), RESULT_COLUMNS, manifest, "n_rows")
        return rows, manifest

    def load_metrics(self, manifest=None) -> list[dict]:
        manifest = self.manifest() if manifest is None else manifest
        return _read_run_rows(self.path(METRICS), METRIC_COLUMNS, manifest, "n_metrics")

    def load_alignment(self, manifest=None) -> list[dict]:
        """The rows of alignment.csv that belong to recorded runs, typed."""
        manifest = self.manifest() if manifest is None else manifest
        return _read_run_rows(self.path(ALIGNMENT), ALIGNMENT_COLUMNS, manifest, "n_alignment")

    def compact(self) -> int:
        """Drop rows (and torn lines) of runs without a manifest line, rewriting files atomically. Returns
        how many rows were dropped. Call under `lock()`, before appending."""
        manifest = self.manifest()
        dropped = 0
        path = self.path(MANIFEST)
        if os.path.exists(path):
            with open(path, "rb") as fh:
                raw = fh.read()
            if raw and not raw.endswith(b"\n"):
                replace_atomic(path, raw[:raw.rfind(b"\n") + 1].decode())
        for name, columns, key in ((RESULTS, RESULT_COLUMNS, "n_rows"), (METRICS, METRIC_COLUMNS, "n_metrics"),
                                   (ALIGNMENT, ALIGNMENT_COLUMNS, "n_alignment")):
            p = self.path(name)
            if not os.path.exists(p):
                continue
            keep, total = _read_run_rows(p, columns, manifest, key, raw_rows=True)
            if len(keep) != total:
                dropped += total - len(keep)
                text = ",".join(columns) + "\n" + "".join(keep)
                replace_atomic(p, text)
        return dropped

    # --- other tables -----------------------------------------------------------------------------------
    def append_rows(self, name: str, columns: list[str], rows: list[dict]) -> None:
        cols = _file_columns(self.path(name), columns)
        append_atomic(self.path(name), csv_text(rows, cols), cols)

    def read_table(self, name: str, columns: list[str]) -> list[dict]:
        """All complete rows of a plain table (cost.csv, vanishing.csv); a torn last line is ignored."""
        p = self.path(name)
        if not os.path.exists(p):
            return []
        out = []
        for k, fields, complete in _csv_lines(p, columns):
            if not complete:
                continue
            out.append(_typed(dict(zip(columns, fields)), p, k))
        return out


def _json_default(v):
    import numpy as np
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot store {type(v).__name__} in runs.jsonl")


def _csv_lines(path, columns):
    """(line number, fields, complete) for each data line of a CSV written by this module; checks the
    header. `complete` is False for a last line torn by a killed writer (no final newline)."""
    with open(path, "r", newline="") as fh:
        text = fh.read()
    if not text:
        return
    lines = text.split("\n")
    header = lines[0]
    pad = None
    if ADDED in columns and header.split(",") == [c for c in columns if c != ADDED]:
        pad = columns.index(ADDED)   # a folder written before the column was added
    elif header.split(",") != columns:
        raise CorruptResults(f"{path}: unexpected header {header[:60]!r}; expected the columns "
                             f"{','.join(columns[:4])},... (corrupt results file, or not written by rnnlearn)")
    last = len(lines) - 1
    for k, line in enumerate(lines[1:], 2):
        if k - 1 == last and line == "":
            break
        if not line:
            continue
        try:
            fields = next(csv.reader([line]))
        except csv.Error:
            fields = None
        if pad is not None and fields is not None and len(fields) == len(columns) - 1:
            fields.insert(pad, "")
        complete = k - 1 < last  # followed by a newline
        if fields is None or len(fields) != len(columns):
            if not complete:
                yield k, None, False
                continue
            yield k, fields, None  # malformed complete line: the caller decides
            continue
        yield k, fields, complete


def _file_columns(path, columns: list[str]) -> list[str]:
    """The columns of an existing CSV file when it is of the form before `ADDED` (else `columns`)."""
    if ADDED not in columns or not os.path.exists(path) or not os.path.getsize(path):
        return columns
    with open(path, "r", newline="") as fh:
        header = fh.readline().rstrip("\n").split(",")
    old = [c for c in columns if c != ADDED]
    return old if header == old else columns


def _typed(row: dict, path, k) -> dict:
    try:
        for c in row:
            if c in _INT:
                row[c] = int(row[c])
            elif c in _FLOAT:
                row[c] = float(row[c]) if row[c] != "" else float("nan")
    except ValueError:
        raise CorruptResults(f"{path}: line {k} has a bad value in column {c!r}: {row[c]!r} "
                             "(corrupt results file)") from None
    return row


def _read_run_rows(path, columns, manifest, count_key, raw_rows=False):
    """Rows of `path` whose run is in `manifest`: the last `manifest[run][count_key]` of them (a run retried
    after a kill appends its rows again; those just before its manifest line are the ones that count)."""
    if not os.path.exists(path):
        return ([], 0) if raw_rows else []
    per_run: dict[str, list] = {}
    total = 0
    for k, fields, complete in _csv_lines(path, columns):
        total += 1
        if fields is None or complete is False:
            continue
        run = fields[0]
        if run not in manifest:
            continue  # a run killed before its manifest line was written
        if complete is None:
            raise CorruptResults(f"{path}: line {k} does not have the {len(columns)} columns "
                                 f"{','.join(columns[:3])},... (corrupt results file)")
        per_run.setdefault(run, []).append((k, fields))
    out = []
    for run, entry in manifest.items():
        want = int(entry.get(count_key, 0) or 0)
        have = per_run.get(run, [])
        if len(have) < want:
            raise CorruptResults(f"{path}: run {run} should have {want} rows, found {len(have)} "
                                 "(corrupt results file)")
        out.extend(have[len(have) - want:] if want else [])
    out.sort()
    if raw_rows:
        return [csv_text([dict(zip(columns, f))], columns) for _, f in out], total
    return [_typed(dict(zip(columns, f)), path, k) for k, f in out]
