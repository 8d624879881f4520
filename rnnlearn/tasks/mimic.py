"""The Mimic task of Marschall, Cho and Savin (2020, "A unified framework of online learning algorithms for
training recurrent neural networks", JMLR 21, section 5): the targets are the outputs of a fixed random
teacher RNN driven by the same inputs, so a student of the same architecture can reach zero loss.

Setup as in their experiments (read from the authors' code, omarschall/vanilla-rtrl): inputs x_t in
{0, 1}^m, each entry Bernoulli(p_input = 0.5) independently; with `stretch` > 1 each drawn input is held for
that many steps (their tau_task: 2 with alpha = 0.5). The teacher is the leaky network
a_t = (1 - alpha) a_{t-1} + alpha tanh(W a_{t-1} + U x_t + b), a_0 = 0, with linear outputs y_t = V a_t + c;
m = n = o = 32, alpha = 1 or 0.5. Its weights are drawn once from
`teacher_seed`: W orthogonal (QR of a Gaussian matrix), U ~ N(0, 1/m), V ~ N(0, 1/n), b and c ~ N(0, 0.1^2).
The stream is one endless sequence (the teacher's state carries over); loss "mse". The teacher is run in
plain numpy here (tasks do not depend on the models); `teacher_model()` gives it as an rnnlearn model.

Reference levels (test loss per step): "predicts the mean", 0.5 sum_k Var(y_k) estimated from 20,000 steps
of the teacher, and the optimum 0 (the teacher's own weights).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .base import Chunk, Stream, Task, check_positive_int
from ._seq import check_unit_interval


def teacher_weights(n_in: int, n_hidden: int, n_out: int, seed: int) -> dict[str, np.ndarray]:
    """The teacher's blocks W, U, b, V, c (Marschall et al.'s initialisation), drawn from `seed`."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(n_hidden, n_hidden)))
    return {"W": q * np.sign(np.diag(r)),
            "U": rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_hidden, n_in)),
            "b": rng.normal(0.0, 0.1, size=n_hidden),
            "V": rng.normal(0.0, np.sqrt(1.0 / n_hidden), size=(n_out, n_hidden)),
            "c": rng.normal(0.0, 0.1, size=n_out)}


class _MimicStream(Stream):
    def __init__(self, task: "MimicTask", rng: np.random.Generator):
        self.p = teacher_weights(task.n_in, task.n_hidden, task.n_out, task.teacher_seed)
        self.alpha, self.p_input, self.stretch, self.rng = task.alpha, task.p_input, task.stretch, rng
        self.a = np.zeros(task.n_hidden)
        self.held = np.zeros(task.n_in)
        self.left = 0  # steps the held input is still shown

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        m = len(self.held)
        xs = np.empty((T, m))
        first = min(self.left, T)
        xs[:first] = self.held
        rest = T - first
        if rest:
            draws = -(-rest // self.stretch)
            new = (self.rng.random((draws, m)) < self.p_input).astype(np.float64)
            xs[first:] = np.repeat(new, self.stretch, axis=0)[:rest]
            self.held = new[-1]
            self.left = draws * self.stretch - rest
        else:
            self.left -= T
        W, U, b, V, c = (self.p[k] for k in ("W", "U", "b", "V", "c"))
        drive = xs @ U.T + b
        states = np.empty((T, len(self.a)))
        a = self.a
        for t in range(T):
            a = (1.0 - self.alpha) * a + self.alpha * np.tanh(W @ a + drive[t])
            states[t] = a
        self.a = a
        return Chunk.make(xs, states @ V.T + c)


@dataclass
class MimicTask(Task):
    """Mimic a fixed random teacher RNN (Marschall et al. 2020): m inputs, n teacher units, o outputs."""

    n_inputs: int = 32
    n_hidden: int = 32
    n_outputs: int = 32
    alpha: float = 1.0
    p_input: float = 0.5
    stretch: int = 1
    teacher_seed: int = 0

    name = "mimic"
    loss = "mse"

    def __post_init__(self):
        self.n_inputs = check_positive_int("n_inputs", self.n_inputs, 1, 10_000)
        self.n_hidden = check_positive_int("n_hidden", self.n_hidden, 1, 10_000)
        self.n_outputs = check_positive_int("n_outputs", self.n_outputs, 1, 10_000)
        self.alpha = check_unit_interval("alpha", self.alpha, high_open=False)
        self.p_input = check_unit_interval("p_input", self.p_input)
        self.stretch = check_positive_int("stretch", self.stretch, 1, 10_000)
        self.teacher_seed = check_positive_int("teacher_seed", self.teacher_seed, 0)

    @property
    def n_in(self) -> int:
        return self.n_inputs

    @property
    def n_out(self) -> int:
        return self.n_outputs

    def stream(self, seed: int) -> Stream:
        return _MimicStream(self, np.random.default_rng(seed))

    def teacher(self) -> dict[str, np.ndarray]:
        """The teacher's weights W, U, b, V, c (copies)."""
        return teacher_weights(self.n_in, self.n_hidden, self.n_out, self.teacher_seed)

    def teacher_model(self, loss: str = "mse"):
        """(model, theta): the teacher as an rnnlearn leaky network (rnnlearn.models.LeakyRNN)."""
        from rnnlearn.models import LeakyRNN
        model = LeakyRNN(self.n_in, self.n_hidden, self.n_out, loss=loss, alpha=self.alpha)
        theta = np.zeros(model.n_params)
        for name, block in model.unpack(theta).items():
            block[...] = self.teacher()[name]
        return model, theta

    def reference_levels(self) -> dict[str, float]:
        return {"predicts the mean": _mean_predictor_loss(self.n_inputs, self.n_hidden, self.n_outputs,
                                                          self.alpha, self.p_input, self.stretch,
                                                          self.teacher_seed),
                "optimal": 0.0}


@functools.lru_cache(maxsize=32)
def _mean_predictor_loss(m, n, o, alpha, p_input, stretch, teacher_seed, steps=20_000):
    """0.5 sum_k Var(y_k) of the teacher's outputs over `steps` steps of a fixed stream (seed 0)."""
    task = MimicTask(m, n, o, alpha, p_input, stretch, teacher_seed)
    ys = task.stream(0).next(steps).ys
    return float(0.5 * ys.var(axis=0).sum())


MimicTask.__doc__ = f"{MimicTask.__doc__}\n\n{__doc__}"  # help() shows the full description
