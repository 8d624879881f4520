"""Text generation and model files: sampling follows the model's own distribution (greedy at temperature 0),
a saved model loads back identical, and a character model trained with truncated BPTT on the default
corpus predicts held-out text clearly better than the corpus's unigram entropy."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlearn import Elman
from rnnlearn.models import softmax
from rnnlearn.tasks import make_task
from rnnlearn.textgen import load_model, sample_text, save_model


@pytest.fixture
def small_char_task(tmp_path):
    p = tmp_path / "abc.txt"
    p.write_text("abcab cabca bcabc " * 40, encoding="utf-8")
    return make_task("char_lm", path=str(p))


def _random_model(task, n=12, seed=3, scale=1.0):
    model = Elman(n_in=task.n_in, n_hidden=n, n_out=task.n_out, loss="xent")
    theta = model.init_params(seed) * scale
    return model, theta


def test_greedy_sampling_follows_the_model(small_char_task):
    task = small_char_task
    model, theta = _random_model(task, scale=3.0)
    text = sample_text(model, theta, task, length=40, temperature=0, seed=0, prime="ab")
    assert text.startswith("ab") and len(text) == 42
    # every generated character is the arg-max of the model's prediction after the text before it
    ids = np.array(task.encode(text))
    _, logits = model.forward(theta, np.eye(task.n_in)[ids])
    np.testing.assert_array_equal(ids[2:], np.argmax(logits[1:-1], axis=1))


def test_sampling_matches_the_softmax_at_a_temperature(small_char_task):
    task = small_char_task
    model, theta = _random_model(task)
    prime = "ca"
    _, logits = model.forward(theta, np.eye(task.n_in)[task.encode(prime)])
    for temperature in (0.5, 2.0):
        p = softmax((logits[-1:] / temperature))[0]
        draws = [sample_text(model, theta, task, 1, temperature, seed=s, prime=prime)[-1] for s in range(3000)]
        freq = np.array([draws.count(c) for c in task.vocab]) / len(draws)
        assert np.max(np.abs(freq - p)) < 0.035, (freq, p)


def test_sampling_is_seeded(small_char_task):
    task = small_char_task
    model, theta = _random_model(task)
    a = sample_text(model, theta, task, 50, 1.0, seed=1)
    assert a == sample_text(model, theta, task, 50, 1.0, seed=1)
    assert a != sample_text(model, theta, task, 50, 1.0, seed=2)
    assert len(a) == 50 and set(a) <= set(task.vocab)
    with pytest.raises(ValueError, match="^length"):
        sample_text(model, theta, task, -1, 1.0, 0)
    with pytest.raises(ValueError, match="^temperature"):
        sample_text(model, theta, task, 5, -1.0, 0)
    with pytest.raises(ValueError, match="not a text task"):
        sample_text(model, theta, make_task("add"), 5, 1.0, 0)


def test_word_sampling_makes_sentences_of_known_words(tmp_path):
    p = tmp_path / "w.txt"
    p.write_text("The cat sat on the mat. A dog ran to the cat! Where is the mat? " * 30, encoding="utf-8")
    task = make_task("word_lm", path=str(p), vocab_size=50)
    model, theta = _random_model(task, n=10, scale=2.0)
    text = sample_text(model, theta, task, length=200, temperature=1.0, seed=0, prime="The cat")
    assert text.startswith("the cat ")
    words = text.split()
    # prime words + 200 sampled tokens, of which the SENTENCE_ENDs became line breaks (the last may be one)
    assert 202 - len(words) - text.count("\n") in (0, 1) and text.count("\n") >= 1
    assert set(words) <= set(task.vocab) - {"UNKNOWN_TOKEN", "SENTENCE_START", "SENTENCE_END"}
    # greedy word sampling is the arg-max of the model after SENTENCE_START and the words so far
    greedy = sample_text(model, theta, task, length=6, temperature=0, seed=0, prime="the")
    first_line = greedy.split("\n")[0].split()
    ids = [task.index["SENTENCE_START"]] + [task.index[w] for w in first_line]
    _, logits = model.forward(theta, np.eye(task.n_in)[ids])
    banned = [task.index["UNKNOWN_TOKEN"], task.index["SENTENCE_START"]]
    logits[:, banned] = -np.inf
    np.testing.assert_array_equal(ids[2:], np.argmax(logits[1:-1], axis=1))


def test_save_and_load_round_trip(tmp_path, small_char_task):
    task = small_char_task
    model, theta = _random_model(task)
    f = tmp_path / "m.npz"
    save_model(f, model, theta, task)
    m2, th2, t2 = load_model(f)
    assert type(m2) is type(model) and m2.config() == model.config()
    np.testing.assert_array_equal(th2, theta)
    assert t2 == task and t2.vocab == task.vocab
    with np.load(f) as data:
        meta = json.loads(str(data["meta"]))
    assert meta["model"]["class"] == "Elman" and meta["task"] == {"name": "char_lm", "params": task.params()}
    assert sample_text(m2, th2, t2, 30, 0.7, 5) == sample_text(model, theta, task, 30, 0.7, 5)
    with pytest.raises(ValueError, match="^path"):
        load_model(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="^path"):
        load_model(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="^theta"):
        save_model(tmp_path / "bad.npz", model, theta[:-1], task)


def test_char_model_learns_the_default_corpus(tmp_path):
    """Elman n = 64, truncated BPTT (windows of 25), Adam, 300,000 characters of the pydoc corpus (a few
    seconds): held-out bits per character well below the unigram entropy (4.69 bits)."""
    from rnnlearn.algorithms import TBPTT
    from rnnlearn.optim import adam
    from rnnlearn.train import train
    task = make_task("char_lm")
    model = Elman(n_in=task.n_in, n_hidden=64, n_out=task.n_out, loss="xent")
    result = train(model, TBPTT(k1=25, k2=25), task, steps=300_000, optimizer=adam(2e-3), seed=0,
                   eval_every=100_000, test_length=10_000)
    assert result.status == "done"
    bpc = [r["bpc"] for r in result.records]
    assert bpc[0] > task.unigram_bits          # an untrained model is worse than unigram statistics
    assert bpc[-1] < task.unigram_bits - 1.0, bpc
    # a trained model saved, loaded and sampled: the text is mostly corpus characters in word-like runs
    save_model(tmp_path / "lm.npz", model, result.theta, task)
    m, theta, t = load_model(tmp_path / "lm.npz")
    text = sample_text(m, theta, t, 400, temperature=0.7, seed=0, prime="The ")
    print("\n" + text)
    assert len(text) == 404
    words = text.split()
    assert np.mean([w.isalpha() for w in words]) > 0.3
    assert " the " in text.lower() or " a " in text.lower() or " of " in text.lower()
