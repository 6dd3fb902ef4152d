"""int8 inference kernels: the first layer in integer arithmetic (``Model.quantize``).

A quantized model keeps its first layer's weights as ``W1q`` (n_1p, n_x) int8
(symmetric, one float32 scale per unit; n_1p is n_1 rounded up to the tile's 5
units with zero rows) and the rest of the network in float32
(``kernels.inference._head_rows``). Examples arrive as rows of uint8: pixels as
stored (the course's ``/ 255`` becomes a factor of the scales), or float rows
quantized here, per example, to uint8 with a zero point (what ONNX Runtime's
dynamic quantization does). Then, for example e and unit i::

    S[e, i]  = sum_k Xq[e, k] * W1q[i, k]                    exact, int32
    Z1[e, i] = (S[e, i] - x_zero[e] * w_sum[i]) * unit_scale[i] * x_scale[e]

``w_sum[i]`` is the sum of W1q's row i. The sums are exact integers, so the
register tiles (``_internal.simd.vdpbusd``: AVX-512 VNNI's ``vpdpbusd``, 64
uint8 x int8 multiply-adds per instruction, or widening multiply-adds on CPUs
without it) and the portable scalar loop (the tiles' test oracle) give the
same S and the same Z1, bit for bit. |S| stays below 2^31 for n_x up to
``MAX_INT8_INPUTS`` (255 x 127 per product).

Tiles: 4 examples x 5 units, 20 int32 sums in registers; per 64 bytes of the
reduction, 4 loads of X and 5 of W1q feed 20 ``vpdpbusd``. The reduction runs
in blocks of ``INT8_BLOCK`` bytes: the cat network's rows whole (long streams
for the hardware prefetcher; see ``config.INT8_BLOCK``).

Float rows are quantized a block at a time, just before their sums: a pass for
the row's range (and whether it is finite), then one that rounds, from L2.
"""

import numpy as np
from numba import njit, prange

from .._internal.config import DOT, INT8_BLOCK, PARALLEL_DOT, PREDICT_ROWS, SERIAL
from .._internal.simd import (
    VECTOR_BYTES,
    vdpbusd,
    vfma,
    vhighest,
    vload,
    vlowest,
    vmax,
    vmin,
    vsum,
    vzero,
)
from .inference import _head_rows, _split

MAX_INT8_INPUTS = (2**31 - 1) // (255 * 127)
"""Largest n_x whose int32 sums cannot overflow: 66,311 inputs."""


@njit(**DOT)
def _sums_tile_4x5(x0, x1, x2, x3, w0, w1, w2, w3, w4, k0, k1, acc):
    """The 20 sums over bytes [k0, k1) (k1 - k0 a multiple of 64) of 4 example rows
    with 5 weight rows, by ``vdpbusd``; ``acc`` is any int32 array (typing only)."""
    z = vzero(acc)
    s00 = s01 = s02 = s03 = s04 = z
    s10 = s11 = s12 = s13 = s14 = z
    s20 = s21 = s22 = s23 = s24 = z
    s30 = s31 = s32 = s33 = s34 = z
    for k in range(k0, k1, VECTOR_BYTES):
        a0, a1, a2, a3 = vload(x0, k), vload(x1, k), vload(x2, k), vload(x3, k)
        w = vload(w0, k)
        s00, s10, s20, s30 = (
            vdpbusd(s00, a0, w),
            vdpbusd(s10, a1, w),
            vdpbusd(s20, a2, w),
            vdpbusd(s30, a3, w),
        )
        w = vload(w1, k)
        s01, s11, s21, s31 = (
            vdpbusd(s01, a0, w),
            vdpbusd(s11, a1, w),
            vdpbusd(s21, a2, w),
            vdpbusd(s31, a3, w),
        )
        w = vload(w2, k)
        s02, s12, s22, s32 = (
            vdpbusd(s02, a0, w),
            vdpbusd(s12, a1, w),
            vdpbusd(s22, a2, w),
            vdpbusd(s32, a3, w),
        )
        w = vload(w3, k)
        s03, s13, s23, s33 = (
            vdpbusd(s03, a0, w),
            vdpbusd(s13, a1, w),
            vdpbusd(s23, a2, w),
            vdpbusd(s33, a3, w),
        )
        w = vload(w4, k)
        s04, s14, s24, s34 = (
            vdpbusd(s04, a0, w),
            vdpbusd(s14, a1, w),
            vdpbusd(s24, a2, w),
            vdpbusd(s34, a3, w),
        )
    return (
        vsum(s00), vsum(s01), vsum(s02), vsum(s03), vsum(s04),
        vsum(s10), vsum(s11), vsum(s12), vsum(s13), vsum(s14),
        vsum(s20), vsum(s21), vsum(s22), vsum(s23), vsum(s24),
        vsum(s30), vsum(s31), vsum(s32), vsum(s33), vsum(s34),
    )  # fmt: skip


@njit(**DOT)
def _sums_tile_1x5(x, w0, w1, w2, w3, w4, k0, k1, acc):
    """The 5 sums over bytes [k0, k1) of one example row with 5 weight rows."""
    z = vzero(acc)
    s0 = s1 = s2 = s3 = s4 = z
    for k in range(k0, k1, VECTOR_BYTES):
        a = vload(x, k)
        s0, s1 = vdpbusd(s0, a, vload(w0, k)), vdpbusd(s1, a, vload(w1, k))
        s2, s3 = vdpbusd(s2, a, vload(w2, k)), vdpbusd(s3, a, vload(w3, k))
        s4 = vdpbusd(s4, a, vload(w4, k))
    return (vsum(s0), vsum(s1), vsum(s2), vsum(s3), vsum(s4))


@njit(**DOT)
def _sum_bytes(x, w, k0, k1):
    """sum_k x[k] * w[k] over [k0, k1) in int32: the portable loop (and the VNNI tiles' tail)."""
    s = np.int32(0)
    for k in range(k0, k1):
        s += np.int32(x[k]) * np.int32(w[k])
    return s


@njit(**DOT)
def _int8_sums(XQ, W1q, S, lo, hi, tiles):
    """S[e - lo, i] = sum_k XQ[e, k] * W1q[i, k] (int32) for e in [lo, hi), every row i
    of W1q (a multiple of 5 rows). ``tiles``: the register tiles, else the portable loop."""
    n1, n_x = W1q.shape
    S[: hi - lo, :n1] = 0
    k_vectors = n_x - n_x % VECTOR_BYTES if tiles else 0
    e_tiled = hi - (hi - lo) % 4
    for k0 in range(0, k_vectors, INT8_BLOCK):
        k1 = min(k_vectors, k0 + INT8_BLOCK)
        for e in range(lo, e_tiled, 4):
            r = e - lo
            x0, x1, x2, x3 = XQ[e], XQ[e + 1], XQ[e + 2], XQ[e + 3]
            for i in range(0, n1, 5):
                s = _sums_tile_4x5(
                    x0, x1, x2, x3, W1q[i], W1q[i + 1], W1q[i + 2], W1q[i + 3], W1q[i + 4],
                    k0, k1, S[r],
                )  # fmt: skip
                for q in range(4):
                    for j in range(5):
                        S[r + q, i + j] += s[5 * q + j]
        for e in range(e_tiled, hi):
            r = e - lo
            x = XQ[e]
            for i in range(0, n1, 5):
                s1 = _sums_tile_1x5(
                    x, W1q[i], W1q[i + 1], W1q[i + 2], W1q[i + 3], W1q[i + 4], k0, k1, S[r]
                )
                for j in range(5):
                    S[r, i + j] += s1[j]
    # What the tiles leave (all of it on the portable path): bytes [k_vectors, n_x).
    for e in range(lo, hi):
        for i in range(n1):
            S[e - lo, i] += _sum_bytes(XQ[e], W1q[i], k_vectors, n_x)


@njit(**DOT)
def _int8_scale(S, w_sum, unit_scale, x_scale, x_zero, Z1, rows):
    """Z1[r, i] = (S[r, i] - x_zero[r] * w_sum[i]) * unit_scale[i] * x_scale[r], r < rows."""
    for r in range(rows):
        for i in range(w_sum.size):
            exact = np.int64(S[r, i]) - np.int64(x_zero[r]) * np.int64(w_sum[i])
            Z1[r, i] = np.float32(exact) * (unit_scale[i] * x_scale[r])


@njit(**SERIAL)
def _row_range(x):
    """(lowest, highest, finite) of the float row ``x``: its range with 0 included, and
    whether every value is finite (min and max skip NaN, so ``0 * x`` is summed too)."""
    low = high = x[0] - x[0]
    V = VECTOR_BYTES // x.itemsize
    k_vectors = x.size - x.size % V
    finite = True
    if k_vectors:
        zero = vzero(x)
        v_low = v_high = v_bad = zero
        for k in range(0, k_vectors, V):
            v = vload(x, k)
            v_low, v_high = vmin(v_low, v), vmax(v_high, v)
            v_bad = vfma(v, zero, v_bad)  # stays 0 unless v holds NaN or inf
        low, high = vlowest(v_low), vhighest(v_high)
        finite = vsum(v_bad) == 0
    for k in range(k_vectors, x.size):
        low, high = min(low, x[k]), max(high, x[k])
        finite &= np.isfinite(x[k])
    return low, high, finite


# No fast-math here: with re-association LLVM turned x * (1 / scale) into x / scale,
# which rounds some values to the other side of a half step than NumPy's twin.
@njit(**SERIAL)
def _quantize_rows(XT, XQ, x_scale, x_zero, lo, hi):
    """Rows [lo, hi) of float ``XT`` as uint8 rows ``XQ[e - lo]``, per example:
    ``x ~ (q - x_zero) * x_scale`` over the row's range (0 included), rounded to
    nearest. Returns whether a row holds NaN or inf (its scale is then NaN, and so
    are its outputs, which ``_head_rows`` reports)."""
    bad = False
    for e in range(lo, hi):
        x = XT[e]
        r = e - lo
        low, high, finite = _row_range(x)
        scale = (high - low) / np.float32(255.0)
        if not (finite and np.isfinite(scale)):
            bad = True
            XQ[r] = 0
            x_scale[r], x_zero[r] = np.nan, 0
            continue
        if scale == 0:
            scale = np.float32(1.0)
        zero = min(np.float32(255.0), max(np.float32(0.0), np.rint(-low / scale)))
        inverse = np.float32(1.0) / scale
        q = XQ[r]
        # Every value is finite here: no NaN check in this loop (6 vector operations
        # per 16 values), and the clamped value converts exactly.
        for k in range(x.size):
            t = np.rint(x[k] * inverse) + zero
            q[k] = np.uint8(min(np.float32(255.0), max(np.float32(0.0), t)))
        x_scale[r], x_zero[r] = scale, np.int32(zero)
    return bad


@njit(**DOT)
def _block_u8(XQ, W1q, w_sum, unit_scale, scale, S, Z1, x_scale, x_zero, lo, hi, tiles):
    """Z1[: hi - lo] for uint8 rows [lo, hi) of ``XQ`` standing for ``XQ * scale``."""
    _int8_sums(XQ, W1q, S, lo, hi, tiles)
    x_scale[:] = scale
    x_zero[:] = 0
    _int8_scale(S, w_sum, unit_scale, x_scale, x_zero, Z1, hi - lo)


@njit(**DOT)
def _block_float(XT, W1q, w_sum, unit_scale, XQ, S, Z1, x_scale, x_zero, lo, hi, tiles):
    """Z1[: hi - lo] for float rows [lo, hi) of ``XT``, quantized into ``XQ`` first."""
    bad = _quantize_rows(XT, XQ, x_scale, x_zero, lo, hi)
    _int8_sums(XQ, W1q, S, 0, hi - lo, tiles)
    _int8_scale(S, w_sum, unit_scale, x_scale, x_zero, Z1, hi - lo)
    return bad


@njit(**DOT)
def _int8_u8_rows(XT, W1q, w_sum, unit_scale, scale, theta, dims, offsets, P, lo, hi, tiles):
    """P[e] for uint8 example rows e in [lo, hi), block by block (``inference._predict_rows``)."""
    rows, n1 = min(PREDICT_ROWS, hi - lo), W1q.shape[0]
    S = np.empty((rows, n1), dtype=np.int32)
    Z1 = np.empty((rows, n1), dtype=np.float32)
    x_scale = np.empty(rows, dtype=np.float32)
    x_zero = np.empty(rows, dtype=np.int32)
    bad = 0
    for start in range(lo, hi, PREDICT_ROWS):
        stop = min(hi, start + PREDICT_ROWS)
        k = stop - start
        _block_u8(
            XT, W1q, w_sum, unit_scale, scale, S, Z1, x_scale[:k], x_zero[:k], start, stop, tiles
        )
        bad += _head_rows(Z1, theta, dims, offsets, P, start, stop)
    return bad


@njit(**DOT)
def _int8_float_rows(XT, W1q, w_sum, unit_scale, theta, dims, offsets, P, lo, hi, tiles):
    """P[e] for float32 example rows e in [lo, hi), each quantized per example."""
    rows, n1 = min(PREDICT_ROWS, hi - lo), W1q.shape[0]
    XQ = np.empty((rows, XT.shape[1]), dtype=np.uint8)
    S = np.empty((rows, n1), dtype=np.int32)
    Z1 = np.empty((rows, n1), dtype=np.float32)
    x_scale = np.empty(rows, dtype=np.float32)
    x_zero = np.empty(rows, dtype=np.int32)
    bad = 0
    for start in range(lo, hi, PREDICT_ROWS):
        stop = min(hi, start + PREDICT_ROWS)
        bad += _block_float(
            XT, W1q, w_sum, unit_scale, XQ, S, Z1, x_scale, x_zero, start, stop, tiles
        )
        bad += _head_rows(Z1, theta, dims, offsets, P, start, stop)
    return bad


@njit(**PARALLEL_DOT)
def _int8_u8_parallel(XT, W1q, w_sum, unit_scale, scale, theta, dims, offsets, P, items, tiles):
    """``_int8_u8_rows`` on all examples, work split over examples and units (``inference._split``)."""
    m, n1 = XT.shape[0], W1q.shape[0]
    rows, units = _split(m, n1, items)
    unit_blocks = (n1 + units - 1) // units
    Z1 = np.empty((m, n1), dtype=np.float32)
    for t in prange(((m + rows - 1) // rows) * unit_blocks):
        lo = (t // unit_blocks) * rows
        hi = min(m, lo + rows)
        u0 = (t % unit_blocks) * units
        u1 = min(n1, u0 + units)
        S = np.empty((hi - lo, u1 - u0), dtype=np.int32)
        x_scale = np.empty(hi - lo, dtype=np.float32)
        x_zero = np.empty(hi - lo, dtype=np.int32)
        _block_u8(
            XT, W1q[u0:u1], w_sum[u0:u1], unit_scale[u0:u1], scale, S, Z1[lo:hi, u0:u1],
            x_scale, x_zero, lo, hi, tiles,
        )  # fmt: skip
    return _head_rows(Z1, theta, dims, offsets, P, 0, m)


@njit(**PARALLEL_DOT)
def _int8_float_parallel(XT, W1q, w_sum, unit_scale, theta, dims, offsets, P, items, tiles):
    """``_int8_float_rows`` on all examples, work split as ``_int8_u8_parallel``'s (a row
    shared by several work items is quantized by each: only small batches split units)."""
    m, n1 = XT.shape[0], W1q.shape[0]
    rows, units = _split(m, n1, items)
    unit_blocks = (n1 + units - 1) // units
    Z1 = np.empty((m, n1), dtype=np.float32)
    bad = 0
    for t in prange(((m + rows - 1) // rows) * unit_blocks):
        lo = (t // unit_blocks) * rows
        hi = min(m, lo + rows)
        u0 = (t % unit_blocks) * units
        u1 = min(n1, u0 + units)
        XQ = np.empty((hi - lo, XT.shape[1]), dtype=np.uint8)
        S = np.empty((hi - lo, u1 - u0), dtype=np.int32)
        x_scale = np.empty(hi - lo, dtype=np.float32)
        x_zero = np.empty(hi - lo, dtype=np.int32)
        bad += _block_float(
            XT, W1q[u0:u1], w_sum[u0:u1], unit_scale[u0:u1], XQ, S, Z1[lo:hi, u0:u1],
            x_scale, x_zero, lo, hi, tiles,
        )  # fmt: skip
    return bad + _head_rows(Z1, theta, dims, offsets, P, 0, m)
