"""`rnnlearn vanishing`: ||dL_T/dh_t|| against T - t for spectral radii rho (rnnlearn.vanishing) into
DIR/vanishing.csv, and its figure (rnnlearn.plots.vanishing_figure)."""
from __future__ import annotations

import os


def run(args) -> int:
    from rnnlearn.plots import vanishing_figure
    from rnnlearn.sweep import parse_value
    from rnnlearn.vanishing import vanishing_data
    rhos = [parse_value(v) for v in args.rhos.split(",") if v.strip()]
    if not rhos or any(isinstance(r, (bool, str)) or r is None or not r > 0 for r in rhos):
        raise ValueError(f"--rhos must be positive numbers, got {args.rhos!r}")
    for name in ("n_hidden", "T", "seeds"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer")
    from rnnlearn import memory   # one network at a time: W, its orthogonal factor, the states and Jacobians
    n, T = args.n_hidden, args.T
    memory.check(8 * (6 * n * n + 4 * T * n + T * len(rhos) * args.seeds) + 8 * n * n * min(T, 2),
                 f"the vanishing-gradient computation at n = {n}, T = {T}")
    data = vanishing_data(args.out, rhos, args.n_hidden, args.T, args.seeds)
    print(f"wrote {data}")
    print(f"wrote {vanishing_figure(args.out, os.path.join(args.out, 'vanishing_gradient.png'))}")
    return 0


def add_parser(sub):
    p = sub.add_parser("vanishing", help="gradient norm against T - t for spectral radii rho",
                       description="Compute ||dL_T/dh_t|| against T - t for Elman networks whose recurrent matrix "
                                   "has spectral radius rho (Bengio et al. 1994; Pascanu et al. 2013), store "
                                   "DIR/vanishing.csv and draw DIR/vanishing_gradient.png.")
    p.add_argument("--rhos", default="0.8,1.0,1.2", help="spectral radii (default: 0.8,1.0,1.2)")
    p.add_argument("--n-hidden", type=int, default=64, help="hidden units (default: 64)")
    p.add_argument("--T", type=int, default=100, help="sequence length (default: 100)")
    p.add_argument("--seeds", type=int, default=20, help="random networks per rho (default: 20)")
    p.add_argument("--out", default=os.path.join("results", "vanishing"), metavar="DIR",
                   help="results folder (default: results/vanishing)")
    p.set_defaults(func=run)
