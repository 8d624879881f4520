"""The training loop: a learner on a task's stream, in compiled chunks, with held-out evaluations.

The loop itself stays in Python (chunks of hundreds of steps each run inside one kernel call), so it can log,
evaluate and show progress at no cost per step. Compile time is measured apart, by a warm-up on copies of
the parameters before the clock starts; `wall_s` counts only the learner's own time.

Chunks are sized in time, not in steps: Ctrl-C (and SIGTERM) is seen between two kernel calls, so each call
should take a fraction of a second at any size. The size is computed from the run's declared cost per step
(`chunk_steps`: the learner's cost exponent and the model's sizes), never from a clock, so a run's chunk
boundaries, and its numbers, are the same on every machine and in every process (the EKF's and truncated
BPTT's numbers differ in the last bits with the chunk boundaries).

Divergence: a non-finite loss, or a test loss far above what learning nothing gives (`Task.divergence_bound`,
or `Task.divergence_factor` times the run's own test loss at step 0, whichever is larger), recorded with the
step and the reason; the run's record stops at that step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .algorithms import Diverged
from .optim import Optimizer, sgd
from .tasks.base import Chunk

#: the seconds one chunk (one kernel call) should take at most
CHUNK_SECONDS = 0.25
#: seconds per unit of work of a step, S^(e-2) P for time exponent e, and per FLOP where the learner declares
#: its FLOPs per step: about four times this machine's measured time (EKF n = 64: 9.7 ms a step; RTRL at
#: about 10 GFLOP/s), so a slower or busier machine still returns within about a second
SECONDS_PER_WORK = 2e-9
SECONDS_PER_FLOP = 4e-10
#: the longest chunk (steps)
MAX_CHUNK = 1000


def chunk_steps(model, learner, task=None, cap: int = MAX_CHUNK) -> int:
    """Steps per kernel call so that one call takes at most about CHUNK_SECONDS, from the declared cost of a
    step (deterministic: the same on every machine)."""
    te = float(learner.model_cost_exponents(model)[0])
    flops = learner.flops_per_step(model)
    seconds = (SECONDS_PER_FLOP * float(flops) if flops else
               SECONDS_PER_WORK * float(model.n_state) ** max(te - 2.0, 0.0) * model.n_params)
    window = getattr(learner, "_window", None)
    if isinstance(window, tuple) and len(window) == 2 and window[0] > 0:
        seconds *= max(window[1] / window[0], 1.0)   # truncated BPTT sweeps k2 steps every k1
    seconds *= learner.batch_size
    T = int(CHUNK_SECONDS / max(seconds, 1e-12))
    rows = 4_000_000 // (8 * (model.n_in + model.n_out))
    return max(1, min(cap, T, rows))


@dataclass
class TrainResult:
    """What a run produced: one record per evaluation point, the final parameters, and its costs."""

    records: list[dict]
    theta: np.ndarray
    status: str = "done"          # "done" or "diverged"
    reason: str = ""
    steps: int = 0                # steps learned (for a diverged run: up to the step it diverged at)
    compile_s: float = 0.0        # warm-up: compiling, or loading the kernels from the disk cache
    run_s: float = 0.0            # time inside the learner
    state_bytes: int = 0          # memory the learner's state holds

    @property
    def us_per_step(self) -> float:
        return 1e6 * self.run_s / max(self.steps, 1)

    @property
    def final_test_loss(self) -> float:
        return self.records[-1]["test_loss"] if self.records else float("nan")


def seeds_for(seed: int) -> tuple[int, int, int]:
    """Independent seeds for the initial parameters, the training stream and the learner's own random draws
    of run `seed` (the first two are what they were before learners drew random numbers)."""
    a, b, c = np.random.SeedSequence(int(seed)).generate_state(3)
    return int(a), int(b), int(c)


def evaluate(model, theta, task, test: Chunk) -> dict:
    """Test loss (mean per unit of mask weight, from the zero state) and the task's own metrics."""
    states, yhat = model.forward(theta, test)
    from .models.sequence import total_loss
    loss = float(total_loss(model.dims[:], yhat, test.ys, test.mask)) / max(float(test.mask.sum()), 1e-300)
    out = {"test_loss": loss}
    out.update(task.metrics(yhat, test, model=model, theta=theta))
    return out


def train(model, learner, task, *, steps: int, optimizer: Optimizer | None = None, theta=None,
          seed: int = 0, eval_every: int = 1000, chunk_len: int | None = None, test_length: int | None = None,
          callback=None, blas_threads: int | None = 1) -> TrainResult:
    """Train `model` with `learner` on `task` for `steps` steps of its stream and evaluate every
    `eval_every` steps (and at step 0). Same seed, same numbers. A run that diverges ends with
    status "diverged" and the reason; it does not raise.

    callback(record) is called after each evaluation (progress bars use it). BLAS runs on `blas_threads`
    threads (None: leave as is); one is fastest for batch-1 work, whose matrix products are small."""
    from threadpoolctl import threadpool_limits
    if blas_threads is None:
        return _train(model, learner, task, steps, optimizer, theta, seed, eval_every, chunk_len, test_length,
                      callback)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _train(model, learner, task, steps, optimizer, theta, seed, eval_every, chunk_len, test_length,
                      callback)


def _train(model, learner, task, steps, optimizer, theta, seed, eval_every, chunk_len, test_length, callback):
    if model.n_in != task.n_in or model.n_out != task.n_out:
        raise ValueError(f"model sizes ({model.n_in} in, {model.n_out} out) do not fit task {task.name!r} "
                         f"({task.n_in} in, {task.n_out} out)")
    if model.loss != task.loss:
        raise ValueError(f"task {task.name!r} needs loss {task.loss!r}, the model has {model.loss!r}")
    if steps < 0 or eval_every < 1:
        raise ValueError("steps must be >= 0 and eval_every >= 1")
    init_seed, stream_seed, learner_seed = seeds_for(seed)
    optimizer = optimizer or sgd(0.01)
    learner.check_model(model)  # before chunk_steps sizes the learner's state for this model
    if chunk_len is None:
        chunk_len = chunk_steps(model, learner, task, min(eval_every, MAX_CHUNK))
    from . import memory   # before anything of the run's size is allocated
    need = (memory.learner_state_nbytes(learner, model, optimizer)
            + memory.task_nbytes(task, model, chunk_len, learner.batch_size) + 8 * 4 * model.n_params)
    memory.check(need, f"training the {model.name} network of n = {model.n_hidden} with {learner.label()}")
    theta = model.init_params(init_seed) if theta is None else np.array(theta, dtype=np.float64)
    stream = _Streams(task, stream_seed, learner.batch_size)
    test = task.test_set(seed) if test_length is None else task.test_set(seed, test_length)

    compile_s = _warm_up(model, learner, task, theta, optimizer)
    state = learner.init(model, theta, optimizer, seed=learner_seed)
    result = TrainResult([], theta, compile_s=compile_s, state_bytes=learner.state_bytes(state))

    bound = task.divergence_bound()
    limit = [np.inf, ""]

    def record(train_loss):
        rec = {"step": result.steps, "wall_s": result.run_s, "train_loss": train_loss}
        rec.update(evaluate(model, theta, task, test))
        result.records.append(rec)
        if callback is not None:
            callback(rec)
        loss = rec["test_loss"]
        if not np.isfinite(loss):
            raise Diverged(f"non-finite test loss at step {result.steps}", result.steps)
        if result.steps == 0:
            own = task.divergence_factor * loss
            if bound is not None and bound >= own:
                limit[:] = [bound, f"{task.divergence_factor:g} x the task's learns-nothing level "
                                   f"{task.learns_nothing():.4g}"]
            else:
                limit[:] = [own, f"{task.divergence_factor:g} x the test loss at step 0, {loss:.4g}"]
        elif loss > limit[0]:
            raise Diverged(f"test loss {loss:.4g} at step {result.steps} is above {limit[0]:.4g} "
                           f"({limit[1]})", result.steps)

    parts: list = []   # the losses and weights of the chunks since the last evaluation

    def interval_loss():
        if not parts:
            return float("nan")
        losses = np.concatenate([p[0] for p in parts], axis=-1) if len(parts) > 1 else parts[0][0]
        weights = np.concatenate([p[1] for p in parts], axis=-1) if len(parts) > 1 else parts[0][1]
        parts.clear()
        w = float(weights.sum())
        return float(losses.sum()) / w if w > 0 else float("nan")

    try:
        record(float("nan"))
        while result.steps < steps:
            T = min(chunk_len, steps - result.steps, eval_every - result.steps % eval_every)
            chunk = stream.next(T)
            start = result.steps
            t0 = time.perf_counter()
            try:
                losses = learner.train(model, theta, state, chunk)
            except Diverged as exc:
                # the steps before the one that diverged (the kernels report it; else the whole chunk)
                at = exc.step if isinstance(exc.step, (int, np.integer)) else start + T
                result.steps = int(min(max(at, start), start + T))
                raise
            finally:
                result.run_s += time.perf_counter() - t0
            result.steps += T
            parts.append((losses, chunk.mask))
            if result.steps % eval_every == 0 or result.steps == steps:
                record(interval_loss())
    except Diverged as exc:
        result.status, result.reason = "diverged", str(exc)
        if not result.records or result.records[-1]["step"] != result.steps:
            # the record ends where the run diverged: the test loss there (non-finite, as a rule)
            rec = {"step": result.steps, "wall_s": result.run_s, "train_loss": float("nan"),
                   "test_loss": float("nan")}
            try:
                with np.errstate(all="ignore"):
                    rec.update(evaluate(model, theta, task, test))
            except Exception:  # noqa: BLE001 - parameters past the point of meaning: the loss stays NaN
                pass
            result.records.append(rec)
    return result


class _Streams:
    """The training data of a run: one stream, or `batch` independent ones stacked (stream 0 is the one a
    batch-1 run sees)."""

    def __init__(self, task, seed, batch):
        seeds = [seed] + [int(np.random.SeedSequence([seed, b]).generate_state(1)[0]) for b in range(1, batch)]
        self.streams = [task.stream(sd) for sd in seeds]

    def next(self, T):
        if len(self.streams) == 1:
            return self.streams[0].next(T)
        return Chunk.stack([s.next(T) for s in self.streams])


def _warm_up(model, learner, task, theta, optimizer) -> float:
    """Run every kernel the run will use once, on copies, and return the seconds it took (compiling, or
    loading the compiled code from numba's disk cache)."""
    t0 = time.perf_counter()
    chunk = _Streams(task, 0, learner.batch_size).next(3)
    th = theta.copy()
    state = learner.init(model, th, optimizer)
    try:
        learner.train(model, th, state, chunk)
    except Diverged:
        pass
    one = task.stream(0).next(3)
    model.forward(th, one)
    from .models.sequence import total_loss
    total_loss(model.dims[:], np.zeros((1, model.n_out)), one.ys[:1], one.mask[:1])
    return time.perf_counter() - t0
