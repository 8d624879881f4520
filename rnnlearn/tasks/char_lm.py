"""Character-level language model (the classic next-character prediction task; e.g. Sutskever, Martens and
Hinton 2011; Graves 2013; Karpathy 2015).

Corpus: any UTF-8 text file (`path`), by default the text of CPython's pydoc topics (pydoc_data.topics, about
465 kB, no download). The first 90% of the text is for training, the last 10% is held out.

Vocabulary: the characters seen in the whole text, sorted; with `max_vocab` set, only the max_vocab - 1 most
frequent characters are kept and the rest share one "unknown" symbol (shown as U+FFFD when decoding).

Encoding: input character t one-hot (x_index filled), target character t + 1 one-hot; loss softmax
cross-entropy ("xent"). The training stream reads the training text from a random offset (from the seed),
endlessly, wrapping around at its end; each pass through the wrap starts with resets=True (as does the
stream's first step). The test set is the held-out text from its beginning (the first `length` characters;
all of it with length=None). Every step is scored.

Metric: bits per character (bpc) on held-out text = mean cross-entropy / ln 2. Reference levels: uniform over
the vocabulary (log V) and the unigram entropy of the corpus's character distribution (in nats, like the loss;
`unigram_bits` gives it in bits).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .base import MAX_STEPS, Chunk, Stream, Task, check_positive_int
from ._seq import mean_xent, one_hot
from ._text import load_text

UNKNOWN_CHAR = "\ufffd"
HELD_OUT = 0.1


class _TextStream(Stream):
    """Endless walk over an index sequence: input ids[i], target ids[i + 1]; wraps to the start."""

    def __init__(self, ids, V, start):
        self.ids, self.V, self.pos = ids, V, int(start)
        self.first = True

    def next(self, T: int) -> Chunk:
        T = check_positive_int("T", T)
        n = len(self.ids) - 1  # number of (input, target) pairs in one pass
        pos = (self.pos + np.arange(T)) % n
        resets = pos == 0
        if self.first:
            resets[0] = True
            self.first = False
        self.pos = int((self.pos + T) % n)
        xi = self.ids[pos]
        return Chunk.make(one_hot(xi, self.V), one_hot(self.ids[pos + 1], self.V), resets=resets, x_index=xi)


@dataclass
class CharLMTask(Task):
    """Character-level language model on a UTF-8 text file (`path`; None = pydoc topics)."""

    path: str | None = None
    max_vocab: int | None = None

    name = "char_lm"
    loss = "xent"

    def __post_init__(self):
        if self.max_vocab is not None:
            self.max_vocab = check_positive_int("max_vocab", self.max_vocab, 2, MAX_STEPS)
        text = load_text(self.path)
        if len(text) < 20:
            raise ValueError(f"path must name a text of at least 20 characters, got {len(text)}")
        counts = Counter(text)
        if self.max_vocab is not None and len(counts) > self.max_vocab:
            keep = sorted(c for c, _ in counts.most_common(self.max_vocab - 1))
            self.vocab = keep + [UNKNOWN_CHAR]
        else:
            self.vocab = sorted(counts)
        self.index = {c: i for i, c in enumerate(self.vocab)}
        unk = self.index.get(UNKNOWN_CHAR, -1)
        self._ids = np.array([self.index.get(c, unk) for c in text], dtype=np.int64)
        split = int(len(text) * (1 - HELD_OUT))
        self._train, self._test = self._ids[:split], self._ids[split:]
        freq = np.bincount(self._ids, minlength=len(self.vocab)) / len(self._ids)
        nz = freq[freq > 0]
        self._unigram = float(-(nz * np.log(nz)).sum())

    # --- text <-> ids (used by rnnlearn.textgen) ----------------------------------------------------
    def encode(self, text: str) -> list[int]:
        unk = self.index.get(UNKNOWN_CHAR)
        out = []
        for c in text:
            i = self.index.get(c, unk)
            if i is None:
                raise ValueError(f"prime contains {c!r}, which is not in the vocabulary")
            out.append(i)
        return out

    def decode(self, ids) -> str:
        return "".join(self.vocab[i] for i in ids)

    @property
    def unigram_bits(self) -> float:
        return self._unigram / np.log(2)

    # --- Task interface -----------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return len(self.vocab)

    @property
    def n_out(self) -> int:
        return len(self.vocab)

    def stream(self, seed: int) -> Stream:
        start = np.random.default_rng(seed).integers(0, len(self._train) - 1)
        return _TextStream(self._train, len(self.vocab), start)

    def test_set(self, seed: int = 0, length: int | None = 20000) -> Chunk:
        ids = self._test if length is None else self._test[:check_positive_int("length", length) + 1]
        return _TextStream(ids, len(self.vocab), 0).next(len(ids) - 1)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        return {"bpc": float(mean_xent(y_hat, chunk) / np.log(2))}

    def reference_levels(self) -> dict[str, float]:
        return {"uniform": float(np.log(len(self.vocab))), "unigram": self._unigram}


CharLMTask.__doc__ = f"{CharLMTask.__doc__}\n\n{__doc__}"  # help() shows the full description
