"""Skinny matrix products: a layer with few units and many inputs (the cat network's first).

OpenBLAS runs these shapes at a third of its square-matrix speed, and its
threads keep spinning after each call and stall the next numba region. Two
forms cover the three products of such a layer, in either layout of A_prev:

* dot form, ``C[r, c] = P[r, :] . Q[c, :]`` with P and Q row-major: the
  inference tile (``inference._first_layer_rows`` and ``_first_layer_parallel``,
  4 rows of P x 5 rows of Q per pass). ``Z = W @ A_prev`` for A_prev in
  Fortran order (P = A_prev.T, Q = W, C = Z.T) and ``dW = dZ @ A_prev.T`` for
  A_prev in C order (P = A_prev, Q = dZ, C = dW.T).
* axpy form, below: ``C = scale * A @ B`` with B and C row-major, rows of B
  scaled and summed along C's rows. ``dW`` for A_prev in Fortran order
  (A = dZ, B = A_prev.T), ``dA_prev = W.T @ dZ`` (A = W.T, B = dZ) and
  ``Z`` for A_prev in C order (A = W, B = A_prev).

In the axpy form a pass handles 4 rows of C and 6 rows of B: each loaded
vector of B feeds 4 FMAs, each row of C is loaded and stored once per 6 rows
of B (with 5 rows of C the loop came out scalar: LLVM gave up on its
run-time alias checks). The rows of C left over go 2 and 1 at a time; the
rows of B left over go in pairs (4-row groups) or one at a time. C is
computed in blocks of (``rows`` x ``cols``), and
B is read ``GRAD_EXAMPLES`` rows at a time, so that block of B stays in L2
while the passes over C's rows re-read it.

Serial and parallel drivers run the same blocks in the same order of sums,
so their results are equal bit for bit.

``tiles._tiles_rows`` and ``tiles._tiles_parallel`` are the same drivers
over ``tiles._tile_block`` (the same contract, the sums held in vector
registers), which the course API uses on CPUs with AVX-512
(``fastdnn.course.products``); ``tiles`` true selects it in the trainer's
weight step.

The trainer's weight step (``_weight_step_*``, at the end) is the axpy form's
``dW1`` with the ``W1`` update fused into each block.
"""

from numba import njit, prange

from .._internal.config import DOT, GRAD_BLOCK, GRAD_EXAMPLES, PARALLEL_DOT
from .sgd import _sgd_span
from .tiles import _tile_block


@njit(**DOT)
def _axpy_rows(A, B, C, scale, rows, cols):
    """C = scale * A @ B serially, block by block (the parallel driver's blocks)."""
    R, N = C.shape
    for r0 in range(0, R, rows):
        for c0 in range(0, N, cols):
            _axpy_block(A, B, C, scale, r0, min(R, r0 + rows), c0, min(N, c0 + cols))


@njit(**PARALLEL_DOT)
def _axpy_parallel(A, B, C, scale, rows, cols):
    """C = scale * A @ B, one work item per (``rows`` x ``cols``) block of C."""
    R, N = C.shape
    col_blocks = (N + cols - 1) // cols
    for t in prange(((R + rows - 1) // rows) * col_blocks):
        r0 = (t // col_blocks) * rows
        c0 = (t % col_blocks) * cols
        _axpy_block(A, B, C, scale, r0, min(R, r0 + rows), c0, min(N, c0 + cols))


@njit(**DOT)
def _block(A, B, C, scale, r0, r1, c0, c1, tiles):
    """One block of C by register tiles (``tiles``) or by the axpy form (the weight step's)."""
    if tiles:
        _tile_block(A, B, C, scale, r0, r1, c0, c1)
    else:
        _axpy_block(A, B, C, scale, r0, r1, c0, c1)


@njit(**DOT)
def _axpy_block(A, B, C, scale, r0, r1, c0, c1):
    """C[r0:r1, c0:c1] = scale * A[r0:r1, :] @ B[:, c0:c1].

    ``r0`` is a multiple of 4 in every driver, so a row of C takes the same
    4-, 2- or 1-row arithmetic whatever the blocking.
    """
    K = B.shape[0]
    # One fill of the whole block: a memset writes fresh lines without first
    # reading them; zeroing row by row made dA0 slower (docs/performance.md).
    C[r0:r1, c0:c1] = 0
    for j0 in range(0, K, GRAD_EXAMPLES):
        j1 = min(K, j0 + GRAD_EXAMPLES)
        _accumulate(A, B, C, r0, r1, c0, c1, j0, j1, j1 == K, scale)


@njit(**DOT)
def _accumulate(A, B, C, r0, r1, c0, c1, j0, j1, last, scale):
    """C[r0:r1, c0:c1] += A[r0:r1, j0:j1] @ B[j0:j1, c0:c1].

    ``last``: multiply the rows by ``scale`` afterwards, while they are in L1
    (1 / m after the sum, as the course's ``1 / m * np.dot(dZ, A_prev.T)``).

    Rows of C in groups of 4, then 2, then 1: a layer of 7 units (the
    two-layer network) runs 4 + 2 + 1 rows instead of 4 and three single
    rows, each single row a load and a store of C per multiply-add.
    """
    i = r0
    while i + 4 <= r1:
        o0, o1, o2, o3 = C[i, c0:c1], C[i + 1, c0:c1], C[i + 2, c0:c1], C[i + 3, c0:c1]
        _rows4(A[i], A[i + 1], A[i + 2], A[i + 3], B, o0, o1, o2, o3, c0, c1, j0, j1)
        if last and scale != 1:
            _scale(o0, scale)
            _scale(o1, scale)
            _scale(o2, scale)
            _scale(o3, scale)
        i += 4
    if i + 2 <= r1:
        o0, o1 = C[i, c0:c1], C[i + 1, c0:c1]
        _rows2(A[i], A[i + 1], B, o0, o1, c0, c1, j0, j1)
        if last and scale != 1:
            _scale(o0, scale)
            _scale(o1, scale)
        i += 2
    if i < r1:
        o0 = C[i, c0:c1]
        _rows1(A[i], B, o0, c0, c1, j0, j1)
        if last and scale != 1:
            _scale(o0, scale)


@njit(**DOT)
def _scale(o, scale):
    for k in range(o.size):
        o[k] *= scale


@njit(**DOT)
def _rows4(d0, d1, d2, d3, B, o0, o1, o2, o3, c0, c1, j0, j1):
    """o_r += d_r[j0:j1] @ B[j0:j1, c0:c1] for 4 rows: 6 rows of B per pass, then 2, then 1.

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


@njit(**DOT)
def _rows2(d0, d1, B, o0, o1, c0, c1, j0, j1):
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


@njit(**DOT)
def _rows1(d0, B, o0, c0, c1, j0, j1):
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


# The trainer's first-layer weight step, for ``X`` in Fortran order:
# ``dW1 = dZ1 @ X.T / m`` by ``_axpy_block`` (with ``XT = X.T`` the C-contiguous
# (m, n_x) view of the course's ``X``), followed by the update
# ``W1 -= learning_rate * dW1`` on each block while it is in L1: a separate
# update pass read and wrote 2 x 1.9 MB per step. Work items are blocks of
# ``GRAD_BLOCK`` features, so a block of ``XT`` stays in L2 while the passes over
# the rows of ``dW1`` re-read it.


@njit(**DOT)
def _weight_step_rows(dZ, XT, dW, scale, W, learning_rate, tiles, k0, k1):
    """Columns [k0, k1) of ``dW = scale * dZ @ XT`` and of ``W -= learning_rate * dW``.

    dZ: (n, m), XT: (m, n_x), dW and W: (n, n_x). Blocks of ``GRAD_BLOCK``
    features, one after another (the parallel driver runs the same blocks
    as its work items). Returns True if these columns of ``dW`` hold NaN or inf.
    """
    bad = False
    for b0 in range(k0, k1, GRAD_BLOCK):
        bad |= _weight_step_block(
            dZ, XT, dW, scale, W, learning_rate, tiles, b0, min(k1, b0 + GRAD_BLOCK)
        )
    return bad


@njit(**DOT)
def _weight_step_block(dZ, XT, dW, scale, W, learning_rate, tiles, k0, k1):
    """One block of ``_weight_step_rows``; the update goes through ``_sgd_span``
    (compiled without contraction: the same arithmetic as a separate update pass)."""
    n = dZ.shape[0]
    _block(dZ, XT, dW, scale, 0, n, k0, k1, tiles)
    bad = False
    for i in range(n):
        bad |= _sgd_span(W[i], dW[i], learning_rate, W[i], k0, k1)
    return bad


@njit(**PARALLEL_DOT)
def _weight_step_parallel(dZ, XT, dW, scale, W, learning_rate, tiles):
    """``_weight_step_rows`` over all features, one work item per ``GRAD_BLOCK``
    block; returns the number of blocks that saw NaN or inf."""
    n_x = XT.shape[1]
    bad = 0
    for t in prange((n_x + GRAD_BLOCK - 1) // GRAD_BLOCK):
        k0 = t * GRAD_BLOCK
        bad += _weight_step_block(
            dZ, XT, dW, scale, W, learning_rate, tiles, k0, min(n_x, k0 + GRAD_BLOCK)
        )
    return bad
