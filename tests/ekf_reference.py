"""Reference trajectories of the single-stream EKF, recorded from the filter as it was before multistream
training and the square-root form (commit 64680ff) into tests/data/ekf_reference.npz, so that test_ekf.py can
check that batch=1 still follows them. Regenerate (only if the EKF's single-stream arithmetic is meant to
change) with:  PYTHONPATH=<repo> python tests/ekf_reference.py"""
import os

import numpy as np

CONFIGS = [(dec, jac, loss) for dec in ("global", "node") for jac in ("rtrl", "tbptt") for loss in ("mse", "xent")]
T, CHUNKS = 120, (1, 7, 40, 72)  # chunks of uneven lengths: the pending covariance update crosses calls


def key(dec, jac, loss):
    return f"{dec}-{jac}-{loss}"


def problem(loss, seed=0, m=3, n=5, o=2):
    from rnnlearn import Elman
    from rnnlearn.models.losses import softmax
    rng = np.random.default_rng(seed)
    model = Elman(n_in=m, n_hidden=n, n_out=o, loss=loss)
    theta = model.init_params(seed) + 0.3 * rng.normal(size=model.n_params)
    xs = rng.normal(size=(T, m))
    teacher = model.forward(model.init_params(seed + 1), xs)[1]
    ys = teacher + 0.1 * rng.normal(size=(T, o)) if loss == "mse" else softmax(teacher)
    resets = np.zeros(T, dtype=bool)
    resets[[0, 50]] = True
    mask = np.ones(T)
    mask[10:14] = 0.0
    mask[60:70] = 0.5
    return model, theta, xs, ys, mask, resets


def run(learner, model, theta, xs, ys, mask, resets):
    """theta after each chunk and the losses of every step."""
    from rnnlearn.tasks import Chunk
    theta = theta.copy()
    state = learner.init(model, theta)
    thetas, losses, a = [], [], 0
    for c in CHUNKS:
        losses.append(learner.train(model, theta, state, Chunk.make(xs[a:a + c], ys[a:a + c], mask[a:a + c],
                                                                      resets[a:a + c])))
        thetas.append(theta.copy())
        a += c
    return np.array(thetas), np.concatenate(losses)


def hyper(jac):
    return dict(jacobian=jac, h=7, q=1e-3, p0=3.0, r=0.5)


if __name__ == "__main__":
    from rnnlearn.algorithms import EKF
    out = {}
    for dec, jac, loss in CONFIGS:
        model, theta, xs, ys, mask, resets = problem(loss)
        th, ls = run(EKF(decoupling=dec, **hyper(jac)), model, theta, xs, ys, mask, resets)
        k = key(dec, jac, loss)
        out.update({k + ":theta0": theta, k + ":xs": xs, k + ":ys": ys, k + ":mask": mask, k + ":resets": resets,
                    k + ":thetas": th, k + ":losses": ls})
    np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ekf_reference.npz"), **out)
