"""Slow, obviously-right numpy forward passes of the LSTM, GRU, clockwork RNN, eLSTM and linear recurrent unit,
written from the papers' equations with whole-matrix numpy, one step at a time, for the tests to trust (see
rnnlearn/models/*.py for the formulations). Each takes the named blocks of `model.unpack(theta)` and returns the states (T, S) and
outputs (T, o); `resets[t]` sets the state to zero before step t."""
import numpy as np

import naive


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _run(cell, p, xs, S, resets):
    s = np.zeros(S)
    states = np.zeros((len(xs), S))
    for t, x in enumerate(xs):
        if resets is not None and resets[t]:
            s = np.zeros(S)
        s = cell(s, x, t)
        states[t] = s
    n = p["V"].shape[1]
    return states, states[:, :n] @ p["V"].T + p["c"]


def elman_forward(p, xs, resets=None):
    hs, _ = naive.elman_forward(p, xs, resets)
    return hs, hs @ p["V"].T + p["c"]


def leaky_forward(p, xs, alpha, resets=None):
    """The leaky rate network of Marschall, Cho and Savin (2020): a_t = (1 - alpha) a_{t-1}
    + alpha tanh(W a_{t-1} + U x_t + b)."""
    def cell(a, x, t):
        return (1 - alpha) * a + alpha * np.tanh(p["W"] @ a + p["U"] @ x + p["b"])

    return _run(cell, p, xs, p["b"].shape[0], resets)


def lstm_forward(p, xs, peephole=False, resets=None, g=np.tanh, h=np.tanh):
    """Gers, Schmidhuber & Cummins (2000) with a forget gate; peepholes as in Gers & Schmidhuber (2000):
    i and f see c_{t-1}, o sees c_t. g and h: the cell input and cell output squashing (tanh here)."""
    n = p["b_i"].shape[0]

    def pre(q, hp, x):
        return p[f"W_{q}"] @ hp + p[f"U_{q}"] @ x + p[f"b_{q}"]

    def cell(s, x, t):
        hp, c = s[:n], s[n:]
        zi, zf, zo, zg = (pre(q, hp, x) for q in "ifog")
        if peephole:
            zi = zi + p["p_i"] * c
            zf = zf + p["p_f"] * c
        c_new = sigmoid(zf) * c + sigmoid(zi) * g(zg)
        if peephole:
            zo = zo + p["p_o"] * c_new
        h_new = sigmoid(zo) * h(c_new)
        return np.concatenate([h_new, c_new])

    return _run(cell, p, xs, 2 * n, resets)


def lstm_forward_original(p, xs, resets=None):
    """The peephole LSTM with the original squashing (Hochreiter & Schmidhuber 1997; Gers & Schmidhuber 2001):
    cell input g(z) = 4 sigma(z) - 2 in [-2, 2], cell output h(c) = 2 sigma(c) - 1 in [-1, 1]; gates and
    peepholes as lstm_forward with peephole=True. States (h, c) with the original c."""
    return lstm_forward(p, xs, peephole=True, resets=resets, g=lambda z: 4 * sigmoid(z) - 2,
                        h=lambda c: 2 * sigmoid(c) - 1)


def gru_forward(p, xs, resets=None):
    """Cho et al. (2014) with the reset gate applied after the recurrent product (PyTorch's nn.GRU):
    h_t = z h_{t-1} + (1 - z) tanh(U_h x + b_h + r (W_h h_{t-1} + b_hr))."""
    n = p["b_z"].shape[0]

    def cell(h, x, t):
        z = sigmoid(p["W_z"] @ h + p["U_z"] @ x + p["b_z"])
        r = sigmoid(p["W_r"] @ h + p["U_r"] @ x + p["b_r"])
        hh = np.tanh(p["U_h"] @ x + p["b_h"] + r * (p["W_h"] @ h + p["b_hr"]))
        return z * h + (1 - z) * hh

    return _run(cell, p, xs, n, resets)


def clockwork_forward(p, xs, periods, t0=0, resets=None):
    """Koutnik et al. (2014), eq. 1-3: the full block-upper-triangular W is assembled from the module blocks
    (zeros below the diagonal blocks); at absolute step t0 + t only modules with (t0 + t) mod T_i == 0
    compute, the others keep their values."""
    g = len(periods)
    n = p["b"].shape[0]
    k = n // g
    W = np.zeros((n, n))
    for i in range(g):
        W[i * k:(i + 1) * k, i * k:] = p[f"W_{i}"]
    active = lambda t: np.repeat([t % T == 0 for T in periods], k)

    def cell(h, x, t):
        return np.where(active(t0 + t), np.tanh(W @ h + p["U"] @ x + p["b"]), h)

    return _run(cell, p, xs, n, resets)


def elstm_forward(p, xs, resets=None):
    """Irie, Gopalakrishnan and Schmidhuber (2023), the eLSTM: z = tanh(U_z x + w_z c_{t-1} + b_z),
    f = sigma(U_f x + w_f c_{t-1} + b_f), c_t = f c_{t-1} + (1 - f) z, with the output gate element-wise on c_t
    (models/elstm.py): h_t = sigma(U_o x + w_o c_t + b_o) c_t."""
    n = p["b_z"].shape[0]

    def cell(s, x, t):
        c = s[n:]
        z = np.tanh(p["U_z"] @ x + p["w_z"] * c + p["b_z"])
        f = sigmoid(p["U_f"] @ x + p["w_f"] * c + p["b_f"])
        c_new = f * c + (1 - f) * z
        h_new = sigmoid(p["U_o"] @ x + p["w_o"] * c_new + p["b_o"]) * c_new
        return np.concatenate([h_new, c_new])

    return _run(cell, p, xs, 2 * n, resets)


def lru_forward(p, xs, resets=None):
    """Orvieto et al. (2023), sec. 3, in numpy complex128: lambda = exp(-exp(nu) + i exp(phi)),
    h_t = lambda * h_{t-1} + exp(g) * (B x_t), y_t = Re(C h_t) + D x_t; the state row is (y, Re h, Im h)."""
    lam = np.exp(-np.exp(p["nu"]) + 1j * np.exp(p["phi"]))
    gamma = np.exp(p["g"])
    B = p["B_re"] + 1j * p["B_im"]
    C = p["C_re"] + 1j * p["C_im"]
    N, n = len(lam), p["D"].shape[0]

    def cell(s, x, t):
        h = lam * (s[n:n + N] + 1j * s[n + N:]) + gamma * (B @ x)
        y = (C @ h).real + p["D"] @ x
        return np.concatenate([y, h.real, h.imag])

    return _run(cell, p, xs, n + 2 * N, resets)


def forward(model, theta, xs, resets=None, t0=0):
    """The reference forward pass for any of the models."""
    p = model.unpack(theta)
    name = model.name
    if name == "elman":
        return elman_forward(p, xs, resets)
    if name == "leaky":
        return leaky_forward(p, xs, model.alpha, resets)
    if name == "lstm":
        return lstm_forward(p, xs, model.peephole, resets)
    if name == "gru":
        return gru_forward(p, xs, resets)
    if name == "elstm":
        return elstm_forward(p, xs, resets)
    if name == "lru":
        return lru_forward(p, xs, resets)
    if name == "clockwork":
        return clockwork_forward(p, xs, model.aux[2:].astype(int).tolist(), t0, resets)
    raise ValueError(name)


def sequence_loss(model, theta, xs, ys, mask=None, resets=None):
    _, yhat = forward(model, theta, xs, resets)
    mask = np.ones(len(xs)) if mask is None else mask
    return sum(naive.step_loss(yh, y, model.loss, w)[0] for yh, y, w in zip(yhat, ys, mask))
