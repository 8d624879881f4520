"""`rnnlearn cost`: time learners per step at sizes n into DIR/cost.csv (rnnlearn.timing.cost_sweep) and draw
DIR/cost.png with the fitted slopes beside the declared exponents (rnnlearn.plots.cost_figure)."""
from __future__ import annotations

import os

from rnnlearn.cli import options


def run(args) -> int:
    from rnnlearn.plots import cost_figure
    from rnnlearn.timing import cost_sweep, slope_lines
    sizes = options.int_list(args.sizes, "--sizes")
    k = cost_sweep(args.out, args.learners, sizes, args.model, args.T, args.T_heavy, args.repeats,
                   args.min_seconds, options.max_n(args.max_n), args.again)
    if not k:
        print(f"nothing to measure: every size is already in {os.path.join(args.out, 'cost.csv')} "
              "(--again measures them again)")
    path = cost_figure(args.out, os.path.join(args.out, "cost.png"), args.fit_points)
    print(f"wrote {path}")
    for line in slope_lines(args.out, args.fit_points):
        print(line)
    return 0


def add_parser(sub):
    p = sub.add_parser("cost", help="time learners at sizes n and draw the cost figure",
                       description="Time each learner per step at each size n (rnnlearn.timing.time_learner), "
                                   "store the rows in DIR/cost.csv (sizes already measured are skipped), and "
                                   "draw DIR/cost.png with each learner's fitted log-log slope beside its "
                                   "declared exponent (Learner.cost_exponents).")
    p.add_argument("--learners", nargs="+", metavar="SPEC", default=None,
                   help="learner specs, e.g. bptt tbptt:k1=1,k2=10 (default: every registered learner)")
    p.add_argument("--sizes", nargs="+", default=["8,16,32,64,128,256"], metavar="N",
                   help="hidden units n (default: 8,16,32,64,128,256)")
    p.add_argument("--max-n", default="", metavar="NAME=N,...", help=options.MAX_N_HELP)
    p.add_argument("--model", default="elman", help="model (default: elman)")
    p.add_argument("--T", type=int, default=100, help="sequence length of a timed call (default: 100)")
    p.add_argument("--T-heavy", type=int, default=20,
                   help="sequence length for learners of declared time exponent >= 3 (default: 20)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; the median counts (default: 3)")
    p.add_argument("--min-seconds", type=float, default=0.2, help="least time of one repeat (default: 0.2)")
    p.add_argument("--fit-points", type=int, default=3, help="fit slopes over this many largest sizes (default: 3)")
    p.add_argument("--again", action="store_true", help="measure sizes already in cost.csv again")
    p.add_argument("--out", default=os.path.join("results", "cost"), metavar="DIR",
                   help="results folder (default: results/cost)")
    p.set_defaults(func=run)
