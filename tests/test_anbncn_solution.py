"""The hand-made counter network (rnnlearn/tasks/anbncn_solution.py) solves a^n b^n c^n to n = 10,000 under the
task's own test: the model and the test of anbncn_gers can express and measure the papers' result. The failure
model (breaking_n): its windows are the exact tolerance of the readout, and where it is right or early."""
import numpy as np
import pytest
from naive_models import lstm_forward_original

from rnnlearn.tasks.anbncn_solution import (CELL_A, CELL_B, CELL_F, _rest_correct, anbncn_model, anbncn_solution,
                                            breaking_n, cells_at_probe, count_windows, probe_step)
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


def test_the_window_is_the_readouts_exact_tolerance():
    """Shifting a cell at the probe of the string 10 just inside its window keeps the rest correct, just
    outside breaks it (the hand net: cell A is 0 there and read against the cut 0.38 ~ tanh(0.4) / 2)."""
    model = anbncn_model()
    theta = anbncn_solution(model)
    w = count_windows(model, theta, 10)
    chunk = encode_anbncn(10, "sigmoid")
    s = model.forward(theta, chunk)[0][probe_step(10)]
    for k in range(3):
        for edge, inward in ((w[k, 0], +1), (w[k, 1], -1)):
            if np.isfinite(edge):
                shift = edge - s[model.n_hidden + k]
                assert _rest_correct(model, theta, chunk, s, k, shift + inward * 1e-6)
                assert not _rest_correct(model, theta, chunk, s, k, shift - inward * 1e-6)
    assert w[CELL_A, 0] < 0 < w[CELL_A, 1] < 0.4 and w[CELL_F, 1] == np.inf   # F is only read to be 1


def test_the_exact_hand_net_never_leaves_its_windows():
    model = anbncn_model()
    theta = anbncn_solution(model, gain=40.0, scale=20.0)
    b = breaking_n(model, theta, n0=10, n_max=400)
    assert b.n is None and b.cell == CELL_A   # A: the narrowest window
    assert np.array_equal(cells_at_probe(model, theta, 400), cells_at_probe(model, theta, 10))  # no drift at all


def test_on_the_leaky_hand_net_the_per_cell_model_is_early_as_two_counters_drift_together():
    """Gain 10: cells A and B leak alike (both -0.38 at the end of the string 92, where T is first missed).
    Cell A alone leaves its window after n = 65, but B's equal drift compensates in the readout
    (c: h_B - 2 h_A), so the net is correct to 91: the windows are per cell, the other cells held as at n0."""
    model = anbncn_model()
    theta = anbncn_solution(model, gain=10.0, scale=10.0)
    assert largest_n_correct(model, theta, 1000, outputs="sigmoid", n_exact=100) == 91
    b = breaking_n(model, theta, n0=10, n_max=400)
    assert (b.n, b.cell) == (65, CELL_A)
    chunk = encode_anbncn(10, "sigmoid")
    s = model.forward(theta, chunk)[0]
    drifted = np.concatenate([s[probe_step(10), :3], cells_at_probe(model, theta, 91)])
    assert _rest_correct(model, theta, chunk, drifted, 0, 0.0)                  # every cell as at n = 91: correct
    only_a = s[probe_step(10)].copy()
    only_a[model.n_hidden + CELL_A] = drifted[model.n_hidden + CELL_A]
    assert not _rest_correct(model, theta, chunk, only_a, 0, 0.0)               # cell A alone: fails


def test_bad_arguments():
    model = anbncn_model()
    theta = anbncn_solution(model)
    with pytest.raises(ValueError, match="n0 must be"):
        breaking_n(model, theta, n0=1)
    with pytest.raises(ValueError, match="n_max must be"):
        breaking_n(model, theta, n0=10, n_max=10)
    with pytest.raises(ValueError, match="gain must be"):
        anbncn_solution(model, gain=0.0)
    from rnnlearn.models import Elman
    with pytest.raises(ValueError, match="needs an LSTM"):
        breaking_n(Elman(5, 3, 5), np.zeros(Elman(5, 3, 5).n_params))


def test_the_original_squashing_is_the_standard_lstm_rescaled():
    """g(z) = 4 sigma(z) - 2 = 2 tanh(z / 2) and h(c) = 2 sigma(c) - 1 = tanh(c / 2): with c' = c / 2 the
    original LSTM is this one with the cell-input rows (W_g, U_g, b_g) halved and the peepholes doubled, the
    same function class (only the learning geometry, e.g. the EKF's P0 per parameter, differs)."""
    model = anbncn_model()
    rng = np.random.default_rng(3)
    theta = rng.uniform(-1.0, 1.0, model.n_params)
    p = model.unpack(theta.copy())
    chunk = encode_anbncn(12, "sigmoid")
    states_orig, y_orig = lstm_forward_original(p, chunk.xs, chunk.resets)
    theta_std = theta.copy()
    q = model.unpack(theta_std)
    for k in ("W_g", "U_g", "b_g"):
        q[k] *= 0.5
    for k in ("p_i", "p_f", "p_o"):
        q[k] *= 2.0
    states, y = model.forward(theta_std, chunk)
    n = model.n_hidden
    np.testing.assert_allclose(y, y_orig, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(states[:, :n], states_orig[:, :n], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(states[:, n:], states_orig[:, n:] / 2, rtol=1e-12, atol=1e-12)
    assert not np.allclose(model.forward(theta, chunk)[1], y_orig, atol=1e-3)   # unscaled: a different net
