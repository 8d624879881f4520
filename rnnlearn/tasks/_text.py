"""Corpus loading for the language-model tasks."""
from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=1)
def default_corpus() -> str:
    """The text of CPython's pydoc topics (the values of pydoc_data.topics.topics joined; about 465 kB of
    English prose and code, shipped with Python, no download)."""
    from pydoc_data.topics import topics
    return "".join(topics[k] for k in topics)


@lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> str:
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"path must name a UTF-8 text file; {path!r} is not valid UTF-8 ({exc})") from None


def load_text(path) -> str:
    """The text of `path` (None: the default corpus); ValueError naming `path` if missing or not UTF-8."""
    if path is None:
        return default_corpus()
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file name or None, got {path!r}")
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ValueError(f"path must name an existing UTF-8 text file; {p!r} does not exist")
    text = _read(os.path.abspath(p), os.path.getmtime(p))
    if not text:
        raise ValueError(f"path must name a non-empty text file; {p!r} is empty")
    return text
