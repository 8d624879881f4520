"""numba's cache of rnnlearn's compiled kernels: where it is, how big, and clearing it (`rnnlearn cache`).

Every kernel is compiled with `cache=True`: numba writes an index (.nbi) and the machine code (.nbc) of each
compiled function, by default into the __pycache__ folder beside its source file, or into
NUMBA_CACHE_DIR/<folder>_<sha1 of the folder's path> when that variable is set (and into numba's user-wide
cache folder, ~/.cache/numba, the same way, when the package's folder is not writable). numba checks a cached
kernel against its own source file only: when a kernel it calls from another file changes (a model's cell
kernel called by a learner), the stale machine code is still loaded. Clearing the cache makes the next run
compile everything again from the sources.
"""
from __future__ import annotations

import hashlib
import os

SUFFIXES = (".nbi", ".nbc")


def package_dirs() -> list[str]:
    """The folders of the installed package's sources, as its modules see them (rnnlearn and
    rnnlearn.algorithms, which in a source tree is a symbolic link to ../algorithms)."""
    import rnnlearn
    import rnnlearn.algorithms
    return [os.path.abspath(p) for p in [*rnnlearn.__path__, *rnnlearn.algorithms.__path__]]


def user_cache_dirs(env=None) -> list[str]:
    """The folders outside the package where numba may keep its kernels: NUMBA_CACHE_DIR if set, and numba's
    user-wide cache folder."""
    env = os.environ if env is None else env
    out = []
    if env.get("NUMBA_CACHE_DIR"):
        out.append(os.path.abspath(env["NUMBA_CACHE_DIR"]))
    try:
        from numba.misc.appdirs import AppDirs
        out.append(AppDirs(appname="numba", appauthor=False).user_cache_dir)
    except ImportError:  # pragma: no cover - another numba layout
        pass
    return out


def _source_dirs(roots):
    """Every folder under `roots` that holds Python sources (the folders numba names its cache after)."""
    seen = set()
    for root in roots:
        for folder, subdirs, files in os.walk(root, followlinks=False):
            subdirs[:] = [d for d in subdirs if d != "__pycache__"]
            if any(f.endswith(".py") for f in files) and folder not in seen:
                seen.add(folder)
                yield folder


def cache_folders(roots=None, cache_dirs=None) -> list[str]:
    """The folders that may hold the package's cached kernels: each source folder's __pycache__ and, in every
    user cache folder, the subfolder numba names after that source folder (`<name>_<sha1(path)>`)."""
    roots = package_dirs() if roots is None else [os.path.abspath(r) for r in roots]
    cache_dirs = user_cache_dirs() if cache_dirs is None else [os.path.abspath(c) for c in cache_dirs]
    out = []
    for folder in _source_dirs(roots):
        out.append(os.path.join(folder, "__pycache__"))
        sub = os.path.basename(folder) + "_" + hashlib.sha1(folder.encode()).hexdigest()
        out.extend(os.path.join(c, sub) for c in cache_dirs)
    return out


def cache_files(roots=None, cache_dirs=None) -> list[str]:
    """The package's cached kernels (.nbi and .nbc files), each once (a folder reached twice through a
    symbolic link counts once)."""
    files, seen = [], set()
    for folder in cache_folders(roots, cache_dirs):
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            path = os.path.join(folder, f)
            real = os.path.realpath(path)
            if f.endswith(SUFFIXES) and os.path.isfile(path) and real not in seen:
                seen.add(real)
                files.append(path)
    return files


def info(roots=None, cache_dirs=None) -> dict:
    """{"folders": [(folder, files, bytes)] of the folders holding cached kernels, "files", "bytes"}."""
    per = {}
    for path in cache_files(roots, cache_dirs):
        k, b = per.get(os.path.dirname(path), (0, 0))
        per[os.path.dirname(path)] = (k + 1, b + os.path.getsize(path))
    return {"folders": [(f, k, b) for f, (k, b) in per.items()], "files": sum(k for k, _ in per.values()),
            "bytes": sum(b for _, b in per.values())}


def clear(roots=None, cache_dirs=None) -> list[str]:
    """Delete the package's cached kernels; returns the paths removed (other files are left alone)."""
    removed = []
    for path in cache_files(roots, cache_dirs):
        try:
            os.remove(path)
        except FileNotFoundError:  # another process cleared it meanwhile
            continue
        removed.append(path)
    return removed
