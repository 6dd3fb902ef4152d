"""The one door to numba's internals: every private numba name fastdnn uses is used here.

fastdnn goes past numba's public API (``njit``, ``prange``, ``numba.extending``,
``numba.types``, ``Dispatcher.compile``) for four things, and this module is the only one
that does:

- **Its settings** (``numba.core.config``): whether the JIT is off, where the cache is, which
  CPU numba is told to compile for (``jit_disabled``, ``cache_settings``, ``cpu_name``).
- **What a compilation is for** (``compile_target``, ``compiling_for``): numba's lookup key
  of a cache entry, ``(triple, CPU name, features)``, of this process or of the code
  generator compiling now (a level being built).
- **Its disk cache** (``numba.core.caching``): whether one can exist here (``can_cache``),
  a kernel's cache object (``cache_of``, ``put_cache``; numba's dispatcher calls
  ``load_overload(sig, target_context)`` and ``save_overload(sig, data)`` on it and reads
  its other attributes), a cache that needs no writable folder (``read_only_cache``), an
  entry's key under another CPU (``index_key``), rebuilding an entry's code from its bytes
  (``rebuild``), the index and library files' layouts (``read_index``, ``object_code``),
  the folder (``cache_folder``), and the cache-hit half of ``Dispatcher.compile``
  (``load_cached``: load without compiling).
- **Its events and intrinsics' plumbing**: counting compilations (``compilations``,
  ``numba.core.event``) and declaring an LLVM function (``llvm_function``, ``cgutils``)
  for ``_internal.simd``'s intrinsics (which otherwise use the documented
  ``numba.extending`` API).

``NEEDS`` lists every name these reach; ``missing()`` says which a numba release lacks
(``tests/test_numba_internals.py`` fails naming them, under the lowest and the highest
numba that ``pyproject.toml`` declares). Where a release moves one anyway, the callers
fall back: an installed kernel that cannot load compiles (``_internal.installed``), a
cache probe that fails counts as a miss (``_internal.precompile``): slower, never wrong.
"""

import contextlib
import functools
import importlib
import io
import os
import pickle

NEEDS = (
    # settings
    "numba.core.config.DISABLE_JIT",
    "numba.core.config.CACHE_DIR",
    "numba.core.config.CPU_NAME",
    "numba.core.config.CPU_FEATURES",
    # the compile target and the kernels' dispatcher class
    "numba.core.registry.cpu_target",
    "numba.core.registry.CPUDispatcher",
    "numba.core.compiler_lock.global_compiler_lock",
    # the disk cache
    "numba.core.caching.FunctionCache",
    "numba.core.caching.FunctionCache._index_key",
    "numba.core.caching.FunctionCache.load_overload",
    "numba.core.caching.FunctionCache.save_overload",
    "numba.core.caching.CompileResultCacheImpl",
    "numba.core.caching.CompileResultCacheImpl.rebuild",
    "numba.core.caching.InTreeCacheLocator|_InTreeCacheLocator",  # renamed in numba 0.60
    "numba.core.caching.CacheImpl.filename_base",
    "numba.core.caching.CacheImpl.locator",
    "numba.core.caching._CacheLocator.get_source_stamp",
    "numba.core.dispatcher.Dispatcher.add_overload",
    # events and the intrinsics' plumbing
    "numba.core.event.Listener",
    "numba.core.event.install_listener",
    "numba.core.event.register",
    "numba.core.cgutils.get_or_insert_function",
    # the public API the intrinsics are written in (documented, listed for completeness)
    "numba.extending.intrinsic",
    "numba.extending.overload",
    "numba.extending.register_model",
    "numba.extending.models.PrimitiveModel",
)
"""Every numba name fastdnn needs beyond ``njit`` and ``prange``: module path, then
attributes; ``a|b`` where releases name the last attribute either way."""


def missing(needs=NEEDS):
    """The names of ``needs`` this numba lacks (empty when every one resolves)."""
    absent = []
    for need in needs:
        head, _, alternatives = need.rpartition(".")
        if not any(_resolves(f"{head}.{last}") for last in alternatives.split("|")):
            absent.append(need)
    return absent


def _resolves(name):
    """Whether the dotted ``name`` (a module, then attributes) exists in this numba."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):  # the longest importable module prefix
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        break
    else:
        return False
    for attribute in parts[split:]:
        found = getattr(found, attribute, _ABSENT)
        if found is _ABSENT:
            return False
    return True


_ABSENT = object()


# ----------------------------------------------------------------------- settings


def _config():
    from numba.core import config

    return config


def jit_disabled():
    """Whether numba runs the kernels as plain Python (``NUMBA_DISABLE_JIT``)."""
    return bool(_config().DISABLE_JIT)


def cpu_name():
    """The CPU numba is told to compile for (``NUMBA_CPU_NAME``), or None."""
    return _config().CPU_NAME


def cache_settings():
    """numba's settings, as environment variables, that decide where the cache is and which
    CPU it compiles for (set in code or in the environment; a worker process needs them)."""
    config = _config()
    pairs = (
        ("NUMBA_CACHE_DIR", config.CACHE_DIR),
        ("NUMBA_CPU_NAME", config.CPU_NAME),
        ("NUMBA_CPU_FEATURES", config.CPU_FEATURES),
    )
    return {name: str(value) for name, value in pairs if value}


# ----------------------------------------------------------------- compile target


def compile_target():
    """numba's ``(triple, cpu, features)`` for code compiled in this process."""
    from numba.core.registry import cpu_target

    return cpu_target.target_context.codegen().magic_tuple()


def compiling_for(context):
    """The LLVM feature string of the CPU ``context``'s code generator compiles for now
    (inside an intrinsic's code generation: a level being built, or this CPU)."""
    return context.codegen().magic_tuple()[2]


def llvm_function(module, function_type, name):
    """The LLVM function ``name`` of ``module``, declared if it is not there yet."""
    from numba.core import cgutils

    return cgutils.get_or_insert_function(module, function_type, name)


def is_kernel(value):
    """Whether ``value`` is a numba CPU kernel (a dispatcher made by ``njit``)."""
    from numba.core.registry import CPUDispatcher

    return isinstance(value, CPUDispatcher)


# --------------------------------------------------------------------- the cache

_can_cache = None


def can_cache():
    """Whether numba can keep a disk cache of fastdnn's kernels: some folder numba
    would use (``NUMBA_CACHE_DIR``, the kernels' ``__pycache__``, the user's cache
    folder) is writable. Asked once per process, the way numba asks when a kernel is
    defined with ``cache=True`` (it raises "no locator available" where none is)."""
    global _can_cache
    if _can_cache is None:
        from numba.core.caching import FunctionCache

        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        source = os.path.join(package, "kernels", "__init__.py")
        namespace = {}
        exec(compile("def probe():\n    pass\n", source, "exec"), namespace)
        try:
            FunctionCache(namespace["probe"])
            _can_cache = True
        except RuntimeError:  # no locator: nothing writable
            _can_cache = False
    return _can_cache


def cache_of(dispatcher):
    """The kernel's numba cache object (None for a kernel without one)."""
    return getattr(dispatcher, "_cache", None)


def put_cache(dispatcher, cache):
    """Give the kernel ``cache`` in place of its numba cache (numba's dispatcher calls its
    ``load_overload``/``save_overload`` before and after compiling)."""
    dispatcher._cache = cache


def has_folder(cache):
    """Whether ``cache`` keeps files (a kernel defined with ``cache=False`` has a null one)."""
    return bool(getattr(cache, "cache_path", None))


def kernel_name(cache):
    """The Python name of the kernel ``cache`` belongs to."""
    return cache._py_func.__name__


def cache_path(cache):
    """The folder of ``cache``'s files."""
    return cache.cache_path


def cache_folder(dispatcher):
    """Where numba keeps ``dispatcher``'s compiled code (None if it cannot tell)."""
    try:
        return dispatcher._cache._cache_path
    except Exception:
        return None


def index_key(cache, sig, magic):
    """``cache``'s lookup key of the entry for ``sig`` compiled for ``magic``
    (``compile_target``'s tuple of another CPU), not for this one."""
    return cache._index_key(sig, _Codegen(magic))


class _Codegen:
    """Stands in for numba's code generator when the cache computes a lookup key."""

    def __init__(self, magic):
        self._magic = tuple(magic)

    def magic_tuple(self):
        return self._magic


def index_file(cache):
    """The file name of ``cache``'s index (``<kernel>-<line>.py<version>.nbi``)."""
    return cache._impl.filename_base + ".nbi"


def source_stamp(cache):
    """What numba's index records of the kernel's source file (its time and size)."""
    return cache._impl.locator.get_source_stamp()


def rebuild(cache, target_context, data):
    """The compiled kernel of an entry's bytes (a ``.nbc`` file's), ready to run."""
    target_context.refresh()
    return cache._impl.rebuild(target_context, pickle.loads(data))


def read_index(data):
    """(numba version, source stamp, {lookup key: data file name}) of a numba cache
    index file's bytes (numba's ``IndexDataCacheFile`` layout)."""
    stream = io.BytesIO(data)
    version = pickle.load(stream)
    stamp, overloads = pickle.loads(stream.read())
    return version, stamp, overloads


def object_code(data):
    """The machine code (an object file's bytes) of a ``.nbc`` entry's bytes; ValueError
    when the entry holds something else (object mode)."""
    _, kind, (code, _) = pickle.loads(data)[0]  # numba's library data
    if kind != "object":
        raise ValueError(f"{kind!r}, not machine code")
    return code


def read_only_cache(py_func):
    """A numba function cache for ``py_func`` that needs no writable folder: it can
    compute the installed files' keys and rebuild their code, and keeps nothing
    itself (loads find nothing, saves are dropped)."""
    return _read_only_cache_class()(py_func)


@functools.cache
def _read_only_cache_class():
    """``read_only_cache``'s class, defined once (on first use: it subclasses numba's)."""
    from numba.core import caching

    in_tree = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator

    class Locator(in_tree):
        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file) if os.path.exists(py_file) else None

    class Impl(caching.CompileResultCacheImpl):
        _locator_classes = [Locator]

    class ReadOnlyCache(caching.FunctionCache):
        _impl_class = Impl

        def load_overload(self, sig, target_context):
            return None

        def save_overload(self, sig, data):
            pass

    return ReadOnlyCache


def load_cached(dispatcher, argtypes):
    """Make ``dispatcher`` hold its kernel for ``argtypes`` from the disk cache without
    compiling: True when it is compiled in this process or loaded now, False when the cache
    lacks it (or numba's internals moved: the caller then compiles, never wrong).

    The cache-hit branch of ``Dispatcher.compile``, without its fall-through to compiling;
    a cache with ``load_quietly`` (``_internal.installed``'s) is asked that, so a probe
    gives no notice that fastdnn compiles."""
    if argtypes in dispatcher.overloads:
        return True
    try:
        from numba.core.compiler_lock import global_compiler_lock

        with global_compiler_lock:
            cache = dispatcher._cache
            load = getattr(cache, "load_quietly", cache.load_overload)
            cres = load(argtypes, dispatcher.targetctx)
            if cres is None:
                return False
            dispatcher._cache_hits[argtypes] += 1
            if not cres.objectmode:
                dispatcher.targetctx.insert_user_function(
                    cres.entry_point, cres.fndesc, [cres.library]
                )
            dispatcher.add_overload(cres)
        return True
    except Exception:  # numba's internals moved: count it as missing (module docstring)
        return False


# ------------------------------------------------------------------------ events


class Compilations:
    """The kernels numba compiles while it is open (``compilations()``): ``names`` (each
    top-level compilation's Python name, in order) and ``seconds`` (each one's time)."""

    def __init__(self):
        self.names = []
        self.seconds = []


@contextlib.contextmanager
def compilations():
    """``with compilations() as c:``: the top-level compilations inside (a kernel compiled
    for a call; the helpers it compiles on the way count in its time), a ``Compilations``."""
    from numba.core import event

    found = Compilations()
    with event.install_listener("numba:compile", _listener(found)):
        yield found


def watch_compilations():
    """``compilations()`` for the rest of the process (a probe that counts until it exits)."""
    from numba.core import event

    found = Compilations()
    event.register("numba:compile", _listener(found))
    return found


def _listener(found):
    import time

    from numba.core import event

    started = []

    class Listener(event.Listener):
        def on_start(self, ev):
            if not started:
                function = getattr(ev.data.get("dispatcher"), "py_func", None)
                found.names.append(function.__name__ if function else str(ev.data)[:60])
            started.append(time.perf_counter())

        def on_end(self, ev):
            begun = started.pop()
            if not started:
                found.seconds.append(time.perf_counter() - begun)

    return Listener()
