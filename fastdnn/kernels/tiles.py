"""Register tiles: the axpy form's products with the sums held in vector registers.

``_tile_block(A, B, C, scale, r0, r1, c0, c1, depth, ahead)`` computes
``C[r0:r1, c0:c1] = scale * A[r0:r1, :] @ B[:, c0:c1]`` (B and C row-major,
A any layout), the contract of ``products._axpy_block``; the course API
uses it on CPUs with AVX-512 (``_internal.simd.wide_vectors``) where it
measured faster (``fastdnn.course.products``; docs/performance.md,
"Register tiles").

The axpy form streams rows of C through L1: each pass over 6 rows of B loads
and stores 4 rows of C, so a multiply-add costs more memory operations
than arithmetic. Here a tile of 4 rows of C x 4 vectors (32 float64 or 64
float32 columns) stays in 16 vector registers while the loop over B's rows
runs: per row of B, 4 vector loads and 4 broadcasts feed 16 FMAs, and the
tile is stored once. LLVM's vectorizer cannot produce this shape by itself
(``_internal.simd``). The columns after the last whole tile run in one more
tile whose vectors are partly or wholly masked (``vload_part``): 209 float64
columns are 6 tiles and a tile of 17 columns, not 2 vectors and a scalar
column at a fraction of the speed.

The reduction over B's rows runs in chunks of ``depth`` rows: the rows of B a
chunk touches stay in L2 while every row group of C re-reads them, and C
carries the sums from one chunk to the next (the chunk's first tile starts
from zero, the last multiplies by ``scale``). The first row group of a chunk
is the one that brings B's rows from memory: it prefetches each row ``ahead``
elements past the tile it computes (0: no prefetch), since the hardware's
prefetchers do not follow that many rows 98 KB apart (``dW = dZ @ X.T``).
Every element of C is one fused multiply-add chain over B's rows in order,
whichever tile computes it (4, 2 or 1 rows, masked or not), so results do not
depend on the blocking, and serial and parallel drivers agree bit for bit.
"""

import numpy as np
from numba import njit, prange

from .._internal.config import PARALLEL, TILES
from .._internal.simd import (
    VECTOR_BYTES,
    vfma,
    vload_part,
    vmul,
    vprefetch,
    vsplat,
    vstore,
    vstore_part,
    vzero,
)
from .products import _update

# The drivers repeat ``products._axpy_rows`` / ``_axpy_parallel`` with another block
# kernel on purpose: a runtime switch between the two block kernels inside one
# parallel driver made the tiles' dA_prev much slower (docs/performance.md,
# "Register tiles"), and passing the block kernel as an argument compiles as fast
# code but misses numba's disk cache in every new process (the dispatcher's type
# is not the same from one process to the next).


@njit(**TILES)
def _tiles_rows(a, a_strides, B, C, scale, rows, cols, W, learning_rate, depth, ahead):
    """``products._axpy_rows`` (the same arguments, blocks and update) by register tiles,
    reducing ``depth`` rows of B at a time and prefetching ``ahead`` (module docstring)."""
    R, N = C.shape
    bad = 0
    for r0 in range(0, R, rows):
        for c0 in range(0, N, cols):
            r1, c1 = min(R, r0 + rows), min(N, c0 + cols)
            _tile_block(a, a_strides, B, C, scale, r0, r1, c0, c1, depth, ahead)
            bad += _update(W, C, learning_rate, r0, r1, c0, c1)
    return bad


@njit(**PARALLEL)
def _tiles_parallel(a, a_strides, B, C, scale, rows, cols, W, learning_rate, depth, ahead):
    """``products._axpy_parallel`` (the same arguments, work items and update) by register
    tiles (``depth`` and ``ahead``: ``_tiles_rows``)."""
    R, N = C.shape
    col_blocks = (N + cols - 1) // cols
    bad = 0
    for t in prange(((R + rows - 1) // rows) * col_blocks):
        r0 = (t // col_blocks) * rows
        c0 = (t % col_blocks) * cols
        r1, c1 = min(R, r0 + rows), min(N, c0 + cols)
        _tile_block(a, a_strides, B, C, scale, r0, r1, c0, c1, depth, ahead)
        bad += _update(W, C, learning_rate, r0, r1, c0, c1)
    return bad


@njit(**TILES)
def _tile_block(a, a_strides, B, C, scale, r0, r1, c0, c1, depth, ahead):
    """C[r0:r1, c0:c1] = scale * A[r0:r1, :] @ B[:, c0:c1] by register tiles, with
    ``A[i, j] = a[i * a_strides[0] + j * a_strides[1]]`` (``products``' flat A)."""
    K = B.shape[0]
    # Zeroing the block first is not arithmetic: one fill of whole rows (a single
    # contiguous memset) writes fresh cache lines without reading them from
    # memory, so the tiles' stores then hit the cache (dA_prev, 20.5 MB written
    # per call; figures: docs/performance.md, "Register tiles").
    if c0 == 0 and c1 == C.shape[1]:
        C[r0:r1] = 0
    else:
        C[r0:r1, c0:c1] = 0
    depth = max(depth, 1)
    T = 4 * (VECTOR_BYTES // C.itemsize)
    for j0 in range(0, K, depth):
        j1 = min(K, j0 + depth)
        first, last = j0 == 0, j1 == K
        i = r0
        while i + 4 <= r1:
            for c in range(c0, c1, T):
                fetch = ahead if i == r0 else 0
                _tile4(a, a_strides, B, C, i, c, min(T, c1 - c), j0, j1, first, last, scale, fetch)
            i += 4
        if i + 2 <= r1:
            for c in range(c0, c1, T):
                fetch = ahead if i == r0 else 0
                _tile2(a, a_strides, B, C, i, c, min(T, c1 - c), j0, j1, first, last, scale, fetch)
            i += 2
        if i < r1:
            for c in range(c0, c1, T):
                fetch = ahead if i == r0 else 0
                _tile1(a, a_strides, B, C, i, c, min(T, c1 - c), j0, j1, first, last, scale, fetch)


@njit(**TILES)
def _lanes(n, V):
    """Lanes of each of a tile's 4 vectors holding columns, for ``n`` columns (<= 4V)."""
    return min(n, V), min(max(n - V, 0), V), min(max(n - 2 * V, 0), V), max(n - 3 * V, 0)


@njit(**TILES)
def _load4(o, c, V, n0, n1, n2, n3):
    return (
        vload_part(o, c, n0),
        vload_part(o, c + V, n1),
        vload_part(o, c + 2 * V, n2),
        vload_part(o, c + 3 * V, n3),
    )


@njit(**TILES)
def _store4(o, c, V, n0, n1, n2, n3, s0, s1, s2, s3):
    if n3 == V:  # a whole tile: plain stores (masked ones measured slower on dA0)
        vstore(o, c, s0)
        vstore(o, c + V, s1)
        vstore(o, c + 2 * V, s2)
        vstore(o, c + 3 * V, s3)
        return
    vstore_part(o, c, s0, n0)
    vstore_part(o, c + V, s1, n1)
    vstore_part(o, c + 2 * V, s2, n2)
    vstore_part(o, c + 3 * V, s3, n3)


@njit(**TILES)
def _prefetch4(x, c, V):
    vprefetch(x, c)
    vprefetch(x, c + V)
    vprefetch(x, c + 2 * V)
    vprefetch(x, c + 3 * V)


@njit(**TILES)
def _tile4(a, a_strides, B, C, i, c, n, j0, j1, first, last, scale, ahead):
    """Rows i..i+3 of C, its ``n`` columns from c (at most 4 vectors): 16 sums in registers
    over B's rows j0..j1, each row of B prefetched ``ahead`` elements on (0: not)."""
    s_row, s_col = a_strides
    # Indices as unsigned: numba then skips its negative-index wraparound (a sign
    # test and an add per load, a third of the loop's instructions).
    p0, p1, p2, p3 = i * s_row, (i + 1) * s_row, (i + 2) * s_row, (i + 3) * s_row
    o0, o1, o2, o3 = C[i], C[i + 1], C[i + 2], C[i + 3]
    V = VECTOR_BYTES // C.itemsize
    n0, n1, n2, n3 = _lanes(n, V)
    if first:
        z = vzero(C)
        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
        s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = z
    else:
        s00, s01, s02, s03 = _load4(o0, c, V, n0, n1, n2, n3)
        s10, s11, s12, s13 = _load4(o1, c, V, n0, n1, n2, n3)
        s20, s21, s22, s23 = _load4(o2, c, V, n0, n1, n2, n3)
        s30, s31, s32, s33 = _load4(o3, c, V, n0, n1, n2, n3)
    for j in range(j0, j1):
        x = B[np.uint64(j)]
        if ahead:
            _prefetch4(x, c + ahead, V)
        x0, x1, x2, x3 = _load4(x, c, V, n0, n1, n2, n3)
        w = vsplat(a[np.uint64(p0 + j * s_col)])
        s00, s01, s02, s03 = vfma(w, x0, s00), vfma(w, x1, s01), vfma(w, x2, s02), vfma(w, x3, s03)
        w = vsplat(a[np.uint64(p1 + j * s_col)])
        s10, s11, s12, s13 = vfma(w, x0, s10), vfma(w, x1, s11), vfma(w, x2, s12), vfma(w, x3, s13)
        w = vsplat(a[np.uint64(p2 + j * s_col)])
        s20, s21, s22, s23 = vfma(w, x0, s20), vfma(w, x1, s21), vfma(w, x2, s22), vfma(w, x3, s23)
        w = vsplat(a[np.uint64(p3 + j * s_col)])
        s30, s31, s32, s33 = vfma(w, x0, s30), vfma(w, x1, s31), vfma(w, x2, s32), vfma(w, x3, s33)
    if last and scale != 1:
        f = vsplat(scale)
        s00, s01, s02, s03 = vmul(s00, f), vmul(s01, f), vmul(s02, f), vmul(s03, f)
        s10, s11, s12, s13 = vmul(s10, f), vmul(s11, f), vmul(s12, f), vmul(s13, f)
        s20, s21, s22, s23 = vmul(s20, f), vmul(s21, f), vmul(s22, f), vmul(s23, f)
        s30, s31, s32, s33 = vmul(s30, f), vmul(s31, f), vmul(s32, f), vmul(s33, f)
    _store4(o0, c, V, n0, n1, n2, n3, s00, s01, s02, s03)
    _store4(o1, c, V, n0, n1, n2, n3, s10, s11, s12, s13)
    _store4(o2, c, V, n0, n1, n2, n3, s20, s21, s22, s23)
    _store4(o3, c, V, n0, n1, n2, n3, s30, s31, s32, s33)


@njit(**TILES)
def _tile2(a, a_strides, B, C, i, c, n, j0, j1, first, last, scale, ahead):
    """``_tile4`` for 2 rows (a layer of 7 units runs 4 + 2 + 1)."""
    s_row, s_col = a_strides
    p0, p1 = i * s_row, (i + 1) * s_row
    o0, o1 = C[i], C[i + 1]
    V = VECTOR_BYTES // C.itemsize
    n0, n1, n2, n3 = _lanes(n, V)
    if first:
        z = vzero(C)
        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
    else:
        s00, s01, s02, s03 = _load4(o0, c, V, n0, n1, n2, n3)
        s10, s11, s12, s13 = _load4(o1, c, V, n0, n1, n2, n3)
    for j in range(j0, j1):
        x = B[np.uint64(j)]
        if ahead:
            _prefetch4(x, c + ahead, V)
        x0, x1, x2, x3 = _load4(x, c, V, n0, n1, n2, n3)
        w = vsplat(a[np.uint64(p0 + j * s_col)])
        s00, s01, s02, s03 = vfma(w, x0, s00), vfma(w, x1, s01), vfma(w, x2, s02), vfma(w, x3, s03)
        w = vsplat(a[np.uint64(p1 + j * s_col)])
        s10, s11, s12, s13 = vfma(w, x0, s10), vfma(w, x1, s11), vfma(w, x2, s12), vfma(w, x3, s13)
    if last and scale != 1:
        f = vsplat(scale)
        s00, s01, s02, s03 = vmul(s00, f), vmul(s01, f), vmul(s02, f), vmul(s03, f)
        s10, s11, s12, s13 = vmul(s10, f), vmul(s11, f), vmul(s12, f), vmul(s13, f)
    _store4(o0, c, V, n0, n1, n2, n3, s00, s01, s02, s03)
    _store4(o1, c, V, n0, n1, n2, n3, s10, s11, s12, s13)


@njit(**TILES)
def _tile1(a, a_strides, B, C, i, c, n, j0, j1, first, last, scale, ahead):
    """``_tile4`` for 1 row."""
    s_row, s_col = a_strides
    p0 = i * s_row
    o0 = C[i]
    V = VECTOR_BYTES // C.itemsize
    n0, n1, n2, n3 = _lanes(n, V)
    if first:
        s00 = s01 = s02 = s03 = vzero(C)
    else:
        s00, s01, s02, s03 = _load4(o0, c, V, n0, n1, n2, n3)
    for j in range(j0, j1):
        x = B[np.uint64(j)]
        if ahead:
            _prefetch4(x, c + ahead, V)
        x0, x1, x2, x3 = _load4(x, c, V, n0, n1, n2, n3)
        w = vsplat(a[np.uint64(p0 + j * s_col)])
        s00, s01, s02, s03 = vfma(w, x0, s00), vfma(w, x1, s01), vfma(w, x2, s02), vfma(w, x3, s03)
    if last and scale != 1:
        f = vsplat(scale)
        s00, s01, s02, s03 = vmul(s00, f), vmul(s01, f), vmul(s02, f), vmul(s03, f)
    _store4(o0, c, V, n0, n1, n2, n3, s00, s01, s02, s03)
