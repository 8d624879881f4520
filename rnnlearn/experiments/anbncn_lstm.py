"""a^n b^n c^n next-symbol prediction (n <= 10 in training, tested to 50) with a peephole LSTM: the
node-decoupled EKF (Puskorius and Feldkamp 1994; for LSTM, Perez-Ortiz, Gers, Eck and Schmidhuber 2003)
against gradient learners with Adam. Reports, per seed, the first step at which every string with n <= 10
is predicted correctly and the largest n such that all strings a^k b^k c^k, k <= n, are.

    python -m rnnlearn.experiments.anbncn_lstm [--hidden 4 --steps 100000 --seeds 5] [--learners dekf rtrl ...]
"""
import argparse
import time

import numpy as np

from rnnlearn import LSTM, optim
from rnnlearn.algorithms import BPTT, EKF, RTRL, TBPTT
from rnnlearn.tasks import make_task
from rnnlearn.train import train

# noise schedules annealed in the spirit of Perez-Ortiz et al. 2003; the values are ours
_EKF = dict(jacobian="rtrl", p0=100.0, r=100.0, r_decay=0.999, r_min=3.0, q=1e-2, q_decay=0.999, q_min=1e-6)
LEARNERS = {
    "dekf": (lambda: EKF(decoupling="node", **_EKF), None),
    "gekf": (lambda: EKF(decoupling="global", **_EKF), None),
    "bptt": (lambda: BPTT(window=40), lambda: optim.adam(3e-3)),
    "tbptt": (lambda: TBPTT(k1=1, k2=40), lambda: optim.adam(1e-3)),
    "rtrl": (lambda: RTRL(), lambda: optim.adam(1e-3)),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=4)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=list(LEARNERS))
    args = ap.parse_args(argv)
    task = make_task("anbncn", n_max=10, n_test=50)
    model = LSTM(5, args.hidden, 5, loss="xent", peephole=True)
    print(f"a^n b^n c^n, n <= 10; LSTM n={args.hidden} with peepholes ({model.n_params} params); "
          f"{args.steps} steps; largest n correct tested to 50")
    for name in args.learners:
        make, make_opt = LEARNERS[name]
        finals, bests, firsts = [], [], []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            r = train(model, make(), task, steps=args.steps, optimizer=make_opt() if make_opt else None,
                      seed=seed, eval_every=500)
            ns = [int(x["largest_n_correct"]) for x in r.records]
            firsts.append(next((x["step"] for x in r.records if x["largest_n_correct"] >= 10), None))
            finals.append(ns[-1] if r.status == "done" else 0)
            bests.append(max(ns))
            print(f"{name:<6} seed {seed}: {r.status}; all n <= 10 correct first at step {firsts[-1]}; largest "
                  f"n correct at the end {ns[-1]}, best {max(ns)} ({time.perf_counter() - t0:.0f} s)", flush=True)
        print(f"{name:<6} final largest n {finals} (mean {np.mean(finals):.1f}); best during training {bests}; "
              f"first step with all n <= 10 correct {firsts}", flush=True)


if __name__ == "__main__":
    main()
