"""The compiled kernels are cached on disk: a second Python process runs a learner without compiling."""
import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, numpy as np
from rnnlearn import Elman
from rnnlearn.algorithms import BPTT, RTRL, TBPTT
from rnnlearn.algorithms.rtrl import rtrl_chunk
from rnnlearn.algorithms.tbptt import tbptt_chunk
m = Elman(2, 4, 2, loss="xent"); th = m.init_params(0)
xs = np.eye(2)[[0, 1, 1]]; ys = np.eye(2)[[1, 0, 1]]
for L in (BPTT(), RTRL(), TBPTT(2, 3)):
    L.gradient(m, th, xs, ys)
stats = {f.__name__: [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
         for f in (rtrl_chunk, tbptt_chunk)}
print(json.dumps(stats))
"""


def run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_kernels_from_disk(tmp_path):
    first = run(tmp_path)
    assert all(misses >= 1 for _, misses in first.values()), first  # compiled and written
    second = run(tmp_path)
    assert all(hits >= 1 and misses == 0 for hits, misses in second.values()), second
