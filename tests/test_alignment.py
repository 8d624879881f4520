"""Gradient alignment (rnnlearn.alignment): the facts the issue asks for (RTRL with itself is 1 to rounding,
truncated BPTT whose window covers the add task's dependency near 1, an untrained DNI well below), the
windowed training equal to the learner's own training where it must be, the store, the figures and bad
input on the command line."""
import os

import numpy as np
import pytest

from rnnlearn.algorithms import make_learner
from rnnlearn.alignment import Aligned, train_aligned
from rnnlearn.cli import main
from rnnlearn.models import make_model
from rnnlearn.optim import sgd
from rnnlearn.tasks import make_task
from rnnlearn.train import train

from test_cli import assert_user_error, cli


def add_model(n=16):
    return make_model("elman", n_in=2, n_hidden=n, n_out=2, loss="xent")


def aligned(name, params=None, steps=4000, n=16, window=10, lr=0.03, seed=0, passive=("rtrl",)):
    task = make_task("add")
    res, rows = train_aligned(add_model(n), make_learner(name, **(params or {})), task,
                              passive=[make_learner(p) for p in passive], window=window, steps=steps,
                              optimizer=sgd(lr), seed=seed, eval_every=1000)
    assert res.status == "done"
    return res, rows


def test_rtrl_with_itself_is_one_to_rounding():
    res, rows = aligned("rtrl")
    assert [r["step"] for r in rows] == [1000, 2000, 3000, 4000]
    for r in rows:
        assert r["windows"] == 100
        assert abs(r["cosine"] - 1.0) < 1e-12 and abs(r["norm_ratio"] - 1.0) < 1e-12


def test_tbptt_covering_the_dependency_is_near_one():
    # add task lags t1 = 5, t2 = 9: errors of the last k1 = 10 steps go back k2 = 40 >= 31 + 9 steps
    res, rows = aligned("tbptt", dict(k1=10, k2=40))
    cos = [r["cosine"] for r in rows]
    assert min(cos) > 0.995, cos
    assert all(abs(r["norm_ratio"] - 1.0) < 0.02 for r in rows)


def test_untrained_dni_is_well_below():
    # DNI with its synthetic-gradient module untrained (sg_lr = 0: A stays 0) over windows of 2 steps:
    # truncated BPTT(2; 2), blind to the lags 5 and 9 the network learns to use
    res, rows = aligned("dni", dict(k=2, sg_lr=0.0))
    cos = np.array([r["cosine"] for r in rows])
    assert cos.mean() < 0.6 and cos[-1] < 0.45, cos
    # and below truncated BPTT covering the dependency on its own trajectory, at every evaluation
    _, covering = aligned("tbptt", dict(k1=10, k2=40))
    assert all(c < r["cosine"] - 0.3 for c, r in zip(cos, covering))


@pytest.mark.parametrize("name,params,window", [("rtrl", {}, 1), ("uoro", {}, 1), ("tbptt", dict(k1=10, k2=10), 10),
                                                ("tbptt", dict(k1=5, k2=12), 5), ("dni", dict(k=5), 5)])
def test_window_of_the_update_period_trains_as_the_learner_does(name, params, window):
    """w = 1 for per-step learners, w = the learner's own update period otherwise: the same parameters as
    its own training (rnnlearn.train.train), to rounding; the passive learner changes nothing."""
    task, model = make_task("add"), add_model(8)
    a, _ = train_aligned(model, make_learner(name, **params), task, passive=[make_learner("rtrl")], window=window,
                         steps=1000, optimizer=sgd(0.03), seed=3, eval_every=500)
    b = train(model, make_learner(name, **params), task, steps=1000, optimizer=sgd(0.03), seed=3, eval_every=500)
    # (UORO and SnAp-1 fold plain SGD's step into the pass that makes the gradient, which rounds differently
    # from the optimizer's step after the accumulated gradient: 1.8e-12 after 1,000 steps)
    assert np.abs(a.theta - b.theta).max() < 1e-11
    assert [r["test_loss"] for r in a.records] == pytest.approx([r["test_loss"] for r in b.records], abs=1e-12)


def test_pairwise_rows_and_symmetry():
    """Every pair once (a < b, learner 0 trains), from the same windows: a passive copy of the trained
    learner agrees with it exactly, and with a third learner as the trained one does."""
    res, rows = aligned("rtrl", steps=1000, passive=("rtrl", "uoro", "tbptt"))
    pairs = {(r["a"], r["b"]): r for r in rows}
    assert set(pairs) == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}
    assert pairs[(0, 1)]["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert pairs[(0, 2)]["cosine"] == pytest.approx(pairs[(1, 2)]["cosine"], abs=1e-12)
    assert pairs[(0, 2)]["norm_ratio"] == pytest.approx(pairs[(1, 2)]["norm_ratio"], abs=1e-12)
    assert 0.0 < pairs[(0, 2)]["cosine"] < 0.9


def test_refusals_name_the_problem():
    model = add_model(16)
    ekf, rtrl = make_learner("ekf"), make_learner("rtrl")
    with pytest.raises(ValueError, match="makes its own update"):
        Aligned(ekf, [rtrl]).check_model(model)
    with pytest.raises(ValueError, match="not a multiple of .*update period 10"):
        Aligned(make_learner("tbptt"), [rtrl], window=15).check_model(model)
    with pytest.raises(ValueError, match="batch-1"):
        Aligned(make_learner("tbptt", batch=4), [rtrl]).check_model(model)
    big = add_model(rtrl.max_n() + 8)   # checked from the sizes: nothing of that size is allocated
    with pytest.raises(ValueError, match=f"above its size cap n = {rtrl.max_n()}"):
        Aligned(make_learner("uoro"), [rtrl]).check_model(big)


def test_compare_stores_resumes_and_plots(tmp_path):
    out = str(tmp_path / "res")
    args = ["compare", "--learners", "rtrl", "tbptt:k1=5,k2=5", "--sizes", "4", "--seeds", "2", "--steps", "200",
            "--eval-every", "100", "--alignment", "5", "--align-with", "rtrl", "uoro", "--out", out, "--jobs", "1",
            "--quiet"]
    assert main(args) == 0
    from rnnlearn.results import Store
    st = Store(out)
    rows = st.load_alignment()
    man = st.manifest()
    assert len(man) == 4 and len(rows) == 4 * 2 * 3   # 4 runs x 2 evaluations x 3 pairs
    assert all(e["config"]["alignment"] == {"window": 5, "with": [{"name": "rtrl", "params": {}},
                                                                  {"name": "uoro", "params": {"eps": 1e-7}}]}
               for e in man.values())
    for name in ("alignment_add_elman_n4.png", "alignment_matrix_add_elman_n4_rtrl.png",
                 "alignment_matrix_add_elman_n4_tbptt_k1_5_k2_5.png"):
        assert os.path.getsize(os.path.join(out, name)) > 10_000
    assert main(args) == 0                        # a rerun does nothing and duplicates nothing
    assert len(Store(out).load_alignment()) == len(rows)
    # the same learners without --alignment are other runs (plain runs keep their hashes)
    cut = args.index("--alignment")
    plain = args[:cut] + args[cut + 5:]   # less --alignment 5 --align-with rtrl uoro
    assert "--align-with" not in plain and "--alignment" not in plain
    assert main(plain) == 0 and len(Store(out).manifest()) == 8


@pytest.mark.parametrize("args,words", [
    (["--learners", "ekf", "--alignment"], ["'ekf' makes its own update"]),
    (["--learners", "uoro", "--sizes", "256", "--alignment"], ["rtrl", "size cap n = 128"]),
    (["--learners", "tbptt", "--alignment", "7"], ["not a multiple", "update period 10"]),
    (["--learners", "uoro", "--alignment", "zero"], ["alignment window", "'zero'"]),
    (["--learners", "uoro", "--alignment", "--align-with", "rtrl:lr=0.1"], ["passive learner 'rtrl'", "lr"]),
    (["--learners", "uoro", "--alignment", "--align-with", "nosuch"], ["unknown learner 'nosuch'"]),
    (["--learners", "uoro", "--alignment", "30", "--steps", "100"], ["steps (100)", "multiple", "(30)"]),
])
def test_bad_alignment_input_is_one_line_exit_2(tmp_path, args, words):
    res = cli("compare", *args, "--out", str(tmp_path / "x"), "--quiet", "--jobs", "1")
    assert_user_error(res, *words)
    assert not os.path.exists(tmp_path / "x" / "runs.jsonl")
