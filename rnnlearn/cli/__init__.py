"""The `rnnlearn` command: one module per command, each a thin layer over the library.

A command module has `add_parser(sub)`, which adds its subparser to `sub` and sets `func=run`, and
`run(args) -> int`. COMMANDS below lists them in the order `rnnlearn --help` shows them: adding a command is
writing its module and adding its name there. This package only builds the parser, dispatches, and turns a
user's mistake (ValueError, OSError, MemoryError) into one line on stderr and exit code 2 (RNNLEARN_DEBUG=1
shows the traceback). SIGTERM is handled as Ctrl-C is (finished runs kept, workers stopped), exit code 143.
The command modules import the library, never each other.

Exit codes: 0 done (every run done or diverged); 2 a mistake in the input, or what would not fit in memory;
3 a sweep in which some runs failed (their reasons are in runs.jsonl; a rerun retries them); 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM).
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
    "rnnlearn.cli.tune",       # rnnlearn tune
    "rnnlearn.cli.report",     # rnnlearn report
    "rnnlearn.cli.plot",       # rnnlearn plot
    "rnnlearn.cli.cost",       # rnnlearn cost
    "rnnlearn.cli.vanishing",  # rnnlearn vanishing
    "rnnlearn.cli.figures",    # rnnlearn figures
    "rnnlearn.cli.bench",      # rnnlearn bench
    "rnnlearn.cli.sample",     # rnnlearn sample
    "rnnlearn.cli.anbncn",     # rnnlearn anbncn
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


#: exit codes (README.md lists them)
EXIT_OK, EXIT_USAGE, EXIT_RUNS_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 2, 3, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same clean stop."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    import signal
    import threading
    args = build_parser().parse_args(argv)
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(args)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _main(args) -> int:
    try:
        code = int(args.func(args) or 0)
        if code == EXIT_INTERRUPTED and getattr(args, "_terminated", False):
            return EXIT_TERMINATED
        return code
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError, MemoryError) as exc:  # bad input: one line (RNNLEARN_DEBUG=1: the traceback)
        if os.environ.get("RNNLEARN_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, MemoryError):
            msg = f"out of memory{': ' + msg if str(exc) else ''} (choose smaller sizes)"
        print(f"rnnlearn {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print(f"rnnlearn {args.command}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"rnnlearn {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
