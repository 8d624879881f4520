"""Slow, obviously-right references in plain numpy, written from the equations, for the tests to trust.

Elman: h_0 = 0; h_t = tanh(W h_{t-1} + U x_t + b); y_hat_t = V h_t + c; L = sum_t w_t l_t.
"""
import numpy as np


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def step_loss(yhat, y, loss, w=1.0):
    """(w * l, w * dl/dyhat)."""
    if loss == "mse":
        r = yhat - y
        return 0.5 * w * r @ r, w * r
    p = softmax(yhat)
    return -w * y @ np.log(p), w * (p * y.sum() - y)


def elman_forward(p, xs, resets=None):
    T, n = len(xs), len(p["b"])
    hs = np.zeros((T + 1, n))  # hs[t + 1] = h_t; hs[0] = h_0 = 0
    prev = np.zeros((T, n))
    for t in range(T):
        hp = np.zeros(n) if (resets is not None and resets[t]) else hs[t]
        prev[t] = hp
        hs[t + 1] = np.tanh(p["W"] @ hp + p["U"] @ xs[t] + p["b"])
    return hs[1:], prev


def elman_loss(p, xs, ys, loss, mask=None, resets=None):
    hs, _ = elman_forward(p, xs, resets)
    mask = np.ones(len(xs)) if mask is None else mask
    return sum(step_loss(p["V"] @ h + p["c"], y, loss, w)[0] for h, y, w in zip(hs, ys, mask))


def elman_bptt(p, xs, ys, loss, mask=None, resets=None):
    """Exact gradient by the textbook backward recursion, as a dict of arrays like p."""
    T = len(xs)
    mask = np.ones(T) if mask is None else mask
    hs, prev = elman_forward(p, xs, resets)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dh_next = np.zeros(len(p["b"]))
    for t in reversed(range(T)):
        _, dy = step_loss(p["V"] @ hs[t] + p["c"], ys[t], loss, mask[t])
        g["V"] += np.outer(dy, hs[t])
        g["c"] += dy
        dh = p["V"].T @ dy + dh_next
        da = dh * (1 - hs[t] ** 2)
        g["W"] += np.outer(da, prev[t])
        g["U"] += np.outer(da, xs[t])
        g["b"] += da
        dh_next = p["W"].T @ da
        if resets is not None and resets[t]:
            dh_next = np.zeros_like(dh_next)
    return g


def elman_truncated(p, xs, ys, loss, k1, k2):
    """Williams and Peng's BPTT(k2; k1) with parameters fixed, straight from the definition: at every
    update time tau (each k1 steps, and the end of the sequence), each error of the steps since the last
    update is propagated back through steps tau-k2+1 .. tau only, and the results are summed."""
    T = len(xs)
    hs, prev = elman_forward(p, xs)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    taus = list(range(k1 - 1, T, k1))
    if not taus or taus[-1] != T - 1:
        taus.append(T - 1)
    last = -1
    for tau in taus:
        for s in range(last + 1, tau + 1):  # the error of step s ...
            _, dy = step_loss(p["V"] @ hs[s] + p["c"], ys[s], loss)
            g["V"] += np.outer(dy, hs[s])
            g["c"] += dy
            dh = p["V"].T @ dy
            for t in range(s, max(tau - k2, -1), -1):  # ... travels back to tau - k2 + 1
                da = dh * (1 - hs[t] ** 2)
                g["W"] += np.outer(da, prev[t])
                g["U"] += np.outer(da, xs[t])
                g["b"] += da
                dh = p["W"].T @ da
        last = tau
    return g


def elman_rtrl(p, xs, ys, loss):
    """Williams and Zipser's RTRL with the parameters fixed and a dense immediate Jacobian built entry by
    entry; returns the summed gradient as a dict like p."""
    n, m = p["U"].shape
    names = ["W", "U", "b"]
    sizes = [n * n, n * m, n]
    P = sum(sizes)
    M = np.zeros((n, P))
    h = np.zeros(n)
    grec = np.zeros(P)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    for x, y in zip(xs, ys):
        hn = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        d = 1 - hn ** 2
        Mbar = np.zeros((n, P))
        for i in range(n):
            for j in range(n):
                Mbar[i, i * n + j] = d[i] * h[j]
            for j in range(m):
                Mbar[i, n * n + i * m + j] = d[i] * x[j]
            Mbar[i, n * n + n * m + i] = d[i]
        M = (d[:, None] * p["W"]) @ M + Mbar
        h = hn
        _, dy = step_loss(p["V"] @ h + p["c"], y, loss)
        g["V"] += np.outer(dy, h)
        g["c"] += dy
        grec += (p["V"].T @ dy) @ M
    off = 0
    for name, size in zip(names, sizes):
        g[name] = grec[off:off + size].reshape(p[name].shape)
        off += size
    return g


def flat(model, g):
    """A dict of named gradient blocks as one vector in the model's theta layout."""
    theta = np.zeros(model.n_params)
    views = model.unpack(theta)
    for k, v in g.items():
        views[k][...] = v
    return theta


def finite_difference(f, theta, eps=1e-6):
    """Central differences of a scalar function of theta."""
    g = np.zeros_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return g
