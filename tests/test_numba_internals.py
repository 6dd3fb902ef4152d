"""The one door to numba's internals (``fastdnn/_internal/numba_internals.py``).

What the adapter needs from numba is listed in ``NEEDS``; a numba release that moves one
of those fails here by name, before anything subtler breaks. The round trip below runs
the adapter's cache readers on a real cache entry of the numba installed. ``.ci/run``
runs this file a second time under the lowest numba ``pyproject.toml`` declares (the
suite's own environment has the highest the resolver picks).
"""

import ast
import importlib
import pathlib
import re
import subprocess
import sys
import textwrap

import numba
import pytest

from fastdnn._internal import numba_internals as N

ROOT = pathlib.Path(__file__).resolve().parent.parent
JIT_DISABLED = N.jit_disabled()


def test_this_numba_has_every_piece_the_adapter_needs():
    absent = N.missing()
    assert not absent, (
        f"numba {numba.__version__} lacks what fastdnn/_internal/numba_internals.py "
        f"needs: {', '.join(absent)}"
    )


def test_a_moved_piece_is_named(monkeypatch):
    from numba.core import caching

    monkeypatch.delattr(caching.Cache, "_index_key")  # FunctionCache inherits it
    assert N.missing() == ["numba.core.caching.FunctionCache._index_key"]
    assert N.missing(["numba.no_such_module.thing", "numba.core.caching.Nope|FunctionCache"]) == [
        "numba.no_such_module.thing"
    ]


def _declared_range(text):
    """(lowest, highest-exclusive) numba versions of a ``numba>=a,<b`` requirement."""
    ranges = set(re.findall(r'"numba>=([0-9.]+),<([0-9.]+)"', text))
    assert len(ranges) == 1, f"pyproject.toml declares numba as {sorted(ranges)} (build and run)"
    return ranges.pop()


def _version(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def test_the_installed_numba_is_in_the_declared_range():
    lowest, above = _declared_range((ROOT / "pyproject.toml").read_text())
    assert _version(lowest) <= _version(numba.__version__) < _version(above), (
        f"numba {numba.__version__} is outside pyproject.toml's numba>={lowest},<{above}"
    )


def _imports(path):
    """Every module name ``path`` imports (deferred imports too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


PRIVATE = re.compile(
    r"\._cache\b|_index_key|\._impl\b|filename_base|get_source_stamp|magic_tuple|"
    r"_cache_hits|insert_user_function|add_overload|global_compiler_lock|_cache_path"
)
"""numba's private attributes the adapter reads (as they would appear elsewhere)."""


def test_nothing_else_reaches_into_numba():
    door = ROOT / "fastdnn" / "_internal" / "numba_internals.py"
    offenders = []
    for path in sorted((ROOT / "fastdnn").rglob("*.py")):
        if path == door:
            continue
        for module in _imports(path):
            if module.startswith("numba.core") or module.startswith("numba.misc"):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
        code = path.read_text()
        for match in PRIVATE.finditer(code):
            line = code.count("\n", 0, match.start()) + 1
            text = code.splitlines()[line - 1].strip()
            if not text.startswith(("#", '"', "``")) and "``" not in text:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {match.group()}")
    assert not offenders, "\n".join(offenders)


KERNEL = """
from numba import njit

@njit(cache=True)
def twice(x):
    return 2.0 * x
"""


@pytest.mark.skipif(JIT_DISABLED, reason="numba caches nothing without its JIT")
def test_the_cache_readers_round_trip_a_real_entry(tmp_path, monkeypatch):
    (tmp_path / "tiny_kernel.py").write_text(textwrap.dedent(KERNEL))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("tiny_kernel")
    try:
        assert module.twice(3.0) == 6.0  # compiled and saved (NUMBA_CACHE_DIR or __pycache__)
        sig = module.twice.signatures[0]
        cache = N.cache_of(module.twice)
        assert N.has_folder(cache) and N.kernel_name(cache) == "twice"
        assert N.cache_folder(module.twice) == N.cache_path(cache)
        index = (pathlib.Path(N.cache_path(cache)) / N.index_file(cache)).read_bytes()
        version, stamp, entries = N.read_index(index)
        assert version == numba.__version__ and stamp == N.source_stamp(cache)
        key = N.index_key(cache, sig, N.compile_target())
        assert key in entries, "the key under this CPU's target is the one numba saved"
        assert N.index_key(cache, sig, ("x", "y", "z")) not in entries
        data = (pathlib.Path(N.cache_path(cache)) / entries[key]).read_bytes()
        assert len(N.object_code(data)) > 0
        target = module.twice.targetctx
        assert N.rebuild(cache, target, data).entry_point(4.0) == 8.0

        # A second dispatcher of the same source loads the entry without compiling.
        del sys.modules["tiny_kernel"]
        again = importlib.import_module("tiny_kernel")
        with N.compilations() as compiled:
            assert N.load_cached(again.twice, sig)
            assert again.twice(5.0) == 10.0
        assert compiled.names == []
        with N.compilations() as compiled:
            again.twice(1)  # an int64 argument: a new specialisation
        assert compiled.names == ["twice"] and len(compiled.seconds) == 1
        assert N.is_kernel(again.twice) and not N.is_kernel(again.twice.py_func)
    finally:
        sys.modules.pop("tiny_kernel", None)


def test_a_read_only_cache_keeps_nothing_and_knows_its_keys(tmp_path):
    source = tmp_path / "plain.py"
    source.write_text("def f(x):\n    return x\n")
    namespace = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    cache = N.read_only_cache(namespace["f"])
    assert cache.load_overload(None, None) is None
    cache.save_overload(None, None)  # dropped
    from numba.core.caching import FunctionCache

    own = FunctionCache(namespace["f"])  # numba's own, in the writable tmp_path
    assert N.index_file(cache) == N.index_file(own) and N.index_file(cache).endswith(".nbi")
    assert N.source_stamp(cache) == N.source_stamp(own)


@pytest.mark.skipif(JIT_DISABLED, reason="the compile target is the JIT's")
def test_the_compile_target_and_settings():
    triple, cpu, features = N.compile_target()
    assert triple and cpu and isinstance(features, str)
    assert set(N.cache_settings()) <= {"NUMBA_CACHE_DIR", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"}
    probe = "from fastdnn._internal import numba_internals as N; print(N.cache_settings())"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={"NUMBA_CPU_NAME": "haswell", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert "'NUMBA_CPU_NAME': 'haswell'" in out
