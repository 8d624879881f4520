"""`rnnlearn plot DIR`: redraw every figure a results folder has data for (rnnlearn.plots), from its stored
data only."""
from __future__ import annotations


def run(args) -> int:
    from rnnlearn.plots import plot_all
    from rnnlearn.timing import slope_lines
    for p in plot_all(args.results_dir, args.out):
        print(f"wrote {p}")
    if args.slopes:
        for line in slope_lines(args.results_dir):
            print(line)
    return 0


def add_parser(sub):
    p = sub.add_parser("plot", help="redraw the figures of a results folder",
                       description="Redraw every figure a results folder has data for: convergence (results.csv), "
                                   "cost (cost.csv), vanishing gradient (vanishing.csv), and a tuning folder's "
                                   "learning-rate sensitivity and time-to-target performance profiles (trials/, "
                                   "tuned.json). Reads stored results only.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a folder written by compare, tune, cost or vanishing")
    p.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: RESULTS_DIR)")
    p.add_argument("--slopes", action="store_true", help="also print the fitted cost slopes")
    p.set_defaults(func=run)
