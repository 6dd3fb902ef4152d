"""Serial or parallel: the one place that decides, and why it is thread-safe.

numba's default ``workqueue`` threading layer aborts the process when two
Python threads enter parallel regions at the same time, and with the
OpenMP layer two concurrent regions oversubscribe the cores. fastdnn
therefore lets at most one Python thread at a time into a parallel region:
``run`` takes a process-wide lock *without waiting*, and a thread that does
not get it runs the serial kernel instead (the same arithmetic, the same
result bit for bit; the kernels release the GIL, so concurrent callers still
run side by side). This holds under every threading layer, costs one
uncontended lock acquisition per large call, and never blocks a caller.
"""

import threading
from contextlib import contextmanager

from ._config import PARALLEL_MIN_ELEMENTS

_REGION = threading.Lock()


def run(parallel, serial, args, span, size):
    """``parallel(*args)`` for large work when no other thread is in a region, else ``serial(*args, *span)``.

    Parameters
    ----------
    parallel, serial : numba dispatchers
        The ``prange`` driver and the serial kernel it calls per block.
    args : tuple
        Arguments both take.
    span : tuple
        The extra ``(lo, hi)`` arguments of the serial kernel covering all the work.
    size : int
        Elements of work, compared with ``PARALLEL_MIN_ELEMENTS``.
    """
    if enter(size):
        try:
            return parallel(*args)
        finally:
            leave()
    return serial(*args, *span)


def enter(size, threshold=PARALLEL_MIN_ELEMENTS):
    """Take the parallel region if ``size >= threshold`` and it is free; True if taken.

    A caller that gets True must call ``leave()`` (in a ``finally``).
    """
    return size >= threshold and _REGION.acquire(blocking=False)


def leave():
    _REGION.release()


@contextmanager
def region(size, threshold=PARALLEL_MIN_ELEMENTS):
    """``with region(size) as parallel:`` run the ``prange`` driver if ``parallel``, else the
    serial kernel; ``enter``/``leave`` around the block (for calls of milliseconds, not microseconds)."""
    parallel = enter(size, threshold)
    try:
        yield parallel
    finally:
        if parallel:
            leave()


def work_items():
    """Four parallel work items per thread numba may use (``NUMBA_NUM_THREADS``;
    a lower per-thread setting just gets more, smaller items)."""
    import numba

    return 4 * numba.config.NUMBA_NUM_THREADS
