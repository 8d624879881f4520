"""A hand-made solution of a^n b^n c^n for the peephole LSTM of rnnlearn/experiments/anbncn_gers.toml (3 memory
blocks of one cell, independent sigmoid outputs): it predicts every string up to n = 10,000 under the task's own
test (rnnlearn/tasks/anbncn.py, largest_n_correct), so the model and the test can express and measure the
result Gers and Schmidhuber 2001 and Perez-Ortiz et al. 2003 report.

Every gate reads only the input (W = 0, peepholes 0) with weights of size `gain`, so each gate is 0 or 1 to
~e^-gain (exactly 1.0 in float64 for gain >= 38) and each cell adds exactly +1, -1 or 0 per symbol:

    cell 1 (A): +1 per a, -1 per b (input gate open on a and b only);  c_A = #a - #b
    cell 2 (B): +1 per b, -1 per c;                                    c_B = #b - #c
    cell 3 (F): set to 1 by a b (forget gate closed, input gate open on b), kept otherwise: "a b was seen"

The output gates are open (h = tanh c), the string's reset gives c = 0 at S, and the counts are non-negative
integers, so each h is 0 or at least tanh(1) = 0.76. With indicators A = [c_A > 0], B, F the legal sets are
a: F = 0;  b: A = 1;  c: A = 0 and B = 1;  T: F = 1 and A = B = 0 (after S all three are 0, after the a's
A = 1, in the b's A = B = F = 1 until the n-th b gives A = 0, after the n-th c B = 0), read out linearly with
the threshold 0.38 ~ tanh(1) / 2 (`scale` multiplies the readout, so sets the outputs' saturation).
"""
import numpy as np

from rnnlearn.models import LSTM
from rnnlearn.tasks.anbncn import A, B, C, S, T_

CELL_A, CELL_B, CELL_F = 0, 1, 2
THRESHOLD = 0.38   # between 0 and tanh(1) / 2: the readout's cut on each h


def anbncn_model(n_blocks: int = 3) -> LSTM:
    """The model of anbncn_gers.toml (its options do not change the parameter layout)."""
    return LSTM(5, n_blocks, 5, loss="sigmoid_mse", peephole=True, init="uniform", init_scale=0.1,
                b_i=-1.0, b_f=2.0, b_o=-2.0)


def anbncn_solution(model: LSTM | None = None, gain: float = 40.0, scale: float = 20.0) -> np.ndarray:
    """theta of the counter network above for `model` (default anbncn_model(); its first three blocks are
    used, any others are switched off: input gate closed, output gate closed)."""
    model = anbncn_model() if model is None else model
    if model.n_in != 5 or model.n_out != 5 or model.n_hidden < 3 or not model.peephole or model.shortcut:
        raise ValueError("anbncn_solution needs the peephole LSTM of anbncn_gers (5 in, 5 out, >= 3 blocks)")
    L = float(gain)
    theta = np.zeros(model.n_params)
    p = model.unpack(theta)
    Ui, Uf, Ug = p["U_i"], p["U_f"], p["U_g"]
    p["b_i"][:] = -L       # input gates closed unless a symbol opens them
    p["b_f"][:] = L        # forget gates open: keep the count
    p["b_o"][:] = L        # output gates open: h = tanh(c)
    p["b_o"][3:] = -L      # extra blocks: silent
    # A: +1 per a, -1 per b
    Ui[CELL_A, A] = Ui[CELL_A, B] = 2 * L
    Ug[CELL_A, A], Ug[CELL_A, B] = L, -L
    # B: +1 per b, -1 per c
    Ui[CELL_B, B] = Ui[CELL_B, C] = 2 * L
    Ug[CELL_B, B], Ug[CELL_B, C] = L, -L
    # F: c = 1 after a b (forget and write), kept otherwise
    Ui[CELL_F, B] = 2 * L
    Uf[CELL_F, B] = -2 * L
    Ug[CELL_F, B] = L
    # the readout, y = scale (V' h - cut): a: F = 0;  b: A;  c: B and not A;  T: F and not A, not B
    V, c = p["V"], p["c"]
    V[:] = 0.0
    c[:] = -scale * THRESHOLD
    c[S] = -scale                               # S never follows
    V[A, CELL_F], c[A] = -scale, scale * THRESHOLD
    V[B, CELL_A] = scale
    V[C, CELL_B], V[C, CELL_A] = scale, -2 * scale
    V[T_, CELL_F], V[T_, CELL_A], V[T_, CELL_B] = scale, -2 * scale, -2 * scale
    return theta
