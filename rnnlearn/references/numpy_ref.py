"""Plain numpy references: BPTT and RTRL with a Python loop over time (what a numpy user writes, and the
numpy RTRL of Marschall, Cho and Savin 2020), and the classic RNN tutorial's word language model step.

RTRL conventions: the recurrent parameters are ordered unit by unit, row i of A = [W U b] (n x K,
K = n + m + 1) flattened row-major, so P_rec = n K and the influence matrix M is n x P_rec. With
z_t = [h_{t-1}; x_t; 1] and D_t = diag(1 - h_t^2):

    J_t = D_t W,   Mbar_t[i, i*K:(i+1)*K] = D_t[i] z_t,   M_t = J_t M_{t-1} + Mbar_t
    e_t = y_hat_t - y_t,   dL/dA += reshape((V^T e_t)^T M_t, (n, K)),   dL/dV += e_t h_t^T,   dL/dc += e_t

``online=True`` (the default, what RTRL is for): an SGD update at every time step, so one "sequence
update" is T parameter updates. ``online=False``: parameters fixed over the sequence, the per-step gradients
summed (exactly the BPTT gradient), one SGD update after it. Both cost the same per step (J M dominates).
"""
from __future__ import annotations

import math

import numpy as np

from .ref_common import PARAM_NAMES, blas_threads, copy_params, init_params, make_data, measure


def _numpy_bptt_step(p, x, y, lr):
    """One BPTT update in place on the dict ``p``; returns the loss before the update."""
    W, U, b, V, c = (p[k] for k in PARAM_NAMES)
    T = x.shape[0]
    n = W.shape[0]
    hs = np.zeros((T + 1, n))  # hs[t + 1] = h_t ; hs[0] = h_0 = 0
    for t in range(T):
        hs[t + 1] = np.tanh(W @ hs[t] + U @ x[t] + b)
    H = hs[1:]
    E = H @ V.T + c - y  # T x o
    loss = 0.5 * float(np.sum(E * E))
    dH = E @ V  # T x n : dL/dh_t from the readout
    dA = np.zeros((T, n))  # dL/da_t
    g = np.zeros(n)
    for t in range(T - 1, -1, -1):
        g = (dH[t] + g) * (1.0 - H[t] * H[t])
        dA[t] = g
        g = W.T @ g
    gW = dA.T @ hs[:-1]
    gU = dA.T @ x
    gb = dA.sum(axis=0)
    gV = E.T @ H
    gc = E.sum(axis=0)
    W -= lr * gW
    U -= lr * gU
    b -= lr * gb
    V -= lr * gV
    c -= lr * gc
    return loss


def numpy_bptt_update(params, x, y, lr=1e-3):
    """One plain-numpy BPTT update. Returns (new params dict, loss before the update)."""
    p = copy_params(params)
    loss = _numpy_bptt_step(p, np.asarray(x, float), np.asarray(y, float), lr)
    return p, loss


def numpy_bptt(n, m=4, o=2, T=100, repeats=15, threads=1, seed=0, lr=1e-3, warmup=2,
               min_repeat_seconds=0.05):
    """Time plain numpy BPTT (Python loop over time steps)."""
    p = init_params(n, m, o, seed)
    x, y = make_data(T, m, o, seed)
    losses = []
    with blas_threads(threads) as pinned:
        res = measure(lambda: losses.append(_numpy_bptt_step(p, x, y, lr)), T, repeats, warmup,
                       min_repeat_seconds)
    res.update(loss=losses[0], loss_last=losses[-1], n=n, m=m, o=o, threads=threads,
               blas_libs_pinned=pinned, backend="numpy", algorithm="bptt")
    return res


# ----------------------------------------------------------------------------------------------------------
# numpy RTRL (Python loop over time, online updates): the "numpy reference RTRL"
# ----------------------------------------------------------------------------------------------------------

def _numpy_rtrl_run(p, x, y, lr, online=True, immediate="kron"):
    """RTRL over one sequence, in place on ``p``; returns the summed loss.

    ``immediate="kron"`` builds the immediate Jacobian Mbar_t densely (n x nK, as kron(diag(D), z)) and
    adds it, the way a straightforward numpy RTRL (e.g. Marschall et al.'s) does; ``"sparse"`` adds
    D_i z into the n diagonal blocks only.
    """
    W, U, b, V, c = (p[k] for k in PARAM_NAMES)
    T = x.shape[0]
    n, m = U.shape
    K = n + m + 1
    M = np.zeros((n, n * K))
    h = np.zeros(n)
    loss = 0.0
    diag = np.arange(n)
    if not online:
        gA = np.zeros((n, K))
        gV = np.zeros_like(V)
        gc = np.zeros_like(c)
    for t in range(T):
        z = np.concatenate((h, x[t], (1.0,)))
        h = np.tanh(W @ h + U @ x[t] + b)
        D = 1.0 - h * h
        J = D[:, None] * W
        M = np.dot(J, M)
        if immediate == "kron":
            M += np.kron(np.diag(D), z)
        else:
            M.reshape(n, n, K)[diag, diag, :] += D[:, None] * z
        e = V @ h + c - y[t]
        loss += 0.5 * float(e @ e)
        q = V.T @ e
        g = np.dot(q, M).reshape(n, K)
        if online:
            W -= lr * g[:, :n]
            U -= lr * g[:, n:n + m]
            b -= lr * g[:, n + m]
            V -= lr * np.outer(e, h)
            c -= lr * e
        else:
            gA += g
            gV += np.outer(e, h)
            gc += e
    if not online:
        W -= lr * gA[:, :n]
        U -= lr * gA[:, n:n + m]
        b -= lr * gA[:, n + m]
        V -= lr * gV
        c -= lr * gc
    return loss


def numpy_rtrl_update(params, x, y, lr=1e-3, online=True, immediate="kron"):
    """RTRL over one sequence in numpy. Returns (new params dict, summed loss)."""
    p = copy_params(params)
    loss = _numpy_rtrl_run(p, np.asarray(x, float), np.asarray(y, float), lr, online, immediate)
    return p, loss


def numpy_rtrl(n, m=4, o=2, T=50, repeats=7, threads=1, seed=0, lr=1e-3, online=True,
               immediate="kron", warmup=1, min_repeat_seconds=0.05):
    """Time the straightforward numpy RTRL (Python loop over time, np.dot for J @ M, online updates)."""
    p = init_params(n, m, o, seed)
    x, y = make_data(T, m, o, seed)
    losses = []
    with blas_threads(threads) as pinned:
        res = measure(lambda: losses.append(_numpy_rtrl_run(p, x, y, lr, online, immediate)), T,
                       repeats, warmup, min_repeat_seconds)
    res.update(loss=losses[0], loss_last=losses[-1], n=n, m=m, o=o, threads=threads,
               blas_libs_pinned=pinned, online=online, immediate=immediate, backend="numpy",
               algorithm="rtrl")
    return res


# ----------------------------------------------------------------------------------------------------------
# The RNN-tutorial word language model, plain numpy
# ----------------------------------------------------------------------------------------------------------

def init_word_lm_params(vocab=8000, hidden=100, seed=0):
    """Tutorial-style initialisation: U (hidden x vocab), V (vocab x hidden), W (hidden x hidden),
    uniform in +-1/sqrt(fan-in); no biases."""
    rng = np.random.default_rng(seed)
    return {
        "U": rng.uniform(-1.0, 1.0, (hidden, vocab)) / math.sqrt(vocab),
        "V": rng.uniform(-1.0, 1.0, (vocab, hidden)) / math.sqrt(hidden),
        "W": rng.uniform(-1.0, 1.0, (hidden, hidden)) / math.sqrt(hidden),
    }


def _word_lm_sgd_step(p, words, targets, lr, bptt_truncate):
    """One SGD step on one sentence, the tutorial's algorithm; updates ``p`` in place, returns the loss.

    s_t = tanh(U[:, w_t] + W s_{t-1}) (one-hot input as a column lookup), o_t = softmax(V s_t), loss =
    sum_t -log o_t[target_t]. Forward and the output layer loop over time one word at a time; the error
    at each output is backpropagated through at most ``bptt_truncate`` earlier steps (bptt_truncate + 1
    recurrent steps counting its own); fresh dense gradient arrays every call, as in the tutorial.
    """
    U, V, W = p["U"], p["V"], p["W"]
    T = len(words)
    hidden = W.shape[0]
    vocab = V.shape[0]
    s = np.zeros((T + 1, hidden))  # s[-1] is the zero initial state
    out = np.zeros((T, vocab))
    for t in range(T):
        s[t] = np.tanh(U[:, words[t]] + W.dot(s[t - 1]))
        a = V.dot(s[t])
        ea = np.exp(a - np.max(a))
        out[t] = ea / np.sum(ea)
    loss = -float(np.sum(np.log(out[np.arange(T), targets])))
    dU = np.zeros(U.shape)
    dV = np.zeros(V.shape)
    dW = np.zeros(W.shape)
    d_out = out
    d_out[np.arange(T), targets] -= 1.0
    for t in range(T - 1, -1, -1):
        dV += np.outer(d_out[t], s[t])
        delta = V.T.dot(d_out[t]) * (1.0 - s[t] ** 2)
        for k in range(t, max(0, t - bptt_truncate) - 1, -1):
            dW += np.outer(delta, s[k - 1])
            dU[:, words[k]] += delta
            delta = W.T.dot(delta) * (1.0 - s[k - 1] ** 2)
    U -= lr * dU
    V -= lr * dV
    W -= lr * dW
    return loss


def numpy_word_lm_update(params, words, targets, lr=0.005, bptt_truncate=4):
    """One tutorial word-LM SGD step on one sentence. Returns (new params dict, loss)."""
    p = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    loss = _word_lm_sgd_step(p, np.asarray(words), np.asarray(targets), lr, bptt_truncate)
    return p, loss


def numpy_word_lm_step(vocab=8000, hidden=100, bptt_truncate=4, sentence_len=20, repeats=7, threads=1,
                       seed=0, lr=0.005, warmup=1, min_repeat_seconds=0.0):
    """Time the classic RNN-tutorial word LM step in plain numpy: milliseconds per sentence.

    One SGD step on one sentence of ``sentence_len`` random word ids (inputs w_0..w_{L-1}, targets the
    next words), vocabulary ``vocab``, hidden ``hidden``, truncation ``bptt_truncate``.
    """
    p = init_word_lm_params(vocab, hidden, seed)
    rng = np.random.default_rng(seed + 7)
    sent = rng.integers(0, vocab, sentence_len + 1)
    words, targets = sent[:-1], sent[1:]
    losses = []
    with blas_threads(threads) as pinned:
        res = measure(lambda: losses.append(_word_lm_sgd_step(p, words, targets, lr, bptt_truncate)),
                       sentence_len, repeats, warmup, min_repeat_seconds)
    res.update(ms_per_sentence=res["seconds_per_update"] * 1e3, loss=losses[0], loss_last=losses[-1],
               vocab=vocab, hidden=hidden, bptt_truncate=bptt_truncate, sentence_len=sentence_len,
               threads=threads, blas_libs_pinned=pinned, backend="numpy", algorithm="word_lm")
    return res



#: (algorithm it reimplements, timing function, its own size cap): numpy's RTRL stops at n = 64, where one
#: sequence already takes seconds
TIMED = [("bptt", numpy_bptt, None), ("rtrl", numpy_rtrl, 64)]
