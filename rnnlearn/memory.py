"""Memory checks before work starts: what a run, a sweep or a timing will take, estimated from the declared
sizes (Learner.state_nbytes, the task's buffers, the sweep's list of configs) before anything is allocated,
against the memory available.

The memory available is the smallest of: the machine's available memory (MemAvailable in /proc/meminfo, else
os.sysconf('SC_AVPHYS_PAGES')), the headroom under the address-space limit (RLIMIT_AS soft limit minus what
the process maps now), and RNNLEARN_MEMORY_LIMIT when set ("4G", "512M", "2.5GB", or bytes) in place of the
machine's memory. What does not fit is refused with one line giving the estimate and the limit
(`MemoryLimitError`, a ValueError: exit code 2 on the command line).
"""
from __future__ import annotations

import json
import os
import re

ENV = "RNNLEARN_MEMORY_LIMIT"
#: what one worker process costs beyond its run's arrays: the interpreter, numpy, numba and LLVM
PROCESS_BYTES = 200 * 2 ** 20
#: a run config in the sweep's list, with its hash and labels (measured: about 2.5 KB)
CONFIG_BYTES = 4096
#: the most runs one sweep may hold
MAX_RUNS = 1_000_000


class MemoryLimitError(ValueError):
    """What is about to run does not fit in the memory available."""


def parse_size(text) -> int:
    """'4G' -> 4 * 2**30, '512M', '2.5GB', '1000000' (bytes); ValueError otherwise."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)(i?[bB])?\s*", str(text))
    if not m:
        raise ValueError(f"{ENV}: expected a size such as 4G, 512M or a number of bytes, got {text!r}")
    scale = {"": 1, "k": 2 ** 10, "m": 2 ** 20, "g": 2 ** 30, "t": 2 ** 40}[m.group(2).lower()]
    value = int(float(m.group(1)) * scale)
    if value <= 0:
        raise ValueError(f"{ENV}: the size must be positive, got {text!r}")
    return value


def format_bytes(b) -> str:
    b = float(b)
    for unit, scale in (("TB", 2 ** 40), ("GB", 2 ** 30), ("MB", 2 ** 20), ("kB", 2 ** 10)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b:.0f} B"


def _meminfo_available():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _mapped_now():
    """The process's virtual size now (what RLIMIT_AS counts), or 0 when unknown."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def available() -> tuple[int | None, str]:
    """(bytes available, where the limit comes from); (None, ...) when nothing is known."""
    options = []
    env = os.environ.get(ENV, "").strip()
    if env:
        options.append((parse_size(env), f"{ENV}={env}"))
    else:
        avail = _meminfo_available()
        if avail is not None:
            options.append((avail, "memory available on this machine"))
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and soft > 0:
            options.append((max(soft - _mapped_now(), 0), f"headroom under the address-space limit "
                                                          f"(RLIMIT_AS {format_bytes(soft)})"))
    except (ImportError, ValueError, OSError):
        pass
    if not options:
        return None, "unknown"
    return min(options)


def check(need: int, what: str) -> None:
    """MemoryLimitError (one line: the estimate and the limit) when `need` bytes do not fit."""
    limit, where = available()
    if limit is not None and need > limit:
        raise MemoryLimitError(f"{what} needs about {format_bytes(need)} (estimated from its sizes), more than "
                               f"the {format_bytes(limit)} available ({where}); choose smaller sizes, fewer "
                               f"jobs, or set {ENV}")


# ----------------------------------------------------------------------------------------------------------
# estimates
# ----------------------------------------------------------------------------------------------------------

def learner_state_nbytes(learner, model, optimizer=None) -> int:
    """Learner.state_nbytes, or, for a learner that does not declare it, a conservative bound from its
    declared memory exponent: 8 bytes x 16 (P + S^2) x n^(exponent - 2)."""
    try:
        return int(learner.state_nbytes(model, optimizer))
    except NotImplementedError:
        e = float(learner.model_cost_exponents(model)[1])
        return int(8 * 16 * (model.n_params + model.n_state ** 2) * max(model.n_hidden, 1) ** max(e - 2.0, 0.0))


def row_nbytes(task) -> int:
    """Bytes of one time step of a chunk: xs, ys, mask (float64), resets (bool), x_index (int64)."""
    return 8 * (task.n_in + task.n_out + 1) + 1 + 8


def task_nbytes(task, model, chunk_len: int, batch: int = 1) -> int:
    """The task's buffers during a run: the test set and the model's outputs on it (states and outputs of
    every step, twice over for the metrics), the training chunk, and the longest sequence a stream builds."""
    test = int(task.test_steps())
    seq = int(task.sequence_steps())
    per_row = row_nbytes(task)
    forward = 8 * (model.n_state + 2 * model.n_out)
    return test * (per_row + forward) + batch * (chunk_len + 2 * seq) * per_row


def run_estimate(config, task=None) -> dict:
    """{learner, task, theta, total} bytes of one run (RunConfig), before anything is allocated."""
    task = config.build_task() if task is None else task
    model = config.build_model(task)
    learner = config.build_learner()
    from .train import chunk_steps
    chunk = chunk_steps(model, learner, task)
    state = learner_state_nbytes(learner, model, config.build_optimizer())
    buffers = task_nbytes(task, model, chunk, learner.batch_size)
    # theta, its warm-up copy, the final copy kept, the losses of an evaluation interval
    theta = 8 * 4 * model.n_params + 16 * learner.batch_size * min(config.eval_every, config.steps)
    return {"learner": state, "task": buffers, "theta": theta, "total": state + buffers + theta}


def _key(part) -> str:
    return json.dumps(part.to_dict(), sort_keys=True)


def sweep_estimate(configs, jobs: int = 1) -> dict:
    """{runs, largest (bytes of the largest run), largest_run (its describe()), configs (bytes of the list),
    peak (the `jobs` largest runs at once, their worker processes when jobs > 1, and the list), per_run
    {hash: bytes}}. Runs that differ only in their seed share an estimate."""
    tasks: dict = {}
    by_group: dict = {}
    per_run = {}
    for c in configs:
        g = c.group()
        if g not in by_group:
            k = _key(c.task)
            if k not in tasks:
                tasks[k] = c.build_task()
            by_group[g] = run_estimate(c, tasks[k])["total"]
        per_run[c.hash()] = by_group[g]
    sizes = sorted(per_run.values(), reverse=True)
    jobs = max(1, min(int(jobs), len(sizes) or 1))
    listing = len(configs) * CONFIG_BYTES
    peak = sum(sizes[:jobs]) + (jobs * PROCESS_BYTES if jobs > 1 else 0) + listing
    largest = sizes[0] if sizes else 0
    largest_run = next((c.describe() for c in configs if per_run[c.hash()] == largest), "")
    return {"runs": len(configs), "largest": largest, "largest_run": largest_run, "configs": listing,
            "peak": peak, "per_run": per_run, "jobs": jobs}


def fit_jobs(configs, jobs: int, log=None) -> tuple[int, dict]:
    """The number of local processes that fit (at most `jobs`) and the sweep's estimate with it;
    MemoryLimitError when not even one run at a time fits."""
    est = sweep_estimate(configs, jobs)
    limit, where = available()
    j = est["jobs"]
    while j > 1 and limit is not None and est["peak"] > limit:
        j -= 1
        est = sweep_estimate(configs, j)
    if j < jobs and j < len(configs) and log is not None and limit is not None:
        log(f"running {j} processes at a time instead of {jobs}: {jobs} of the largest runs would not fit in "
            f"the {format_bytes(limit)} available ({where})")
    check(est["peak"], f"the sweep ({est['runs']} runs; the largest, {est['largest_run']}, "
                       f"{format_bytes(est['largest'])}; {j} at a time)")
    return j, est


def check_run_count(count: int) -> None:
    """Refuse a sweep of more runs than MAX_RUNS, or whose list of configs alone does not fit."""
    if count > MAX_RUNS:
        raise ValueError(f"the sweep has {count:,} runs, more than the {MAX_RUNS:,} one sweep may hold "
                         "(fewer seeds, sizes or learners)")
    check(count * CONFIG_BYTES, f"the list of the sweep's {count:,} run configs")
