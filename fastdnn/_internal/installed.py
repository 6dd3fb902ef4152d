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

Where numba can keep no cache at all (``numba_internals.can_cache()`` false: a read-only install,
no writable home, no ``NUMBA_CACHE_DIR``), the kernels are defined without one
(``_internal.config``) and ``attach`` gives each a cache of its own that reads the
installed files and saves nothing: they load as anywhere else, and a kernel that
must compile compiles in memory. Whichever way a kernel ends up compiling, the
process says so once (``tell``), naming why.
"""

import hashlib
import json
import logging
import os
import sys
import threading

from . import levels
from . import numba_internals as N

FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_compiled")
"""Where a wheel keeps the compiled kernels (``fastdnn/_compiled``)."""

MANIFEST = "manifest.json"

_lock = threading.Lock()
_choice = None
_told = False
"""Whether this process has said that it compiles (``tell``: once per process)."""
_log = logging.getLogger("fastdnn")


class Choice:
    """What this process runs: ``level`` (the manifest's entry, or None: compiled
    here), ``reason`` (why not installed, when compiled), ``features`` (what the
    Python side may assume of the code it runs), ``manifest``."""

    def __init__(self, level, reason, features, manifest=None, baseline=None):
        self.level = level
        self.baseline = baseline
        """The manifest's ``levels.BASELINE`` entry when this CPU can run it (where the
        ``levels.baseline_only`` kernels load from), else None."""
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


def _decide(forced):
    import llvmlite.binding as ll

    host = {name for name, on in ll.get_host_cpu_features().items() if on}
    if N.jit_disabled():  # the kernels run as Python: the choices follow this CPU
        return Choice(None, "the JIT is off (NUMBA_DISABLE_JIT)", host)
    here = N.compile_target()
    compiled = levels.parse_features(here[2])

    def fallback(reason):
        return Choice(None, reason, compiled)

    if forced == "compile":
        return fallback("FASTDNN_KERNELS=compile")
    if N.cpu_name() is not None:
        return fallback(f"NUMBA_CPU_NAME={N.cpu_name()} asks numba to compile for that CPU")
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
    baseline = [entry for entry in manifest["levels"] if entry["name"] == levels.BASELINE]
    baseline = levels.choose(baseline, here, host)
    return Choice(level, None, levels.parse_features(level["magic"][2]), manifest, baseline)


def read_manifest(folder=FOLDER):
    """(manifest dict, None), or (None, why there is none usable): a manifest whose
    fields are missing or of the wrong types is unusable, never a crash."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        if not os.path.isdir(folder):
            return None, (
                f"no compiled kernels were installed with fastdnn (no folder {folder}: "
                "a source checkout or an editable install)"
            )
        found = sorted(os.listdir(folder))
        return None, (
            f"the installed kernels' {MANIFEST} is missing from {folder} (found: "
            f"{', '.join(found[:8]) + (', ...' if len(found) > 8 else '') or 'nothing'})"
        )
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"the installed kernels' manifest is unreadable ({type(exc).__name__}: {exc})"
    problem = _manifest_problem(manifest)
    if problem is not None:
        return None, f"the installed kernels' manifest is unusable ({problem})"
    return manifest, None


def _manifest_problem(manifest):
    """What is wrong with a parsed manifest's shape, or None."""
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__}, not an object"
    for key in ("numba", "python", "triple"):
        if not isinstance(manifest.get(key), str):
            return f"{key!r} must be a string; got {manifest.get(key)!r}"[:200]
    levels_ = manifest.get("levels")
    if not isinstance(levels_, list):
        return f"'levels' must be a list; got {type(levels_).__name__}"
    for k, entry in enumerate(levels_):
        magic = entry.get("magic") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(magic, list)
            or len(magic) != 3
            or not all(isinstance(part, str) for part in magic)
        ):
            return f"levels[{k}] must be {{'name': str, 'magic': [3 strings]}}; got {entry!r}"[:200]
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        return "'files' must map file names to SHA-256 strings"
    return None


def tell(count, processes, background, first, folder):
    """Say once per process, on the ``fastdnn`` logger (warning level, so it shows
    without any logging set-up), that fastdnn compiles: ``count`` kernels (the first
    of them ``first``; 1 for a kernel compiled where it is first called), on how many
    ``processes``, why, and where the result is kept (numba's cache ``folder``)."""
    global _told
    with _lock:
        if _told:
            return
        _told = True
    chosen = choice()
    if chosen.level is None:
        why = chosen.reason
    else:
        why = (
            f"the kernels installed for {chosen.level['name']} lack {first} for these "
            "argument types (or are damaged)"
        )
    what = f"{count} kernels" if count > 1 else f"the kernel {first}"
    if N.can_cache():
        keep = (
            f"This happens once: numba caches them in {folder or 'its cache folder'}, and "
            "later runs load them in a moment."
        )
    else:
        keep = (
            "In memory only: no cache folder is writable (the package's, NUMBA_CACHE_DIR, the "
            "user's cache), so every process compiles them again; set NUMBA_CACHE_DIR to a "
            "writable folder to keep them."
        )
    _log.warning(
        "fastdnn: compiling %s for this CPU%s (%d process%s), because %s. %s",
        what,
        " in the background" if background else "",
        processes,
        "" if processes == 1 else "es",
        why,
        keep,
    )


def attach(dispatchers):
    """Put, in front of each dispatcher's numba cache, the installed kernels and the
    one-time notice that fastdnn compiles (``_KernelCache``)."""
    chosen = choice()
    for dispatcher in dispatchers:
        cache = N.cache_of(dispatcher)
        if cache is None or isinstance(cache, _KernelCache):
            continue
        if not N.has_folder(cache):  # defined without a cache (config)
            cache = N.read_only_cache(dispatcher.py_func)
        N.put_cache(dispatcher, _KernelCache(cache, chosen))


class _KernelCache:
    """A kernel's numba cache, with the chosen level's installed files looked up first,
    and the notice that fastdnn compiles given when neither holds the kernel.

    ``load_overload`` is the only call that differs; saving (a kernel compiled
    here because nothing installed fits) goes to numba's cache as before."""

    def __init__(self, cache, chosen):
        self._numba = cache
        self._chosen = chosen
        self._level = chosen.level
        if chosen.baseline is not None and levels.baseline_only(N.kernel_name(cache)):
            self._level = chosen.baseline  # shipped for the baseline level only
        self._folder = None if self._level is None else os.path.join(FOLDER, self._level["name"])
        self._overloads = None

    def __getattr__(self, name):
        return getattr(self._numba, name)

    def save_overload(self, sig, data):
        self._numba.save_overload(sig, data)

    def load_overload(self, sig, target_context):
        """What numba's dispatcher calls before compiling: a miss means it compiles."""
        cres = self.load_quietly(sig, target_context)
        if cres is None:
            tell(1, 1, False, N.kernel_name(self._numba), N.cache_path(self._numba))
        return cres

    def load_quietly(self, sig, target_context):
        """The installed kernel, or numba's cached one, or None (no notice: a probe)."""
        cres = self._load_installed(sig, target_context)
        if cres is not None:
            return cres
        return self._numba.load_overload(sig, target_context)

    def _load_installed(self, sig, target_context):
        if self._folder is None:
            return None
        try:
            key = N.index_key(self._numba, sig, self._level["magic"])
            name = self._index().get(key)
            if name is None:  # not installed for this level: numba's cache, or compile
                return None
            return N.rebuild(self._numba, target_context, self._read(name))
        except Exception:  # damaged or missing: compile instead (module docstring)
            self._chosen.failed += 1
            return None

    def _index(self):
        """The installed index of this kernel: {numba key: data file name}, empty
        when it belongs to another numba or another version of the source."""
        if self._overloads is None:
            self._overloads = {}
            try:
                index = self._read(N.index_file(self._numba))
            except FileNotFoundError:  # a kernel the build does not list (a scalar helper)
                return self._overloads
            version, stamp, overloads = N.read_index(index)
            if version == self._chosen.manifest["numba"] and (stamp == N.source_stamp(self._numba)):
                self._overloads = overloads
        return self._overloads

    def _read(self, name):
        """A file of the chosen level, whose SHA-256 must be the manifest's."""
        with open(os.path.join(self._folder, name), "rb") as f:
            data = f.read()
        expected = self._chosen.manifest["files"].get(f"{self._level['name']}/{name}")
        if hashlib.sha256(data).hexdigest() != expected:
            raise ValueError(f"{name}: not the file the build wrote")
        return data
