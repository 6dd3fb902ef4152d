"""Import is fast and compiles nothing; compiled kernels are cached on disk.

Caching policy (fastdnn/_internal/config.py): every kernel is ``cache=True``. A second
process with the same cache folder loads machine code instead of compiling,
also with a different thread count.
"""

import json
import os
import subprocess
import sys

PROBE = r"""
import json, sys, time
t = time.perf_counter()
import fastdnn
import_s = time.perf_counter() - t
numba_imported = "numba" in sys.modules
import numpy as np
from fastdnn import kernels as K
fastdnn.warmup(("float64",))
stats = {}
for name in dir(K):
    d = getattr(K, name)
    if hasattr(d, "stats"):
        stats[name] = (sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values()))
print(json.dumps({"import_s": import_s, "numba_imported": numba_imported, "stats": stats}))
"""


def run_probe(env):
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_compiles_nothing_and_second_process_loads_from_cache(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    # The cache goes next to the sources when that folder is writable; point
    # it at an empty folder to see a cold first process for certain.
    env.pop("NUMBA_DISABLE_JIT", None)
    first = run_probe(env)
    assert not first["numba_imported"], "import fastdnn must not import numba"
    assert first["import_s"] < 1.0
    env["NUMBA_NUM_THREADS"] = "1"
    second = run_probe(env)
    assert first["stats"] and first["stats"].keys() == second["stats"].keys()
    for name, (hits, misses) in second["stats"].items():
        if hits or misses:
            assert misses == 0, f"{name} was recompiled in the second process"
    assert sum(h for h, _ in second["stats"].values()) >= 10
