"""Steps and learner-seconds to a test cross-entropy of 0.47 on the add task (t1 = 5, t2 = 9, soft labels):
RTRL with SGD at each learning rate of a small grid, against the EKF (global, node-decoupled with H from RTRL,
node-decoupled with H from truncated BPTT and an annealed R). ../shared/ANCHORS.md: a numpy global EKF reached
0.468 after 6,000 steps where RTRL needed about 17,000.

    python -m rnnlearn.experiments.ekf_vs_rtrl [--sizes 16 32] [--seeds 3]
"""
import argparse

from rnnlearn import Elman, optim
from rnnlearn.algorithms import EKF, RTRL
from rnnlearn.tasks import make_task
from rnnlearn.train import train

THRESHOLD, EVERY = 0.47, 250


def first_hit(result):
    """(step, learner seconds) of the first evaluation at or below the threshold, or (None, None)."""
    for r in result.records:
        if r["test_loss"] <= THRESHOLD:
            return r["step"], r["wall_s"]
    return None, None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1])
    args = ap.parse_args(argv)
    task = make_task("add")
    learners = [(f"rtrl sgd lr={lr}", RTRL, {}, optim.sgd(lr), 30_000) for lr in args.lrs] + [
        ("ekf global (default)", EKF, {}, None, 10_000),
        ("ekf node, H from rtrl", EKF, {"decoupling": "node"}, None, 20_000),
        ("ekf node, H from tbptt h=20, R 10->1", EKF,
         {"decoupling": "node", "jacobian": "tbptt", "r": 10.0, "r_decay": 0.9995, "r_min": 1.0}, None, 20_000)]
    print(f"{'n':>3} {'seed':>4}  {'learner':<38} {'steps to 0.47':>14} {'seconds':>9} {'us/step':>9}")
    for n in args.sizes:
        for seed in range(args.seeds):
            for label, cls, params, opt, steps in learners:
                res = train(Elman(2, n, 2, loss="xent"), cls(**params), task, steps=steps, optimizer=opt,
                            seed=seed, eval_every=EVERY)
                step, sec = first_hit(res)
                print(f"{n:>3} {seed:>4}  {label:<38} {step if step else '-':>14} "
                      f"{f'{sec:.3f}' if sec else '-':>9} {res.us_per_step:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
