"""Compile time, import time, thread scaling, the BLAS/numba spinning check, idle latency
and the cost of fresh output pages."""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import fastdnn as F
from fastdnn.app import initialize_parameters_deep
from fastdnn.app.train import train

from .harness import measure

FIRST_STEP = r"""
import json, time
t0 = time.perf_counter()
import fastdnn
t_import = time.perf_counter() - t0
import numpy as np
from fastdnn.app import initialize_parameters_deep
from fastdnn.app.train import train
rng = np.random.default_rng(0)
X = np.asfortranarray(rng.random((12288, 209)))  # the course's layout
Y = (rng.random((1, 209)) > 0.6).astype(float)
p = initialize_parameters_deep([12288, 20, 7, 5, 1])
t1 = time.perf_counter()
train(X, Y, p, 0.0075, 1)
t_step = time.perf_counter() - t1
t2 = time.perf_counter()
fastdnn.warmup()
t_warmup = time.perf_counter() - t2
print(json.dumps({"import_s": t_import, "first_step_s": t_step, "warmup_after_s": t_warmup}))
"""


def _probe(env):
    out = subprocess.run(
        [sys.executable, "-c", FIRST_STEP], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_times(runs):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = _probe(env)  # empty cache: compiles the training kernels, then the rest in warmup()
        warm = [_probe(env) for _ in range(runs)]
    return {
        "cold_first_step_s": cold["first_step_s"],
        "cold_compile_everything_s": cold["first_step_s"] + cold["warmup_after_s"],
        "warm_import_s_median": float(np.median([w["import_s"] for w in warm])),
        "warm_first_step_s_median": float(np.median([w["first_step_s"] for w in warm])),
        "warm_runs": runs,
    }


def thread_scaling(repeats):
    rng = np.random.default_rng(0)
    # X in the course's layout (Fortran order), as in the model rows: the
    # training step's first layer then runs on numba's threads too.
    X = np.asfortranarray(rng.random((12288, 209)))
    Y = (rng.random((1, 209)) > 0.6).astype(float)
    p = initialize_parameters_deep([12288, 20, 7, 5, 1])
    Z = rng.standard_normal((4096, 4096))
    out = {}
    import numba

    for n in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        with F.threads(n):
            t = measure(
                {
                    "sigmoid_4096": lambda: F.sigmoid(Z),
                    "trainer_step_m209": lambda: train(X, Y, p, 0.0075, 5),
                },
                repeats,
                0.1,
            )
        out[f"{n}_threads"] = {
            "sigmoid_4096x4096_s": t["sigmoid_4096"][0],
            "trainer_step_m209_s": t["trainer_step_m209"][0] / 5,
        }
    return out


def spinning(repeats):
    """numba calls right after a large BLAS product, against the same calls alone.

    Two loops: many small calls (the serial path) and a few large ones (the
    parallel path, 2^20 elements). If BLAS threads keep spinning after the
    product, they compete with numba's threads for the cores and the loop
    after the GEMM is slower. (OpenBLAS spins until OPENBLAS_THREAD_TIMEOUT.)
    """
    rng = np.random.default_rng(0)
    big = rng.standard_normal((2048, 2048))
    small = rng.standard_normal((256, 256))  # 65,536 elements: the serial path
    large = rng.standard_normal((1024, 1024))  # 2^20 elements: the parallel path

    def repeat(fn, x, n):
        def loop():
            for _ in range(n):
                fn(x)  # results dropped at once, as in a real loop

        return loop

    loops = {
        "relu_256x256_x200": repeat(F.relu, small, 200),
        "sigmoid_1024x1024_x5": repeat(F.sigmoid, large, 5),
    }
    out = {}
    for name, loop in loops.items():

        def after_gemm(loop=loop):
            big @ big
            t = time.perf_counter()
            loop()
            return time.perf_counter() - t

        def alone(loop=loop):
            time.sleep(0.3)  # longer than OpenBLAS's spin
            # One untimed call wakes numba's workers (asleep after the pause;
            # waking them takes milliseconds, see idle_latency), so the
            # baseline holds no wake-up that the loop after the GEMM skips.
            loop()
            t = time.perf_counter()
            loop()
            return time.perf_counter() - t

        a = [after_gemm() for _ in range(repeats)]
        b = [alone() for _ in range(repeats)]
        out[f"{name}_after_gemm_s"] = float(np.median(a))
        out[f"{name}_alone_s"] = float(np.median(b))
        out[f"{name}_slowdown"] = float(np.median(a) / np.median(b))
    out["OPENBLAS_THREAD_TIMEOUT"] = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset")
    return out


def idle_latency(repeats):
    """``predict_proba`` on the cat network (float32) after 200 ms idle, and back to back.

    A serving process answers requests as they come: between them numba's
    OpenMP workers (and the peers' thread pools) go to sleep, and a parallel
    call then waits for them to wake. Milliseconds per call, medians.
    """
    from .peers import inference

    rng = np.random.default_rng(0)
    model = F.Model.from_parameters(initialize_parameters_deep([12288, 20, 7, 5, 1]), "float32")
    out = {}
    for m in (1, 16):
        X = np.asfortranarray(rng.random((12288, m), dtype=np.float32))
        impls = {
            "fastdnn": lambda X=X: model.predict_proba(X),
            "fastdnn_n_threads_1": lambda X=X: model.predict_proba(X, n_threads=1),
            **inference(model, X),
        }
        for name, fn in impls.items():
            fn()
            for pause in (0.0, 0.2):
                times = []
                for _ in range(repeats):
                    time.sleep(pause)
                    t = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t)
                key = "after_200ms_idle" if pause else "back_to_back"
                out[f"m{m}_{name}_{key}_ms"] = float(np.median(times)) * 1e3
    return out


def fresh_output(repeats):
    """ReLU of 4096 x 4096 float64, into a fresh output and into one already in memory.

    The course's ``relu`` returns a new array, and a 128 MiB allocation is new
    memory from the kernel on every call: the first write to each page faults,
    and the kernel zeroes the page first. Both fastdnn and the NumPy reference
    pay this (fastdnn's two threads fault in parallel); the ``prefaulted`` rows
    run the same computation into an array written before, so ``fresh -
    prefaulted`` is the page cost that bounds the ``relu`` row's ratio.
    fastdnn's prefaulted row calls the parallel kernel directly (the API has
    no ``out=``). Milliseconds per call, medians.
    """
    from fastdnn import kernels as K
    from fastdnn._internal.activations import RELU

    Z = np.random.default_rng(0).standard_normal((4096, 4096))
    A = np.ones_like(Z)  # written once: its pages are in memory
    Z_flat, A_flat = Z.reshape(-1), A.reshape(-1)
    times = measure(
        {
            "numpy_fresh": lambda: np.maximum(0, Z),
            "numpy_prefaulted": lambda: np.maximum(0, Z, out=A),
            "fastdnn_fresh": lambda: F.relu(Z),
            "fastdnn_prefaulted": lambda: K._activation_parallel(Z_flat, A_flat, RELU),
        },
        repeats,
        0.1,
    )
    out = {f"{name}_ms": t[0] * 1e3 for name, t in times.items()}
    for who in ("numpy", "fastdnn"):
        out[f"{who}_page_cost_ms"] = out[f"{who}_fresh_ms"] - out[f"{who}_prefaulted_ms"]
    for kind in ("fresh", "prefaulted"):
        out[f"ratio_{kind}"] = out[f"numpy_{kind}_ms"] / out[f"fastdnn_{kind}_ms"]
    return out


def blas_peak(repeats):
    """GFLOP/s of NumPy's BLAS on a square product: the practical peak of this
    machine, against which the inference rows' GFLOP/s are read."""
    rng = np.random.default_rng(0)
    out = {}
    for dtype in ("float32", "float64"):
        a = rng.random((2048, 2048)).astype(dtype)
        t = measure({"gemm": lambda a=a: a @ a}, repeats, 0.2)["gemm"][0]
        out[f"{dtype}_gemm_2048_gflops"] = 2 * 2048**3 / t / 1e9
    return out


def run(mode):
    quick = mode == "quick"
    result = {
        "compile": compile_times(2 if quick else 5),
        "threads": thread_scaling(2 if quick else 5),
        "spinning": spinning(3 if quick else 11),
        "peak": blas_peak(3 if quick else 7),
        "idle": idle_latency(3 if quick else 9),
        "fresh": fresh_output(3 if quick else 9),
    }
    print("# compile and import:", json.dumps(result["compile"]))
    print("# thread scaling:", json.dumps(result["threads"]))
    print("# BLAS/numba spinning:", json.dumps(result["spinning"]))
    print("# BLAS peak:", json.dumps(result["peak"]))
    print("# idle latency:", json.dumps(result["idle"]))
    print("# fresh output pages:", json.dumps(result["fresh"]))
    return result
