"""Gradient-descent update: P_new = P - learning_rate * dP, into a new array."""

from numba import njit, prange

from .._internal.config import BLOCK, PARALLEL, SERIAL
from ._scalar import nonfinite


@njit(**SERIAL)
def _sgd_span(P, dP, learning_rate, P_new, lo, hi):
    # Views: loops from 0 vectorize (see elementwise.py). P_new may be P.
    P, dP, P_new = P[lo:hi], dP[lo:hi], P_new[lo:hi]
    bad = False
    for k in range(P.size):
        g = dP[k]
        P_new[k] = P[k] - learning_rate * g
        bad |= nonfinite(g)
    return bad


@njit(**PARALLEL)
def _sgd_parallel(P, dP, learning_rate, P_new):
    n = P.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _sgd_span(P, dP, learning_rate, P_new, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad
