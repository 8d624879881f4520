"""The PyTorch reference: BPTT with torch.nn.RNN(tanh) + nn.Linear, autograd and torch.optim.SGD on the CPU,
float64. torch is optional (``pip install 'rnnlearn[bench]'``) and imported inside the functions.

Threads: ``threads`` pins torch (``torch.set_num_threads``) and every loaded BLAS (threadpoolctl).
"""
from __future__ import annotations

import contextlib

import numpy as np

from .ref_common import PARAM_NAMES, blas_threads, init_params, make_data, measure, require


class _TorchElman:
    """nn.RNN(tanh) + nn.Linear + SGD holding our parameters.

    nn.RNN has two biases (b_ih + b_hh); ours has one. b_ih carries b and b_hh is held at zero with
    requires_grad=False, so the network and the SGD update are exactly ours (training both would move
    the effective bias twice as fast).
    """

    def __init__(self, params, x, y, lr):
        import torch

        self.torch = torch
        n, m = params["U"].shape
        o = params["V"].shape[0]
        self.rnn = torch.nn.RNN(m, n, num_layers=1, nonlinearity="tanh", bias=True).double()
        self.lin = torch.nn.Linear(n, o).double()
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(torch.from_numpy(params["W"]))
            self.rnn.weight_ih_l0.copy_(torch.from_numpy(params["U"]))
            self.rnn.bias_ih_l0.copy_(torch.from_numpy(params["b"]))
            self.rnn.bias_hh_l0.zero_()
            self.lin.weight.copy_(torch.from_numpy(params["V"]))
            self.lin.bias.copy_(torch.from_numpy(params["c"]))
        self.rnn.bias_hh_l0.requires_grad_(False)
        self.trainable = [self.rnn.weight_hh_l0, self.rnn.weight_ih_l0, self.rnn.bias_ih_l0,
                          self.lin.weight, self.lin.bias]
        self.opt = torch.optim.SGD(self.trainable, lr=lr)
        T = x.shape[0]
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).reshape(T, 1, m)
        self.y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64)).reshape(T, 1, o)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        hs, _ = self.rnn(self.x)  # h_0 = 0
        err = self.lin(hs) - self.y
        loss = 0.5 * (err * err).sum()
        loss.backward()
        self.opt.step()
        return loss.item()

    def params(self):
        vals = [t.detach().numpy().copy() for t in self.trainable]
        return dict(zip(PARAM_NAMES, vals))


@contextlib.contextmanager
def _torch_threads(threads):
    import torch

    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def torch_bptt_update(params, x, y, lr=1e-3, threads=1):
    """One PyTorch update (nn.RNN + nn.Linear, autograd, SGD). Returns (new params dict, loss)."""
    require("torch")
    with _torch_threads(threads):
        net = _TorchElman(params, np.asarray(x, float), np.asarray(y, float), lr)
        loss = net.step()
        return net.params(), loss


def torch_bptt(n, m=4, o=2, T=100, repeats=15, threads=1, seed=0, lr=1e-3, warmup=3,
               min_repeat_seconds=0.05):
    """Time PyTorch BPTT on the CPU: nn.RNN(tanh) + nn.Linear, autograd, torch.optim.SGD, float64."""
    require("torch")
    import torch

    p = init_params(n, m, o, seed)
    x, y = make_data(T, m, o, seed)
    losses = []
    with _torch_threads(threads), blas_threads(threads):
        net = _TorchElman(p, x, y, lr)
        res = measure(lambda: losses.append(net.step()), T, repeats, warmup, min_repeat_seconds)
    res.update(loss=losses[0], loss_last=losses[-1], n=n, m=m, o=o, threads=threads,
               backend="torch", version=torch.__version__, algorithm="bptt")
    return res



#: (algorithm it reimplements, timing function, its own size cap)
TIMED = [("bptt", torch_bptt, None)]
#: the optional framework this module needs
NEEDS = "torch"
