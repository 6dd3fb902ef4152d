"""Compile the kernels a call path needs before it waits on them, in parallel worker processes.

numba compiles a kernel on its first call, on one core, one kernel after
another: a course-API training step of the cat network met about a dozen
kernels that way and waited for each before its first result
(docs/performance.md, "Compile time"). A *plan* lists the
kernels a path will call, each with the exact numba types of its arguments
(``fastdnn.course.plans`` builds them). ``ensure(plan)`` loads every entry
from numba's disk cache; the ones not there are compiled by worker processes
(one per core, this process being one of them), which write numba's cache,
and then loaded. ``prefetch(plan)`` starts those workers and returns at once,
so that the compilation overlaps whatever the caller does next; a later
``ensure`` waits for them.

``FASTDNN_COMPILE_PROCESSES`` sets how many processes compile at once
(default: one per core; 1 compiles in the calling process only, as numba
does, and turns ``prefetch`` off).

A process that compiles says so once, on the ``fastdnn`` logger (warning
level, so it shows without any logging set-up): it is a one-time cost for
this machine, and where the cache is. A process that finds everything
cached says nothing.

Workers are ``python -c`` processes running ``_worker``: the plan's entries
come on stdin, nothing of the caller's ``__main__`` is imported (unlike
``multiprocessing``'s spawn), and the caller's numba settings that decide
where the cache is and which CPU it is for travel in the environment. Any
failure to start or finish one (no ``sys.executable``, a crash) leaves its
entries to this process, which compiles them as numba would have: slower,
never wrong. Workers still running when the interpreter exits are stopped.

Loading from the cache without compiling is the cache-hit half of
``Dispatcher.compile`` (``numba_internals.load_cached``); should numba's internals
change, every entry counts as missing and is compiled by a worker, then loaded by
``Dispatcher.compile`` (correct, with one extra load per kernel).
"""

import atexit
import os
import pickle
import subprocess
import sys
import threading
from typing import NamedTuple

from . import numba_internals as N
from .installed import tell
from .lazy import kernels as K

_lock = threading.Lock()
_running = []
"""Prefetch workers not yet joined (``Worker``s)."""


class Worker(NamedTuple):
    """A worker process (None: it could not start) and the share of entries it compiles."""

    process: subprocess.Popen | None
    share: list


class Job(NamedTuple):
    """A share of entries for ``run_jobs``: its ``label`` (the errors name it) and the
    worker's environment."""

    label: str
    env: dict
    share: list


class Entry(NamedTuple):
    """One plan entry: ``fastdnn.kernels.<kernel>`` for the numba ``argtypes``;
    ``weight``, about how many seconds it takes to compile (it balances the entries
    over the workers)."""

    kernel: str
    argtypes: tuple
    weight: float

    @property
    def key(self):
        """What the entry compiles: (kernel, argtypes); two entries alike but for weight
        are one."""
        return self.kernel, self.argtypes


def entry(kernel, *argtypes, weight=0.3):
    """``Entry(kernel, argtypes, weight)``, the argument types given one by one."""
    return Entry(kernel, tuple(argtypes), weight)


def ensure(plan):
    """Make every entry of ``plan`` callable without compiling: loaded from numba's cache,
    or compiled now, the missing ones spread over worker processes and this one."""
    if _jit_disabled():
        return
    wait()  # a prefetch may be compiling some of these
    todo = missing(plan)
    if not todo:
        return
    workers = max(0, min(_cores(), len(todo)) - 1)
    shares = _balance(todo, workers + 1)
    first = todo[0].kernel
    tell(len(todo), workers + 1, False, first, _cache_folder(first))
    started = [_spawn(share) for share in shares[1:]]
    for e in shares[0]:
        _dispatcher(e.kernel).compile(e.argtypes)
    for worker in started:
        if worker.process is not None:
            worker.process.wait()
    for e in todo:  # loads what the workers wrote (or compiles, if one failed)
        _dispatcher(e.kernel).compile(e.argtypes)


def prefetch(plan):
    """Start compiling the entries of ``plan`` that numba's cache lacks, in worker
    processes, and return at once; ``ensure`` (or ``wait``) joins them. Nothing
    when compiling is limited to this process (``FASTDNN_COMPILE_PROCESSES=1``)."""
    if _jit_disabled() or _cores() == 1:
        return
    with _lock:  # what running prefetch workers compile already
        busy = {e.key for worker in _running for e in worker.share}
    todo = [e for e in missing(plan) if e.key not in busy]
    if not todo:
        return
    shares = _balance(todo, min(_cores(), len(todo)))
    first = todo[0].kernel
    tell(len(todo), len(shares), True, first, _cache_folder(first))
    started = [_spawn(share) for share in shares]
    with _lock:
        _running.extend(worker for worker in started if worker.process is not None)


def wait():
    """Join the prefetch workers still running (``ensure`` does this itself)."""
    with _lock:
        running = _running[:]
        _running.clear()
    for worker in running:
        worker.process.wait()


def missing(plan):
    """The entries of ``plan`` that neither this process nor numba's disk cache holds
    (loading those the cache holds)."""
    if _jit_disabled():
        return []
    return [e for e in _unique(plan) if not _load(e)]


# ----------------------------------------------------------------------- internal


def _jit_disabled():
    return N.jit_disabled()


def _unique(plan):
    seen, out = set(), []
    for e in plan:
        if e.key not in seen:
            seen.add(e.key)
            out.append(e)
    return out


def _dispatcher(name):
    return getattr(K, name)


def _load(e):
    """True when entry ``e`` is compiled in this process, or loads from numba's disk cache."""
    return N.load_cached(_dispatcher(e.kernel), e.argtypes)


def _cores():
    """Processes that compile at once: ``FASTDNN_COMPILE_PROCESSES`` (1: this process
    alone, as numba itself would), else the cores this process may run on; 1 where
    numba keeps no cache (workers could not hand their results over)."""
    if not N.can_cache():
        return 1
    setting = os.environ.get("FASTDNN_COMPILE_PROCESSES", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _balance(entries, n):
    """``entries`` in ``n`` shares of about equal weight, heaviest first (LPT);
    share 0 is the heaviest."""
    shares = [[] for _ in range(max(1, n))]
    loads = [0.0] * len(shares)
    for e in sorted(entries, key=lambda e: -e.weight):
        k = loads.index(min(loads))
        shares[k].append(e)
        loads[k] += e.weight
    order = sorted(range(len(shares)), key=lambda k: -loads[k])
    return [shares[k] for k in order if shares[k]]


def _worker_environment():
    """This process's environment, plus the numba settings it changed in code that
    decide where the cache is and which CPU it compiles for."""
    return dict(os.environ, **N.cache_settings())


WORKER = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from fastdnn._internal.precompile import _worker; _worker()"
)


def _spawn(share, env=None, stderr=subprocess.DEVNULL):
    """A worker process compiling ``share``: a ``Worker``, whose process is None when
    none could start (this process compiles the share when it loads it). ``env``: the
    worker's environment (default: ``_worker_environment``)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not sys.executable:
        return Worker(None, share)
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER.format(root=root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=_worker_environment() if env is None else env,
        )
        with process.stdin:
            process.stdin.write(share_bytes(share))
    except (OSError, ValueError, pickle.PicklingError):
        return Worker(None, share)
    return Worker(process, share)


def run_jobs(jobs, processes):
    """Compile every job, ``processes`` workers at a time, and raise if one fails: the
    wheel build's use of the pool (``fastdnn._build_kernels``), where a kernel that does
    not compile is an error, not something to compile later in this process.

    ``jobs``: ``Job``s; the RuntimeError names the failed job's label and ends with the
    workers' stderr."""
    import tempfile
    import time

    pending, running = list(jobs), []
    with tempfile.TemporaryFile() as errors:  # the workers' stderr, shown if one fails
        while pending or running:
            while pending and len(running) < processes:
                job = pending.pop(0)
                process = _spawn(job.share, job.env, errors).process
                if process is None:
                    raise RuntimeError(f"could not start a worker for the {job.label} kernels")
                running.append((job.label, process))
            time.sleep(0.05)
            for label, process in list(running):
                if process.poll() is None:
                    continue
                running.remove((label, process))
                if process.returncode != 0:
                    for _, other in running:
                        other.kill()
                    errors.seek(0)
                    tail = errors.read().decode(errors="replace")[-4000:]
                    raise RuntimeError(f"compiling the {label} kernels failed:\n{tail}")


def share_bytes(share):
    """What a worker reads on stdin: the share's (kernel, argument types) pairs."""
    return pickle.dumps([e.key for e in share])


def _worker():
    """The worker process: compile each (kernel, argument types) read from stdin, which
    writes it to numba's cache. Exits non-zero on the first failure."""
    for name, argtypes in pickle.load(sys.stdin.buffer):
        _dispatcher(name).compile(argtypes)


def drop_stale_kernel_cache():
    """Delete cached kernels older than fastdnn's newest kernel source, in the cache
    folder beside the sources (a development checkout's; the tests and benchmarks call it).

    numba keys a kernel's on-disk cache on its own module's timestamp only: after an
    edit of ``kernels/_scalar.py`` or ``_internal/`` ``config.py`` (``INT8_BLOCK``, ...),
    ``activations.py`` or ``simd.py``, the machine code of the kernels that use them would
    still load. An installed release never hits this: installing writes every source anew.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    kernels = os.path.join(root, "kernels")
    sources = [os.path.join(kernels, f) for f in os.listdir(kernels) if f.endswith(".py")]
    sources += [
        os.path.join(root, "_internal", f) for f in ("config.py", "activations.py", "simd.py")
    ]
    newest = max(os.path.getmtime(f) for f in sources)
    cache = os.path.join(kernels, "__pycache__")
    if os.path.isdir(cache):
        for f in os.listdir(cache):
            path = os.path.join(cache, f)
            if f.endswith((".nbi", ".nbc")) and os.path.getmtime(path) < newest:
                os.unlink(path)


def cache_folder(name="_sgd_span"):
    """Where numba keeps fastdnn's compiled kernels (None if it cannot tell)."""
    return _cache_folder(name)


def _cache_folder(name):
    if not N.can_cache():
        return None
    return N.cache_folder(_dispatcher(name))


@atexit.register
def _stop_workers():
    """Prefetch workers do not outlive the interpreter (their cache writes are atomic)."""
    with _lock:
        running = _running[:]
        _running.clear()
    for worker in running:
        if worker.process.poll() is None:
            worker.process.terminate()
    for worker in running:
        try:
            worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.process.kill()
