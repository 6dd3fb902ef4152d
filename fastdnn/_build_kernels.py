"""Compile every kernel for a set of CPU levels into a folder a wheel carries.

    python -m fastdnn._build_kernels OUT [--levels all|host|NAME,...]
    python -m fastdnn._build_kernels --check WHEEL_OR_FOLDER

The wheel build runs this (``setup.py``); ``FASTDNN_KERNEL_LEVELS`` chooses the
levels there (default ``all``: the generic levels of ``_internal.levels`` and the
building machine's own CPU). Each level's kernels are those ``fastdnn warmup``
compiles (``fastdnn._warmup.plan``, for float64 and float32), with every kernel
variant a calibration on that level may try (``plan_for``). Worker processes (``_internal.precompile``'s)
compile them with numba told the level's CPU name and features, into a fresh
numba cache per level, all levels' shares spread over the cores at once
(``precompile.run_jobs``: the one worker pool). The
cache files are then copied to ``OUT/<level>/`` and ``OUT/manifest.json`` names
what they are for (see ``_internal.installed``, which loads them).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

from ._internal import levels, precompile
from ._internal.installed import MANIFEST
from ._internal.numba_internals import compile_target, object_code, read_index

DTYPES = ("float64", "float32")


def level_names(spec):
    """``all``, ``host`` or a comma-separated list of level names, as a list."""
    spec = (spec or "all").strip()
    if spec == "all":
        return [level.name for level in levels.GENERIC] + [levels.HOST]
    names = [name.strip() for name in spec.split(",") if name.strip()]
    for name in names:
        if name != levels.HOST:
            levels.by_name(name)  # KeyError for an unknown name
    return names


def plan_for(name, names=None):
    """The plan entries of level ``name``: ``fastdnn warmup``'s for that level, every
    kernel variant a calibration there may try (the register tiles only with
    AVX-512: ``_internal.variants.usable``). The ``levels.baseline_only`` kernels
    only in ``levels.BASELINE`` when ``names`` (the levels being built) has it, else
    in every level."""
    from . import _warmup
    from ._internal.simd import wide_vectors

    if name == levels.HOST:
        wide = wide_vectors(levels.parse_features(compile_target()[2]))
    else:
        wide = wide_vectors(levels.by_name(name).features)
    plan = precompile._unique(_warmup.plan(DTYPES, wide))
    if names is not None and levels.BASELINE in names and name != levels.BASELINE:
        plan = [e for e in plan if not levels.baseline_only(e.kernel)]
    return plan


def _environment(name, cache):
    """The workers' environment for level ``name``: numba told the level's CPU."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, FASTDNN_KERNELS="compile")
    for key in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_DISABLE_JIT"):
        env.pop(key, None)
    if name != levels.HOST:
        level = levels.by_name(name)
        env.update(NUMBA_CPU_NAME=level.cpu, NUMBA_CPU_FEATURES=level.feature_string)
    return env


def build(out, names, processes=None, log=print):
    """Compile ``names``' kernels into ``out``; returns the manifest written."""
    import numba

    start = time.perf_counter()
    processes = processes or precompile._cores()
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastdnn-kernels-") as scratch:
        jobs = []
        for name in names:
            cache = os.path.join(scratch, name)
            entries = plan_for(name, names)
            for share in precompile._balance(entries, processes):
                jobs.append(precompile.Job(name, _environment(name, cache), share))
        log(
            f"fastdnn: compiling {sum(len(job.share) for job in jobs)} kernels for "
            f"{', '.join(names)} in {processes} processes"
        )
        precompile.run_jobs(jobs, processes)
        manifest = {
            "fastdnn_kernels": 1,
            "numba": numba.__version__,
            "python": "{}.{}".format(*sys.version_info[:2]),
            "triple": compile_target()[0],
            "levels": [],
            "files": {},
        }
        for name in names:
            magic = _collect(os.path.join(scratch, name), os.path.join(out, name), manifest, name)
            manifest["levels"].append({"name": name, "magic": list(magic)})
    manifest["build_seconds"] = round(time.perf_counter() - start, 1)
    with open(os.path.join(out, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    size = sum(os.path.getsize(os.path.join(out, path)) for path in manifest["files"]) / (1 << 20)
    log(
        f"fastdnn: {len(manifest['files'])} files, {size:.1f} MiB, for {', '.join(names)} "
        f"in {manifest['build_seconds']} s"
    )
    return manifest


def _collect(cache, out, manifest, name):
    """Copy level ``name``'s cache files from ``cache`` to ``out``, hash them into the
    manifest, and return the numba lookup key's CPU part they were saved under."""
    os.makedirs(out, exist_ok=True)
    magics = set()
    for folder, _, files in os.walk(cache):
        for file in sorted(files):
            if not file.endswith((".nbi", ".nbc")):
                continue
            with open(os.path.join(folder, file), "rb") as f:
                data = f.read()
            with open(os.path.join(out, file), "wb") as f:
                f.write(data)
            manifest["files"][f"{name}/{file}"] = hashlib.sha256(data).hexdigest()
            if file.endswith(".nbi"):
                magics.update(key[1] for key in read_index(data)[2])
    if len(magics) != 1:
        raise RuntimeError(f"the {name} kernels were compiled for {len(magics)} CPUs: {magics}")
    return magics.pop()


AVX512_MARKS = ("zmm", "%k1", "%k2", "{1to", "xmm16", "ymm16", "vpdpbusd")
"""What only AVX-512 code contains, in ``objdump``'s AT&T syntax: 512-bit or upper-16
registers, mask registers, embedded broadcasts, VNNI."""


def disassembly(folder, level, scratch):
    """``objdump -d`` of every kernel of ``level`` in ``folder`` (needs binutils)."""
    text = []
    for file in sorted(os.listdir(os.path.join(folder, level))):
        if not file.endswith(".nbc"):
            continue
        with open(os.path.join(folder, level, file), "rb") as f:
            try:
                code = object_code(f.read())
            except ValueError as exc:
                raise ValueError(f"{level}/{file}: {exc}") from None
        obj = os.path.join(scratch, "kernel.o")
        with open(obj, "wb") as f:
            f.write(code)
        text.append(
            subprocess.run(
                ["objdump", "-d", "--no-show-raw-insn", obj],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    return "\n".join(text)


def check(path):
    """Problems of built kernels (a wheel or a ``_compiled`` folder), as a list of lines:
    a file whose SHA-256 is not the manifest's, and AVX-512 code in ``x86-64-v3``."""
    import zipfile

    with tempfile.TemporaryDirectory() as scratch:
        folder = path
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as wheel:
                wheel.extractall(scratch)
            folder = os.path.join(scratch, "fastdnn", "_compiled")
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
        problems = []
        for name, digest in sorted(manifest["files"].items()):
            with open(os.path.join(folder, name), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != digest:
                    problems.append(f"{name}: not the file the build wrote")
        if any(level["name"] == "x86-64-v3" for level in manifest["levels"]):
            code = disassembly(folder, "x86-64-v3", scratch)
            problems += [f"x86-64-v3: {m} in its machine code" for m in AVX512_MARKS if m in code]
        return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", help="the folder to write (fastdnn/_compiled)")
    parser.add_argument("--check", metavar="WHEEL_OR_FOLDER", help="check built kernels")
    parser.add_argument(
        "--levels",
        default=os.environ.get("FASTDNN_KERNEL_LEVELS", "all"),
        help="all (default), host, or level names separated by commas: "
        + ", ".join(level.name for level in levels.GENERIC),
    )
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.check)
        print(
            "\n".join(problems) or f"{args.check}: every file as built, x86-64-v3 without AVX-512"
        )
        return 1 if problems else 0
    if not args.out:
        parser.error("OUT is needed to build")
    build(args.out, level_names(args.levels), args.processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
