"""Helpers the tests of the learners over the factored immediate Jacobian share (test_rflo, test_eprop,
test_kernl): small problems, a learner's summed gradient fed in chunks, BPTT's exact learning signals
dE/dh_t through the model interface, and theta after online training."""
import numpy as np

from rnnlearn.models import cell, make_model
from rnnlearn.models.losses import loss_grad
from rnnlearn.models.readout import readout, readout_vjp
from rnnlearn.optim import sgd
from rnnlearn.tasks.base import Chunk


def problem(kind="elman", seed=0, n=3, m=2, o=2, T=9, loss="mse", scale=1.5, **kw):
    model = make_model(kind, n_in=m, n_hidden=n, n_out=o, loss=loss, **kw)
    theta = model.init_params(seed) * scale
    rng = np.random.default_rng(seed + 10)
    xs = rng.normal(size=(T, m))
    ys = rng.normal(size=(T, o)) if loss == "mse" else np.eye(o)[rng.integers(0, o, size=T)]
    return model, theta, xs, ys


def chunked(learner, model, theta, xs, ys, pieces=3, x_index=None, **init_kw):
    """The learner's summed gradient estimate with theta fixed, the sequence in `pieces` chunks."""
    th = theta.copy()
    st = learner.init(model, th, sgd(1.0), **init_kw)
    for part in np.array_split(np.arange(len(xs)), pieces):
        xi = None if x_index is None else x_index[part]
        status, _ = learner._run(model, th, st, Chunk.make(xs[part], ys[part], x_index=xi), False, False,
                                 np.empty(len(part)))
        assert status == 0
    assert np.array_equal(th, theta)
    return st.gacc.copy(), st


def exact_signals(model, theta, xs, ys):
    """L (T, n): L[t] = dE/dh_t, the h rows of BPTT's adjoint of s_t (readout at t and every later step)."""
    T, S, n = len(xs), model.n_state, model.n_hidden
    sp, ss, cc = np.zeros((T, S)), np.zeros((T, S)), np.zeros((T, max(model.n_cache, 1)))
    s = np.zeros(S)
    for t in range(T):
        sp[t] = s
        cell.step(model.dims, model.aux, theta, sp[t], xs[t], -1, t, ss[t], cc[t])
        s = ss[t]
    L, carry = np.zeros((T, n)), np.zeros(S)
    for t in reversed(range(T)):
        yh, dy = np.zeros(model.n_out), np.zeros(model.n_out)
        readout(model.dims[:], theta, ss[t], xs[t], -1, yh)
        loss_grad(model.dims[4], yh, ys[t], 1.0, dy)
        ds = carry.copy()
        readout_vjp(model.dims[:], theta, ss[t], xs[t], -1, dy, np.zeros(model.n_params), ds)
        L[t] = ds[:n]
        carry = np.zeros(S)
        cell.vjp_state(model.dims, model.aux, theta, sp[t], xs[t], -1, t, ss[t], cc[t], ds,
                       np.zeros(model.n_delta), carry)
    return L


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def train_thetas(learner, model, theta, xs, ys, opt, pieces=3, **init_kw):
    """theta after training online on the sequence (in chunks) with optimizer opt."""
    th = theta.copy()
    st = learner.init(model, th, opt, **init_kw)
    for part in np.array_split(np.arange(len(xs)), pieces):
        status, _ = learner._run(model, th, st, Chunk.make(xs[part], ys[part]), True, False, np.empty(len(part)))
        assert status == 0
    return th
