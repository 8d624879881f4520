"""`rnnlearn cache info|clear`: numba's cache of the package's compiled kernels (rnnlearn.kernel_cache)."""
from __future__ import annotations

import argparse

DESCRIPTION = """\
numba's cache of rnnlearn's compiled kernels: `info` shows where it is and its size, `clear` deletes it
(the .nbi and .nbc files in the package's __pycache__ folders, and the package's folders in NUMBA_CACHE_DIR
and numba's user-wide cache when they hold any), printing what it removed; the next run compiles again.

Why: numba checks a cached kernel against its own source file only. When a kernel it calls from another file
changes (a model's cell kernel that a learner's kernel calls, say, after a git pull or an edit), numba still
loads the stale machine code, which computes with the old code or crashes. Clear the cache after changing
kernels."""


def _mb(b):
    return f"{b / 2 ** 20:.1f} MB"


def run(args) -> int:
    from rnnlearn import kernel_cache
    if args.action == "info":
        folders = kernel_cache.cache_folders()
        status = kernel_cache.info()
        print(f"numba cache of rnnlearn's kernels: {status['files']} files, {_mb(status['bytes'])}")
        for folder, files, size in status["folders"]:
            print(f"  {folder}: {files} files, {_mb(size)}")
        if not status["files"]:
            print(f"  (nothing cached; numba writes into {folders[0]} and the __pycache__ folders beside "
                  "the other kernels' sources, or NUMBA_CACHE_DIR when set)")
        return 0
    removed = kernel_cache.clear()
    for path in removed:
        print(f"removed {path}")
    print(f"removed {len(removed)} cached kernel files" if removed else "nothing to remove: no cached kernels")
    return 0


def add_parser(sub):
    p = sub.add_parser("cache", help="show or clear numba's cache of the compiled kernels",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["info", "clear"], help="info: where the cache is and its size; "
                   "clear: delete it")
    p.set_defaults(func=run)
