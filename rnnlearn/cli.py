"""The `rnnlearn` command. Each subcommand lives in its own module with `add_parser(subparsers)`, which
registers its arguments and sets `func`; this file only dispatches and turns a user's mistake into one
line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__


def _commands():
    from . import bench, compare, figures, listing, report_command
    return [listing, compare, figures, bench, _Sample, report_command]


class _Sample:
    """`rnnlearn sample MODEL.npz`: text from a language model saved by `compare --save-models` (or by
    rnnlearn.textgen.save_model)."""

    DESCRIPTION = ("Generate text from a trained character or word model. Train and save one with e.g.\n"
                   "  rnnlearn compare --tasks char_lm --learners tbptt:k1=20,k2=20 --optimizer adam --lr 0.003 "
                   "--sizes 128 --seeds 1 --steps 100000 --save-models --out runs/lm\n"
                   "then: rnnlearn sample runs/lm/models/RUN.npz --length 300 --temperature 0.8")

    @staticmethod
    def add_parser(sub):
        p = sub.add_parser("sample", help="generate text from a saved language model",
                           description=_Sample.DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("model", metavar="MODEL.npz", help="a model saved with its text task")
        p.add_argument("--length", type=int, default=300, help="symbols to generate (default: 300)")
        p.add_argument("--temperature", type=float, default=1.0,
                       help="softmax temperature; 0 picks the most probable symbol (default: 1.0)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
        p.add_argument("--prime", default="", help="text to start from (default: none)")
        p.set_defaults(func=_Sample.run)

    @staticmethod
    def run(args) -> int:
        from .textgen import load_model, sample_text
        model, theta, task = load_model(args.model)
        if task is None:
            raise ValueError(f"{args.model!r} was saved without its task; sample needs the text task")
        print(sample_text(model, theta, task, length=args.length, temperature=args.temperature, seed=args.seed,
                          prime=args.prime))
        return 0


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
