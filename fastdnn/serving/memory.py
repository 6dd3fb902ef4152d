"""Freed request memory given back to the operating system, in ``fastdnn serve``'s process.

glibc keeps the memory a process frees for its next allocations instead of returning
it, and the bodies of large requests are freed in pieces it cannot hand back by
itself (gRPC's buffers, the parsed message, the rows): cancelled large gRPC calls
left a server holding gigabytes for good (docs/serving.md). ``released(nbytes)``, called as each
request ends with the size of its body, counts the large ones (``LARGE_BODY`` and
more: small bodies reuse the same heap and leave nothing behind); once
``TRIM_BYTES`` of them have ended, a thread of its own calls glibc's
``malloc_trim(0)`` (the GIL is let go meanwhile),
at most once per ``TRIM_INTERVAL`` seconds. A server of small requests never
trims: a trim holds the allocator's locks, which the event loop then waits for.

Only ``enable()`` (``serving.server.prepare_process``, the process ``fastdnn serve``
owns) turns this on: an app mounted in someone else's server leaves their allocator
alone. Elsewhere than glibc, nothing happens.
"""

import threading

TRIM_BYTES = 64 << 20
"""Bytes of request bodies released between two trims."""

TRIM_INTERVAL = 1.0
"""Seconds at least between two trims."""

LARGE_BODY = 1 << 20
"""Bodies from this size count towards a trim."""

_cond = threading.Condition()
_released = 0
_trim = None  # glibc's malloc_trim, once enabled


def enable():
    """Start returning freed memory (glibc only; returns whether it is on)."""
    global _trim
    with _cond:
        if _trim is not None:
            return True
        try:
            import ctypes

            trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc
            return False
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        _trim = trim
    threading.Thread(target=_trimmer, name="fastdnn-trim", daemon=True).start()
    return True


def released(nbytes):
    """A request whose body held ``nbytes`` has ended (answered, refused or cancelled)."""
    global _released
    if _trim is None or nbytes < LARGE_BODY:
        return
    with _cond:
        _released += nbytes
        if _released >= TRIM_BYTES:
            _cond.notify()


def _trimmer():
    global _released
    import time

    while True:
        with _cond:
            while _released < TRIM_BYTES:
                _cond.wait()
            _released = 0
        _trim(0)
        time.sleep(TRIM_INTERVAL)
