"""Register tiles: the axpy form's products with the sums held in vector registers.

``_tile_block(A, B, C, scale, r0, r1, c0, c1)`` computes
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
(``_internal.simd``).

The reduction over B's rows runs in chunks of ``TILE_DEPTH``: the rows of
B a chunk touches stay in L2 while every row group of C re-reads them, and
C carries the sums from one chunk to the next (the chunk's first tile
starts from zero, the last multiplies by ``scale``). Every element of C is
one fused multiply-add chain over B's rows in order, whichever tile shape
computes it (4, 2 or 1 rows; 4 vectors, 1 vector, or the scalar columns at
the end), so results do not depend on the blocking, and serial and parallel
drivers agree bit for bit.
"""

from numba import njit, prange

from .._internal.config import PARALLEL, TILE_DEPTH, TILES
from .._internal.simd import VECTOR_BYTES, vfma, vload, vmul, vsplat, vstore, vzero
from .products import _update

# The drivers repeat ``products._axpy_rows`` / ``_axpy_parallel`` with another block
# kernel on purpose: a runtime switch between the two block kernels inside one
# parallel driver made the tiles' dA_prev 3.1 ms against 1.8 (docs/performance.md,
# "Register tiles"), and passing the block kernel as an argument compiles as fast
# code but misses numba's disk cache in every new process (the dispatcher's type
# is not the same from one process to the next).


@njit(**TILES)
def _tiles_rows(a, a_strides, B, C, scale, rows, cols, W, learning_rate):
    """``products._axpy_rows`` (the same arguments, blocks and update) by register tiles."""
    R, N = C.shape
    bad = 0
    for r0 in range(0, R, rows):
        for c0 in range(0, N, cols):
            r1, c1 = min(R, r0 + rows), min(N, c0 + cols)
            _tile_block(a, a_strides, B, C, scale, r0, r1, c0, c1)
            bad += _update(W, C, learning_rate, r0, r1, c0, c1)
    return bad


@njit(**PARALLEL)
def _tiles_parallel(a, a_strides, B, C, scale, rows, cols, W, learning_rate):
    """``products._axpy_parallel`` (the same arguments, work items and update) by register tiles."""
    R, N = C.shape
    col_blocks = (N + cols - 1) // cols
    bad = 0
    for t in prange(((R + rows - 1) // rows) * col_blocks):
        r0 = (t // col_blocks) * rows
        c0 = (t % col_blocks) * cols
        r1, c1 = min(R, r0 + rows), min(N, c0 + cols)
        _tile_block(a, a_strides, B, C, scale, r0, r1, c0, c1)
        bad += _update(W, C, learning_rate, r0, r1, c0, c1)
    return bad


@njit(**TILES)
def _tile_block(a, a_strides, B, C, scale, r0, r1, c0, c1):
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
    V = VECTOR_BYTES // C.itemsize
    T = 4 * V
    c_tiles = c0 + (c1 - c0) // T * T
    c_vectors = c_tiles + (c1 - c_tiles) // V * V
    for j0 in range(0, K, TILE_DEPTH):
        j1 = min(K, j0 + TILE_DEPTH)
        first, last = j0 == 0, j1 == K
        i = r0
        while i + 4 <= r1:
            for c in range(c0, c_tiles, T):
                _tile4(a, a_strides, B, C, i, c, j0, j1, first, last, scale, V)
            i += 4
        if i + 2 <= r1:
            for c in range(c0, c_tiles, T):
                _tile2(a, a_strides, B, C, i, c, j0, j1, first, last, scale, V)
            i += 2
        if i < r1:
            for c in range(c0, c_tiles, T):
                _tile1(a, a_strides, B, C, i, c, j0, j1, first, last, scale, V)
        for c in range(c_tiles, c_vectors, V):
            _vector_column(a, a_strides, B, C, r0, r1, c, j0, j1, first, last, scale)
        _scalar_columns(a, a_strides, B, C, r0, r1, c_vectors, c1, j0, j1, first, last, scale)


@njit(**TILES)
def _tile4(a, a_strides, B, C, i, c, j0, j1, first, last, scale, V):
    """Rows i..i+3 of C, columns c..c+4V: 16 sums in registers over B's rows j0..j1."""
    s_row, s_col = a_strides
    p0, p1, p2, p3 = i * s_row, (i + 1) * s_row, (i + 2) * s_row, (i + 3) * s_row
    o0, o1, o2, o3 = C[i], C[i + 1], C[i + 2], C[i + 3]
    if first:
        z = vzero(C)
        s00, s01, s02, s03 = z, z, z, z
        s10, s11, s12, s13 = z, z, z, z
        s20, s21, s22, s23 = z, z, z, z
        s30, s31, s32, s33 = z, z, z, z
    else:
        s00, s01 = vload(o0, c), vload(o0, c + V)
        s02, s03 = vload(o0, c + 2 * V), vload(o0, c + 3 * V)
        s10, s11 = vload(o1, c), vload(o1, c + V)
        s12, s13 = vload(o1, c + 2 * V), vload(o1, c + 3 * V)
        s20, s21 = vload(o2, c), vload(o2, c + V)
        s22, s23 = vload(o2, c + 2 * V), vload(o2, c + 3 * V)
        s30, s31 = vload(o3, c), vload(o3, c + V)
        s32, s33 = vload(o3, c + 2 * V), vload(o3, c + 3 * V)
    for j in range(j0, j1):
        x = B[j]
        x0, x1, x2, x3 = vload(x, c), vload(x, c + V), vload(x, c + 2 * V), vload(x, c + 3 * V)
        w = vsplat(a[p0 + j * s_col])
        s00, s01, s02, s03 = vfma(w, x0, s00), vfma(w, x1, s01), vfma(w, x2, s02), vfma(w, x3, s03)
        w = vsplat(a[p1 + j * s_col])
        s10, s11, s12, s13 = vfma(w, x0, s10), vfma(w, x1, s11), vfma(w, x2, s12), vfma(w, x3, s13)
        w = vsplat(a[p2 + j * s_col])
        s20, s21, s22, s23 = vfma(w, x0, s20), vfma(w, x1, s21), vfma(w, x2, s22), vfma(w, x3, s23)
        w = vsplat(a[p3 + j * s_col])
        s30, s31, s32, s33 = vfma(w, x0, s30), vfma(w, x1, s31), vfma(w, x2, s32), vfma(w, x3, s33)
    if last and scale != 1:
        f = vsplat(scale)
        s00, s01, s02, s03 = vmul(s00, f), vmul(s01, f), vmul(s02, f), vmul(s03, f)
        s10, s11, s12, s13 = vmul(s10, f), vmul(s11, f), vmul(s12, f), vmul(s13, f)
        s20, s21, s22, s23 = vmul(s20, f), vmul(s21, f), vmul(s22, f), vmul(s23, f)
        s30, s31, s32, s33 = vmul(s30, f), vmul(s31, f), vmul(s32, f), vmul(s33, f)
    _store4(o0, c, V, s00, s01, s02, s03)
    _store4(o1, c, V, s10, s11, s12, s13)
    _store4(o2, c, V, s20, s21, s22, s23)
    _store4(o3, c, V, s30, s31, s32, s33)


@njit(**TILES)
def _tile2(a, a_strides, B, C, i, c, j0, j1, first, last, scale, V):
    """``_tile4`` for 2 rows (a layer of 7 units runs 4 + 2 + 1)."""
    s_row, s_col = a_strides
    p0, p1 = i * s_row, (i + 1) * s_row
    o0, o1 = C[i], C[i + 1]
    if first:
        z = vzero(C)
        s00, s01, s02, s03 = z, z, z, z
        s10, s11, s12, s13 = z, z, z, z
    else:
        s00, s01 = vload(o0, c), vload(o0, c + V)
        s02, s03 = vload(o0, c + 2 * V), vload(o0, c + 3 * V)
        s10, s11 = vload(o1, c), vload(o1, c + V)
        s12, s13 = vload(o1, c + 2 * V), vload(o1, c + 3 * V)
    for j in range(j0, j1):
        x = B[j]
        x0, x1, x2, x3 = vload(x, c), vload(x, c + V), vload(x, c + 2 * V), vload(x, c + 3 * V)
        w = vsplat(a[p0 + j * s_col])
        s00, s01, s02, s03 = vfma(w, x0, s00), vfma(w, x1, s01), vfma(w, x2, s02), vfma(w, x3, s03)
        w = vsplat(a[p1 + j * s_col])
        s10, s11, s12, s13 = vfma(w, x0, s10), vfma(w, x1, s11), vfma(w, x2, s12), vfma(w, x3, s13)
    if last and scale != 1:
        f = vsplat(scale)
        s00, s01, s02, s03 = vmul(s00, f), vmul(s01, f), vmul(s02, f), vmul(s03, f)
        s10, s11, s12, s13 = vmul(s10, f), vmul(s11, f), vmul(s12, f), vmul(s13, f)
    _store4(o0, c, V, s00, s01, s02, s03)
    _store4(o1, c, V, s10, s11, s12, s13)


@njit(**TILES)
def _tile1(a, a_strides, B, C, i, c, j0, j1, first, last, scale, V):
    """``_tile4`` for 1 row."""
    s_row, s_col = a_strides
    p0 = i * s_row
    o0 = C[i]
    if first:
        z = vzero(C)
        s00, s01, s02, s03 = z, z, z, z
    else:
        s00, s01 = vload(o0, c), vload(o0, c + V)
        s02, s03 = vload(o0, c + 2 * V), vload(o0, c + 3 * V)
    for j in range(j0, j1):
        x = B[j]
        w = vsplat(a[p0 + j * s_col])
        s00, s01 = vfma(w, vload(x, c), s00), vfma(w, vload(x, c + V), s01)
        s02, s03 = vfma(w, vload(x, c + 2 * V), s02), vfma(w, vload(x, c + 3 * V), s03)
    if last and scale != 1:
        f = vsplat(scale)
        s00, s01, s02, s03 = vmul(s00, f), vmul(s01, f), vmul(s02, f), vmul(s03, f)
    _store4(o0, c, V, s00, s01, s02, s03)


@njit(**TILES)
def _store4(o, c, V, s0, s1, s2, s3):
    vstore(o, c, s0)
    vstore(o, c + V, s1)
    vstore(o, c + 2 * V, s2)
    vstore(o, c + 3 * V, s3)


@njit(**TILES)
def _vector_column(a, a_strides, B, C, r0, r1, c, j0, j1, first, last, scale):
    """Rows r0..r1 of C, one vector of columns at c (the columns after the 4-vector
    tiles): 4 rows at a time, 4 independent sums (one alone waits on each FMA)."""
    s_row, s_col = a_strides
    i = r0
    while i + 4 <= r1:
        o0, o1, o2, o3 = C[i], C[i + 1], C[i + 2], C[i + 3]
        p0, p1, p2, p3 = i * s_row, (i + 1) * s_row, (i + 2) * s_row, (i + 3) * s_row
        if first:
            s0 = s1 = s2 = s3 = vzero(C)
        else:
            s0, s1, s2, s3 = vload(o0, c), vload(o1, c), vload(o2, c), vload(o3, c)
        for j in range(j0, j1):
            x = vload(B[j], c)
            q = j * s_col
            s0, s1 = vfma(vsplat(a[p0 + q]), x, s0), vfma(vsplat(a[p1 + q]), x, s1)
            s2, s3 = vfma(vsplat(a[p2 + q]), x, s2), vfma(vsplat(a[p3 + q]), x, s3)
        if last and scale != 1:
            f = vsplat(scale)
            s0, s1, s2, s3 = vmul(s0, f), vmul(s1, f), vmul(s2, f), vmul(s3, f)
        vstore(o0, c, s0)
        vstore(o1, c, s1)
        vstore(o2, c, s2)
        vstore(o3, c, s3)
        i += 4
    for r in range(i, r1):
        o = C[r]
        s = vzero(C) if first else vload(o, c)
        for j in range(j0, j1):
            s = vfma(vsplat(a[r * s_row + j * s_col]), vload(B[j], c), s)
        if last and scale != 1:
            s = vmul(s, vsplat(scale))
        vstore(o, c, s)


@njit(**TILES)
def _scalar_columns(a, a_strides, B, C, r0, r1, c0, c1, j0, j1, first, last, scale):
    """Rows r0..r1 of C, columns c0..c1 (fewer than a vector), 4 sums at a time."""
    s_row, s_col = a_strides
    zero = scale - scale  # 0 of C's dtype (``scale`` is finite and of C's dtype)
    for c in range(c0, c1):
        i = r0
        while i + 4 <= r1:
            p0, p1, p2, p3 = i * s_row, (i + 1) * s_row, (i + 2) * s_row, (i + 3) * s_row
            if first:
                s0 = s1 = s2 = s3 = zero
            else:
                s0, s1, s2, s3 = C[i, c], C[i + 1, c], C[i + 2, c], C[i + 3, c]
            for j in range(j0, j1):
                x = B[j, c]
                s0 += a[p0 + j * s_col] * x
                s1 += a[p1 + j * s_col] * x
                s2 += a[p2 + j * s_col] * x
                s3 += a[p3 + j * s_col] * x
            if last:
                s0, s1, s2, s3 = s0 * scale, s1 * scale, s2 * scale, s3 * scale
            C[i, c], C[i + 1, c], C[i + 2, c], C[i + 3, c] = s0, s1, s2, s3
            i += 4
        for r in range(i, r1):
            s = zero if first else C[r, c]
            for j in range(j0, j1):
                s += a[r * s_row + j * s_col] * B[j, c]
            if last:
                s *= scale
            C[r, c] = s
