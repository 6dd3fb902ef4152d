"""Timing harness: warm-up first, then interleaved repeats, medians with min-max spread.

Every case times fastdnn, the plain NumPy reference (the course's own code,
``fastdnn.reference``) and any installed peer in the same repeat loop, so the
ratios compare like with like on a noisy machine.
"""

import json
import os
import platform
import sys
import time

import numpy as np


def per_call(fn, min_time):
    """Seconds per call of ``fn``, timing enough calls to fill ``min_time``."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t
        if elapsed >= min_time or n >= 1 << 20:
            return elapsed / n
        n = max(2 * n, int(n * min_time / max(elapsed, 1e-9) * 1.2))


def measure(impls, repeats, min_time):
    """{name: (median, min, max)} seconds per call; implementations interleaved per repeat."""
    for fn in impls.values():
        fn()  # compile / load caches / allocate
    samples = {name: [] for name in impls}
    for _ in range(repeats):
        for name, fn in impls.items():
            # OpenMP runtimes (numba's, PyTorch's) keep their workers spinning
            # for milliseconds after a parallel region; let them go idle so that
            # one implementation's spin is not charged to the next one.
            time.sleep(0.03)
            samples[name].append(per_call(fn, min_time))
    return {
        name: (float(np.median(s)), float(min(s)), float(max(s))) for name, s in samples.items()
    }


def environment():
    import numba

    import fastdnn
    from fastdnn import kernels as K

    K._relu_parallel(np.zeros(4), np.zeros(4))  # so that the threading layer is chosen
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "fastdnn": fastdnn.__version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "threading_layer": numba.threading_layer(),
        "blas": _blas(),
    }
    for peer in ("torch", "onnxruntime"):
        try:
            module = __import__(peer)
            info[peer] = module.__version__
            if peer == "torch":
                info["torch_threads"] = module.get_num_threads()
        except ImportError:
            info[peer] = None
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _blas():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def write_json(path, payload):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)
