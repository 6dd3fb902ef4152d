"""Timing harness: warm-up first, then interleaved repeats, medians with min-max spread.

Every case times fastdnn, the plain NumPy reference (the course's own code,
``fastdnn.course.reference``) and any installed peer in the same repeat loop, so the
ratios compare like with like on a noisy machine.
"""

import json
import platform
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


def measure(impls, repeats, min_time, pause=0.03):
    """{name: (median, min, max)} seconds per call.

    Contenders alternate in blocks (one ``per_call`` block each per repeat),
    the first one rotating from repeat to repeat, with ``pause`` seconds
    before each block: OpenMP runtimes (numba's, PyTorch's) and OpenBLAS keep
    their workers spinning after a call (OpenBLAS here for up to ~0.3 s), and
    a contender timed inside another's spin pays for it.
    """
    for fn in impls.values():
        fn()  # compile / load caches / allocate
    names = list(impls)
    samples = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            time.sleep(pause)
            samples[name].append(per_call(impls[name], min_time))
    return {
        name: (float(np.median(s)), float(min(s)), float(max(s))) for name, s in samples.items()
    }


def environment():
    from fastdnn.cli import environment as fastdnn_environment

    info = {"platform": platform.platform(), "cpu": _cpu_name(), **fastdnn_environment()}
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
    from fastdnn._internal.variants import cpu_model

    return cpu_model()


def write_json(path, payload):
    write_text(path, json.dumps(payload, indent=1))


def write_text(path, text):
    """Atomically (fastdnn's own helper): an interrupted run keeps the previous results."""
    from fastdnn._internal.atomic import open_output

    with open_output(path, "w") as f:
        f.write(text)
