"""What a learner meets on a first run: fresh processes with numba's cache empty, then warm.

Usage::

    python -m benchmarks --only first_run          # 3 rounds, 2500 iterations (about 15 minutes)
    python -m benchmarks.first_run --rounds 1 --iterations 300   # a shorter look

Every measurement is a fresh process with its own empty ``NUMBA_CACHE_DIR``
(cold, as right after ``pip install``), then a second process on the cache
the first one filled (warm):

* **notebook**: the application notebook top to bottom
  (``benchmarks.first_run_notebook``: load the data, the notebook's own
  ``two_layer_model`` and ``L_layer_model`` loops through the step-by-step
  functions, 2500 iterations each, ``predict`` after each), whole process
  wall time, against the same script on the course's NumPy code
  (``fastdnn.course.reference``). The printed costs and accuracies of the
  fastdnn runs are checked against NumPy's.
* **first course-API step**: ``initialize_parameters_deep``, ``L_model_forward``,
  ``compute_cost``, ``L_model_backward``, ``update_parameters`` on the cat
  network and data, timed in the process (after loading the data).
* **first L_layer_model iteration**: ``fastdnn.app.L_layer_model(...,
  num_iterations=1)`` on the same data.
* **fastdnn demo**: the whole command.
* **fastdnn serve**: from starting the command to ``/v2/health/ready`` answering
  200 (needs the ``serve`` extra; skipped without it).

Rounds alternate the contenders (the NumPy run moves through the round),
0.3 s apart; medians are reported with every round's figure. Then, in one
more cold process compiling alone (``FASTDNN_COMPILE_PROCESSES=1``), the
compile time of each kernel a course-API step and a trainer iteration meet
(numba's compile events), the floor the parallel compilation works against.

Data: the course's files from ``../shared/data/catvnoncat`` when present, else
fastdnn's embedded synthetic set written in the course's layout.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data", "catvnoncat")
LAYERS = [12288, 20, 7, 5, 1]
PAUSE = 0.3


def data_folder(scratch):
    """(folder, description): the course's data, or the synthetic set written to ``scratch``."""
    if os.path.exists(os.path.join(SHARED_DATA, "train_catvnoncat.h5")):
        return os.path.abspath(SHARED_DATA), "the course's catvnoncat files"
    import h5py

    from fastdnn.app.data import CLASSES, synthetic_catvnoncat

    for prefix, m, seed in (("train", 209, 0), ("test", 50, 1)):
        x, y = synthetic_catvnoncat(m, seed=seed)
        with h5py.File(os.path.join(scratch, f"{prefix}_catvnoncat.h5"), "w") as f:
            f[f"{prefix}_set_x"], f[f"{prefix}_set_y"], f["list_classes"] = x, y, CLASSES
    return scratch, "fastdnn's synthetic set (../shared/data/catvnoncat absent)"


# ------------------------------------------------------------------ child processes


def _child_step(data):
    """One course-API step, timed after the data is loaded; prints its seconds as JSON."""
    import fastdnn as F
    from fastdnn.app.data import flatten_images, load_data

    x, y, _, _, _ = load_data(data)
    X = flatten_images(x)
    t = time.perf_counter()
    parameters = F.initialize_parameters_deep(LAYERS)
    AL, caches = F.L_model_forward(X, parameters)
    F.compute_cost(AL, y)
    grads = F.L_model_backward(AL, y, caches)
    F.update_parameters(parameters, grads, 0.0075)
    print(json.dumps({"seconds": time.perf_counter() - t}))


def _child_iteration(data):
    """``fastdnn.app.L_layer_model`` for one iteration, timed after the data is loaded."""
    from fastdnn.app import L_layer_model
    from fastdnn.app.data import flatten_images, load_data

    x, y, _, _, _ = load_data(data)
    X = flatten_images(x)
    t = time.perf_counter()
    L_layer_model(X, y, LAYERS, num_iterations=1, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t}))


def _child_kernels(data):
    """Compile events of a course-API step and a trainer iteration, compiling in this
    process alone: seconds per kernel (top level, nested compiles included)."""
    from numba.core import event

    times, depth = {}, []

    class Listener(event.Listener):
        def on_start(self, ev):
            depth.append(time.perf_counter())

        def on_end(self, ev):
            t0 = depth.pop()
            if not depth:
                f = getattr(ev.data.get("dispatcher"), "py_func", None)
                name = f.__name__ if f else "?"
                times[name] = times.get(name, 0.0) + time.perf_counter() - t0

    with event.install_listener("numba:compile", Listener()):
        _child_step(data)
        _child_iteration(data)
    print(json.dumps({"kernels": times}))


CHILDREN = {"step": _child_step, "iteration": _child_iteration, "kernels": _child_kernels}


# ------------------------------------------------------------------ the parent


def _env(cache, **extra):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return env


def _run(args, cache, **extra):
    """(wall seconds, stdout) of ``python args...`` in a fresh process."""
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_env(cache, **extra),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return wall, r.stdout


def _child(mode, data, cache, **extra):
    _, out = _run(["-m", "benchmarks.first_run", "--child", mode, data], cache, **extra)
    return json.loads(out.strip().splitlines()[-1])


def _printed_numbers(text):
    """Costs and accuracies, in order, from the notebook script's output."""
    return [
        float(x) for x in re.findall(r"(?:Cost after iteration \d+|Accuracy): ([-\d.e]+)", text)
    ]


def _serve_until_ready(model, cache):
    """Seconds from starting ``fastdnn serve`` to its readiness answering 200."""
    from .serve import _free_port

    port = _free_port()
    url = f"http://127.0.0.1:{port}/v2/health/ready"
    t = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "fastdnn", "serve", model, "--port", str(port)],
        cwd=ROOT,
        env=_env(cache),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("fastdnn serve exited before it was ready")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t
            except OSError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _serve_available():
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


def run(iterations=2500, rounds=3, demo_iterations=1000, out=print):
    """Every row (module docstring); returns the result dicts."""
    scratch = tempfile.mkdtemp(prefix="fastdnn-first-run-")
    try:
        return _rows(scratch, iterations, rounds, demo_iterations, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _rows(scratch, iterations, rounds, demo_iterations, out):
    data, source = data_folder(scratch)
    out(f"# first run: fresh processes, each cold one with an empty NUMBA_CACHE_DIR; {source}")
    out(f"# {rounds} round(s), contenders alternating 0.3 s apart; medians, every round in []")
    caches = iter(range(10**6))

    def fresh_cache():
        path = os.path.join(scratch, f"cache{next(caches)}")
        os.makedirs(path)
        return path

    results = []
    notebook = ["-m", "benchmarks.first_run_notebook"]
    times = {"numpy": [], "fastdnn cold": [], "fastdnn warm": []}
    printed = {}
    for r in range(rounds):
        cache = fresh_cache()
        order = ["numpy", "fastdnn cold", "fastdnn warm"]
        order.insert(r % 3, order.pop(0))  # NumPy's place moves; warm always after cold
        for name in order:
            time.sleep(PAUSE)
            side = "numpy" if name == "numpy" else "fastdnn"
            wall, text = _run([*notebook, side, data, str(iterations)], cache)
            times[name].append(wall)
            printed.setdefault(name, _printed_numbers(text))
    ref = np.array(printed["numpy"])
    agree = {
        k: float(np.max(np.abs(np.array(v) - ref) / np.maximum(np.abs(ref), 1e-300)))
        for k, v in printed.items()
        if k != "numpy"
    }
    med = {k: float(np.median(v)) for k, v in times.items()}
    results.append(
        dict(
            row="notebook",
            iterations=iterations,
            seconds={k: sorted(v) for k, v in times.items()},
            ratio_cold_vs_numpy=med["numpy"] / med["fastdnn cold"],
            ratio_warm_vs_numpy=med["numpy"] / med["fastdnn warm"],
            printed_values=len(ref),
            max_relative_difference_from_numpy=agree,
        )
    )
    out(
        f"notebook ({iterations} iterations per loop, whole process): NumPy {med['numpy']:.1f} s "
        f"{_list(times['numpy'])}, fastdnn cold {med['fastdnn cold']:.1f} s "
        f"{_list(times['fastdnn cold'])} ({med['numpy'] / med['fastdnn cold']:.2f}x), "
        f"warm {med['fastdnn warm']:.1f} s {_list(times['fastdnn warm'])} "
        f"({med['numpy'] / med['fastdnn warm']:.2f}x); {len(ref)} printed costs and accuracies "
        f"agree with NumPy's to {max(agree.values()):.1e} relative"
    )

    model = os.path.join(scratch, "cat.h5")
    from fastdnn.app import initialize_parameters_deep
    from fastdnn.serving.modelfile import save_model

    save_model(model, initialize_parameters_deep(LAYERS))
    cases = {
        "first course-API step": lambda cache: _child("step", data, cache)["seconds"],
        "first L_layer_model iteration": lambda cache: _child("iteration", data, cache)["seconds"],
        "fastdnn demo": lambda cache: _run(
            [
                "-m",
                "fastdnn",
                "demo",
                "--out",
                os.path.join(scratch, "demo"),
                "--iterations",
                str(demo_iterations),
            ],
            cache,
        )[0],
    }
    if _serve_available():
        cases["fastdnn serve until ready"] = lambda cache: _serve_until_ready(model, cache)
    else:
        out("# fastdnn serve: skipped (pip install 'fastdnn[serve]')")
    for name, measure in cases.items():
        cold, warm = [], []
        for _ in range(rounds):
            cache = fresh_cache()
            time.sleep(PAUSE)
            cold.append(measure(cache))
            time.sleep(PAUSE)
            warm.append(measure(cache))
        c, w = float(np.median(cold)), float(np.median(warm))
        results.append(dict(row=name, seconds={"cold": sorted(cold), "warm": sorted(warm)}))
        out(f"{name}: cold {c:.2f} s {_list(cold)}, warm {w:.2f} s {_list(warm)} ({c / w:.1f}x)")

    kernels = _child("kernels", data, fresh_cache(), FASTDNN_COMPILE_PROCESSES="1")["kernels"]
    results.append(dict(row="compile seconds per kernel", seconds=kernels))
    out(
        f"compile seconds per kernel, one process alone (course-API step, then a trainer "
        f"iteration; {sum(kernels.values()):.1f} s in all):"
    )
    for name, seconds in sorted(kernels.items(), key=lambda kv: -kv[1]):
        out(f"  {seconds:6.2f}  {name}")
    return results


def _list(values):
    return "[" + ", ".join(f"{v:.1f}" if v >= 10 else f"{v:.2f}" for v in values) + "]"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_run")
    parser.add_argument("--iterations", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--demo-iterations", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        CHILDREN[args.child[0]](args.child[1])
        return 0
    run(args.iterations, args.rounds, args.demo_iterations, out=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
