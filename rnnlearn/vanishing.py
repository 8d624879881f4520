"""How far back a recurrent network's gradient reaches: ||dL_T/dh_t|| against T - t (Bengio, Simard and
Frasconi 1994; Pascanu, Mikolov and Bengio 2013).

An Elman network h_t = tanh(W h_{t-1} + U x_t + b) runs T steps on random inputs; L_T is the squared error of
its last output against a random target. The gradient dL_T/dh_T = V^T (y_hat_T - y_T) is carried back with the
model's own kernel `rnnlearn.models.cell.vjp_state` (dL/dh_{t-1} = W^T diag(1 - h_t^2) dL/dh_t), the same
code BPTT runs. W is a random orthogonal matrix times rho, so its spectral radius is exactly rho (and so is
every singular value): while the units stay in tanh's linear range the norm changes by a factor rho per step
back, and saturation (tanh' < 1) only shrinks it further, so ||dL_T/dh_t|| <= rho^(T-t) ||dL_T/dh_T||.
"""
from __future__ import annotations

import numpy as np

DEFAULT_RHOS = (0.8, 1.0, 1.2)
#: U is the model's initialisation (N(0, 1/m)) times this, inputs x_t ~ N(0, 1): small, so that the units work in
#: tanh's linear range, where the spectral radius alone decides (the linear analysis of Pascanu et al. 2013).
#: With inputs of order one the units saturate and every rho's gradient vanishes.
INPUT_SCALE = 0.02


def gradient_norms(rho: float, n_hidden: int = 64, T: int = 100, seed: int = 0, n_in: int = 4,
                   input_scale: float = INPUT_SCALE) -> np.ndarray:
    """norms[k] = ||dL_T/dh_{T-k}|| for k = 0 .. T-1, for one random network and input sequence."""
    from .models import Elman
    from .models import cell
    from .models.base import orthogonal
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho!r}")
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 2:
        raise ValueError(f"T must be an integer >= 2, got {T!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(round(rho * 1000)), int(n_hidden)]))
    model = Elman(n_in, n_hidden, 1)
    theta = model.init_params(int(rng.integers(2 ** 31)))
    p = model.unpack(theta)
    p["W"][:] = rho * orthogonal(rng, n_hidden)
    p["U"][:] *= input_scale
    xs = rng.normal(size=(T, n_in))
    states, yhat = model.forward(theta, xs)
    target = rng.normal(size=model.n_out)
    ds = np.ascontiguousarray(p["V"].T @ (yhat[-1] - target))
    norms = np.empty(T)
    norms[0] = np.linalg.norm(ds)
    delta = np.empty(model.n_delta)
    ds_prev = np.empty(model.n_state)
    cache = np.zeros(max(model.n_cache, 1))
    xi = -1
    for k in range(1, T):
        i = T - k  # backpropagate through step i (0-based): state states[i] from states[i - 1]
        cell.vjp_state(model.dims, model.aux, theta, states[i - 1], xs[i], xi, i, states[i], cache, ds, delta,
                       ds_prev)
        ds, ds_prev = ds_prev, ds
        norms[k] = np.linalg.norm(ds)
    return norms


def experiment(rhos=DEFAULT_RHOS, n_hidden: int = 64, T: int = 100, seeds: int = 20,
               input_scale: float = INPUT_SCALE) -> list[dict]:
    """Rows (rho, n_hidden, T, input_scale, seed, lag, grad_norm) for every rho and seed: the figure's data."""
    rows = []
    for rho in rhos:
        for seed in range(seeds):
            for lag, g in enumerate(gradient_norms(float(rho), n_hidden, T, seed, input_scale=input_scale)):
                rows.append({"rho": float(rho), "n_hidden": n_hidden, "T": T, "input_scale": input_scale,
                             "seed": seed, "lag": lag, "grad_norm": float(g)})
    return rows


def vanishing_data(folder, rhos=DEFAULT_RHOS, n_hidden: int = 64, T: int = 100, seeds: int = 20) -> str:
    """Compute the gradient norms and (re)write vanishing.csv in `folder` (cheap and deterministic); returns
    its path."""
    from .results import VANISHING, VANISHING_COLUMNS, Store, csv_text, replace_atomic
    store = Store(folder).prepare()
    rows = experiment(rhos, n_hidden, T, seeds)
    with store.lock():
        replace_atomic(store.path(VANISHING), ",".join(VANISHING_COLUMNS) + "\n" + csv_text(rows, VANISHING_COLUMNS))
    return store.path(VANISHING)
