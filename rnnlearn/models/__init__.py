"""Recurrent models behind one interface (DESIGN.md): the Python classes describe a model; the kernels in
`cell` compute with it."""
import numpy as np

from .base import Model, orthogonal
from .layout import ELMAN
from .losses import softmax


class Elman(Model):
    """Elman network (Elman 1990): h_0 = 0; h_t = tanh(W h_{t-1} + U x_t + b); y_hat_t = V h_t + c.

    Blocks: W (n, n), U (n, m), b (n,), V (o, n), c (o,). W starts orthogonal (Saxe et al. 2014),
    U ~ N(0, 1/m), b = 0."""

    kind = ELMAN
    name = "elman"

    @property
    def n_state(self):
        return self.n_hidden

    @property
    def n_delta(self):
        return self.n_hidden

    def recurrent_blocks(self):
        n, m = self.n_hidden, self.n_in
        return [("W", (n, n)), ("U", (n, m)), ("b", (n,))]

    def init_recurrent(self, rng, p):
        p["W"][:] = orthogonal(rng, self.n_hidden)
        p["U"][:] = rng.normal(0.0, 1.0 / np.sqrt(self.n_in), size=p["U"].shape)


#: name -> Model class, for the command line and saved files.
MODELS: dict[str, type[Model]] = {Elman.name: Elman}


def make_model(name: str, **kwargs) -> Model:
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(sorted(MODELS))}") from None
    return cls(**kwargs)


__all__ = ["Model", "Elman", "MODELS", "make_model", "softmax"]
