"""Run fastdnn's benchmarks: fastdnn vs the course's NumPy code (and peers), side by side.

Usage::

    python -m benchmarks --quick                 # a few seconds a row; what CI runs
    python -m benchmarks --full --out benchmarks/results   # the committed figures
    python -m benchmarks --only trainer_step     # rows whose name contains this
    python -m benchmarks --only notebook         # the notebook's two loops, 2500 iterations
    python -m benchmarks --only backward --full  # the cat network's backward pass per call
    python -m benchmarks.compare BEFORE/results.json AFTER/results.json  # two runs, row by row
    python -m benchmarks --only first_run        # a learner's first run: cold and warm processes
    python -m benchmarks --only serve --full     # fastdnn serve vs per-request ONNX Runtime
    python -m benchmarks --only serve_peers --full  # fastdnn serve vs KServe + ONNX Runtime
    python -m benchmarks --only int8 --full      # int8 inference vs float32 and ONNX Runtime
    python -m benchmarks --only course2          # Course 2's four notebooks' loops (--full: theirs)

Prints a table (median time per call, min-max spread, ratio NumPy/fastdnn:
above 1 means fastdnn is faster), writes ``results.json`` and PNG plots of the
ratio against size, and the compile-time and thread sections.
"""

import argparse
import os
import sys

import numpy as np

from . import cases, extras, harness, notebook, plots, report


def flatten(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in flatten(x[k])]
    if isinstance(x, (tuple, list)):
        return [v for item in x for v in flatten(item)]
    return [np.asarray(x)] if x is not None else []


def check(case):
    """Every timed result (fastdnn's, and peers' that return one) against the
    NumPy reference's, before anything is timed."""
    want = flatten(case["impls"]["numpy"]())
    tol = 1e-9 if case["dtype"] == np.float64 else 2e-4
    for name, impl in case["impls"].items():
        if name == "numpy":
            continue
        got = flatten(impl())
        if not got and name != "fastdnn":
            continue  # a peer's training loop returns nothing to compare
        if len(got) != len(want):
            raise AssertionError(
                f"{case['name']} {case['size']}: {name} gives {len(got)} outputs vs {len(want)}"
            )
        for g, w in zip(got, want, strict=True):
            scale = max(1.0, float(np.abs(w).max()))
            if g.shape != w.shape or not np.allclose(g, w, rtol=tol, atol=tol * scale):
                raise AssertionError(f"{case['name']} {case['size']}: {name} differs from NumPy")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="small sizes, few repeats (CI)",
    )
    mode.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="all sizes, more repeats"
    )
    parser.add_argument("--only", help="run rows whose name contains this")
    parser.add_argument("--out", default=None, help="folder for results.json and the plots")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--no-extras", action="store_true", help="skip the compile-time and thread sections"
    )
    args = parser.parse_args(argv)
    from fastdnn._internal.precompile import drop_stale_kernel_cache

    drop_stale_kernel_cache()  # a development checkout's edits are measured, not old kernels
    mode = args.mode or "quick"
    repeats = args.repeats or (3 if mode == "quick" else 7)
    min_time = 0.02 if mode == "quick" else 0.1

    if args.only == "first_run":  # fresh processes with their own caches: no warm-up here
        return _first_run(args, mode)
    import fastdnn

    fastdnn.warmup()
    if args.only == "notebook":
        return _notebook(args, mode)
    if args.only == "serve":
        return _serve(args, mode)
    if args.only == "serve_peers":
        return _serve(args, mode, peers_only=True)
    if args.only == "int8":
        return _int8(args, mode)
    if args.only == "backward":
        return _backward(args, mode)
    if args.only == "course2":
        return _course2(args, mode)
    env = harness.environment()
    print("# fastdnn benchmarks (" + mode + ")")
    for key, value in env.items():
        print(f"#   {key}: {value}")
    skipped = [p for p, ok in cases.peers.available().items() if not ok]
    if skipped:
        print(f"#   peers skipped (not installed): {', '.join(skipped)}")
    header = f"{'row':38} {'size':26} {'dtype':7} {'fastdnn':>10} {'numpy':>10} {'ratio':>6}  {'spread (fastdnn)':>20}  peers"
    print(header)
    rows = []
    for case in cases.all_cases(mode):
        if args.only and args.only not in case["name"]:
            continue
        check(case)
        timing = harness.measure(case["impls"], repeats, min_time, case.get("pause", 0.03))
        steps = case.get("steps", 1)
        per = {k: tuple(t / steps for t in v) for k, v in timing.items()}
        fast, ref = per["fastdnn"][0], per["numpy"][0]
        peer_text = "  ".join(
            f"{k} {v[0] * 1e3:.3f} ms ({v[0] / fast:.2f}x)"
            for k, v in per.items()
            if k not in ("fastdnn", "numpy")
        )
        dtype = np.dtype(case["dtype"]).name
        print(
            f"{case['name']:38} {case['size']:26} {dtype:7} {fast * 1e3:9.4f}m {ref * 1e3:9.4f}m {ref / fast:6.2f}  "
            f"[{per['fastdnn'][1] * 1e3:.4f}, {per['fastdnn'][2] * 1e3:.4f}]ms  {peer_text}",
            flush=True,
        )
        if "flops" in case:
            peer_text += f"  fastdnn {case['flops'] / fast / 1e9:.1f} GFLOP/s"
        rows.append(
            dict(
                group=case["group"],
                name=case["name"],
                size=case["size"],
                elements=case["elements"],
                dtype=dtype,
                seconds={k: list(v) for k, v in per.items()},
                ratio_vs_numpy=ref / fast,
                **({"gflops": case["flops"] / fast / 1e9} if "flops" in case else {}),
            )
        )
    from fastdnn._internal import variants

    # The kernel variants as the rows ran them (chosen on first use during the run).
    env.update(kernel_variants=variants.status(), variant_choices=variants.summary())
    payload = {
        "mode": mode,
        "repeats": repeats,
        "environment": env,
        "peers_skipped": skipped,
        "rows": rows,
    }
    if not args.no_extras and not args.only:
        payload["extras"] = extras.run(mode)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        harness.write_json(os.path.join(args.out, "results.json"), payload)
        harness.write_text(os.path.join(args.out, "results.md"), report.render(payload))
        for path in plots.write(payload, args.out):
            print(f"# plot: {path}")
    return 0


def _notebook(args, mode):
    """``--only notebook``: the application notebook's two loops (``benchmarks.notebook``)."""
    iterations = 300 if args.mode == "quick" else 2500
    return _printed_run(
        args, "notebook", lambda out: notebook.run(iterations, args.repeats or 3, out=out)
    )


def _first_run(args, mode):
    """``--only first_run``: cold and warm first runs (``benchmarks.first_run``)."""
    from . import first_run

    iterations, rounds, demo = (300, 1, 100) if args.mode == "quick" else (2500, 3, 1000)
    return _printed_run(
        args,
        "first_run",
        lambda out: first_run.run(iterations, args.repeats or rounds, demo, out=out),
    )


def _int8(args, mode):
    """``--only int8``: the int8 model against float32 and ONNX Runtime (``benchmarks.int8``)."""
    from . import int8

    iterations, repeats, min_time = (300, 3, 0.05) if mode == "quick" else (2500, 7, 0.3)
    return _printed_run(
        args,
        "int8",
        lambda out: int8.run(iterations, args.repeats or repeats, min_time, out=out),
    )


def _backward(args, mode):
    """``--only backward``: the cat network's backward pass per call (``benchmarks.backward``)."""
    from . import backward

    rounds, calls = (3, 10) if mode == "quick" else (7, 30)
    return _printed_run(
        args, "backward", lambda out: backward.run(args.repeats or rounds, calls, out=out)
    )


def _course2(args, mode):
    """``--only course2``: Course 2's notebooks' loops, NumPy, swapped, compiled
    (``benchmarks.course2``)."""
    from . import course2

    return _printed_run(
        args,
        "course2",
        lambda out: course2.run(mode == "full", args.repeats or 3, out=out),
    )


def _serve(args, mode, peers_only=False):
    """``--only serve``: ``fastdnn serve`` under load (``benchmarks.serve``; needs fastdnn[serve]);
    ``--only serve_peers``: only its rows against KServe (needs fastdnn[peers])."""
    from . import serve

    seconds, rounds = (2.0, 1) if mode == "quick" else (10.0, 3)
    run = serve.run_peers if peers_only else serve.run
    return _printed_run(
        args,
        "serve_peers" if peers_only else "serve",
        lambda out: run(seconds=seconds, out=out, rounds=rounds),
    )


def _printed_run(args, name, run):
    """``run(out)`` printing its table line by line; with ``--out``, ``{name}.json`` (rows and
    environment) and ``{name}.txt`` (the printed table) written there."""
    lines = []

    def out(line):
        print(line, flush=True)
        lines.append(line)

    rows = run(out)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        env = harness.environment()
        # The CPU model and the kernel variants it ran, in the table too (issue #38).
        lines.append(f"# CPU: {env['cpu_model']}; kernel variants: {env['kernel_variants']}")
        lines.extend(f"#   {key}: {value}" for key, value in env["variant_choices"].items())
        harness.write_json(
            os.path.join(args.out, f"{name}.json"), {"environment": env, "rows": rows}
        )
        harness.write_text(os.path.join(args.out, f"{name}.txt"), "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
