"""Clockwork RNN (Koutnik et al. 2014) against an Elman RNN with at least as many parameters, on sine
generation with a long period after a cue (task "sine"): NRMSE at the end of training, BPTT over whole
sequences with Adam and gradient clipping, a small grid of learning rates and several seeds.

    python -m rnnlearn.experiments.clockwork_vs_elman [--period 256 --length 1024 --steps 400000 --seeds 3]
"""
import argparse

import numpy as np

from rnnlearn import ClockworkRNN, Elman, optim
from rnnlearn.algorithms import BPTT
from rnnlearn.tasks import make_task
from rnnlearn.train import train


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--period", type=float, default=256)
    ap.add_argument("--length", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=400_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3])
    args = ap.parse_args(argv)
    task = make_task("sine", period=args.period, length=args.length)
    cw = ClockworkRNN(2, 32, 1, modules=8)  # periods 1, 2, ..., 128
    n_elman = next(n for n in range(1, 500) if Elman(2, n, 1).n_params >= cw.n_params)
    models = {"clockwork": cw, "elman": Elman(2, n_elman, 1)}
    print(f"sine period {args.period}, sequences of {args.length}; clockwork n=32 in 8 modules "
          f"({cw.n_params} params) vs Elman n={n_elman} ({models['elman'].n_params} params)")
    best = {}
    for name, model in models.items():
        for lr in args.lrs:
            finals = []
            for seed in range(args.seeds):
                r = train(model, BPTT(window=args.length), task, steps=args.steps,
                          optimizer=optim.chain(optim.clip_norm(1.0), optim.adam(lr)), seed=seed,
                          eval_every=args.steps // 4)
                finals.append(r.records[-1]["nrmse"] if r.status == "done" else float("nan"))
            mean = float(np.mean(finals))
            print(f"{name:<10} lr={lr:<8g} NRMSE per seed {np.round(finals, 3).tolist()} mean {mean:.3f}", flush=True)
            if mean < best.get(name, (np.inf,))[0]:
                best[name] = (mean, lr)
    print("best mean NRMSE:", {k: f"{v[0]:.3f} (lr={v[1]:g})" for k, v in best.items()})


if __name__ == "__main__":
    main()
