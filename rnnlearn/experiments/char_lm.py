"""Train an Elman character model with truncated BPTT on a UTF-8 text (default: the documentation text that
ships inside CPython), report held-out bits per character against the unigram entropy, save it and sample.

    python -m rnnlearn.experiments.char_lm [--hidden 128 --steps 1500000 --out char.npz --path FILE]
"""
import argparse
import time

from rnnlearn import Elman
from rnnlearn.algorithms import TBPTT
from rnnlearn.optim import adam
from rnnlearn.tasks import make_task
from rnnlearn.textgen import load_model, sample_text, save_model
from rnnlearn.train import train


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default=None)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1_500_000)
    ap.add_argument("--window", type=int, default=25)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--out", default="char_lm.npz")
    ap.add_argument("--temperature", type=float, default=0.6)
    args = ap.parse_args(argv)
    task = make_task("char_lm", path=args.path)
    model = Elman(n_in=task.n_in, n_hidden=args.hidden, n_out=task.n_out, loss="xent")
    t0 = time.time()
    r = train(model, TBPTT(k1=args.window, k2=args.window), task, steps=args.steps, optimizer=adam(args.lr),
              seed=0, eval_every=max(1, args.steps // 3), test_length=20_000)
    print(f"{time.time() - t0:.0f} s, {r.us_per_step:.1f} us/step; held-out bits per character "
          f"{[round(x['bpc'], 3) for x in r.records]}; unigram entropy {task.unigram_bits:.3f} bits")
    save_model(args.out, model, r.theta, task)
    m, theta, t2 = load_model(args.out)
    print(sample_text(m, theta, t2, length=600, temperature=args.temperature, seed=1, prime="The "))


if __name__ == "__main__":
    main()
