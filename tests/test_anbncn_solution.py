"""The hand-made counter network (tests/anbncn_solution.py) solves a^n b^n c^n to n = 10,000 under the task's
own test: the model and the test of anbncn_gers can express and measure the papers' result."""
import numpy as np

from anbncn_solution import CELL_A, CELL_B, CELL_F, anbncn_model, anbncn_solution
from rnnlearn.tasks.anbncn import AnBnCnTask, encode_anbncn, largest_n_correct, string_correct
from rnnlearn.train import evaluate


def test_the_counters_are_exact_integers():
    model = anbncn_model()
    theta = anbncn_solution(model)
    n = 5000
    states, _ = model.forward(theta, encode_anbncn(n, "sigmoid"))
    c = states[:, model.n_hidden:]
    k = np.arange(n + 1)
    assert np.array_equal(c[:n + 1, CELL_A], k)            # S, then +1 per a
    assert np.array_equal(c[n:2 * n + 1, CELL_A], n - k)   # -1 per b, to exactly 0
    assert np.array_equal(c[2 * n:, CELL_A], np.zeros(n + 1))
    assert np.array_equal(c[2 * n:, CELL_B], n - k)        # -1 per c
    assert np.array_equal(c[n + 1:, CELL_F], np.ones(2 * n))
    assert np.array_equal(c[:n + 1, [CELL_B, CELL_F]], np.zeros((n + 1, 2)))


def test_every_string_correct_and_largest_n_10000():
    model = anbncn_model()
    theta = anbncn_solution(model)
    for n in list(range(1, 1001)) + [1234, 4999, 7777, 9999, 10000]:
        chunk = encode_anbncn(n, "sigmoid")
        _, y_hat = model.forward(theta, chunk)
        assert string_correct(y_hat, chunk, outputs="sigmoid"), n
    assert largest_n_correct(model, theta, 10000, outputs="sigmoid", n_exact=100) == 10000
    task = AnBnCnTask(n_max=10, outputs="sigmoid", n_test=10000, n_exact=100)
    m = evaluate(model, theta, task, task.test_set(0))
    assert m["strings_correct"] == 1.0 and m["largest_n_correct"] == 10000.0
    assert m["test_loss"] < 1e-6   # the training set's loss (n <= 10), sigmoid outputs 7.6 from their cut


def test_weak_gates_leak_and_the_counter_drifts():
    """With gates of gain 10 the forget gate leaks 1 - f = 4.5e-5 per step: the same network fails by n ~ 100
    while its loss on n <= 10 is as small as that of the exact one at the same readout scale."""
    model = anbncn_model()
    task = AnBnCnTask(n_max=10, outputs="sigmoid", n_test=10000, n_exact=100)
    exact = evaluate(model, anbncn_solution(model, gain=40.0, scale=10.0), task, task.test_set(0))
    leaky = evaluate(model, anbncn_solution(model, gain=10.0, scale=10.0), task, task.test_set(0))
    assert exact["largest_n_correct"] == 10000.0 and leaky["largest_n_correct"] < 200
    assert leaky["strings_correct"] == exact["strings_correct"] == 1.0
    assert abs(leaky["test_loss"] - exact["test_loss"]) < 0.02 * exact["test_loss"]
