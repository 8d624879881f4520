"""Gradient alignment: the exact online gradient (and any other learners) computed passively beside the
learner that trains, on its trajectory (`rnnlearn compare --alignment`).

Marschall, Cho and Savin (2020, JMLR 21, "A unified framework of online learning algorithms for training
recurrent neural networks", sec. 6) train a network with one learner and run the others beside it on the
same stream, each carrying its own influence estimate along the trajectory the trained learner's
parameters produce, its gradient computed but never applied; they report the normalised dot product
(cosine) of each pair of learners' updates and their norm ratio, smoothed over time.

Mechanism. Training runs in windows of w steps. Within a window the parameters theta are fixed; every
learner, the trained one and the passive ones alike, runs its own compiled kernel over the window's steps
in gradient mode (`_run(update=False)`: the gradient it would apply at each step, or at the end of each
of its own windows, is summed into its `gacc` instead), each from its own state carried across windows
(RTRL's influence matrix, UORO's rank-one factors, truncated BPTT's ring, ...). With g_a the sum over the
window for learner a, the window's alignment of a and b is cos(g_a, g_b) = g_a.g_b / (|g_a| |g_b|), and
their norm ratio |g_a| / |g_b|. Then only the trained learner's g is applied, once, through its optimizer
(rnnlearn.optim, its own optimizer state), `end_window` makes the learners' other learning take effect
(DNI's module A), and the next window starts from the new theta. Each evaluation record holds the mean
over the interval's windows of each pair's cosine and norm ratio (windows in which a gradient is zero, a
truncated BPTT window not yet closed say, are left out and not counted).

How this differs from training per step. With w = 1 it is exactly the learner's own online training (one
update per step with that step's gradient) and exactly Marschall et al.'s per-step comparison; their
smoothing is then the mean over the evaluation interval. With w > 1 the parameters change once per window
by the sum of the w per-step gradients, each computed at the window's parameters: the same as w per-step
updates to first order in the learning rate (they differ by O(lr^2) per window), and the compared
quantity is the update actually made over the window. For learners that update once per window of their
own (truncated BPTT with k1, DNI with k, FSS with its block) w must be a multiple of that period
(`update_period`): w = k1 then trains exactly as the learner does on its own (to rounding), and both
learners' sums cover the same errors, which is what makes the comparison fair; per step, truncated BPTT's
gradient is zero at k1 - 1 steps out of k1 and a per-step cosine would not be defined. The default w = 10
is the update period of the default truncated BPTT and DNI.

The exact reference is passive RTRL (algorithms/rtrl.py): with theta fixed within each window its
accumulated gradient is the exact online gradient of the window's errors along the trajectory (its
influence matrix carrying the history of the parameters that produced the trajectory, as RTRL's does
while it trains). Learners that make their own update (the EKF: a Kalman step, not a gradient) and
minibatch learners are refused with one line, as are sizes above a passive learner's size cap
(`Learner.max_n`: exact RTRL is O(n^4) per step), checked before anything is allocated.
"""
from __future__ import annotations

import numpy as np

from .algorithms.base import raise_status

#: the default window (steps per compared update)
DEFAULT_WINDOW = 10
#: the default passive learners: the exact online gradient
DEFAULT_WITH = ("rtrl",)


def check(model, learner, passive, window: int) -> None:
    """ValueError (one line) when the learners cannot be compared on `model` in windows of `window` steps."""
    from .algorithms.base import check_int
    check_int("alignment window", window)
    for role, ln in [("trained", learner)] + [("passive", p) for p in passive]:
        if ln.own_update:
            raise ValueError(f"--alignment compares gradients: {ln.name!r} makes its own update (no gradient "
                             "to compare)")
        if ln.batch_size != 1:
            raise ValueError(f"--alignment takes batch-1 learners, got {ln.label()} (batch {ln.batch_size})")
        ln.check_model(model)
        cap = ln.max_n()
        if cap is not None and model.n_hidden > cap:
            t = ln.cost_exponents()[0]
            raise ValueError(f"--alignment runs {ln.label()} ({role}, O(n^{t:g}) per step) at n = "
                             f"{model.n_hidden}, above its size cap n = {cap}")
        period = ln.update_period(model)
        if window % period:
            raise ValueError(f"alignment window {window} is not a multiple of {ln.label()}'s update period "
                             f"{period} (its updates would straddle the windows)")


class Aligned:
    """A learner (trained) with passive learners beside it, trained in windows of `window` steps: what
    `rnnlearn.train.train` takes as its learner. `pop_rows(step)` returns the alignment records of the
    windows since the last call."""

    def __init__(self, learner, passive, window: int = DEFAULT_WINDOW):
        self.learner = learner
        self.passive = list(passive)
        self.window = int(window)
        self.learners = [learner] + self.passive
        K = len(self.learners)
        self._sums = np.zeros((3, K, K))   # cosine sum, norm-ratio sum, windows counted

    # what train() asks of a learner: the trained learner's facts, the state of all of them
    def __getattr__(self, name):
        return getattr(self.__dict__["learner"], name)

    def check_model(self, model):
        check(model, self.learner, self.passive, self.window)

    def state_nbytes(self, model, optimizer=None) -> int:
        from .memory import learner_state_nbytes
        return sum(learner_state_nbytes(ln, model, optimizer) for ln in self.learners) + 8 * (
            len(self.learners) + 2) * model.n_params

    def state_bytes(self, state) -> int:
        return sum(ln.state_bytes(st) for ln, st in zip(self.learners, state[0]))

    def init(self, model, theta, optimizer=None, seed=0):
        """(states of the learners, the window's gradients G (K, P), the trained learner's optimizer state,
        scratch losses). The passive learners' random draws are seeded apart from the trained learner's."""
        from .optim import sgd
        optimizer = optimizer or sgd(0.01)
        self._sums[:] = 0.0   # a fresh run (train's warm-up ran on copies before it) counts from here
        seeds = [seed] + [int(v) for v in np.random.SeedSequence([int(seed), 1]).generate_state(len(self.passive))]
        states = [ln.init(model, theta, optimizer, seed=sd) for ln, sd in zip(self.learners, seeds)]
        P = model.n_params
        return (states, np.zeros((len(self.learners), P)), optimizer.init(P), np.zeros(self.window))

    def train(self, model, theta, state, chunk):
        """One chunk, in windows of `window` steps (a shorter last one if the chunk is not a multiple):
        every learner's summed gradient at fixed theta, the pairs' alignment, then the trained learner's
        update. Returns the trained learner's per-step losses."""
        from .optim import apply_update
        from .tasks.base import Chunk
        model._check_theta(theta)
        model.check_chunk(chunk)
        states, G, opt, scratch = state
        T = len(chunk)
        out = np.empty(T)
        for a in range(0, T, self.window):
            b = min(T, a + self.window)
            win = Chunk(chunk.xs[a:b], chunk.ys[a:b], chunk.mask[a:b], chunk.resets[a:b], chunk.x_index[a:b])
            for i, (ln, st) in enumerate(zip(self.learners, states)):
                st.gacc.fill(0.0)
                losses = out[a:b] if i == 0 else scratch[:b - a]
                raise_status(*ln._run(model, theta, st, win, False, False, losses))
                G[i] = st.gacc
            self._record(G)
            for ln, st in zip(self.learners, states):
                ln.end_window(model, st)
            apply_update(opt.codes, opt.hyper, opt.moments, opt.counts, opt.scratch, theta, G[0])
        return out

    def _record(self, G):
        norms = np.sqrt(np.einsum("ij,ij->i", G, G))
        dots = G @ G.T
        with np.errstate(all="ignore"):
            cos = dots / np.outer(norms, norms)
            ratio = norms[:, None] / norms[None, :]
        ok = (norms[:, None] > 0) & (norms[None, :] > 0) & np.isfinite(cos)
        self._sums[0][ok] += cos[ok]
        self._sums[1][ok] += ratio[ok]
        self._sums[2][ok] += 1

    def pop_rows(self, step: int) -> list[dict]:
        """One row per pair (a < b; learner 0 is the one that trains) with the interval's mean cosine and
        norm ratio |g_a| / |g_b| over its counted windows; then the interval starts afresh."""
        rows = []
        K = len(self.learners)
        c, r, k = self._sums
        if not k.any():
            return rows
        for a in range(K):
            for b in range(a + 1, K):
                n = int(k[a, b])
                rows.append({"step": int(step), "a": a, "a_label": self.learners[a].label(),
                             "a_display": self.learners[a].display_label(), "b": b,
                             "b_label": self.learners[b].label(), "b_display": self.learners[b].display_label(),
                             "cosine": float(c[a, b] / n) if n else float("nan"),
                             "norm_ratio": float(r[a, b] / n) if n else float("nan"), "windows": n})
        self._sums[:] = 0.0
        return rows


def chunk_len(model, aligned: Aligned, task, eval_every: int) -> int:
    """Steps per kernel call: the costliest learner's (rnnlearn.train.chunk_steps), a multiple of the window."""
    from .train import MAX_CHUNK, chunk_steps
    T = min(chunk_steps(model, ln, task, min(eval_every, MAX_CHUNK)) for ln in aligned.learners)
    w = aligned.window
    return max(w, (T // w) * w)


def train_aligned(model, learner, task, *, passive, window: int = DEFAULT_WINDOW, steps: int, optimizer=None,
                  seed: int = 0, eval_every: int = 1000, test_length=None, callback=None, blas_threads=1):
    """Train `model` with `learner` on `task` as rnnlearn.train.train does, in windows of `window` steps
    with the learners `passive` beside it (module docstring). Returns (TrainResult, alignment rows: one per
    evaluation and pair, with "step")."""
    from .train import train
    if eval_every % window or steps % window:
        raise ValueError(f"--alignment: steps ({steps}) and eval_every ({eval_every}) must be multiples of the "
                         f"alignment window ({window})")
    aligned = Aligned(learner, passive, window)
    aligned.check_model(model)   # before anything is allocated
    rows: list[dict] = []

    def on_record(rec):
        rows.extend(aligned.pop_rows(rec["step"]))
        if callback is not None:
            callback(rec)

    res = train(model, aligned, task, steps=steps, optimizer=optimizer, seed=seed, eval_every=eval_every,
                chunk_len=chunk_len(model, aligned, task, eval_every), test_length=test_length,
                callback=on_record, blas_threads=blas_threads)
    rows.extend(aligned.pop_rows(res.steps))   # windows after the last evaluation (a run that diverged)
    return res, rows
