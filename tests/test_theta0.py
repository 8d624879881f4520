"""The model option theta0=PATH (and theta0_noise): a run starts from saved parameters; a bad file is a
one-line error."""
import numpy as np
import pytest

from rnnlearn.models import make_model
from rnnlearn.runconfig import RunConfig
from rnnlearn.sweep import Sweep, expand
from rnnlearn.runner import execute
from rnnlearn.textgen import save_model
from rnnlearn.train import evaluate

SIZES = dict(n_in=3, n_hidden=4, n_out=2)


def _saved(tmp_path, name="elman", **kw):
    model = make_model(name, **SIZES, **kw)
    theta = model.fresh_params(7)
    path = tmp_path / "theta.npy"
    np.save(path, theta)
    return model, theta, str(path)


@pytest.mark.parametrize("name", ["elman", "lstm", "gru", "lru", "clockwork"])
def test_init_params_is_the_saved_theta(tmp_path, name):
    model, theta, path = _saved(tmp_path, name)
    started = make_model(name, **SIZES, theta0=path)
    assert np.array_equal(started.init_params(0), theta) and np.array_equal(started.init_params(5), theta)
    assert started.config()["theta0"] == path and "theta0" not in model.config()
    assert type(started)(**started.config()) == started


def test_noise_is_uniform_bounded_and_drawn_from_the_seed(tmp_path):
    _, theta, path = _saved(tmp_path)
    model = make_model("elman", **SIZES, theta0=path, theta0_noise=0.01)
    a, b = model.init_params(1), model.init_params(2)
    assert np.array_equal(a, model.init_params(1)) and not np.array_equal(a, b)
    assert 0.005 < np.abs(a - theta).max() <= 0.01 and np.abs(b - theta).max() <= 0.01
    assert model.config()["theta0_noise"] == 0.01


def test_a_saved_model_npz_is_a_theta0(tmp_path):
    model, theta, _ = _saved(tmp_path, "lstm")
    save_model(tmp_path / "m.npz", model, theta)
    started = make_model("lstm", **SIZES, theta0=str(tmp_path / "m.npz"))
    assert np.array_equal(started.init_params(0), theta)


def test_bad_files_are_named(tmp_path):
    _, theta, path = _saved(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        make_model("elman", **SIZES, theta0=str(tmp_path / "nope.npy"))
    with pytest.raises(ValueError, match="holds 42 values .* the model has 57 parameters"):
        make_model("elman", n_in=3, n_hidden=5, n_out=2, theta0=path)
    (tmp_path / "text.npy").write_text("not numbers")
    with pytest.raises(ValueError, match="is not a .npy or .npz"):
        make_model("elman", **SIZES, theta0=str(tmp_path / "text.npy"))
    bad = theta.copy()
    bad[3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="non-finite"):
        make_model("elman", **SIZES, theta0=str(tmp_path / "nan.npy"))
    with pytest.raises(ValueError, match="needs theta0"):
        make_model("elman", **SIZES, theta0_noise=0.1)
    with pytest.raises(ValueError, match="theta0_noise must be"):
        make_model("elman", **SIZES, theta0=path, theta0_noise=-1.0)


def test_a_run_starts_from_theta0(tmp_path):
    """Through the runner: the step-0 evaluation of a run is that of the saved parameters, which its stored
    config rebuilds."""
    model = make_model("lstm", n_in=5, n_hidden=3, n_out=5, loss="sigmoid_mse", peephole=True)
    theta = model.fresh_params(3) * 2.0
    np.save(tmp_path / "t.npy", theta)
    configs = expand(Sweep(tasks=["anbncn:n_max=3,outputs=sigmoid,n_test=20"],
                           models=[f"lstm:peephole=true,theta0={tmp_path / 't.npy'}"],
                           learners=["ekf:decoupling=node"], sizes=[3], seeds=1, steps=10, eval_every=10))
    cfg = RunConfig.from_dict(configs[0].to_dict())
    task = cfg.build_task()
    assert np.array_equal(cfg.build_model(task).init_params(0), theta)
    out = execute(configs[0], keep_theta=True)
    assert out["manifest"]["status"] == "done", out["manifest"]["reason"]
    first = out["rows"][0]
    assert first["step"] == 0
    assert first["test_loss"] == evaluate(model, theta, task, task.test_set(0))["test_loss"]
    assert not np.array_equal(out["theta"], theta)   # and it trained from there
