"""What a learner meets on a first run: fresh processes with numba's cache empty, then warm.

Usage::

    python -m benchmarks --only first_run          # 3 rounds, 2500 iterations (about 15 minutes)
    python -m benchmarks.first_run --rounds 1 --iterations 300   # a shorter look

Two installs of this checkout are measured side by side: **source** (the
checkout on ``PYTHONPATH``, as an editable install: its kernels compile on first
use) and **wheel** (``pip wheel`` of the checkout, which compiles the kernels for
every CPU level, installed with its dependencies into a fresh virtual
environment; the build's time and the wheel's size are reported). Every
measurement is a fresh process with its own empty ``NUMBA_CACHE_DIR`` and no
kernel variant choices (cold, as right after ``pip install``: the variants are
calibrated on first use), then a second process on the cache and choices the
first one left (warm):

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
Last, the warm speed of each installed level against the kernels compiled for
this CPU (``FASTDNN_KERNELS=<level>``; the ``host`` level is the machine code
numba compiles here): per iteration of the notebook's two loops, and one float32
and one int8 (uint8 pixels) batch of 8192 examples, levels alternating.

``--no-wheel`` measures the source install alone.

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
    """One course-API step, timed after the data is loaded (and from the process's
    start, ``since_start``); prints its seconds as JSON."""
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
    done = time.perf_counter()
    print(json.dumps({"seconds": done - t, "since_start": done - _STARTED}))


def _child_iteration(data):
    """``fastdnn.app.L_layer_model`` for one iteration, timed after the data is loaded (and
    from the process's start)."""
    from fastdnn.app import L_layer_model
    from fastdnn.app.data import flatten_images, load_data

    x, y, _, _, _ = load_data(data)
    X = flatten_images(x)
    t = time.perf_counter()
    L_layer_model(X, y, LAYERS, num_iterations=1, progress=False)
    done = time.perf_counter()
    print(json.dumps({"seconds": done - t, "since_start": done - _STARTED}))


def _child_kernels(data):
    """Compile events of a course-API step and a trainer iteration, compiling in this
    process alone: seconds per kernel (top level, nested compiles included)."""
    from fastdnn._internal.numba_internals import compilations

    with compilations() as found:
        _child_step(data)
        _child_iteration(data)
    times = {}
    for name, seconds in zip(found.names, found.seconds, strict=True):
        times[name] = times.get(name, 0.0) + seconds
    print(json.dumps({"kernels": times}))


def _child_speed(data):
    """Warm speed of the kernels this process runs (``FASTDNN_KERNELS`` picks the level):
    ms per iteration of the notebook's two loops (``benchmarks.notebook``, 200 each, after
    5), and ms per float32 and int8 batch of 8192 examples (median of 7)."""
    import fastdnn as F
    import fastdnn.app as app
    from fastdnn._internal.installed import choice
    from fastdnn.app.data import flatten_images, load_data

    from .notebook import L_layer_model, two_layer_model

    x, y, _, _, _ = load_data(data)
    X = flatten_images(x)
    out = {"kernels": choice().describe()}
    for name, loop, start in (
        ("two_layer_model", two_layer_model, lambda: app.initialize_parameters(12288, 7, 1)),
        ("L_layer_model", L_layer_model, lambda: app.initialize_parameters_deep(LAYERS)),
    ):
        loop(app, X, y, start(), 0.0075, 5)
        t = time.perf_counter()
        loop(app, X, y, start(), 0.0075, 200)
        out[name] = (time.perf_counter() - t) / 200 * 1e3
    rng = np.random.default_rng(0)
    pixels = np.asfortranarray(rng.integers(0, 256, (12288, 8192), dtype=np.uint8))
    model = F.Model.from_parameters(app.initialize_parameters_deep(LAYERS), dtype="float32")
    int8 = model.quantize()
    X32 = np.asfortranarray(pixels / np.float32(255))
    for name, call in (
        ("float32 batch", lambda: model.predict_proba(X32)),
        ("int8 batch", lambda: int8.predict_proba(pixels, scale=1 / 255)),
    ):
        call()
        times = []
        for _ in range(7):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        out[name] = float(np.median(times)) * 1e3
    print(json.dumps(out))


CHILDREN = {
    "step": _child_step,
    "iteration": _child_iteration,
    "kernels": _child_kernels,
    "speed": _child_speed,
}
_STARTED = time.perf_counter()


# ------------------------------------------------------------------ the parent


class Install:
    """How a contender runs: ``python``, the ``path`` put first on ``PYTHONPATH`` (the
    checkout for the source install; a copy of ``benchmarks/`` alone for the wheel's,
    so that ``import fastdnn`` finds the installed package) and the working folder."""

    def __init__(self, name, python, path, cwd):
        self.name, self.python, self.path, self.cwd = name, python, path, cwd


SOURCE = Install("source", sys.executable, ROOT, ROOT)


def _env(install, cache, **extra):
    # The kernel variants' choices live beside the cache: a cold process has none and
    # calibrates on first use (issue #38), the warm one reads what it saved.
    choices = os.path.join(cache, "variants.json")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, FASTDNN_VARIANTS_FILE=choices, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [install.path, env.get("PYTHONPATH")]))
    return env


def _run(install, args, cache, **extra):
    """(wall seconds, stdout) of ``python args...`` in a fresh process of ``install``."""
    t = time.perf_counter()
    r = subprocess.run(
        [install.python, *args],
        cwd=install.cwd,
        env=_env(install, cache, **extra),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return wall, r.stdout


def _child(install, mode, data, cache, **extra):
    _, out = _run(install, ["-m", "benchmarks.first_run", "--child", mode, data], cache, **extra)
    return json.loads(out.strip().splitlines()[-1])


def build_wheel(out, **env):
    """Build this checkout's wheel into ``out`` as a user does (``pip wheel``, build
    isolation on), from a copy of its files: pip builds in the source tree, and two
    builds of one tree (a test and a benchmark) would share its ``build/`` folder.
    ``env``: extra environment (``FASTDNN_KERNEL_LEVELS``). Returns the wheel's path."""
    source = os.path.join(out, "source")
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "_compiled"
        ),
    )
    environ = dict(os.environ, **env)
    for key in ("NUMBA_DISABLE_JIT", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"):
        environ.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source],
        env=environ,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip wheel failed:\n{done.stderr[-4000:]}")
    shutil.rmtree(source)
    (wheel,) = (os.path.join(out, f) for f in os.listdir(out) if f.endswith(".whl"))
    return wheel


def wheel_install(scratch, out):
    """Build this checkout's wheel (every level: ``FASTDNN_KERNEL_LEVELS`` as set, default
    all), install it with the ``serve`` extra into a fresh venv; (Install, facts)."""
    t = time.perf_counter()
    wheel = build_wheel(os.path.join(scratch, "wheels"))
    build = time.perf_counter() - t
    venv = os.path.join(scratch, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    extra = "[serve]" if _serve_available() else ""
    subprocess.run(
        [python, "-m", "pip", "install", "-q", f"fastdnn{extra} @ file://{wheel}"],
        check=True,
        capture_output=True,
    )
    bench = os.path.join(scratch, "bench")
    shutil.copytree(os.path.join(ROOT, "benchmarks"), os.path.join(bench, "benchmarks"))
    manifest = subprocess.run(
        [
            python,
            "-c",
            "from fastdnn._internal.installed import read_manifest; "
            "import json; print(json.dumps(read_manifest()[0]))",
        ],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    manifest = json.loads(manifest)
    facts = dict(
        wheel=os.path.basename(wheel),
        wheel_mib=os.path.getsize(wheel) / (1 << 20),
        build_seconds=build,
        kernel_build_seconds=manifest["build_seconds"],
        levels=[level["name"] for level in manifest["levels"]],
    )
    out(
        f"wheel: {facts['wheel']}, {facts['wheel_mib']:.1f} MiB, levels "
        f"{', '.join(facts['levels'])}; pip wheel {build:.0f} s (kernels "
        f"{manifest['build_seconds']:.0f} s on {precompile_cores()} cores)"
    )
    return Install("wheel", python, bench, scratch), facts


def precompile_cores():
    from fastdnn._internal.precompile import _cores

    return _cores()


def _printed_numbers(text):
    """Costs and accuracies, in order, from the notebook script's output."""
    return [
        float(x) for x in re.findall(r"(?:Cost after iteration \d+|Accuracy): ([-\d.e]+)", text)
    ]


def _serve_until_ready(install, model, cache):
    """Seconds from starting ``fastdnn serve`` to its readiness answering 200."""
    from .serve import _free_port

    port = _free_port()
    url = f"http://127.0.0.1:{port}/v2/health/ready"
    t = time.perf_counter()
    process = subprocess.Popen(
        [install.python, "-m", "fastdnn", "serve", model, "--port", str(port)],
        cwd=install.cwd,
        env=_env(install, cache),
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


def run(iterations=2500, rounds=3, demo_iterations=1000, out=print, wheel=True):
    """Every row (module docstring); returns the result dicts."""
    scratch = tempfile.mkdtemp(prefix="fastdnn-first-run-")
    try:
        return _rows(scratch, iterations, rounds, demo_iterations, out, wheel)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _rows(scratch, iterations, rounds, demo_iterations, out, wheel):
    data, source = data_folder(scratch)
    out(f"# first run: fresh processes, each cold one with an empty NUMBA_CACHE_DIR; {source}")
    out(f"# {rounds} round(s), contenders alternating 0.3 s apart; medians, every round in []")
    caches = iter(range(10**6))

    def fresh_cache():
        path = os.path.join(scratch, f"cache{next(caches)}")
        os.makedirs(path)
        return path

    results = []
    installs = [SOURCE]
    if wheel:
        installed, facts = wheel_install(scratch, out)
        installs.append(installed)
        results.append(dict(row="wheel", **facts))
    results.append(_notebook(installs, data, iterations, rounds, fresh_cache, out))

    model = os.path.join(scratch, "cat.h5")
    from fastdnn.app import initialize_parameters_deep
    from fastdnn.serving.modelfile import save_model

    save_model(model, initialize_parameters_deep(LAYERS))
    cases = {
        "first course-API step": lambda i, cache: _child(i, "step", data, cache),
        "first L_layer_model iteration": lambda i, cache: _child(i, "iteration", data, cache),
        "fastdnn demo": lambda i, cache: _run(
            i,
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
        cases["fastdnn serve until ready"] = lambda i, cache: _serve_until_ready(i, model, cache)
    else:
        out("# fastdnn serve: skipped (pip install 'fastdnn[serve]')")
    for name, measure in cases.items():
        for install in installs:
            results.append(
                _cold_warm(f"{name} ({install.name})", install, measure, rounds, fresh_cache, out)
            )

    kernels = _child(SOURCE, "kernels", data, fresh_cache(), FASTDNN_COMPILE_PROCESSES="1")
    kernels = kernels["kernels"]
    results.append(dict(row="compile seconds per kernel", seconds=kernels))
    out(
        f"compile seconds per kernel, one process alone (course-API step, then a trainer "
        f"iteration; {sum(kernels.values()):.1f} s in all):"
    )
    for name, seconds in sorted(kernels.items(), key=lambda kv: -kv[1]):
        out(f"  {seconds:6.2f}  {name}")
    if wheel:
        results.append(_level_speed(installed, facts["levels"], data, rounds, fresh_cache, out))
    return results


def _notebook(installs, data, iterations, rounds, fresh_cache, out):
    """The whole notebook: NumPy, then each install cold and warm, in rounds."""
    notebook = ["-m", "benchmarks.first_run_notebook"]
    contenders = ["numpy"] + [f"{i.name} {t}" for i in installs for t in ("cold", "warm")]
    by_name = {i.name: i for i in installs}
    times = {name: [] for name in contenders}
    printed = {}
    for r in range(rounds):
        caches = {i.name: fresh_cache() for i in installs}
        order = contenders[1:]
        order.insert(r % len(contenders), "numpy")  # NumPy's place moves; warm after cold
        for name in order:
            time.sleep(PAUSE)
            if name == "numpy":
                install, side, cache = SOURCE, "numpy", fresh_cache()
            else:
                install = by_name[name.split()[0]]
                side, cache = "fastdnn", caches[install.name]
            wall, text = _run(install, [*notebook, side, data, str(iterations)], cache)
            times[name].append(wall)
            printed.setdefault(name, _printed_numbers(text))
    ref = np.array(printed["numpy"])
    agree = {
        k: float(np.max(np.abs(np.array(v) - ref) / np.maximum(np.abs(ref), 1e-300)))
        for k, v in printed.items()
        if k != "numpy"
    }
    med = {k: float(np.median(v)) for k, v in times.items()}
    row = dict(
        row="notebook",
        iterations=iterations,
        seconds={k: sorted(v) for k, v in times.items()},
        ratio_vs_numpy={k: med["numpy"] / med[k] for k in contenders[1:]},
        printed_values=len(ref),
        max_relative_difference_from_numpy=agree,
    )
    for i in installs:
        cold, warm = med[f"{i.name} cold"], med[f"{i.name} warm"]
        row[f"{i.name}_cold_vs_warm"] = warm / cold
    out(
        f"notebook ({iterations} iterations per loop, whole process): NumPy {med['numpy']:.1f} s "
        f"{_list(times['numpy'])}"
    )
    for i in installs:
        cold, warm = f"{i.name} cold", f"{i.name} warm"
        out(
            f"  fastdnn {i.name}: cold {med[cold]:.1f} s {_list(times[cold])} "
            f"({med['numpy'] / med[cold]:.2f}x NumPy), warm {med[warm]:.1f} s "
            f"{_list(times[warm])} ({med['numpy'] / med[warm]:.2f}x); the first run at "
            f"{med[warm] / med[cold]:.2f}x the warm run's speed"
        )
    out(
        f"  {len(ref)} printed costs and accuracies agree with NumPy's to "
        f"{max(agree.values()):.1e} relative"
    )
    return row


def _cold_warm(name, install, measure, rounds, fresh_cache, out):
    cold, warm, since = [], [], []
    for _ in range(rounds):
        cache = fresh_cache()
        for times in (cold, warm):
            time.sleep(PAUSE)
            got = measure(install, cache)
            if isinstance(got, dict):  # the step: seconds, and seconds since the start
                if times is cold:
                    since.append(got["since_start"])
                got = got["seconds"]
            times.append(got)
    c, w = float(np.median(cold)), float(np.median(warm))
    row = dict(row=name, seconds={"cold": sorted(cold), "warm": sorted(warm)})
    line = f"{name}: cold {c:.2f} s {_list(cold)}, warm {w:.2f} s {_list(warm)} ({c / w:.1f}x)"
    if since:
        row["cold_since_process_start"] = sorted(since)
        line += f"; cold, from the process's start: {np.median(since):.2f} s {_list(since)}"
    out(line)
    return row


def _level_speed(installed, names, data, rounds, fresh_cache, out):
    """Warm speed of each installed level against ``host`` (numba's own code for this CPU)."""
    cache = fresh_cache()  # nothing compiles: every level's kernels are installed
    by_level = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            time.sleep(PAUSE)
            by_level[name].append(_child(installed, "speed", data, cache, FASTDNN_KERNELS=name))
    keys = ("two_layer_model", "L_layer_model", "float32 batch", "int8 batch")
    med = {n: {k: float(np.median([r[k] for r in rs])) for k in keys} for n, rs in by_level.items()}
    out("warm speed per level, ms (median of rounds; host = compiled for this CPU):")
    out("  " + f"{'level':16}" + "".join(f"{k:>18}" for k in keys))
    for name in names:
        cells = (
            "".join(f"{med[name][k]:10.2f} ({med['host'][k] / med[name][k]:4.2f}x)" for k in keys)
            if "host" in med
            else "".join(f"{med[name][k]:18.2f}" for k in keys)
        )
        out(f"  {name:16}{cells}")
    return dict(
        row="warm speed per level (ms)", levels=med, rounds={n: rs for n, rs in by_level.items()}
    )


def _list(values):
    return "[" + ", ".join(f"{v:.1f}" if v >= 10 else f"{v:.2f}" for v in values) + "]"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_run")
    parser.add_argument("--iterations", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--demo-iterations", type=int, default=1000)
    parser.add_argument("--no-wheel", action="store_true", help="the source install alone")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        CHILDREN[args.child[0]](args.child[1])
        return 0
    run(
        args.iterations,
        args.rounds,
        args.demo_iterations,
        out=lambda s: print(s, flush=True),
        wheel=not args.no_wheel,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
