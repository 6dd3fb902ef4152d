"""Cross-entropy cost and its gradient with respect to AL."""

import numpy as np
from numba import njit, prange

from .._internal.config import BLOCK, PARALLEL, SERIAL
from ._scalar import log_pos, nonfinite
from .layer import _sum

_TINY = 5e-324
"""Smallest positive (denormal) float64: log arguments are clamped to it, so
the cost stays finite (at most about 744.4 per example) when AL is exactly 0
or 1, and every AL strictly inside (0, 1), denormals included, gives the
course's value (hypothesis found that a clamp at the smallest *normal* number
changed the cost of AL = 5e-324 from 744.4 to 708.4)."""


_CHUNK = 512
"""Terms computed per pass into an L1-sized scratch array before summing."""


@njit(**SERIAL)
def _cross_entropy_span(AL, Y, lo, hi):
    """sum of y*log(al) + (1-y)*log(1-al) over [lo, hi), in float64.

    Both logs are taken of clamped arguments, so they are finite and a term
    whose weight (y or 1-y) is 0 contributes exactly 0 (``xlogy`` semantics):
    AL = Y = 1 costs 0, not NaN. The terms go to a small scratch array in a
    branch-free loop that vectorizes (``log_pos``, not scalar libm), then are
    summed with re-association allowed (``_sum``); the logs themselves are
    computed without fast-math, so their ulp bound holds.
    Returns (sum, True if any AL or Y value is non-finite).
    """
    AL, Y = AL[lo:hi], Y[lo:hi]
    terms = np.empty(min(_CHUNK, AL.size))
    s = 0.0
    bad = False
    for start in range(0, AL.size, _CHUNK):
        al_c, y_c = AL[start : start + _CHUNK], Y[start : start + _CHUNK]
        t = terms[: al_c.size]
        for k in range(al_c.size):
            al = np.float64(al_c[k])
            y = np.float64(y_c[k])
            bad |= nonfinite(al) | nonfinite(y)
            t[k] = y * log_pos(max(al, _TINY)) + (1.0 - y) * log_pos(max(1.0 - al, _TINY))
        s += _sum(t)
    return s, bad


@njit(**PARALLEL)
def _cross_entropy_parallel(AL, Y):
    # Per-block partial sums added in block order: the same result for any
    # thread count.
    n = AL.size
    nblocks = (n + BLOCK - 1) // BLOCK
    sums = np.empty(nblocks)
    bads = np.empty(nblocks, dtype=np.int64)
    for k in prange(nblocks):
        sums[k], bads[k] = _cross_entropy_span(AL, Y, k * BLOCK, min(n, (k + 1) * BLOCK))
    s = 0.0
    for k in range(nblocks):
        s += sums[k]
    return s, bads.sum()


@njit(**SERIAL)
def _cross_entropy_dAL(AL, Y, dAL):
    """dAL = -(Y / AL - (1 - Y) / (1 - AL)), the course's formula unchanged.

    Returns True if any result is non-finite (AL exactly 0 or 1, or bad input).
    """
    bad = False
    for k in range(AL.size):
        al = AL[k]
        y = Y[k]
        d = -(y / al - (1 - y) / (1 - al))
        dAL[k] = d
        bad |= nonfinite(d)
    return bad
