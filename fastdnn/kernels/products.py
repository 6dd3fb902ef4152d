"""Skinny matrix products: a layer with few units and many inputs (the cat network's first).

OpenBLAS runs these shapes at a third of its square-matrix speed, and its
threads keep spinning after each call and stall the next numba region. Two
forms cover the three products of such a layer, in either layout of A_prev:

* dot form, ``C[r, c] = P[r, :] . Q[c, :]`` with P and Q row-major: the
  inference tile (``inference._first_layer_rows`` and ``_first_layer_parallel``,
  4 rows of P x 5 rows of Q per pass). ``Z = W @ A_prev`` for A_prev in
  Fortran order (P = A_prev.T, Q = W, C = Z.T).
* axpy form, below: ``C = scale * A @ B`` with B and C row-major, rows of B
  scaled and summed along C's rows. ``dW = dZ @ A_prev.T / m`` for A_prev in
  Fortran order (A = dZ, B = A_prev.T) and ``dA_prev = W.T @ dZ`` (A = W.T,
  B = dZ).

``A`` is given flat, with its two strides in elements (``a``, ``a_strides``):
``A[i, j] = a[i * a_strides[0] + j * a_strides[1]]``. ``dZ`` (C order) and
``W.T`` (Fortran order) then share one compiled kernel: numba compiles a
function once per layout of each array argument, and each compilation of
this module's kernels takes seconds (docs/performance.md, "Compile time").
A is only read as scalars, one per row of B, so the strided read costs
nothing measurable.

In the axpy form a pass handles 4 rows of C and 6 rows of B: each loaded
vector of B feeds 4 FMAs, each row of C is loaded and stored once per 6 rows
of B (with 5 rows of C the loop came out scalar: LLVM gave up on its
run-time alias checks). The rows of C left over go 2 and 1 at a time; the
rows of B left over go in pairs (4-row groups) or one at a time. C is
computed in blocks of (``rows`` x ``cols``), and B is read ``GRAD_EXAMPLES``
rows at a time, so that block of B stays in L2 while the passes over C's
rows re-read it.

Serial and parallel drivers run the same blocks in the same order of sums,
so their results are equal bit for bit.

The drivers take an optional update of another matrix with each finished
block, ``W[r0:r1, c0:c1] -= learning_rate * C[r0:r1, c0:c1]``, while the
block is in L1: the trainer's first-layer weight step (``dW1`` and the
``W1`` update in one pass; a separate update pass read and wrote 2 x 1.9 MB
per step). An empty ``W`` (0 x 0) skips it; the drivers then return 0.

``tiles._tiles_rows`` and ``tiles._tiles_parallel`` are the same drivers
over ``tiles._tile_block`` (the same contract, the sums held in vector
registers), which ``fastdnn.course.products`` chooses on CPUs with AVX-512.
"""

from numba import njit, prange

from .._internal.config import DOT, GRAD_EXAMPLES, PARALLEL_DOT
from .sgd import _sgd_span


@njit(**DOT)
def _axpy_rows(a, a_strides, B, C, scale, rows, cols, W, learning_rate):
    """C = scale * A @ B serially, block by block (the parallel driver's blocks),
    and the update of ``W`` (module docstring). Returns the number of blocks
    whose part of C holds NaN or inf (counted only with an update)."""
    R, N = C.shape
    bad = 0
    for r0 in range(0, R, rows):
        for c0 in range(0, N, cols):
            r1, c1 = min(R, r0 + rows), min(N, c0 + cols)
            _axpy_block(a, a_strides, B, C, scale, r0, r1, c0, c1)
            bad += _update(W, C, learning_rate, r0, r1, c0, c1)
    return bad


@njit(**PARALLEL_DOT)
def _axpy_parallel(a, a_strides, B, C, scale, rows, cols, W, learning_rate):
    """``_axpy_rows`` with one work item per (``rows`` x ``cols``) block of C."""
    R, N = C.shape
    col_blocks = (N + cols - 1) // cols
    bad = 0
    for t in prange(((R + rows - 1) // rows) * col_blocks):
        r0 = (t // col_blocks) * rows
        c0 = (t % col_blocks) * cols
        r1, c1 = min(R, r0 + rows), min(N, c0 + cols)
        _axpy_block(a, a_strides, B, C, scale, r0, r1, c0, c1)
        bad += _update(W, C, learning_rate, r0, r1, c0, c1)
    return bad


@njit(**DOT)
def _update(W, C, learning_rate, r0, r1, c0, c1):
    """W[r0:r1, c0:c1] -= learning_rate * C[r0:r1, c0:c1] unless ``W`` is empty;
    1 if that part of C holds NaN or inf. Through ``_sgd_span`` (compiled without
    contraction: the arithmetic of a separate update pass)."""
    if W.size == 0:
        return 0
    bad = False
    for i in range(r0, r1):
        bad |= _sgd_span(W[i], C[i], learning_rate, W[i], c0, c1)
    return 1 if bad else 0


@njit(**DOT)
def _axpy_block(a, a_strides, B, C, scale, r0, r1, c0, c1):
    """C[r0:r1, c0:c1] = scale * A[r0:r1, :] @ B[:, c0:c1].

    ``r0`` is a multiple of 4 in every driver, so a row of C takes the same
    4-, 2- or 1-row arithmetic whatever the blocking. The chunk of B's rows
    that ends the sum multiplies its rows of C by ``scale`` while they are in
    L1 (1 / m after the sum, as the course's ``1 / m * np.dot(dZ, A_prev.T)``).
    """
    K = B.shape[0]
    # One fill of the whole block: a memset writes fresh lines without first
    # reading them; zeroing row by row made dA0 slower (docs/performance.md).
    C[r0:r1, c0:c1] = 0
    if K == 0:
        return
    s_row, s_col = a_strides
    span = (K - 1) * s_col + 1  # a row of A, from its first element to its last
    for j0 in range(0, K, GRAD_EXAMPLES):
        j1 = min(K, j0 + GRAD_EXAMPLES)
        last = j1 == K
        # Rows of C in groups of 4, then 2, then 1: a layer of 7 units (the
        # two-layer network) runs 4 + 2 + 1 rows instead of 4 and three single
        # rows, each single row a load and a store of C per multiply-add.
        i = r0
        while i + 4 <= r1:
            p = i * s_row
            _rows4(
                a[p : p + span : s_col],
                a[p + s_row : p + s_row + span : s_col],
                a[p + 2 * s_row : p + 2 * s_row + span : s_col],
                a[p + 3 * s_row : p + 3 * s_row + span : s_col],
                B, C[i, c0:c1], C[i + 1, c0:c1], C[i + 2, c0:c1], C[i + 3, c0:c1],
                c0, c1, j0, j1, last, scale,
            )  # fmt: skip
            i += 4
        if i + 2 <= r1:
            p = i * s_row
            _rows2(
                a[p : p + span : s_col],
                a[p + s_row : p + s_row + span : s_col],
                B, C[i, c0:c1], C[i + 1, c0:c1], c0, c1, j0, j1, last, scale,
            )  # fmt: skip
            i += 2
        if i < r1:
            p = i * s_row
            _rows1(a[p : p + span : s_col], B, C[i, c0:c1], c0, c1, j0, j1, last, scale)


@njit(**DOT)
def _rows4(d0, d1, d2, d3, B, o0, o1, o2, o3, c0, c1, j0, j1, last, scale):
    """o_r += d_r[j0:j1] @ B[j0:j1, c0:c1] for 4 rows (then o_r *= scale if ``last``):
    6 rows of B per pass, then 2, then 1.

    Each loaded vector of B feeds 4 FMAs; each row of C is loaded and stored
    once per pass (the passes over the last rows of B go in pairs: the cat
    network's dA0 sums 20 = 6 + 6 + 6 + 2).
    """
    j6 = j1 - (j1 - j0) % 6
    for j in range(j0, j6, 6):
        x0, x1, x2 = B[j, c0:c1], B[j + 1, c0:c1], B[j + 2, c0:c1]
        x3, x4, x5 = B[j + 3, c0:c1], B[j + 4, c0:c1], B[j + 5, c0:c1]
        a0, a1, a2, a3, a4, a5 = d0[j], d0[j + 1], d0[j + 2], d0[j + 3], d0[j + 4], d0[j + 5]
        b0, b1, b2, b3, b4, b5 = d1[j], d1[j + 1], d1[j + 2], d1[j + 3], d1[j + 4], d1[j + 5]
        c0_, c1_, c2, c3, c4, c5 = d2[j], d2[j + 1], d2[j + 2], d2[j + 3], d2[j + 4], d2[j + 5]
        e0, e1, e2, e3, e4, e5 = d3[j], d3[j + 1], d3[j + 2], d3[j + 3], d3[j + 4], d3[j + 5]
        for k in range(c1 - c0):
            y0, y1, y2, y3, y4, y5 = x0[k], x1[k], x2[k], x3[k], x4[k], x5[k]
            o0[k] += a0 * y0 + a1 * y1 + a2 * y2 + a3 * y3 + a4 * y4 + a5 * y5
            o1[k] += b0 * y0 + b1 * y1 + b2 * y2 + b3 * y3 + b4 * y4 + b5 * y5
            o2[k] += c0_ * y0 + c1_ * y1 + c2 * y2 + c3 * y3 + c4 * y4 + c5 * y5
            o3[k] += e0 * y0 + e1 * y1 + e2 * y2 + e3 * y3 + e4 * y4 + e5 * y5
    j2 = j1 - (j1 - j6) % 2
    for j in range(j6, j2, 2):
        x0, x1 = B[j, c0:c1], B[j + 1, c0:c1]
        a0, a1, b0, b1 = d0[j], d0[j + 1], d1[j], d1[j + 1]
        c0_, c1_, e0, e1 = d2[j], d2[j + 1], d3[j], d3[j + 1]
        for k in range(c1 - c0):
            y0, y1 = x0[k], x1[k]
            o0[k] += a0 * y0 + a1 * y1
            o1[k] += b0 * y0 + b1 * y1
            o2[k] += c0_ * y0 + c1_ * y1
            o3[k] += e0 * y0 + e1 * y1
    for j in range(j2, j1):
        x = B[j, c0:c1]
        a0, b0, c0_, e0 = d0[j], d1[j], d2[j], d3[j]
        for k in range(c1 - c0):
            y = x[k]
            o0[k] += a0 * y
            o1[k] += b0 * y
            o2[k] += c0_ * y
            o3[k] += e0 * y
    if last and scale != 1:
        for k in range(c1 - c0):
            o0[k] *= scale
            o1[k] *= scale
            o2[k] *= scale
            o3[k] *= scale


@njit(**DOT)
def _rows2(d0, d1, B, o0, o1, c0, c1, j0, j1, last, scale):
    """``_rows4`` for 2 rows (6 rows of B per pass, then 1)."""
    j6 = j1 - (j1 - j0) % 6
    for j in range(j0, j6, 6):
        x0, x1, x2 = B[j, c0:c1], B[j + 1, c0:c1], B[j + 2, c0:c1]
        x3, x4, x5 = B[j + 3, c0:c1], B[j + 4, c0:c1], B[j + 5, c0:c1]
        a0, a1, a2, a3, a4, a5 = d0[j], d0[j + 1], d0[j + 2], d0[j + 3], d0[j + 4], d0[j + 5]
        b0, b1, b2, b3, b4, b5 = d1[j], d1[j + 1], d1[j + 2], d1[j + 3], d1[j + 4], d1[j + 5]
        for k in range(c1 - c0):
            y0, y1, y2, y3, y4, y5 = x0[k], x1[k], x2[k], x3[k], x4[k], x5[k]
            o0[k] += a0 * y0 + a1 * y1 + a2 * y2 + a3 * y3 + a4 * y4 + a5 * y5
            o1[k] += b0 * y0 + b1 * y1 + b2 * y2 + b3 * y3 + b4 * y4 + b5 * y5
    for j in range(j6, j1):
        x = B[j, c0:c1]
        a0, b0 = d0[j], d1[j]
        for k in range(c1 - c0):
            o0[k] += a0 * x[k]
            o1[k] += b0 * x[k]
    if last and scale != 1:
        for k in range(c1 - c0):
            o0[k] *= scale
            o1[k] *= scale


@njit(**DOT)
def _rows1(d0, B, o0, c0, c1, j0, j1, last, scale):
    """``_rows4`` for 1 row (6 rows of B per pass, then 1)."""
    j6 = j1 - (j1 - j0) % 6
    for j in range(j0, j6, 6):
        x0, x1, x2 = B[j, c0:c1], B[j + 1, c0:c1], B[j + 2, c0:c1]
        x3, x4, x5 = B[j + 3, c0:c1], B[j + 4, c0:c1], B[j + 5, c0:c1]
        a0, a1, a2, a3, a4, a5 = d0[j], d0[j + 1], d0[j + 2], d0[j + 3], d0[j + 4], d0[j + 5]
        for k in range(c1 - c0):
            o0[k] += a0 * x0[k] + a1 * x1[k] + a2 * x2[k] + a3 * x3[k] + a4 * x4[k] + a5 * x5[k]
    for j in range(j6, j1):
        x = B[j, c0:c1]
        a0 = d0[j]
        for k in range(c1 - c0):
            o0[k] += a0 * x[k]
    if last and scale != 1:
        for k in range(c1 - c0):
            o0[k] *= scale
