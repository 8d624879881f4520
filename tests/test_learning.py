"""Learning: every learner, trained online on the add task with n = 32, reaches a test cross-entropy of at
most 0.47 within 20,000 steps (learning nothing gives 0.662, the optimum is 0.454)."""
import numpy as np
import pytest

from rnnlearn import Elman, optim
from rnnlearn.algorithms import BPTT, RTRL, TBPTT
from rnnlearn.tasks import Chunk, Stream, Task, make_task
from rnnlearn.train import train

CASES = {
    "bptt": (BPTT(window=20), optim.sgd(0.02)),
    "tbptt": (TBPTT(k1=10, k2=10), optim.sgd(0.03)),
    "tbptt-k1=1": (TBPTT(k1=1, k2=10), optim.sgd(0.01)),
    "rtrl": (RTRL(), optim.sgd(0.03)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_add_task_reaches_047(name):
    learner, opt = CASES[name]
    task = make_task("add")
    result = train(Elman(n_in=2, n_hidden=32, n_out=2, loss="xent"), learner, task, steps=20_000,
                   optimizer=opt, seed=0, eval_every=5000)
    losses = [r["test_loss"] for r in result.records]
    assert result.status == "done"
    assert losses[0] > 0.6  # starts near "learns nothing"
    assert min(losses) <= 0.47, losses
    assert losses[-1] >= task.reference_levels()["optimal"] - 1e-9


def test_same_seed_same_numbers():
    task = make_task("add")
    runs = [train(Elman(2, 8, 2, loss="xent"), TBPTT(3, 6), task, steps=600, optimizer=optim.adam(0.01),
                  seed=4, eval_every=200) for _ in range(2)]
    assert np.array_equal(runs[0].theta, runs[1].theta)
    assert [r["test_loss"] for r in runs[0].records] == [r["test_loss"] for r in runs[1].records]
    other = train(Elman(2, 8, 2, loss="xent"), TBPTT(3, 6), task, steps=600, optimizer=optim.adam(0.01),
                  seed=5, eval_every=200)
    assert not np.array_equal(runs[0].theta, other.theta)


class Echo(Task):
    """y_t = x_{t-1}, Gaussian inputs, squared error: a loss that can blow up."""

    name = "echo"
    loss = "mse"
    n_in = 1
    n_out = 1

    def stream(self, seed):
        return EchoStream(np.random.default_rng(seed))


class EchoStream(Stream):
    def __init__(self, rng):
        self.rng, self.last = rng, 0.0

    def next(self, T):
        x = self.rng.normal(size=T)
        y = np.concatenate([[self.last], x[:-1]])
        self.last = x[-1]
        return Chunk.make(x[:, None], y[:, None])


@pytest.mark.parametrize("learner", [BPTT(), RTRL()], ids=["bptt", "rtrl"])
def test_divergence_is_recorded_not_raised(learner):
    result = train(Elman(1, 8, 1), learner, Echo(), steps=3000, optimizer=optim.sgd(50.0), seed=0,
                   eval_every=500)
    assert result.status == "diverged"
    assert "non-finite" in result.reason or "is above" in result.reason   # NaN, or far above learning nothing
    assert result.steps < 3000
    assert np.isfinite(result.records[0]["test_loss"])  # what came before is kept
