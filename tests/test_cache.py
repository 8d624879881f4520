"""The compiled kernels are cached on disk: a second Python process runs every registered learner without
compiling anything (numba's Generator inside a stochastic learner's state included)."""
import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, sys, numpy as np
from numba.core.registry import CPUDispatcher
from rnnlearn import Elman, optim
from rnnlearn.algorithms import LEARNERS, make_learner
from rnnlearn.tasks.base import Chunk
m = Elman(2, 4, 2, loss="xent"); th = m.init_params(0)
xs = np.eye(2)[[0, 1, 1]]; ys = np.eye(2)[[1, 0, 1]]
for name, cls in LEARNERS.items():
    L = make_learner(name, **cls.bench_params(3))
    t = th.copy()
    L.train(m, t, L.init(m, t, None if L.own_update else optim.sgd(0.01), seed=1), Chunk.make(xs, ys))
stats = {}
for modname, mod in list(sys.modules.items()):
    if modname.startswith("rnnlearn"):
        for k, f in vars(mod).items():
            if isinstance(f, CPUDispatcher) and (f.stats.cache_hits or f.stats.cache_misses):
                stats[f"{modname}.{k}"] = [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
print(json.dumps({"learners": sorted(LEARNERS), "stats": stats}))
"""


def run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_every_learners_kernels_from_disk(tmp_path):
    first = run(tmp_path)
    chunks = {k for k in first["stats"] if k.endswith("_chunk")}
    assert len(chunks) >= len(first["learners"]) - 1, chunks  # one chunk kernel per learner (BPTT's is TBPTT's)
    assert all(misses >= 1 for _, misses in first["stats"].values()), first
    second = run(tmp_path)  # the chunk kernels load from disk (with their callees compiled into them)
    assert chunks <= set(second["stats"])
    assert all(hits >= 1 and misses == 0 for hits, misses in second["stats"].values()), second
