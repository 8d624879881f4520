"""One SGD step of the classic RNN tutorial's word language model (vocabulary 8000, hidden 100, one sentence
of 20 words, one-hot input as a column lookup, softmax output): rnnlearn's BPTT over the sentence (the exact
gradient, slightly more recurrent work than the tutorial's truncation to 4 steps) against the tutorial's
algorithm in plain numpy (rnnlearn.references.numpy_ref.numpy_word_lm_step), in the same process.

    python -m rnnlearn.experiments.word_lm_step
"""
import argparse
import time

import numpy as np

from rnnlearn import Elman
from rnnlearn.algorithms import BPTT
from rnnlearn.optim import sgd
from rnnlearn.tasks import Chunk


def time_word_lm_step(vocab=8000, hidden=100, words=20, repeats=30, seed=0) -> float:
    """Milliseconds per SGD step on one sentence of `words` random words (after a warm-up step)."""
    model = Elman(vocab, hidden, vocab, loss="xent")
    theta = model.init_params(seed)
    w = np.random.default_rng(seed).integers(0, vocab, size=words + 1)
    xs, ys = np.zeros((words, vocab)), np.zeros((words, vocab))
    xs[np.arange(words), w[:-1]] = 1.0
    ys[np.arange(words), w[1:]] = 1.0
    sentence = Chunk.make(xs, ys, x_index=w[:-1])
    learner = BPTT(window=words)
    state = learner.init(model, theta, sgd(0.005))
    learner.train(model, theta, state, sentence)
    t0 = time.perf_counter()
    for _ in range(repeats):
        learner.train(model, theta, state, sentence)
    return (time.perf_counter() - t0) / repeats * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--words", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    V, n, T = args.vocab, args.hidden, args.words
    ours = time_word_lm_step(V, n, T, args.repeats)
    from rnnlearn.references.numpy_ref import numpy_word_lm_step
    theirs = numpy_word_lm_step(vocab=V, hidden=n, bptt_truncate=4, sentence_len=T)["ms_per_sentence"]
    print(f"word LM step (vocabulary {V}, hidden {n}, {T} words): rnnlearn {ours:.2f} ms, numpy tutorial "
          f"{theirs:.2f} ms -> {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
