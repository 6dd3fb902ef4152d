"""Kernels that arrive compiled (issue #31): a wheel carries them for CPU levels, a fresh
process loads the best level this CPU runs and compiles nothing, and anything that does
not fit falls back to compiling, never to code this CPU cannot run.

The wheel is built as a user builds one (``pip wheel`` of this checkout, build isolation
on), with two levels to keep CI short: the building machine's own CPU and x86-64-v3
(the full set: ``python -m build --wheel``, docs/compiled.md). It is installed into a
fresh virtual environment whose dependencies (numpy, numba, h5py) come from this one's
site-packages through a ``.pth`` file, so the test does not download them again.
"""

import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import JIT_DISABLED
from fastdnn._internal import levels

ROOT = os.path.join(os.path.dirname(__file__), "..")
X86_LINUX = platform.machine() in ("x86_64", "AMD64") and sys.platform.startswith("linux")

V3, V4, VNNI = (levels.by_name(n) for n in ("x86-64-v3", "x86-64-v4", "x86-64-v4-vnni"))
TRIPLE = "x86_64-unknown-linux-gnu"


def _shipped(*names, host=("znver4", "+avx2,+avx512f")):
    out = [
        {"name": n, "magic": [TRIPLE, levels.by_name(n).cpu, levels.by_name(n).feature_string]}
        for n in names
    ]
    return out + [{"name": levels.HOST, "magic": [TRIPLE, *host]}]


ALL = ("x86-64-v4-vnni", "x86-64-v4", "x86-64-v3")


def test_the_build_machines_own_level_only_for_exactly_that_cpu():
    shipped = _shipped(*ALL)
    exact = (TRIPLE, "znver4", "+avx2,+avx512f")
    assert levels.choose(shipped, exact, VNNI.features)["name"] == levels.HOST
    other = (TRIPLE, "znver4", "+avx2,+avx512f,+avx512vnni")  # same name, other features
    assert levels.choose(shipped, other, VNNI.features)["name"] == "x86-64-v4-vnni"


@pytest.mark.parametrize(
    "cpu, expected",
    [
        (VNNI.features, "x86-64-v4-vnni"),  # Ice Lake, Zen 4
        (V4.features, "x86-64-v4"),  # Skylake-X: AVX-512 without VNNI
        (V3.features | {"avx512f"}, "x86-64-v3"),  # AVX-512F alone is not v4
        (V3.features, "x86-64-v3"),  # Haswell to Alder Lake, Zen 1-3
        (V3.features - {"fma"}, None),  # below every level: compile
        (frozenset(), None),
    ],
)
def test_the_best_generic_level_whose_instructions_the_cpu_has(cpu, expected):
    here = (TRIPLE, "some-cpu", ",".join("+" + f for f in sorted(cpu)))
    chosen = levels.choose(_shipped(*ALL), here, cpu)
    assert (chosen and chosen["name"]) == expected


def test_another_architecture_takes_no_level():
    here = ("aarch64-unknown-linux-gnu", "neoverse-v1", "+neon")
    assert levels.choose(_shipped(*ALL), here, {"neon"} | VNNI.features) is None


def test_course2_kernels_ship_in_the_baseline_level_only():
    """Course 2's kernels (``levels.baseline_only``) are built once, for x86-64-v3, when the
    build has that level; a build without it puts them in every level it builds."""
    from fastdnn._build_kernels import plan_for
    from fastdnn._internal import levels

    built = ["x86-64-v4", levels.BASELINE, levels.HOST]
    names = {n: {e.kernel for e in plan_for(n, built)} for n in built}
    course2 = {n for n in names[levels.BASELINE] if n.startswith("_net3_")}
    assert {"_net3_forward", "_net3_backward", "_net3_train", "_net3_train_batches"} <= course2
    assert not any(levels.baseline_only(n) for n in names["x86-64-v4"] | names[levels.HOST])
    assert course2 <= {e.kernel for e in plan_for(levels.HOST, [levels.HOST])}
    assert names["x86-64-v4"] - course2 == names["x86-64-v4"]


def test_levels_spell_out_every_feature_they_need():
    """The code generators read the level's features (``_internal.simd``): v4's must
    name AVX-512F itself, not only the features that imply it."""
    assert {"avx2", "fma"} <= V3.features and not any("avx512" in f for f in V3.features)
    assert {"avx512f", "avx512bw"} <= V4.features and "avx512vnni" not in V4.features
    assert levels.parse_features(VNNI.feature_string) == VNNI.features


# ------------------------------------------------------------------ the wheel, installed

needs_wheel = pytest.mark.skipif(
    JIT_DISABLED or not X86_LINUX, reason="builds numba kernels for x86-64 Linux levels"
)

PROBE = r"""
import json, sys
import numpy as np
from fastdnn._internal.numba_internals import watch_compilations

compiled = watch_compilations().names
import fastdnn as F
from fastdnn._internal import installed, simd
from fastdnn.app.train import train


def read_only(a):
    a = np.array(a, order="K")
    a.flags.writeable = False
    return a

out = {}
for dtype in (np.float64, np.float32):
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.random((12288, 209)), dtype=dtype)
    Y = (rng.random((1, 209)) > 0.5).astype(dtype)
    np.random.seed(1)
    p = {k: v.astype(dtype) for k, v in F.initialize_parameters_deep([12288, 20, 7, 5, 1]).items()}
    AL, caches = F.L_model_forward(X, p)           # the course API's step, as the notebook
    cost = F.compute_cost(AL, Y)
    grads = F.L_model_backward(AL, Y, caches)
    p = F.update_parameters(p, grads, 0.0075)
    trained = {k: v.copy() for k, v in p.items()}
    train(X, Y, trained, 0.0075, 1)                # a trainer iteration
    model = F.Model.from_parameters(p, dtype="float32")
    pixels = np.asfortranarray((X[:, :64] * 255).astype(np.uint8))
    # Read-only inputs and other layouts users pass (issue #39): the same kernels.
    own = F.Model.from_parameters(p)
    ro, ro_pixels = read_only(X[:, :64]), read_only(pixels)
    rows = np.frombuffer(np.ascontiguousarray(X[:, :64].T).tobytes(), dtype=dtype)  # a request's
    memmap = np.memmap(sys.argv[1] + ".map", dtype=dtype, mode="w+", shape=X[:, :64].shape, order="F")
    memmap[:] = X[:, :64]
    memmap.flush()
    memmap = np.memmap(sys.argv[1] + ".map", dtype=dtype, mode="r", shape=X[:, :64].shape, order="F")
    AL_ro, caches_ro = F.L_model_forward(read_only(X), {k: read_only(v) for k, v in p.items()})
    out[np.dtype(dtype).name] = dict(
        AL=AL, dA0=grads["dA0"], W1=p["W1"], trained=trained["W1"],
        proba=model.predict_proba(np.asfortranarray(X[:, :64], dtype=np.float32)),
        int8=model.quantize().predict_proba(pixels, scale=1 / 255),
        ro_proba=own.predict_proba(ro), rows_proba=own.predict_proba(rows.reshape(64, -1).T),
        c_proba=own.predict_proba(read_only(np.ascontiguousarray(X[:, :64]))),
        memmap_proba=own.predict_proba(memmap), one_proba=own.predict_proba(ro[:, :1]),
        ro_int8=model.quantize().predict_proba(ro_pixels, scale=1 / 255),
        ro_float_int8=model.quantize().predict_proba(
            read_only(np.asfortranarray(X[:, :64], dtype=np.float32))
        ),
        ro_AL=AL_ro, ro_dA0=F.L_model_backward(AL_ro, read_only(Y), caches_ro)["dA0"],
    )
# Course 2 (issue #40): each notebook's loop with the imports swapped, and its model().
import contextlib, io
from fastdnn import initialization as FI, optimization as FO, regularization as FR
from fastdnn.improving.reference import notebooks as N
rng = np.random.default_rng(2)
X2, Y2 = rng.standard_normal((2, 211)), (rng.random((1, 211)) > 0.5).astype(np.uint8)
with contextlib.redirect_stdout(io.StringIO()):
    c2 = dict(
        init=N.initialization_model(FI, X2, Y2, num_iterations=3)[0]["W1"],
        init_model=FI.model(X2, Y2, num_iterations=3, plot_costs=False)["W1"],
        l2=N.regularization_model(FR, X2, Y2, num_iterations=3, lambd=0.7)[0]["W1"],
        dropout=N.regularization_model(FR, X2, Y2, num_iterations=3, keep_prob=0.86)[0]["W1"],
        reg_model=FR.model(X2, Y2, num_iterations=3, keep_prob=0.86, plot_costs=False)["W1"],
        adam=N.optimization_model(FO, X2, Y2, [2, 5, 2, 1], "adam", num_epochs=2)[0]["W1"],
        momentum=N.optimization_model(FO, X2, Y2, [2, 5, 2, 1], "momentum", num_epochs=2)[0]["W1"],
        opt_model=FO.model(X2, Y2, [2, 5, 2, 1], "adam", num_epochs=2, plot_costs=False)["W1"],
    )
out["course2"] = c2
np.savez(sys.argv[1], **{f"{d}_{k}": v for d, r in out.items() for k, v in r.items()})
print(json.dumps({"compiled": compiled, "kernels": installed.choice().describe(),
                  "tiles": simd.wide_vectors(), "int8": simd.dpbusd_form(),
                  "package": F.__file__}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    from benchmarks.first_run import build_wheel

    out = tmp_path_factory.mktemp("wheel")
    return build_wheel(str(out), FASTDNN_KERNEL_LEVELS="host,x86-64-v3")


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh venv with the wheel installed; returns (python, site-packages)."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = str(home / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    import numba

    with open(os.path.join(site, "dependencies.pth"), "w") as f:
        f.write(os.path.dirname(os.path.dirname(numba.__file__)) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    return python, site


def _python(python, code, cwd, *args, **env):
    """``python -c code args`` in a fresh process, not in the checkout (``cwd``: the
    installed package is imported, unless ``env`` names a PYTHONPATH), the JIT on;
    returns the finished process, which must have succeeded."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NUMBA_DISABLE_JIT", "PYTHONPATH")}
    environ.update(env)
    done = subprocess.run(
        [python, "-c", code, *args], env=environ, capture_output=True, text=True, cwd=str(cwd)
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _run(venv, tmp_path, name, **env):
    """The probe in a fresh process of the venv with an empty NUMBA_CACHE_DIR: (its
    summary, its results, its stderr)."""
    results = tmp_path / f"{name}.npz"
    cache = str(tmp_path / f"cache-{name}")
    done = _python(venv[0], PROBE, tmp_path, str(results), NUMBA_CACHE_DIR=cache, **env)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    return info, dict(np.load(results)), done.stderr


@pytest.fixture(scope="module")
def jit_results(tmp_path_factory):
    """The probe's results from this checkout's kernels, compiled here for this CPU."""
    tmp = tmp_path_factory.mktemp("jit")
    out = tmp / "jit.npz"
    _python(sys.executable, PROBE, tmp, str(out), FASTDNN_KERNELS="compile", PYTHONPATH=ROOT)
    return dict(np.load(out))


@needs_wheel
def test_a_fresh_process_compiles_nothing_and_matches_the_jit(venv, tmp_path, jit_results):
    info, results, err = _run(venv, tmp_path, "host")
    assert info["package"].startswith(venv[1]), info["package"]
    assert info["compiled"] == [], info["compiled"]
    assert info["kernels"] == f"installed for host (numba {__import__('numba').__version__})"
    assert "compiling" not in err, err
    assert results.keys() == jit_results.keys()
    for key, value in results.items():  # the same machine code as numba compiles here
        if key.startswith("course2"):  # shipped for x86-64-v3 only (levels.baseline_only)
            np.testing.assert_allclose(value, jit_results[key], rtol=1e-10, err_msg=key)
        else:
            np.testing.assert_array_equal(value, jit_results[key], err_msg=key)


@needs_wheel
def test_a_cpu_without_avx512_takes_the_v3_level_and_the_same_results(venv, tmp_path, jit_results):
    """``FASTDNN_KERNELS=x86-64-v3`` runs what an AVX2 machine chooses: no register
    tiles, the AVX2 ``pmaddwd`` int8 form, nothing compiled, the same results to rounding."""
    info, results, _ = _run(venv, tmp_path, "v3", FASTDNN_KERNELS="x86-64-v3")
    assert info["compiled"] == [], info["compiled"]
    assert info["kernels"].startswith("installed for x86-64-v3")
    assert (info["tiles"], info["int8"]) == (False, "avx2")
    for key, value in results.items():
        tol = (
            dict(rtol=1e-10, atol=1e-12)
            if key.startswith(("float64", "course2"))
            else dict(rtol=1e-4, atol=1e-6)
        )
        if key.endswith("int8") or key.endswith("proba"):
            tol = dict(rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value, jit_results[key], err_msg=key, **tol)


@needs_wheel
def test_calibrating_on_first_use_compiles_nothing(venv, tmp_path, jit_results):
    """With no pin (a user's first run on a CPU), each product's first call measures
    its variants, the host level's missing forms (no register tiles without
    AVX-512) loaded from the generic level: nothing compiles, the choices are
    saved, and the results equal the default rule's to rounding."""
    file = tmp_path / "variants.json"
    env = dict(FASTDNN_VARIANTS="", FASTDNN_VARIANTS_FILE=str(file))
    info, results, err = _run(venv, tmp_path, "calibrated", **env)
    assert info["compiled"] == [], info["compiled"]
    assert "compiling" not in err and "ignored" not in err, err
    choices = json.loads(file.read_text())["choices"]
    for family in ("forward", "dW", "dA_prev", "predict"):
        assert any(k.startswith(f"{family} float64 n=20 ") for k in choices), choices.keys()
    for key, value in results.items():
        tol = dict(rtol=1e-10, atol=1e-12) if key.startswith(("float64", "course2")) else {}
        np.testing.assert_allclose(value, jit_results[key], err_msg=key, **(tol or TOL32))


TOL32 = dict(rtol=1e-4, atol=1e-6)


def _installed_copy(venv, tmp_path, change):
    """A copy of the installed package, changed by ``change(folder)``, for PYTHONPATH."""
    target = tmp_path / "copy"
    shutil.copytree(os.path.join(venv[1], "fastdnn"), target / "fastdnn")
    change(target / "fastdnn" / "_compiled")
    return str(target)


SMALL = r"""
import json, numpy as np
from fastdnn._internal.numba_internals import watch_compilations
compiled = watch_compilations().names
import fastdnn as F
from fastdnn._internal import installed
A, _ = F.relu(np.array([[-1.0, 2.0]]))
print(json.dumps({"compiled": len(compiled), "A": A.tolist(), "kernels": installed.choice().describe(),
                  "package": F.__file__}))
"""


def _small(venv, tmp_path, pythonpath):
    """relu on a 1 x 2 array in a fresh process; compiling, if it does, in that process
    (``FASTDNN_COMPILE_PROCESSES=1``), where the listener counts it."""
    done = _python(
        venv[0],
        SMALL,
        tmp_path,
        NUMBA_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=pythonpath,
        FASTDNN_COMPILE_PROCESSES="1",
    )
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["package"].startswith(pythonpath)
    assert info["A"] == [[0.0, 2.0]]
    return info


@needs_wheel
def test_kernels_for_another_numba_are_not_loaded(venv, tmp_path):
    def other_numba(folder):
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["numba"] = "0.0.1"
        (folder / "manifest.json").write_text(json.dumps(manifest))

    info = _small(venv, tmp_path, _installed_copy(venv, tmp_path, other_numba))
    assert info["compiled"] > 0
    why = "because the installed kernels are for numba 0.0.1, this is "
    assert info["kernels"].startswith("compiled on this machine, " + why)


@needs_wheel
def test_a_damaged_file_compiles_that_kernel(venv, tmp_path):
    def damage(folder):
        for path in glob.glob(str(folder / "host" / "elementwise._relu_tiny-*.nbc")):
            data = bytearray(open(path, "rb").read())
            data[len(data) // 2] ^= 0xFF
            open(path, "wb").write(bytes(data))

    info = _small(venv, tmp_path, _installed_copy(venv, tmp_path, damage))
    assert info["compiled"] > 0
    assert "1 damaged or missing, compiled on this machine" in info["kernels"]


@needs_wheel
def test_the_v3_level_holds_no_avx512_instruction(wheel, tmp_path):
    """Built on this machine, the x86-64-v3 kernels must run on an AVX2 CPU: no zmm
    register, no mask register, no EVEX-only form in any of their machine code. The
    building machine's own level is the control: with AVX-512 it uses zmm registers."""
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) is needed to read the machine code")
    from fastdnn import _build_kernels as build_kernels

    assert build_kernels.check(wheel) == []  # the --check of a release build
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    folder = str(tmp_path / "fastdnn" / "_compiled")
    v3 = build_kernels.disassembly(folder, "x86-64-v3", str(tmp_path))
    assert "vfmadd" in v3 and "ymm" in v3  # real AVX2 vector code
    import llvmlite.binding as ll

    cpu = ll.get_host_cpu_features()
    if cpu.get("avx512f"):  # what the check looks for, it finds where it is
        host = build_kernels.disassembly(folder, "host", str(tmp_path))
        assert "zmm" in host
        assert ("vpdpbusd" in host) == bool(cpu.get("avx512vnni") and cpu.get("avx512bw"))


@needs_wheel
def test_the_wheel_carries_its_license(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
        (license_file,) = (n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        assert archive.read(license_file).startswith(b"MIT License")
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text


@needs_wheel
def test_check_finds_a_changed_file(wheel, tmp_path):
    from fastdnn import _build_kernels as build_kernels

    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / "fastdnn" / "_compiled"
    victim = sorted(glob.glob(str(folder / "x86-64-v3" / "sgd._sgd_span-*.nbc")))[0]
    with open(victim, "ab") as f:
        f.write(b"\0")
    problems = build_kernels.check(str(folder))
    assert problems == [f"x86-64-v3/{os.path.basename(victim)}: not the file the build wrote"]


# ------------------------------------------------------------------ issue #39: the fifth round


@needs_wheel
@pytest.mark.parametrize(
    "change, found",
    [
        (lambda m: m.update(levels=[{"name": "x86-64-v3"}]), "levels[0] must be"),
        (lambda m: m.update(levels="x86-64-v3"), "'levels' must be a list; got str"),
        (lambda m: m["levels"][0].update(magic=None), "levels[0] must be"),
        (lambda m: m.update(numba=None), "'numba' must be a string; got None"),
        (lambda m: m.update(files=[]), "'files' must map file names"),
    ],
)
def test_a_manifest_of_the_wrong_types_compiles_with_a_reason(venv, tmp_path, change, found):
    def edit(folder):
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    info = _small(venv, tmp_path, _installed_copy(venv, tmp_path, edit))
    assert info["compiled"] > 0
    assert info["kernels"].startswith(
        "compiled on this machine, because the installed kernels' manifest is unusable ("
    ), info["kernels"]
    assert found in info["kernels"], info["kernels"]


@needs_wheel
def test_a_deleted_manifest_says_what_was_found(venv, tmp_path):
    info = _small(
        venv, tmp_path, _installed_copy(venv, tmp_path, lambda f: (f / "manifest.json").unlink())
    )
    assert "manifest.json is missing from" in info["kernels"], info["kernels"]
    assert "found: host, x86-64-v3" in info["kernels"] and "source checkout" not in info["kernels"]


MODEL_PATH = r"""
import numpy as np
import fastdnn as F
model = F.Model.from_parameters(F.initialize_parameters_deep([12288, 20, 7, 5, 1]))
print(model.predict_proba(np.zeros((12288, 1)), n_threads=1).shape)
print(model.predict_proba(np.ones((12288, 1)), n_threads=1).shape)
"""


@needs_wheel
def test_a_fallback_compile_on_the_model_path_says_why_once(venv, tmp_path):
    def damage(folder):
        for path in glob.glob(str(folder / "host" / "inference._predict_rows-*.nbc")):
            with open(path, "r+b") as f:
                f.seek(100)
                f.write(b"\0\1\2\3")

    copy = _installed_copy(venv, tmp_path, damage)
    done = _python(
        venv[0], MODEL_PATH, tmp_path, NUMBA_CACHE_DIR=str(tmp_path / "c"), PYTHONPATH=copy
    )
    assert done.stderr.count("fastdnn: compiling") == 1, done.stderr
    assert "the kernel _predict_rows" in done.stderr
    assert "the kernels installed for host lack _predict_rows" in done.stderr


UNPRIVILEGED = r"""
set -e
# A private mount namespace: /root (mode 700 on this machine, where the interpreter
# may live) is replaced by a tmpfs of mode 755 holding the same entries, so that an
# unprivileged user can run the same Python; nothing outside this process sees it.
view=$(mktemp -d)
mount --bind /root "$view"
mount -t tmpfs -o mode=755 tmpfs /root
for entry in "$view"/* "$view"/.[!.]*; do
  [ -e "$entry" ] || continue
  target=/root/$(basename "$entry")
  if [ -d "$entry" ]; then mkdir "$target"; else touch "$target"; fi
  mount --bind "$entry" "$target"
done
exec setpriv --reuid=65534 --regid=65534 --clear-groups \
  env -i HOME=/nonexistent PATH=/usr/bin:/bin PYTHONPATH="$1" FASTDNN_KERNELS="$2" \
  "$3" -c "$4"
"""

READ_ONLY_RUN = r"""
import json, os, sys
import numpy as np
from fastdnn._internal.numba_internals import watch_compilations
compiled = watch_compilations().names
import fastdnn as F
from fastdnn._internal import installed, numba_internals
from fastdnn.cli.machine import environment
assert os.getuid() != 0 and not os.access(F.__file__, os.W_OK)
p = F.initialize_parameters_deep([12288, 20, 7, 5, 1])
X = np.asfortranarray(np.random.default_rng(0).random((12288, 32)))
AL, caches = F.L_model_forward(X, p)
grads = F.L_model_backward(AL, np.ones((1, 32)), caches)
P = F.Model.from_parameters(p).predict_proba(X)
A, _ = F.relu(np.array([[-1.0, 2.0]]))
print(json.dumps({"compiled": len(compiled), "kernels": installed.choice().describe(),
                  "cache": numba_internals.can_cache(), "AL": AL.tolist(), "A": A.tolist(),
                  "cache_dir": environment()["numba_cache_dir"]}))
"""


def _unprivileged_ready():
    if os.geteuid() != 0 or not all(shutil.which(c) for c in ("unshare", "setpriv", "mount")):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@needs_wheel
@pytest.mark.skipif(
    not _unprivileged_ready(),
    reason="runs a real unprivileged user: needs root, unshare (a mount namespace) and setpriv",
)
def test_a_read_only_install_runs_for_a_user_who_can_write_nothing(venv, tmp_path):
    """The hardened container: the package read-only, a user who is not root, no writable
    home, no NUMBA_CACHE_DIR. It imports, loads the installed kernels (nothing compiled),
    and what must compile compiles in memory with a one-line notice."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="fastdnn-ro-")  # outside pytest's root-only folders
    try:
        os.chmod(folder, 0o755)
        shutil.copytree(os.path.join(venv[1], "fastdnn"), os.path.join(folder, "fastdnn"))
        subprocess.run(["chmod", "-R", "a-w,a+rX", folder], check=True)

        def run(forced, code=READ_ONLY_RUN):
            return subprocess.run(
                ["unshare", "-m", "sh", "-c", UNPRIVILEGED, "sh", folder, forced,
                 sys.executable, code],
                capture_output=True, text=True, cwd="/",
            )  # fmt: skip

        # The interpreter and numba must be readable by that user (a checkout in a folder
        # only root may enter is not): otherwise there is nothing to test here.
        reach = run("", "import numba, numpy, h5py")
        if reach.returncode != 0:
            pytest.skip(f"an unprivileged user cannot run this Python: {reach.stderr[-300:]}")
        done = run("")
        assert done.returncode == 0, done.stderr[-3000:]
        info = json.loads(done.stdout.strip().splitlines()[-1])
        assert info["cache"] is False and info["compiled"] == 0, info
        assert info["kernels"].startswith("installed for host"), info["kernels"]
        assert info["cache_dir"].startswith("none writable"), info["cache_dir"]
        assert "compiling" not in done.stderr, done.stderr
        compiled = run("compile")
        assert compiled.returncode == 0, compiled.stderr[-3000:]
        again = json.loads(compiled.stdout.strip().splitlines()[-1])
        assert again["compiled"] > 0 and again["A"] == [[0.0, 2.0]]
        np.testing.assert_allclose(again["AL"], info["AL"], rtol=1e-12)
        assert compiled.stderr.count("fastdnn: compiling") == 1, compiled.stderr
        assert "In memory only: no cache folder is writable" in compiled.stderr
    finally:
        subprocess.run(["chmod", "-R", "u+w", folder])
        shutil.rmtree(folder, ignore_errors=True)
