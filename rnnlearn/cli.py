"""The `rnnlearn` command. Each subcommand lives in its own module with `add_parser(subparsers)`, which
registers its arguments and sets `func`; this file only dispatches and turns a user's mistake into one
line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__


def _commands():
    from . import bench, listing
    return [listing, bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlearn",
        description="Compare how recurrent neural networks learn: BPTT, truncated BPTT, RTRL and EKF "
                    "trained side by side on classic sequence tasks.")
    parser.add_argument("--version", action="version", version=f"rnnlearn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _commands():
        module.add_parser(sub)
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


if __name__ == "__main__":
    sys.exit(main())
