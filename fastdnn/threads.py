"""Thread control that belongs to the caller: nothing changes at import."""

import contextlib


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
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"threads: n must be an int between 1 and {limit}; got {n!r}")
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
