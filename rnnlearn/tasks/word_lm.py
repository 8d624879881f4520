"""Word-level language model, set up like the classic recurrent-network language-model tutorial (Denny
Britz 2015, "Recurrent neural networks tutorial, part 2", after Mikolov et al. 2010); our own code.

Corpus: any UTF-8 text file (`path`), by default the text of CPython's pydoc topics (pydoc_data.topics, no
download). Preprocessing: the text is lower-cased and split into paragraphs at blank lines and into sentences
after ".", "!" or "?" followed by white space; tokens are words (letters, digits, "_", with an inner
apostrophe) and single punctuation characters. Each sentence becomes
SENTENCE_START w_1 ... w_k SENTENCE_END. The last 10% of the sentences are held out; the vocabulary is the
vocab_size - 3 most frequent words of the training sentences (ties alphabetical) plus UNKNOWN_TOKEN
(every other word), SENTENCE_START and SENTENCE_END.

Encoding: one sentence is one sequence (resets=True at SENTENCE_START): inputs SENTENCE_START, w_1 .. w_k,
targets w_1 .. w_k, SENTENCE_END; one-hot inputs with x_index filled (the dense xs rows are vocab-sized,
so keep chunks short: 1000 steps with V = 8000 is 64 MB per array). Loss "xent", every step scored. The
training stream goes through the training sentences in order from a random sentence (from the seed),
wrapping around; the test set is the held-out sentences from the first, whole sentences up to `length`
steps.

Metric: perplexity exp(mean cross-entropy) on held-out text. Reference levels: uniform over the vocabulary
(log V) and the unigram entropy of the training targets (nats).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .base import MAX_STEPS, Chunk, Stream, Task, check_positive_int
from ._seq import SequenceStream, mean_xent, one_hot
from ._text import load_text

UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END = "UNKNOWN_TOKEN", "SENTENCE_START", "SENTENCE_END"
UNK, START, END = 0, 1, 2
HELD_OUT = 0.1

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|_+[^\W]*|[^\w\s]", re.UNICODE)
_SENT = re.compile(r"(?<=[.!?])\s+")
_PARA = re.compile(r"\n\s*\n")


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens of one piece of text."""
    return _TOKEN.findall(text.lower())


def split_sentences(text: str) -> list[list[str]]:
    """The text as a list of sentences, each a list of tokens (empty sentences dropped)."""
    out = []
    for para in _PARA.split(text):
        for sent in _SENT.split(para.strip()):
            toks = tokenize(sent)
            if toks:
                out.append(toks)
    return out


@dataclass
class WordLMTask(Task):
    """Word-level language model on a UTF-8 text file (`path`; None = pydoc topics)."""

    path: str | None = None
    vocab_size: int = 8000

    name = "word_lm"
    loss = "xent"

    def __post_init__(self):
        self.vocab_size = check_positive_int("vocab_size", self.vocab_size, 4, MAX_STEPS)
        sents = split_sentences(load_text(self.path))
        if len(sents) < 2:
            raise ValueError(f"path must name a text of at least 2 sentences, got {len(sents)}")
        split = max(1, int(round(len(sents) * (1 - HELD_OUT))))
        split = min(split, len(sents) - 1)
        counts = Counter(w for s in sents[:split] for w in s)
        words = sorted(counts, key=lambda w: (-counts[w], w))[: self.vocab_size - 3]
        self.vocab = [UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END] + words
        self.index = {w: i for i, w in enumerate(self.vocab)}
        enc = [np.array([START] + [self.index.get(w, UNK) for w in s] + [END], dtype=np.int64) for s in sents]
        self._train, self._test = enc[:split], enc[split:]
        targets = np.concatenate([s[1:] for s in self._train])
        freq = np.bincount(targets, minlength=len(self.vocab)) / len(targets)
        nz = freq[freq > 0]
        self._unigram = float(-(nz * np.log(nz)).sum())

    # --- text <-> ids (used by rnnlearn.textgen) ----------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a text prefix (no sentence markers)."""
        return [self.index.get(w, UNK) for w in tokenize(text)]

    def decode(self, ids) -> str:
        """Tokens joined by spaces; SENTENCE_END ends a line, SENTENCE_START is dropped."""
        out, line = [], []
        for i in ids:
            if i == START:
                continue
            if i == END:
                out.append(" ".join(line))
                line = []
            else:
                line.append(self.vocab[i])
        if line:
            out.append(" ".join(line))
        return "\n".join(out)

    def _sentence_chunk(self, ids: np.ndarray) -> Chunk:
        V = len(self.vocab)
        resets = np.zeros(len(ids) - 1, dtype=bool)
        resets[0] = True
        return Chunk.make(one_hot(ids[:-1], V), one_hot(ids[1:], V), resets=resets, x_index=ids[:-1])

    # --- Task interface -----------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return len(self.vocab)

    @property
    def n_out(self) -> int:
        return len(self.vocab)

    def stream(self, seed: int) -> Stream:
        pos = [int(np.random.default_rng(seed).integers(len(self._train)))]
        sents = self._train

        def make(_rng):
            s = sents[pos[0]]
            pos[0] = (pos[0] + 1) % len(sents)
            return self._sentence_chunk(s)

        return SequenceStream(make, np.random.default_rng(seed))

    def test_set(self, seed: int = 0, length: int = 500) -> Chunk:
        length = check_positive_int("length", length)
        parts, n = [], 0
        for s in self._test:
            if n >= length:
                break
            parts.append(self._sentence_chunk(s))
            n += len(s) - 1
        return Chunk.concat(parts)

    def metrics(self, y_hat, chunk, model=None, theta=None) -> dict[str, float]:
        return {"perplexity": float(np.exp(mean_xent(y_hat, chunk)))}

    def reference_levels(self) -> dict[str, float]:
        return {"uniform": float(np.log(len(self.vocab))), "unigram": self._unigram}


WordLMTask.__doc__ = f"{WordLMTask.__doc__}\n\n{__doc__}"  # help() shows the full description
