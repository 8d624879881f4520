"""One SGD step of the classic RNN tutorial's word language model (vocabulary 8000, hidden 100, one sentence
of 20 words, one-hot input as a column lookup, softmax output): rnnlearn's BPTT over the sentence (the exact
gradient, slightly more recurrent work than the tutorial's truncation to 4 steps) against the tutorial's
algorithm in plain numpy (rnnlearn.bench_refs.numpy_word_lm_step), in the same process.

    python -m rnnlearn.experiments.word_lm_step
"""
import argparse
import time

import numpy as np

from rnnlearn import Elman
from rnnlearn.algorithms import BPTT
from rnnlearn.optim import sgd
from rnnlearn.tasks import Chunk


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--words", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    V, n, T = args.vocab, args.hidden, args.words
    model = Elman(V, n, V, loss="xent")
    theta = model.init_params(0)
    w = np.random.default_rng(0).integers(0, V, size=T + 1)
    sentence = Chunk.make(np.eye(V)[w[:-1]], np.eye(V)[w[1:]], x_index=w[:-1])
    learner = BPTT(window=T)
    state = learner.init(model, theta, sgd(0.005))
    learner.train(model, theta, state, sentence)
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        learner.train(model, theta, state, sentence)
    ours = (time.perf_counter() - t0) / args.repeats * 1e3
    from rnnlearn.bench_refs import numpy_word_lm_step
    ref = numpy_word_lm_step(vocab=V, hidden=n, bptt_truncate=4, sentence_len=T)
    theirs = ref.get("ms_per_sentence")
    print(f"word LM step (vocabulary {V}, hidden {n}, {T} words): rnnlearn {ours:.2f} ms, numpy tutorial "
          f"{theirs:.2f} ms -> {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
