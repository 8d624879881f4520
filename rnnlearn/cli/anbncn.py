"""`rnnlearn anbncn solution|breaking`: the a^n b^n c^n analyses of README "a^n b^n c^n as in the papers"
(issue 15), thin over rnnlearn.tasks.anbncn_solution."""
from __future__ import annotations

import argparse

DESCRIPTION = ("a^n b^n c^n with the LSTM of the anbncn_gers config:\n"
               "  rnnlearn anbncn solution --gain 40 --scale 20 --out sol.npy\n"
               "      the hand-made counter net's parameters, for the model option theta0=sol.npy\n"
               "  rnnlearn anbncn breaking RESULTS_DIR\n"
               "      the failure model against the measured largest n, for each net that\n"
               "      `rnnlearn compare --config anbncn_gers --save-models --out RESULTS_DIR` saved")


def _fmt(v: float) -> str:
    return f"{v:.2f}" if abs(v) != float("inf") else ("inf" if v > 0 else "-inf")


def run(args) -> int:
    import numpy as np

    from rnnlearn.tasks import anbncn_solution as sol
    if args.what == "solution":
        if not args.out.endswith(".npy"):
            raise ValueError(f"--out must name a .npy file, got {args.out!r}")
        theta = sol.anbncn_solution(sol.anbncn_model(args.blocks), args.gain, args.scale)
        np.save(args.out, theta)
        print(f"wrote {args.out}: the hand-made a^n b^n c^n net, gain {args.gain:g}, readout x{args.scale:g} "
              f"({theta.size} parameters; start a run from it with the model option theta0={args.out})")
        return 0
    rows = sol.breaking_rows(args.folder, args.n0, args.n_max)
    labels = len({r.label for r in rows}) > 1
    n0 = args.n0
    head = (["learner"] if labels else []) + ["seed", "measured", "predicted", "cell", "window",
                                              f"value at n = {n0}", f"at n = {2 * n0}", "at the failing n"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for r in rows:
        b = r.breaking
        pred = str(b.n) if b.n is not None else f"> {args.n_max}"
        cells = ([r.label] if labels else []) + [
            str(r.seed), str(r.measured), pred, str(b.cell), f"{_fmt(b.window[0])} .. {_fmt(b.window[1])}",
            _fmt(b.value_n0), _fmt(r.value_2n0), _fmt(r.value_failing)]
        print("| " + " | ".join(cells) + " |")
    known = [r for r in rows if r.breaking.n is not None]
    within = sum(abs(r.breaking.n - r.measured) <= 1 for r in known)
    print(f"\npredicted within 1 of the measured largest n: {within} of {len(rows)} "
          f"(exactly: {sum(r.breaking.n == r.measured for r in known)})")
    return 0


def add_parser(sub):
    p = sub.add_parser("anbncn", help="a^n b^n c^n: the hand-made solution and the failure model",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    s = what.add_parser("solution", help="write the hand-made counter net's theta (.npy) for theta0=")
    s.add_argument("--gain", type=float, default=40.0, help="gate weight size (default: 40, exact)")
    s.add_argument("--scale", type=float, default=20.0, help="readout scale (default: 20)")
    s.add_argument("--blocks", type=int, default=3, help="memory blocks (default: 3, as anbncn_gers)")
    s.add_argument("--out", required=True, help="the .npy file to write")
    b = what.add_parser("breaking", help="predicted against measured largest n of saved nets (table 3)")
    b.add_argument("folder", metavar="RESULTS_DIR", help="a results folder with saved models (models/*.npz)")
    b.add_argument("--n0", type=int, default=10, help="the string the windows are measured on (default: 10)")
    b.add_argument("--n-max", type=int, default=400, help="the longest string tried (default: 400)")
    p.set_defaults(func=run)
