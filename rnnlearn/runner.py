"""The comparison runner: run configs (rnnlearn.sweep) -> runs executed here, in local processes or on a Dask
cluster -> the results store (rnnlearn.results), resuming where an earlier sweep stopped.

Same seed, same numbers: a run's numbers depend only on its config (BLAS is held to one thread in every run,
so the sums are done in the same order whether the run executes here, in a worker process or on a cluster).
"""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass

from .results import Store
from .runconfig import RunConfig


# ----------------------------------------------------------------------------------------------------------
# one run
# ----------------------------------------------------------------------------------------------------------

def execute(config: RunConfig, keep_theta: bool = False, queue=None, key=None, callback=None) -> dict:
    """Train one run config and return {run, config, manifest, rows, metrics[, theta]}. Never raises for a failing
    run: an exception inside it is recorded as status "failed" with the reason (a diverged run is "diverged",
    as train() reports). Progress after each evaluation goes to `callback(key, step, test_loss)` or, from a
    worker process, onto `queue`.

    Memory: `peak_mem_mb` is the learner state's size (TrainResult.state_bytes: the arrays the learner keeps
    between steps: RTRL's influence matrix, BPTT's stored window, optimizer moments). It is what the learner
    itself costs, exact, the same on every machine and in every process, and the quantity whose growth with n
    the theory predicts (memory_exponent). `max_rss_mb` (the worker process's resident-set high-water mark,
    from getrusage) is recorded beside it for information: it includes the interpreter, numba and LLVM, and,
    for runs sharing a process, the largest earlier run."""
    h = config.hash()
    t_start = time.time()
    rows, metrics, alignment, theta = [], [], [], None
    status, reason = "failed", ""
    res = None
    base = {"run": h, "task": config.task.name, "model": config.model.name, "learner": config.learner.name,
            **config.labels(), "n_hidden": config.n_hidden, "seed": config.seed}

    def on_record(rec):
        if queue is not None:
            try:
                queue.put((key, rec["step"], rec["test_loss"]))
            except Exception:  # progress is a courtesy: a lost progress channel must not fail the run
                pass
        if callback is not None:
            callback(key, rec["step"], rec["test_loss"])

    try:
        from .train import train
        task = config.build_task()
        model = config.build_model(task)
        # train() holds BLAS to one thread: the same order of sums in every process, on every worker
        if config.alignment is None:
            res = train(model, config.build_learner(), task, steps=config.steps,
                        optimizer=config.build_optimizer(), seed=config.seed, eval_every=config.eval_every,
                        callback=on_record, blas_threads=1)
        else:   # the passive learners beside it (rnnlearn.alignment)
            from .alignment import train_aligned
            res, aligned = train_aligned(model, config.build_learner(), task, passive=config.build_passive(),
                                         window=config.alignment["window"], steps=config.steps,
                                         optimizer=config.build_optimizer(), seed=config.seed,
                                         eval_every=config.eval_every, callback=on_record, blas_threads=1)
            alignment = [{"run": h, **r} for r in aligned]
        status, reason = res.status, res.reason
        std = {"step", "wall_s", "train_loss", "test_loss"}
        for rec in res.records:
            rows.append({**base, "step": rec["step"], "wall_s": rec["wall_s"], "train_loss": rec["train_loss"],
                         "test_loss": rec["test_loss"]})
            for k, v in rec.items():
                if k not in std:
                    metrics.append({"run": h, "step": rec["step"], "metric": k, "value": float(v)})
        if keep_theta:
            theta = res.theta
    except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
        status, reason = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0]
        rows, metrics, alignment = [], [], []
    manifest = {"run": h, "group": config.group(), "config": config.to_dict(), "status": status,
                "reason": reason, **config.labels(),
                "steps_done": res.steps if res else 0,
                "compile_s": res.compile_s if res else None, "run_s": res.run_s if res else None,
                "us_per_step": res.us_per_step if res else None,
                "peak_mem_mb": res.state_bytes / 2 ** 20 if res else None,
                "max_rss_mb": _max_rss_mb(),
                "final_test_loss": res.final_test_loss if res and res.records else None,
                "elapsed_s": time.time() - t_start, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "version": _version(), "host": platform.node(), "python": platform.python_version()}
    out = {"run": h, "config": config, "manifest": manifest, "rows": rows, "metrics": metrics}
    if alignment:
        out["alignment"] = alignment
    if theta is not None:
        out["theta"] = theta
    return out


def _max_rss_mb():
    try:
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb / 1024 if sys.platform != "darwin" else kb / 2 ** 20
    except Exception:  # pragma: no cover - not on this platform
        return None


def _version():
    from . import __version__
    return __version__


# ----------------------------------------------------------------------------------------------------------
# a sweep
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Summary:
    total: int = 0
    skipped: int = 0
    ran: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0
    dropped_rows: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    terminated: bool = False      # by SIGTERM (rnnlearn.cli.Terminated)

    def line(self) -> str:
        return (f"{self.ran} runs in {self.seconds:.1f} s: {self.done} done, {self.diverged} diverged, "
                f"{self.failed} failed; {self.skipped} already there")


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _cost(config: RunConfig) -> float:
    """A rough relative cost from the learner's declared time exponent, to start the longest runs first
    (better packing on several workers)."""
    try:
        exp = config.build_learner().cost_exponents()[0]
    except ValueError:  # a learner this rnnlearn does not have: its run will fail, cheaply
        exp = 0.0
    return config.steps * float(config.n_hidden) ** exp


def _family(config: RunConfig):
    """The kernels a run compiles: its learner's kernel family (Learner.kernel_family), minibatch or not."""
    cls = config.learner_class()
    return (cls.kernel_family if cls else config.learner.name, config.learner.params.get("batch", 1) > 1)


def _next_job(waiting, compiling) -> int:
    """Which waiting run a free worker starts: the first whose kernel family no other worker is compiling
    now (its first run not yet past its warm-up), so that no two workers compile the same kernels; the first run if
    every waiting run's family is being compiled."""
    for i, (_, c) in enumerate(waiting):
        if _family(c) not in compiling:
            return i
    return 0


def _schedule(todo, jobs: int = 1):
    """The order to start runs in: first one run of each kernel family (Learner.kernel_family), the families
    that take longest to compile first (Learner.compile_seconds), so that workers compile different kernels
    side by side on a fresh install instead of all compiling the same one; then the rest, the runs of the
    families that compile fastest first (a family's other runs wait for its first run's kernels to reach the
    disk cache instead of compiling them again in another worker), longest first within a family (better
    packing on several workers).

    A family whose kernels call another family's (Learner.compiles_after: the EKF's H from truncated BPTT)
    starts no earlier than `jobs` places after that family's first run: the workers that start together
    then compile different code, and it starts once one of them is free, loading what the other has put on
    disk by then instead of compiling it a second time (the EKF's filter: 13 s cold, 8 s so)."""
    order = {h: k for k, (h, _) in enumerate(todo)}
    todo = sorted(todo, key=lambda hc: (-_cost(hc[1]), order[hc[0]]))
    firsts, rest, seen = [], [], set()
    for h, c in todo:
        family = _family(c)
        (rest if family in seen else firsts).append((h, c))
        seen.add(family)

    def compile_s(hc):
        cls = hc[1].learner_class()
        return cls.compile_seconds if cls else 0.0

    firsts.sort(key=lambda hc: -compile_s(hc))
    rest.sort(key=compile_s)  # stable: longest first within a family
    present = {_family(c)[0] for _, c in firsts}
    after = {h: [f for f in _compiles_after(c) if f in present and f != _family(c)[0]] for h, c in firsts}
    placed, at = [], {}
    while firsts:   # the longest-compiling run whose families to follow are `jobs` places back (else the first)
        k = next((i for i, (h, _) in enumerate(firsts)
                  if all(f in at and len(placed) - at[f] >= jobs for f in after[h])), 0)
        h, c = firsts.pop(k)
        at.setdefault(_family(c)[0], len(placed))
        placed.append((h, c))
    return placed + rest


def _compiles_after(config: RunConfig) -> tuple[str, ...]:
    try:
        return config.build_learner().compiles_after()
    except ValueError:  # a learner this rnnlearn does not have: its run will fail, cheaply
        return ()


def run_sweep(configs: list[RunConfig], folder, jobs: int = 1, dask: str | None = None, save_models: bool = False,
              progress: bool = True, log=print) -> Summary:
    """Run every config not already finished in `folder`, writing each run as it finishes.

    jobs > 1: in that many local processes; dask: on the Dask distributed scheduler at that address (or a
    dask.distributed.Client object). Ctrl-C stops the sweep: finished runs are kept; the summary says
    interrupted, and the caller exits with 130."""
    configs = [c if isinstance(c, RunConfig) else RunConfig.from_dict(c) for c in configs]
    store = Store(folder).prepare()
    summary = Summary(total=len(configs))
    t0 = time.time()
    with store.lock():
        summary.dropped_rows = store.compact()
        if summary.dropped_rows:
            log(f"dropped {summary.dropped_rows} rows of runs an interrupted sweep left unfinished")
        finished = store.finished()
        todo, seen = [], set()
        for c in configs:
            h = c.hash()
            if h in finished or h in seen:
                continue
            seen.add(h)
            todo.append((h, c))
        summary.skipped = len({c.hash() for c in configs}) - len(todo)
        if not todo:
            log(f"nothing to do: all {summary.skipped} runs are already in {store.folder} "
                "(use another --out folder, or change the settings, to run again)")
            return summary
        todo = _schedule(todo, jobs if dask is None else 1)
        where = (f"on Dask at {dask}" if isinstance(dask, str) else "on Dask") if dask is not None else \
            (f"in {min(jobs, len(todo))} processes" if jobs > 1 else "in this process")
        log(f"{len(todo)} runs to do {where}" + (f" ({summary.skipped} already done)" if summary.skipped else ""))
        bar = _Progress(todo, enabled=progress)
        results = ()
        try:
            if dask is not None:
                results = _run_dask(todo, dask, save_models)
            elif jobs > 1 and len(todo) > 1:
                results = _run_pool(todo, jobs, save_models, bar)
            else:
                results = (execute(c, keep_theta=save_models, key=h, callback=bar.step) for h, c in todo)
            for out in results:
                _store_result(store, out, save_models)
                st = out["manifest"]["status"]
                summary.ran += 1
                setattr(summary, st, getattr(summary, st) + 1)
                bar.finished(out, log)
        except KeyboardInterrupt as exc:
            summary.interrupted = True
            summary.terminated = type(exc).__name__ == "Terminated"
        finally:
            if hasattr(results, "close"):
                results.close()   # stops the workers now (a generator's finally)
            bar.close()
    summary.seconds = time.time() - t0
    return summary


def _store_result(store: Store, out: dict, save_models: bool) -> None:
    man = out["manifest"]
    if save_models and "theta" in out and man["status"] == "done":
        from .textgen import save_model
        config = out["config"]
        task = config.build_task()
        os.makedirs(store.path("models"), exist_ok=True)
        rel = os.path.join("models", f"{out['run']}.npz")
        save_model(store.path(rel), config.build_model(task), out["theta"], task, config=config)
        man = dict(man, model_path=rel)
    store.append_run(man, out["rows"], out["metrics"], out.get("alignment", ()))


_PRESTARTED: list = []   # workers started by prestart_workers, for the next _run_pool to take


def prestart_workers(jobs: int) -> None:
    """Start `jobs` worker processes now, so that their interpreters import numpy, numba and rnnlearn while
    the caller is still expanding and checking its sweep (about a second of each at start-up); the next
    sweep's pool takes them, and stops any it does not need."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    while len(_PRESTARTED) < jobs:
        _PRESTARTED.append(_Worker.start(ctx))


def _take_workers(ctx, k: int) -> list:
    """k workers: the prestarted ones still alive first, new ones for the rest; extra prestarted ones stop."""
    taken = [w for w in _PRESTARTED if w.proc.is_alive()][:k]
    for w in _PRESTARTED:
        if w not in taken:
            w.stop(now=True)
    _PRESTARTED.clear()
    return taken + [_Worker.start(ctx) for _ in range(k - len(taken))]


def _run_pool(todo, jobs, save_models, bar):
    """Yield results from `jobs` local worker processes as they finish (in `todo`'s order of starting).

    Each worker runs one run at a time, sent over its own pipe, and sends back its progress and its result.
    A worker that dies (killed, out of memory, a crash in compiled code) costs only the run it was running:
    that run is recorded failed with the cause, a new worker takes its place, and the sweep goes on. Workers
    die with their parent, whatever killed it (`_worker_init`); interrupted, the parent stops them at once."""
    import multiprocessing as mp
    from multiprocessing.connection import wait
    ctx = mp.get_context("spawn")   # a clean interpreter per worker: no forked numba or BLAS threads
    waiting = list(todo)
    workers: list[_Worker] = []
    warm, compiling = set(), {}   # kernel families compiled; family -> the worker compiling it
    try:
        workers = _take_workers(ctx, min(jobs, len(todo)))
        while waiting or any(w.job is not None for w in workers):
            for w in workers:
                if w.job is None and waiting:
                    w.job = waiting.pop(_next_job(waiting, compiling))
                    family = _family(w.job[1])
                    if family not in warm and family not in compiling:
                        compiling[family] = w
                    try:
                        w.conn.send((w.job[0], w.job[1], save_models))
                    except OSError:
                        pass   # a dead worker: found below
                elif w.job is None:
                    w.ask_to_stop()   # nothing left for it: it exits while the others finish
            busy = [w for w in workers if w.job is not None]
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=0.5)
            for i, w in enumerate(workers):
                if w.job is None:
                    continue
                dead = False
                try:
                    while w.job is not None and w.conn.poll():
                        msg = w.conn.recv()
                        if msg[0] == "progress":
                            _compiled(w, w.job, warm, compiling)
                            bar.step(*msg[1:])
                        else:
                            _finished(w, w.job, warm, compiling)
                            w.job = None
                            yield msg[1]
                except (EOFError, OSError):
                    dead = True
                if w.job is not None and (dead or not w.proc.is_alive()):
                    h, c = w.job
                    _finished(w, w.job, warm, compiling, ok=False)
                    w.proc.join(timeout=5)
                    yield _failed(h, c, WorkerDied(_exit_cause(w.proc.exitcode)))
                    w.stop()
                    workers[i] = _Worker.start(ctx)
    finally:
        _stop_all(workers, now=any(x.job is not None for x in workers))


def _stop_all(workers, now: bool = False) -> None:
    """Stop every worker: all are asked first, so their exits overlap."""
    if not now:
        for w in workers:
            w.ask_to_stop()
    for w in workers:
        w.stop(now=now)


def _compiled(worker, job, warm, compiling) -> None:
    """A run reported progress: its first evaluation comes after train()'s warm-up, so its family's kernels
    are in the disk cache, and the family's other runs may start on other workers, loading them."""
    family = _family(job[1])
    if compiling.get(family) is worker:
        warm.add(family)
        del compiling[family]


def _finished(worker, job, warm, compiling, ok=True) -> None:
    """A run ended on `worker`: its family's kernels are in the disk cache now (ok), or, if the worker died,
    at least no longer being compiled there."""
    family = _family(job[1])
    if ok:
        warm.add(family)
    if compiling.get(family) is worker:
        del compiling[family]


class WorkerDied(RuntimeError):
    """The worker process running a run ended without its result."""


def _exit_cause(code) -> str:
    import signal
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (out of memory, or killed)" if -code == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{why}"
    return f"the worker process exited with code {code}"


class _Worker:
    """A worker process and the parent's end of its pipe; `job` is the (hash, config) it is running."""

    def __init__(self, proc, conn):
        self.proc, self.conn, self.job, self.asked = proc, conn, None, False

    @classmethod
    def start(cls, ctx) -> "_Worker":
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True, name="rnnlearn-worker")
        proc.start()
        child.close()
        return cls(proc, parent)

    def ask_to_stop(self):
        """Tell the worker to exit once it has read what was sent before (stop() then waits for it)."""
        if not self.asked:
            self.asked = True
            try:
                self.conn.send(None)
            except OSError:
                pass

    def stop(self, now: bool = False):
        """Ask the worker to exit (or, `now`, terminate it), then make sure it did."""
        if not now:
            self.ask_to_stop()
            self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        self.conn.close()


def _worker_main(conn, parent_pid):
    """A worker's loop: receive (hash, config, keep_theta), run it, send its progress and its result."""
    _worker_init(parent_pid)
    _worker_preload()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            _exit_now()
        h, config, keep_theta = job

        def progress(key, step, loss):
            try:
                conn.send(("progress", key, step, loss))
            except Exception:  # noqa: BLE001 - progress is a courtesy
                pass

        out = execute(config, keep_theta=keep_theta, key=h, callback=progress)
        try:
            conn.send(("result", out))
        except OSError:
            return


def _exit_now():
    """A worker asked to stop has sent every result and holds nothing to save (numba writes its cache as it
    compiles): it leaves without tearing its interpreter down, which after a cold start (every compiled
    kernel's LLVM module freed one by one) kept the parent waiting about half a second per worker."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _worker_preload():
    """Import what every run needs and set up numba's CPU target (the first compile or cache load pays
    about a second for it) before the first run arrives: a prestarted worker does it while the parent is
    still checking the sweep."""
    import rnnlearn.algorithms  # noqa: F401 - numpy, numba, the models and every learner's kernels
    import rnnlearn.train  # noqa: F401
    try:
        from numba.core.registry import cpu_target
        cpu_target.target_context.refresh()
    except Exception:  # noqa: BLE001 - an internal of numba's that moved: the first run pays for it instead
        pass


def _worker_init(parent_pid=None):
    """Workers leave Ctrl-C to the parent, which stops them (no traceback from every worker), and die with
    their parent, whatever killed it: on Linux the kernel sends them SIGKILL when it exits
    (prctl(PR_SET_PDEATHSIG)); everywhere a watchdog thread exits when the parent's pid is no longer the
    parent (it runs between kernel calls, which take a fraction of a second)."""
    import signal
    import threading
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if parent_pid is None:
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog remains
            pass
    if os.getppid() != parent_pid:   # the parent died before prctl took effect
        os._exit(1)

    def watchdog():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watchdog, name="rnnlearn-parent-watchdog", daemon=True).start()


def _run_dask(todo, address, save_models):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ValueError("--dask needs Dask distributed: pip install 'rnnlearn[dask]'") from None
    own = isinstance(address, str)
    try:
        client = Client(address, timeout="20s") if own else address
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        futures = {client.submit(execute, c, save_models, pure=False, key=f"rnnlearn-run-{h}-{time.time_ns()}"):
                   (h, c) for h, c in todo}
        for f in as_completed(futures):
            h, c = futures[f]
            try:
                yield f.result()
            except Exception as exc:  # a worker was lost
                yield _failed(h, c, exc)
    finally:
        if own:
            client.close()


def _failed(h, config: RunConfig, exc) -> dict:
    return {"run": h, "config": config, "rows": [], "metrics": [],
            "manifest": {"run": h, "group": config.group(), "config": config.to_dict(), "status": "failed",
                         "reason": f"{type(exc).__name__}: {exc}".splitlines()[0], **config.labels(),
                         "version": _version(),
                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}


class _Progress:
    """A tqdm bar over the sweep, in runs (fractions of a run count as its evaluations come in), with the
    current test loss and the time left; one line per finished run above it."""

    def __init__(self, todo, enabled=True):
        self.enabled = enabled
        self.steps = {h: c.steps for h, c in todo}
        self.desc = {h: c.describe() for h, c in todo}
        self.frac = {}
        self.bar = None
        if enabled:
            from tqdm import tqdm
            import shutil
            cols = shutil.get_terminal_size((100, 20)).columns or 100
            self.bar = tqdm(total=len(todo), unit="run", ncols=min(max(cols, 60), 160), file=sys.stderr,
                            disable=not sys.stderr.isatty(),
                            bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} runs [{elapsed}<{remaining}{postfix}]")

    def step(self, key, step, loss):
        if self.bar is None or key not in self.steps:
            return
        f = min(step / max(self.steps[key], 1), 0.999)
        self.bar.update(max(f - self.frac.get(key, 0.0), 0.0))
        self.frac[key] = max(f, self.frac.get(key, 0.0))
        self.bar.set_postfix_str(f"{self.desc[key]}: step {step}, test loss {loss:.4g}", refresh=False)

    def finished(self, out, log):
        h = out["run"]
        m = out["manifest"]
        loss = m.get("final_test_loss")
        msg = (f"{m['status']:<8} {self.desc.get(h, h)}" + (f"  test loss {loss:.4f}" if loss is not None else "")
               + (f"  {m['us_per_step']:.1f} us/step" if m.get("us_per_step") else "")
               + (f"  ({m['reason']})" if m.get("reason") else ""))
        if self.bar is not None:
            self.bar.update(1.0 - self.frac.get(h, 0.0))
            self.frac[h] = 1.0
            self.bar.write(msg, file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()
