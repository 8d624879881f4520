"""The `rnnlearn` command: one module per command, each a thin layer over the library.

A command module has `add_parser(sub)`, which adds its subparser to `sub` and sets `func=run`, and
`run(args) -> int`. COMMANDS below lists them in the order `rnnlearn --help` shows them: adding a command is
writing its module and adding its name there. This package only builds the parser, dispatches, and turns a
user's mistake (ValueError, OSError) into one line on stderr and exit code 2 (RNNLEARN_DEBUG=1 shows the
traceback). The command modules import the library, never each other.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

#: the command modules, in the order of `rnnlearn --help`
COMMANDS = [
    "rnnlearn.cli.listing",    # rnnlearn list
    "rnnlearn.cli.compare",    # rnnlearn compare
    "rnnlearn.cli.report",     # rnnlearn report
    "rnnlearn.cli.plot",       # rnnlearn plot
    "rnnlearn.cli.cost",       # rnnlearn cost
    "rnnlearn.cli.vanishing",  # rnnlearn vanishing
    "rnnlearn.cli.figures",    # rnnlearn figures
    "rnnlearn.cli.bench",      # rnnlearn bench
    "rnnlearn.cli.sample",     # rnnlearn sample
    "rnnlearn.cli.cache",      # rnnlearn cache
]


def build_parser() -> argparse.ArgumentParser:
    from rnnlearn import __version__
    parser = argparse.ArgumentParser(
        prog="rnnlearn",
        description="Compare how recurrent neural networks learn: BPTT, truncated BPTT, RTRL and EKF "
                    "trained side by side on classic sequence tasks.")
    parser.add_argument("--version", action="version", version=f"rnnlearn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError) as exc:  # bad input: one line, no traceback (RNNLEARN_DEBUG=1 shows it)
        if os.environ.get("RNNLEARN_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"rnnlearn {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnlearn {args.command}: interrupted", file=sys.stderr)
        return 130
