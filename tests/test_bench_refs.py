"""The benchmark references compute exactly our network and training step.

The oracle is written here from the equations (rnnlearn/models/elman.py): a slow forward pass, central finite differences
for gradients, and a slow dense RTRL for the online updates. numpy references are always checked; torch and
jax cases are added only for the backends installed here (collected at import time, never skipped).
"""
import importlib
import math

import numpy as np
import pytest

from rnnlearn import references
from rnnlearn.references import blas_ref, numpy_ref, ref_common

BACKENDS = references.available_backends()
if "torch" in BACKENDS:
    from rnnlearn.references import torch_ref
if "jax" in BACKENDS:
    from rnnlearn.references import jax_ref
N, M, O, T = 3, 2, 2, 5
LR = 0.1
NAMES = ref_common.PARAM_NAMES


# ----------------------------------------------------------------------------------------------------------
# the oracle
# ----------------------------------------------------------------------------------------------------------

def slow_loss(p, x, y):
    h = np.zeros(p["W"].shape[0])
    loss = 0.0
    for t in range(x.shape[0]):
        h = np.tanh(p["W"] @ h + p["U"] @ x[t] + p["b"])
        e = p["V"] @ h + p["c"] - y[t]
        loss += 0.5 * float(e @ e)
    return loss


def fd_grad(f, p, eps=1e-6):
    g = {}
    for k in p:
        g[k] = np.zeros_like(p[k])
        for i in np.ndindex(p[k].shape):
            q = {kk: vv.copy() for kk, vv in p.items()}
            q[k][i] += eps
            fp = f(q)
            q[k][i] -= 2 * eps
            fm = f(q)
            g[k][i] = (fp - fm) / (2 * eps)
    return g


def sgd(p, g, lr):
    return {k: p[k] - lr * g[k] for k in p}


def slow_online_rtrl(p, x, y, lr):
    """Online RTRL from the equations: dense Mbar with explicit loops, an SGD step after every time step."""
    p = {k: v.copy() for k, v in p.items()}
    n, m = p["U"].shape
    K = n + m + 1
    M = np.zeros((n, n * K))
    h = np.zeros(n)
    total = 0.0
    for t in range(x.shape[0]):
        z = np.concatenate([h, x[t], [1.0]])
        a = p["W"] @ h + p["U"] @ x[t] + p["b"]
        h_new = np.tanh(a)
        d = 1.0 - h_new ** 2
        J = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                J[i, j] = d[i] * p["W"][i, j]
        Mbar = np.zeros((n, n * K))
        for i in range(n):
            for k in range(K):
                Mbar[i, i * K + k] = d[i] * z[k]
        M = J @ M + Mbar
        h = h_new
        e = p["V"] @ h + p["c"] - y[t]
        total += 0.5 * float(e @ e)
        gA = ((p["V"].T @ e) @ M).reshape(n, K)
        g = {"W": gA[:, :n], "U": gA[:, n:n + m], "b": gA[:, n + m], "V": np.outer(e, h), "c": e}
        p = sgd(p, g, lr)
    return p, total


@pytest.fixture(scope="module")
def problem():
    p = ref_common.init_params(N, M, O, seed=3)
    x, y = ref_common.make_data(T, M, O, seed=3)
    return p, x, y


@pytest.fixture(scope="module")
def bptt_expected(problem):
    p, x, y = problem
    g = fd_grad(lambda q: slow_loss(q, x, y), p)
    return sgd(p, g, LR), slow_loss(p, x, y)


def assert_params_close(got, want, atol):
    for k in NAMES:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=0, atol=atol, err_msg=k)


# ----------------------------------------------------------------------------------------------------------
# the oracle itself: online RTRL with one step is one BPTT step on that step's loss
# ----------------------------------------------------------------------------------------------------------

def test_online_oracle_single_step_is_gradient(problem):
    p, x, y = problem
    got, loss = slow_online_rtrl(p, x[:1], y[:1], LR)
    g = fd_grad(lambda q: slow_loss(q, x[:1], y[:1]), p)
    assert loss == pytest.approx(slow_loss(p, x[:1], y[:1]), rel=1e-12)
    assert_params_close(got, sgd(p, g, LR), atol=1e-8)


# ----------------------------------------------------------------------------------------------------------
# one sequence update == SGD on the finite-difference gradient (whole-sequence gradient references)
# ----------------------------------------------------------------------------------------------------------

SEQUENCE_CASES = {
    "numpy-bptt": lambda p, x, y: numpy_ref.numpy_bptt_update(p, x, y, LR),
    "numpy-rtrl-summed-kron": lambda p, x, y: numpy_ref.numpy_rtrl_update(p, x, y, LR, online=False),
    "numpy-rtrl-summed-sparse": lambda p, x, y: numpy_ref.numpy_rtrl_update(p, x, y, LR, online=False,
                                                                     immediate="sparse"),
}
if "torch" in BACKENDS:
    SEQUENCE_CASES["torch-bptt"] = lambda p, x, y: torch_ref.torch_bptt_update(p, x, y, LR)
if "jax" in BACKENDS:
    SEQUENCE_CASES["jax-bptt"] = lambda p, x, y: jax_ref.jax_bptt_update(p, x, y, LR)
    SEQUENCE_CASES["jax-rtrl-summed"] = lambda p, x, y: jax_ref.jax_rtrl_update(p, x, y, LR, online=False)


def _tbptt_by_rnnlearn(p, x, y, lr):
    """rnnlearn's TBPTT(10, 10) training with SGD on the same network (theta is W, U, b, V, c in order)."""
    from rnnlearn import Elman
    from rnnlearn.algorithms import TBPTT
    from rnnlearn.optim import sgd as sgd_opt
    from rnnlearn.tasks import Chunk
    n, m = p["U"].shape
    model = Elman(m, n, p["V"].shape[0])
    theta = np.concatenate([p[k].ravel() for k in NAMES])
    learner = TBPTT(ref_common.TBPTT_WINDOW, ref_common.TBPTT_WINDOW)
    losses = learner.train(model, theta, learner.init(model, theta, sgd_opt(lr)), Chunk.make(x, y))
    return theta, losses.sum()


if "jax" in BACKENDS:
    def test_jax_tbptt_is_rnnlearn_tbptt():
        rng = np.random.default_rng(5)
        p = ref_common.init_params(N, M, O, seed=3)
        x, y = rng.normal(size=(2 * ref_common.TBPTT_WINDOW, M)), rng.normal(size=(2 * ref_common.TBPTT_WINDOW, O))
        got, loss = jax_ref.jax_tbptt_update(p, x, y, LR)
        want, want_loss = _tbptt_by_rnnlearn(p, x, y, LR)
        assert loss == pytest.approx(want_loss, rel=1e-12)
        assert np.abs(np.concatenate([got[k].ravel() for k in NAMES]) - want).max() < 1e-13


@pytest.mark.parametrize("case", sorted(SEQUENCE_CASES))
def test_sequence_update_matches_finite_differences(case, problem, bptt_expected):
    p, x, y = problem
    want, want_loss = bptt_expected
    got, loss = SEQUENCE_CASES[case](p, x, y)
    assert loss == pytest.approx(want_loss, rel=1e-10)
    assert_params_close(got, want, atol=1e-8)
    # the caller's parameters are not modified
    np.testing.assert_array_equal(p["W"], ref_common.init_params(N, M, O, seed=3)["W"])


# ----------------------------------------------------------------------------------------------------------
# online RTRL == the slow online oracle
# ----------------------------------------------------------------------------------------------------------

ONLINE_CASES = {
    "numpy-rtrl-kron": lambda p, x, y: numpy_ref.numpy_rtrl_update(p, x, y, LR),
    "numpy-rtrl-sparse": lambda p, x, y: numpy_ref.numpy_rtrl_update(p, x, y, LR, immediate="sparse"),
}
if "jax" in BACKENDS:
    ONLINE_CASES["jax-rtrl"] = lambda p, x, y: jax_ref.jax_rtrl_update(p, x, y, LR)


@pytest.mark.parametrize("case", sorted(ONLINE_CASES))
def test_online_rtrl_matches_oracle(case, problem):
    p, x, y = problem
    want, want_loss = slow_online_rtrl(p, x, y, LR)
    got, loss = ONLINE_CASES[case](p, x, y)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    assert_params_close(got, want, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# the timing functions run the same network: their first-update loss is the oracle's
# ----------------------------------------------------------------------------------------------------------

TINY = dict(m=M, o=O, T=T, repeats=1, warmup=1, min_repeat_seconds=0.0, seed=3, lr=LR)
TIMING_CASES = {
    "numpy_bptt": (lambda: numpy_ref.numpy_bptt(N, **TINY), "bptt"),
    "numpy_rtrl": (lambda: numpy_ref.numpy_rtrl(N, **TINY), "online"),
}
if "torch" in BACKENDS:
    TIMING_CASES["torch_bptt"] = (lambda: torch_ref.torch_bptt(N, **TINY), "bptt")
if "jax" in BACKENDS:
    # in a fresh subprocess with the XLA thread flags, as the benchmark runs it
    TIMING_CASES["jax_bptt"] = (lambda: jax_ref.jax_bptt(N, **TINY), "bptt")
    TIMING_CASES["jax_rtrl"] = (lambda: jax_ref.jax_rtrl(N, subprocess=False, **TINY), "online")


@pytest.mark.parametrize("case", sorted(TIMING_CASES))
def test_timing_functions_report_the_same_loss(case, problem):
    p, x, y = problem
    run, kind = TIMING_CASES[case]
    res = run()
    want = slow_loss(p, x, y) if kind == "bptt" else slow_online_rtrl(p, x, y, LR)[1]
    assert res["loss"] == pytest.approx(want, rel=1e-10)
    assert math.isfinite(res["us_per_step"]) and res["us_per_step"] > 0
    if case == "jax_bptt":
        assert res["subprocess"] and "xla_cpu_multi_thread_eigen=false" in res["xla_flags"]
        assert len(res["affinity"]) == 1  # pinned to one core


def test_missing_backend_message(monkeypatch):
    import importlib
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    for module in ("torch_ref", "jax_ref"):  # importable without the framework; their functions say what to install
        mod = importlib.import_module(f"rnnlearn.references.{module}")
        fn = getattr(mod, module.replace("_ref", "_bptt"))
        with pytest.raises(ImportError, match=r"rnnlearn\[bench\]"):
            fn(4)
    for framework in ("torch", "jax"):
        with pytest.raises(ValueError, match=r"rnnlearn\[bench\]"):
            references.load(framework)
    assert references.available_backends() == []


def test_every_framework_lists_what_it_times():
    """Each framework module names the registered learner each of its references reimplements."""
    from rnnlearn.algorithms import LEARNERS
    for framework in references.FRAMEWORKS:
        mod = importlib.import_module(f"rnnlearn.references.{references.FRAMEWORKS[framework]}")
        assert mod.TIMED and all(alg in LEARNERS and callable(fn) for alg, fn, _ in mod.TIMED), framework
    with pytest.raises(ValueError, match="unknown reference"):
        references.load("matlab")


# ----------------------------------------------------------------------------------------------------------
# the tutorial word language model
# ----------------------------------------------------------------------------------------------------------

def lm_losses_from(p, words, targets, start, state, stop):
    """Sum of -log softmax losses for outputs start..stop-1 ... computed from a given state before start."""
    s = state
    total = 0.0
    for t in range(start, stop):
        s = np.tanh(p["U"][:, words[t]] + p["W"] @ s)
        a = p["V"] @ s
        total += -(a[targets[t]] - (np.max(a) + math.log(np.sum(np.exp(a - np.max(a))))))
    return total


def lm_states(p, words):
    s = np.zeros(p["W"].shape[0])
    out = []
    for w in words:
        s = np.tanh(p["U"][:, w] + p["W"] @ s)
        out.append(s)
    return out


def lm_truncated_fd_grad(p, words, targets, trunc, eps=1e-6):
    """sum_t d l_t / d theta with the state before step t - trunc held fixed (finite differences)."""
    states = lm_states(p, words)
    n = p["W"].shape[0]
    g = {k: np.zeros_like(v) for k, v in p.items()}
    for t in range(len(words)):
        start = max(0, t - trunc)
        s0 = states[start - 1] if start > 0 else np.zeros(n)

        def f(q):
            s = s0
            for k in range(start, t + 1):
                s = np.tanh(q["U"][:, words[k]] + q["W"] @ s)
            a = q["V"] @ s
            return -(a[targets[t]] - (np.max(a) + math.log(np.sum(np.exp(a - np.max(a))))))

        for k in p:
            for i in np.ndindex(p[k].shape):
                q = {kk: vv.copy() for kk, vv in p.items()}
                q[k][i] += eps
                fp = f(q)
                q[k][i] -= 2 * eps
                g[k][i] += (fp - f(q)) / (2 * eps)
    return g


@pytest.mark.parametrize("length,trunc", [(4, 4), (8, 2)])
def test_word_lm_step_matches_truncated_gradient(length, trunc):
    p = numpy_ref.init_word_lm_params(vocab=7, hidden=4, seed=2)
    for k in p:  # larger weights than the tutorial's so every term matters
        p[k] = p[k] * 3.0
    rng = np.random.default_rng(5)
    sent = rng.integers(0, 7, length + 1)
    words, targets = sent[:-1], sent[1:]
    got, loss = numpy_ref.numpy_word_lm_update(p, words, targets, lr=0.5, bptt_truncate=trunc)
    full = lm_losses_from(p, words, targets, 0, np.zeros(4), length)
    assert loss == pytest.approx(full, rel=1e-12)
    g = lm_truncated_fd_grad(p, words, targets, trunc)
    for k in p:
        np.testing.assert_allclose(got[k], p[k] - 0.5 * g[k], rtol=0, atol=1e-8, err_msg=k)
    if length - 1 <= trunc:  # no truncation: the full gradient
        g_full = fd_grad(lambda q: lm_losses_from(q, words, targets, 0, np.zeros(4), length), p)
        for k in p:
            np.testing.assert_allclose(g[k], g_full[k], rtol=0, atol=1e-7)


def test_word_lm_timing_runs():
    res = numpy_ref.numpy_word_lm_step(vocab=50, hidden=8, sentence_len=6, repeats=1)
    assert res["ms_per_sentence"] > 0 and math.isfinite(res["loss"])
    assert res["loss"] == pytest.approx(6 * math.log(50), rel=0.2)  # near-uniform softmax at the start


# ----------------------------------------------------------------------------------------------------------
# BLAS rates and thread pinning
# ----------------------------------------------------------------------------------------------------------

def test_blas_threads_pins_and_restores():
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas()
        with ref_common.blas_threads(1) as pinned:
            assert pinned == len(before) >= 1
            assert all(k == 1 for k in blas())
        assert blas() == before
    with ref_common.blas_threads(None) as pinned:
        assert pinned == 0


def test_blas_rates_are_sane():
    r = blas_ref.blas_matmul_gflops((8, 8), (8, 8 * 8 + 8 * 4 + 8), threads=1, repeats=2,
                              min_repeat_seconds=0.0)
    assert r["flops"] == 2 * 8 * 8 * 104 and r["gflops"] > 0
    with pytest.raises(ValueError):
        blas_ref.blas_matmul_gflops((3, 4), (5, 6))
    e = blas_ref.blas_rate_for_ekf(40, 2, repeats=2, min_repeat_seconds=0.0)
    for key in ("PH_gflops", "rank_update_numpy_gflops", "rank_update_gemm_gflops", "total_gflops"):
        assert e[key] > 0 and math.isfinite(e[key])
