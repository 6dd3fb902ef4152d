"""Cross-entropy cost and its gradient with respect to AL."""

import math

import numpy as np
from numba import njit, prange

from .._config import BLOCK, PARALLEL, SERIAL
from ._scalar import nonfinite

_TINY = 5e-324
"""Smallest positive (denormal) float64: log arguments are clamped to it, so
the cost stays finite (at most about 744.4 per example) when AL is exactly 0
or 1, and every AL strictly inside (0, 1), denormals included, gives the
course's value (hypothesis found that a clamp at the smallest *normal* number
changed the cost of AL = 5e-324 from 744.4 to 708.4)."""


@njit(**SERIAL)
def _cross_entropy_span(AL, Y, lo, hi):
    """sum of y*log(al) + (1-y)*log(1-al) over [lo, hi), in float64.

    A term whose weight (y or 1-y) is exactly 0 contributes 0 even where its
    log is -inf (``xlogy`` semantics), so AL = Y = 1 costs 0, not NaN.
    Returns (sum, count of non-finite AL or Y values).
    """
    AL, Y = AL[lo:hi], Y[lo:hi]
    s = 0.0
    bad = 0
    for k in range(AL.size):
        al = np.float64(AL[k])
        y = np.float64(Y[k])
        bad += nonfinite(al) + nonfinite(y)
        if y != 0.0:
            s += y * math.log(max(al, _TINY))
        if y != 1.0:
            s += (1.0 - y) * math.log(max(1.0 - al, _TINY))
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

    Returns the count of non-finite results (AL exactly 0 or 1, or bad input).
    """
    bad = 0
    for k in range(AL.size):
        al = AL[k]
        y = Y[k]
        d = -(y / al - (1 - y) / (1 - al))
        dAL[k] = d
        bad += nonfinite(d)
    return bad
