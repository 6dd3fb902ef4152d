"""The kernels that arrive compiled: found, chosen for this CPU, loaded before compiling.

A wheel (and ``pip install .``) carries, in ``fastdnn/_compiled/``, numba's
cache files of every kernel specialisation ``fastdnn warmup`` compiles, once
for each CPU level of ``_internal.levels`` (``fastdnn._build_kernels`` writes
them), and ``manifest.json``: the numba, Python and target triple they were
built with, each level's numba lookup key (``magic``: triple, CPU name, CPU
features) and each file's SHA-256.

``choice()`` decides once per process which level this process loads: the best
one whose instructions this CPU has, only where the numba version, the Python
version and the target triple are the build's. ``attach`` puts, in front of
each fastdnn kernel's own numba cache, a loader that looks the kernel up in that
level's files with that level's key (numba's own lookup would use this CPU's key
and find nothing) and checks the file's SHA-256 before unpickling it. Anything
that does not fit (another numba, a CPU below every level, a file missing or
damaged, no files at all in a development checkout) falls through to numba's own
cache and compiler, as before: slower once, never wrong. Only fastdnn's
dispatchers are touched; numba's settings and other packages' functions are not.

The Python side's CPU-dependent choices (register tiles, the int8 form that
``fastdnn info`` names) ask ``features()``: the chosen level's, or, where
nothing installed is used, those of the CPU numba compiles for.

``FASTDNN_KERNELS=compile`` ignores the installed kernels; ``FASTDNN_KERNELS=<level>``
(``x86-64-v3``, ...) asks for that level, if this CPU can run it.
"""

import hashlib
import io
import json
import os
import pickle
import sys
import threading

from . import levels

FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_compiled")
"""Where a wheel keeps the compiled kernels (``fastdnn/_compiled``)."""

MANIFEST = "manifest.json"

_lock = threading.Lock()
_choice = None


class Choice:
    """What this process runs: ``level`` (the manifest's entry, or None: compiled
    here), ``reason`` (why not installed, when compiled), ``features`` (what the
    Python side may assume of the code it runs), ``manifest``."""

    def __init__(self, level, reason, features, manifest=None):
        self.level = level
        self.reason = reason
        self.features = frozenset(features)
        self.manifest = manifest
        self.failed = 0
        """Installed kernels that could not be loaded (a file missing or damaged)."""

    def describe(self):
        """One line for ``fastdnn info`` and the compile notice."""
        if self.level is None:
            return f"compiled on this machine, because {self.reason}"
        built = f"installed for {self.level['name']} (numba {self.manifest['numba']})"
        if self.failed:
            built += f"; {self.failed} damaged or missing, compiled on this machine"
        return built


def choice():
    """This process's ``Choice`` (decided on first use, then fixed)."""
    global _choice
    with _lock:
        if _choice is None:
            _choice = _decide(os.environ.get("FASTDNN_KERNELS", "").strip())
        return _choice


def features():
    """The CPU features the Python side may assume of the kernels this process runs."""
    return choice().features


def compile_target():
    """numba's ``(triple, cpu, features)`` for code compiled in this process."""
    from numba.core.registry import cpu_target

    return cpu_target.target_context.codegen().magic_tuple()


def _decide(forced):
    import llvmlite.binding as ll
    from numba.core import config

    host = {name for name, on in ll.get_host_cpu_features().items() if on}
    if config.DISABLE_JIT:  # the kernels run as Python: the choices follow this CPU
        return Choice(None, "the JIT is off (NUMBA_DISABLE_JIT)", host)
    here = compile_target()
    compiled = levels.parse_features(here[2])

    def fallback(reason):
        return Choice(None, reason, compiled)

    if forced == "compile":
        return fallback("FASTDNN_KERNELS=compile")
    if config.CPU_NAME is not None:
        return fallback(f"NUMBA_CPU_NAME={config.CPU_NAME} asks numba to compile for that CPU")
    manifest, reason = read_manifest()
    if manifest is None:
        return fallback(reason)
    import numba

    for what, built, running in (
        ("numba", manifest["numba"], numba.__version__),
        ("Python", manifest["python"], "{}.{}".format(*sys.version_info[:2])),
        ("the target", manifest["triple"], here[0]),
    ):
        if built != running:
            return fallback(f"the installed kernels are for {what} {built}, this is {running}")
    shipped = manifest["levels"]
    if forced:
        shipped = [entry for entry in shipped if entry["name"] == forced]
        if not shipped:
            return fallback(f"FASTDNN_KERNELS={forced} names no installed level")
    level = levels.choose(shipped, here, host)
    if level is None:
        names = ", ".join(entry["name"] for entry in shipped)
        return fallback(f"this CPU lacks instructions of every installed level ({names})")
    return Choice(level, None, levels.parse_features(level["magic"][2]), manifest)


def read_manifest(folder=FOLDER):
    """(manifest dict, None), or (None, why there is none usable)."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        for key in ("numba", "python", "triple", "levels", "files"):
            manifest[key]  # noqa: B018 (a KeyError names what is missing)
        return manifest, None
    except FileNotFoundError:
        return None, "no compiled kernels were installed with fastdnn (a source checkout)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"the installed kernels' manifest is unreadable ({exc!r})"


def read_index(data):
    """(numba version, source stamp, {lookup key: data file name}) of a numba cache
    index file's bytes (numba's ``IndexDataCacheFile`` layout)."""
    stream = io.BytesIO(data)
    version = pickle.load(stream)
    stamp, overloads = pickle.loads(stream.read())
    return version, stamp, overloads


def attach(dispatchers):
    """Put the installed kernels in front of each dispatcher's numba cache (nothing
    when this process compiles its own)."""
    chosen = choice()
    if chosen.level is None:
        return
    for dispatcher in dispatchers:
        cache = getattr(dispatcher, "_cache", None)
        if cache is not None and not isinstance(cache, _InstalledFirst) and cache.cache_path:
            dispatcher._cache = _InstalledFirst(cache, chosen)


class _LevelKey:
    """Stands in for numba's code generator when the cache computes a lookup key:
    the key of code compiled for the chosen level, not for this CPU."""

    def __init__(self, magic):
        self._magic = tuple(magic)

    def magic_tuple(self):
        return self._magic


class _InstalledFirst:
    """A kernel's numba cache, with the chosen level's installed files looked up first.

    ``load_overload`` is the only call that differs; saving (a kernel compiled
    here because nothing installed fits) goes to numba's cache as before."""

    def __init__(self, cache, chosen):
        self._cache = cache
        self._chosen = chosen
        self._folder = os.path.join(FOLDER, chosen.level["name"])
        self._overloads = None

    def __getattr__(self, name):
        return getattr(self._cache, name)

    def save_overload(self, sig, data):
        self._cache.save_overload(sig, data)

    def load_overload(self, sig, target_context):
        cres = self._load_installed(sig, target_context)
        if cres is not None:
            return cres
        return self._cache.load_overload(sig, target_context)

    def _load_installed(self, sig, target_context):
        try:
            target_context.refresh()
            key = self._cache._index_key(sig, _LevelKey(self._chosen.level["magic"]))
            name = self._index().get(key)
            if name is None:  # not installed for this level: numba's cache, or compile
                return None
            return self._cache._impl.rebuild(target_context, pickle.loads(self._read(name)))
        except Exception:  # damaged or missing: compile instead (module docstring)
            self._chosen.failed += 1
            return None

    def _index(self):
        """The installed index of this kernel: {numba key: data file name}, empty
        when it belongs to another numba or another version of the source."""
        if self._overloads is None:
            self._overloads = {}
            impl = self._cache._impl
            try:
                index = self._read(impl.filename_base + ".nbi")
            except FileNotFoundError:  # a kernel the build does not list (a scalar helper)
                return self._overloads
            version, stamp, overloads = read_index(index)
            if version == self._chosen.manifest["numba"] and (
                stamp == impl.locator.get_source_stamp()
            ):
                self._overloads = overloads
        return self._overloads

    def _read(self, name):
        """A file of the chosen level, whose SHA-256 must be the manifest's."""
        with open(os.path.join(self._folder, name), "rb") as f:
            data = f.read()
        expected = self._chosen.manifest["files"].get(f"{self._chosen.level['name']}/{name}")
        if hashlib.sha256(data).hexdigest() != expected:
            raise ValueError(f"{name}: not the file the build wrote")
        return data
