"""Serial or parallel: the one place that decides, and why it is thread-safe.

numba's default ``workqueue`` threading layer aborts the process when two
Python threads enter parallel regions at the same time, and with the
OpenMP layer two concurrent regions oversubscribe the cores. fastdnn
therefore lets at most one Python thread at a time into a parallel region:
``region`` takes a process-wide lock *without waiting*, and a thread that does
not get it runs the serial kernel instead (the same arithmetic, the same
result bit for bit; the kernels release the GIL, so concurrent callers still
run side by side). This holds under every threading layer, costs one
uncontended lock acquisition per large call, and never blocks a caller.
"""

import threading

from .config import PARALLEL_MIN_ELEMENTS

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
    with region(size) as in_region:
        if in_region:
            return parallel(*args)
    return serial(*args, *span)


def parallel_size(size, threshold=PARALLEL_MIN_ELEMENTS):
    """Whether ``size`` elements of work reach ``region``'s threshold (a plan's question:
    ``region`` itself compares inline, on the path of a single-example prediction)."""
    return size >= threshold


class region:
    """``with region(size) as parallel:`` run the ``prange`` driver if ``parallel``, else the
    serial kernel. The one way into a parallel region: ``parallel`` is True when
    ``size >= threshold`` and no other thread holds the region, which is then held
    until the block ends (also on an exception or Ctrl-C inside it).

    A class, not a generator-based context manager: entering and leaving cost
    about a fifth as much, which counts on a single-example prediction.
    """

    __slots__ = ("_size", "_threshold", "_held")

    def __init__(self, size, threshold=PARALLEL_MIN_ELEMENTS):
        self._size = size
        self._threshold = threshold

    def __enter__(self):
        self._held = self._size >= self._threshold and _REGION.acquire(blocking=False)
        return self._held

    def __exit__(self, *exc_info):
        if self._held:
            _REGION.release()
        return False


def work_items(per_thread=4):
    """``per_thread`` parallel work items per thread numba may use (``NUMBA_NUM_THREADS``;
    a lower per-thread setting just gets more, smaller items). The dot-product
    kernels' split: a ``forward`` or ``predict`` variant's ``items``."""
    import numba

    return per_thread * numba.config.NUMBA_NUM_THREADS
