"""`rnnlearn figures`: every figure in figures/ from its declared experiment (rnnlearn.figures)."""
from __future__ import annotations

import argparse


def run(args) -> int:
    from rnnlearn.figures import make_figures
    make_figures(args.only, args.out, args.results, args.jobs, args.fresh, log=lambda m: print(m, flush=True))
    return 0


def add_parser(sub):
    from rnnlearn import figures
    p = sub.add_parser("figures", help="regenerate every figure in figures/ from its declared experiment",
                       description=figures.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=figures.FIGURES, metavar="DIR",
                   help=f"where the PNGs go (default: {figures.FIGURES})")
    p.add_argument("--results", default=figures.RESULTS, metavar="DIR",
                   help=f"where the experiments' data go, one folder each (default: {figures.RESULTS})")
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"only these: {', '.join(figures.EXPERIMENTS)}")
    p.add_argument("--jobs", type=int, help="local processes for the training runs (default: CPU cores)")
    p.add_argument("--fresh", action="store_true", help="delete the experiments' stored data first")
    p.set_defaults(func=run)
