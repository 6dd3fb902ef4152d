"""Thread control that belongs to the caller: nothing changes at import."""

import contextlib

from .validation import whole_number


@contextlib.contextmanager
def threads(n):
    """Run fastdnn's parallel kernels on ``n`` threads inside a ``with`` block.

    Sets numba's thread count for the calling thread (numba keeps it per
    thread) and restores the previous value on exit, also after an exception.
    BLAS threads (NumPy's OpenBLAS) are not touched; use ``threadpoolctl``
    for those.

    Parameters
    ----------
    n : int
        Between 1 and ``numba.config.NUMBA_NUM_THREADS``.
    """
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    n = whole_number(n, "n", "threads", most=limit)
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
