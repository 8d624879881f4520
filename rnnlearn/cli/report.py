"""`rnnlearn report DIR`: print the numbers a comparison's config quotes, from its stored results
(rnnlearn.report)."""
from __future__ import annotations


def add_parser(sub):
    import argparse
    from rnnlearn import report
    p = sub.add_parser("report", help="print the numbers a comparison quotes, from its stored results",
                       description=report.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results_dir", metavar="DIR", help="a results folder written by rnnlearn compare")
    p.add_argument("--config", metavar="FILE.toml|NAME",
                   help="quote what this config declares (default: the config the folder was run with)")
    p.set_defaults(func=run)


def run(args) -> int:
    from rnnlearn.report import report
    print(report(args.results_dir, args.config), end="")
    return 0
