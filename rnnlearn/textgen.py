"""Generate text from a trained character or word model, and save / load a trained model with its task.

    task = make_task("char_lm"); model = Elman(task.n_in, 128, task.n_out, loss="xent")
    result = train(model, TBPTT(...), task, steps=...)
    save_model("lm.npz", model, result.theta, task)
    model, theta, task = load_model("lm.npz")
    print(sample_text(model, theta, task, length=300, temperature=0.8, seed=0, prime="The "))

The task must be a text task: it has `vocab`, `encode(text) -> ids` and `decode(ids) -> text`
(char_lm and word_lm). For word models a sentence starts with SENTENCE_START and ends when SENTENCE_END is
sampled; the state is then reset, as in training, and a new sentence begins.
"""
from __future__ import annotations

import json
import os

import numpy as np

FORMAT = "rnnlearn-model-1"


def _softmax(z):
    z = z - np.max(z)
    e = np.exp(z)
    return e / e.sum()


def sample_text(model, theta, task, length: int, temperature: float = 1.0, seed: int = 0,
                prime: str = "") -> str:
    """`prime` followed by `length` sampled symbols (characters for char_lm, words for word_lm).

    temperature divides the logits before the softmax (lower: more conservative); 0 picks the most probable
    symbol every step. The model never produces the unknown symbol (it is sampled out and the rest
    renormalised), nor SENTENCE_START."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be an integer >= 0, got {length!r}")
    temperature = float(temperature)
    if not temperature >= 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
    if not all(hasattr(task, a) for a in ("vocab", "encode", "decode")):
        raise ValueError(f"task {getattr(task, 'name', task)!r} is not a text task (needs vocab, encode, decode)")
    if model.n_in != len(task.vocab) or model.n_out != len(task.vocab):
        raise ValueError(f"model sizes ({model.n_in} in, {model.n_out} out) do not fit the task's vocabulary "
                         f"of {len(task.vocab)}")
    rng = np.random.default_rng(seed)
    V = len(task.vocab)
    words = getattr(task, "name", "") == "word_lm"
    banned = np.zeros(V, dtype=bool)
    for tok in ("UNKNOWN_TOKEN", "SENTENCE_START", "\ufffd"):
        if tok in task.index:
            banned[task.index[tok]] = True
    start = task.index.get("SENTENCE_START") if words else None
    end = task.index.get("SENTENCE_END") if words else None

    s0 = np.zeros(model.n_state)
    x = np.zeros(V)
    state = {"s": s0, "t": 0}

    def feed(i):
        x[:] = 0.0
        x[i] = 1.0
        state["s"], y = model.step(theta, state["s"], x, int(i), state["t"])
        state["t"] += 1
        return y

    out: list[int] = []
    prime_ids = task.encode(prime) if prime else []
    if words:
        y = feed(start)
        for i in prime_ids:
            y = feed(i)
    elif prime_ids:
        for i in prime_ids:
            y = feed(i)
    else:
        # no prime: start from a character drawn from the corpus's unigram distribution
        first = int(rng.choice(V, p=_unigram(task)))
        out.append(first)
        y = feed(first)
        length -= 1
    for _ in range(max(length, 0)):
        logits = np.asarray(y, dtype=np.float64).ravel()
        if temperature == 0:
            i = int(np.argmax(np.where(banned, -np.inf, logits)))
        else:
            p = _softmax(logits / temperature)
            p[banned] = 0.0
            p /= p.sum()
            i = int(rng.choice(V, p=p))
        out.append(i)
        if words and i == end:
            state["s"], state["t"] = np.zeros(model.n_state), 0
            y = feed(start)
        else:
            y = feed(i)
    if words:
        head = " ".join(prime.lower().split()) if prime else ""
        body = task.decode(out)
        return (head + " " + body).strip() if head else body
    return prime + task.decode(out)


def _unigram(task):
    ids = getattr(task, "_ids", None)
    V = len(task.vocab)
    if ids is None:
        return np.full(V, 1.0 / V)
    f = np.bincount(ids, minlength=V).astype(np.float64)
    return f / f.sum()


def save_model(path, model, theta, task=None, config=None) -> None:
    """Write theta and a JSON description of the model (class name, constructor arguments) and of the task
    (name, parameters) to an .npz file; with `config` (the rnnlearn.runconfig.RunConfig the model was trained
    by, as `compare --save-models` saves it), the run config too, which load_model then builds them from."""
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    if theta.shape != (model.n_params,):
        raise ValueError(f"theta must have {model.n_params} entries for this model, got shape {theta.shape}")
    meta = {"format": FORMAT, "model": {"class": type(model).__name__, "name": getattr(model, "name", ""),
                                        "args": model.config()}}
    if task is not None:
        meta["task"] = {"name": task.name, "params": task.params()}
    if config is not None:
        meta["run"] = config.to_dict()
    try:
        from . import __version__
        meta["rnnlearn_version"] = __version__
    except Exception:  # pragma: no cover - a partial source tree
        pass
    with open(os.fspath(path), "wb") as f:  # a file object: np.savez must not append ".npz"
        np.savez(f, theta=theta, meta=np.array(json.dumps(meta)))


def load_model(path):
    """(model, theta, task) from a file written by save_model; task is None if none was saved."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ValueError(f"path must name a saved model file; {p!r} does not exist")
    not_ours = f"path {p!r} is not a model saved by rnnlearn (compare --save-models, or textgen.save_model)"
    with open(p, "rb") as fh:
        head = fh.read(4)
    if head != b"PK\x03\x04":   # an .npz is a zip archive: an .npy, a text file or an empty one is not
        raise ValueError(f"{not_ours}: not an .npz archive" + (" (the file is empty)" if not head else ""))
    from . import memory
    memory.check(2 * os.path.getsize(p), f"loading the model {p!r}")
    try:
        with np.load(p, allow_pickle=False) as data:
            if "meta" not in data or "theta" not in data:
                raise ValueError(f"{not_ours}: it has no meta and theta arrays")
            meta = json.loads(str(data["meta"]))
            theta = np.ascontiguousarray(data["theta"], dtype=np.float64)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or damaged archive: zipfile, EOFError, ...
        raise ValueError(f"{not_ours}: damaged or truncated ({type(exc).__name__})") from None
    try:
        return _from_meta(p, meta, theta)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"path {p!r}: malformed model metadata ({type(exc).__name__}: {exc})") from None


def _from_meta(p, meta, theta):
    if not isinstance(meta, dict):
        raise TypeError("the metadata is not a JSON object")
    if meta.get("format") != FORMAT:
        raise ValueError(f"path {p!r} has format {meta.get('format')!r}, expected {FORMAT!r}")
    task = None
    if "run" in meta:   # saved by a run of a comparison: its config builds the task and the model
        from .runconfig import RunConfig
        config = RunConfig.from_dict(meta["run"])
        task = config.build_task()
        model = config.build_model(task)
    else:
        model = _build_model(meta["model"])
        if "task" in meta:
            from .tasks import make_task
            task = make_task(meta["task"]["name"], **meta["task"]["params"])
    if theta.shape != (model.n_params,):
        raise ValueError(f"path {p!r}: theta has {theta.size} entries, the model needs {model.n_params}")
    return model, theta, task


def _build_model(info):
    from . import models
    cls = None
    registry = getattr(models, "MODELS", {})
    if info.get("name") in registry:
        cls = registry[info["name"]]
    if cls is None:
        cls = getattr(models, info["class"], None)
    if cls is None:
        raise ValueError(f"unknown model class {info['class']!r}")
    return cls(**info["args"])
