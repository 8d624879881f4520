"""The training loop: a learner on a task's stream, in compiled chunks, with held-out evaluations.

The loop itself stays in Python (chunks of hundreds of steps each run inside one kernel call), so it can log,
evaluate and show progress at no cost per step. Compile time is measured apart, by a warm-up on copies of
the parameters before the clock starts; `wall_s` counts only the learner's own time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .algorithms import Diverged
from .optim import Optimizer, sgd
from .tasks.base import Chunk


@dataclass
class TrainResult:
    """What a run produced: one record per evaluation point, the final parameters, and its costs."""

    records: list[dict]
    theta: np.ndarray
    status: str = "done"          # "done" or "diverged"
    reason: str = ""
    steps: int = 0                # steps learned
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
    theta = model.init_params(init_seed) if theta is None else np.array(theta, dtype=np.float64)
    optimizer = optimizer or sgd(0.01)
    if chunk_len is None:
        chunk_len = max(1, min(eval_every, 1000, 4_000_000 // (8 * (model.n_in + model.n_out))))
    stream = _Streams(task, stream_seed, learner.batch_size)
    test = task.test_set(seed) if test_length is None else task.test_set(seed, test_length)

    learner.check_model(model)
    compile_s = _warm_up(model, learner, task, theta, optimizer)
    state = learner.init(model, theta, optimizer, seed=learner_seed)
    result = TrainResult([], theta, compile_s=compile_s, state_bytes=learner.state_bytes(state))

    def record(train_loss):
        rec = {"step": result.steps, "wall_s": result.run_s, "train_loss": train_loss}
        rec.update(evaluate(model, theta, task, test))
        result.records.append(rec)
        if callback is not None:
            callback(rec)
        if not np.isfinite(rec["test_loss"]):
            raise Diverged(f"non-finite test loss at step {result.steps}")

    try:
        record(float("nan"))
        loss_sum = weight_sum = 0.0
        while result.steps < steps:
            T = min(chunk_len, steps - result.steps, eval_every - result.steps % eval_every)
            chunk = stream.next(T)
            t0 = time.perf_counter()
            try:
                losses = learner.train(model, theta, state, chunk)
            finally:
                result.run_s += time.perf_counter() - t0
                result.steps += T
            loss_sum += float(losses.sum())
            weight_sum += float(chunk.mask.sum())
            if result.steps % eval_every == 0 or result.steps == steps:
                record(loss_sum / weight_sum if weight_sum > 0 else float("nan"))
                loss_sum = weight_sum = 0.0
    except Diverged as exc:
        result.status, result.reason = "diverged", str(exc)
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
