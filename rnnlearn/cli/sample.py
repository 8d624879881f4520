"""`rnnlearn sample MODEL.npz`: text from a language model saved by `compare --save-models` (or by
rnnlearn.textgen.save_model)."""
from __future__ import annotations

import argparse

DESCRIPTION = ("Generate text from a trained character or word model. Train and save one with e.g.\n"
               "  rnnlearn compare --tasks char_lm --learners tbptt:k1=20,k2=20 --optimizer adam --lr 0.003 "
               "--sizes 128 --seeds 1 --steps 100000 --save-models --out runs/lm\n"
               "then: rnnlearn sample runs/lm/models/RUN.npz --length 300 --temperature 0.8")


def run(args) -> int:
    from rnnlearn.textgen import load_model, sample_text
    model, theta, task = load_model(args.model)
    if task is None:
        raise ValueError(f"{args.model!r} was saved without its task; sample needs the text task")
    print(sample_text(model, theta, task, length=args.length, temperature=args.temperature, seed=args.seed,
                      prime=args.prime))
    return 0


def add_parser(sub):
    p = sub.add_parser("sample", help="generate text from a saved language model",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL.npz", help="a model saved with its text task")
    p.add_argument("--length", type=int, default=300, help="symbols to generate (default: 300)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="softmax temperature; 0 picks the most probable symbol (default: 1.0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--prime", default="", help="text to start from (default: none)")
    p.set_defaults(func=run)
