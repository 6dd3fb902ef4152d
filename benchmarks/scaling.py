"""Thread scaling of fastdnn's parallel kernels: 1, 2, 4, ... threads up to all cores.

    python benchmarks/scaling.py

Meant for machines with more cores than the 2 of the benchmark machine
(``benchmarks/results/scaling_16core.txt`` came from a 16-core one). The
NumPy reference runs once, with OpenBLAS on its default thread count.
"""

import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.getcwd())
import numba

import fastdnn as F
from fastdnn.app.train import train
from fastdnn.course import reference as R


def med(f, n):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return np.median(ts) * 1e3


rng = np.random.default_rng(0)
print(
    f"# cores {os.cpu_count()}, numba {numba.__version__} max threads {numba.config.NUMBA_NUM_THREADS}, "
    f"numpy {np.__version__}, {platform.processor()}"
)
Z = rng.standard_normal((4096, 4096))
dims = [12288, 20, 7, 5, 1]
p = F.initialize_parameters_deep(dims)
data = {}
for m in (209, 2048):
    X = np.asfortranarray(rng.random((12288, m)))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    data[m] = (X, Y)
model = F.Model.from_parameters(p, dtype=np.float32)
X8k = np.asfortranarray(rng.random((12288, 8192)).astype(np.float32))
rows = {
    "sigmoid 4096^2 f64": (lambda: F.sigmoid(Z), lambda: R.sigmoid(Z), 7),
    "relu 4096^2 f64": (lambda: F.relu(Z), lambda: R.relu(Z), 7),
    # The trainer against a NumPy loop doing the trainer's work (R.trainer_steps).
    "train 10 steps m=209 f64": (
        lambda: train(*data[209], p, 0.0075, 10),
        lambda: R.trainer_steps(*data[209], p, 0.0075, 10),
        5,
    ),
    "train 2 steps m=2048 f64": (
        lambda: train(*data[2048], p, 0.0075, 2),
        lambda: R.trainer_steps(*data[2048], p, 0.0075, 2),
        5,
    ),
    "predict_proba f32 m=8192": (lambda: model.predict_proba(X8k), None, 7),
}
ref = {}
for name, (_, r, _n) in rows.items():
    if r is not None:
        ref[name] = med(r, 3)
print(
    f"{'row':28s} {'threads':>7s} {'fastdnn ms':>11s} {'numpy ms':>9s} {'ratio':>6s} {'speedup vs 1 thread':>20s}"
)
for name, (f, _, n) in rows.items():
    base = None
    for t in (1, 2, 4, 8, 16):
        if t > numba.config.NUMBA_NUM_THREADS:
            break
        with F.threads(t):
            ms = med(f, n)
        base = base or ms
        r = ref.get(name)
        print(
            f"{name:28s} {t:7d} {ms:11.3f} {r if r else float('nan'):9.3f} {(r / ms) if r else float('nan'):6.2f} {base / ms:20.2f}",
            flush=True,
        )
print("# threading layer:", numba.threading_layer())
