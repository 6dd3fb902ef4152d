"""The training step's first-layer products, for ``X`` in Fortran order.

In the cat network the first layer (20 x 12288) holds almost all the work of
a training step: ``Z1 = W1 @ X`` and ``dW1 = dZ1 @ X.T`` are 51 million
multiply-adds each at m = 209, every other product under 30,000. OpenBLAS runs
these skinny shapes at about a third of its peak, and its threads keep
spinning after each call, which stalls the next numba parallel region. Doing
both products here keeps a training step off OpenBLAS's thread pool entirely.

``XT`` is (m, n_x) C-contiguous: the course's ``X`` of shape (n_x, m) in
Fortran order (``reshape(m, -1).T``), viewed as examples-as-rows, no copy.

* ``Z1``: the inference tile (``inference._first_layer_rows``): dot products of
  example rows with rows of ``W1``, written through the view ``Z1.T``.
* ``dW1``: ``dW1[i, :] = sum_j dZ1[i, j] * XT[j, :] / m``, below, followed by
  the update ``W1 -= learning_rate * dW1`` on each block while it is in L1
  (the separate update pass read and wrote 2 x 1.9 MB per step): rows of ``XT``
  scaled and summed, vectorized along the features. A pass handles 4 rows of
  ``dW1`` and 6 examples: each loaded vector of ``XT`` feeds 4 FMAs, and each
  row of ``dW1`` is loaded and stored once per 6 examples (with 5 rows the
  compiled loop came out scalar: LLVM gave up on its run-time alias checks
  between the row pointers). Work items
  are blocks of ``GRAD_BLOCK`` features, processed ``GRAD_EXAMPLES`` examples
  at a time, so the block of ``XT`` stays in L2 while the passes over the
  rows of ``dW1`` re-read it.
"""

from numba import njit, prange

from .._config import DOT, GRAD_BLOCK, GRAD_EXAMPLES, PARALLEL
from .update import _sgd_span


@njit(**DOT)
def _weight_step_rows(dZ, XT, dW, scale, W, learning_rate, k0, k1):
    """Columns [k0, k1) of ``dW = scale * dZ @ XT`` and of ``W -= learning_rate * dW``.

    dZ: (n, m), XT: (m, n_x), dW and W: (n, n_x). Blocks of ``GRAD_BLOCK``
    features, one after another (the parallel driver runs the same blocks
    as its work items). Returns True if these columns of ``dW`` hold NaN or inf.
    """
    bad = False
    for b0 in range(k0, k1, GRAD_BLOCK):
        bad |= _weight_step_block(dZ, XT, dW, scale, W, learning_rate, b0, min(k1, b0 + GRAD_BLOCK))
    return bad


@njit(**DOT)
def _weight_step_block(dZ, XT, dW, scale, W, learning_rate, k0, k1):
    """One block of ``_weight_step_rows``: the block of ``XT`` stays in L2
    (``GRAD_EXAMPLES`` examples at a time) and the update runs while the block
    of ``dW`` is still in L1, through ``_sgd_span`` (compiled without
    contraction: the same arithmetic as a separate update pass)."""
    n, m = dZ.shape
    dW[:, k0:k1] = 0
    for j0 in range(0, m, GRAD_EXAMPLES):
        _accumulate(dZ, XT, dW, k0, k1, j0, min(m, j0 + GRAD_EXAMPLES))
    bad = False
    for i in range(n):
        o = dW[i, k0:k1]
        for k in range(k1 - k0):
            o[k] *= scale
        bad |= _sgd_span(W[i], dW[i], learning_rate, W[i], k0, k1)
    return bad


@njit(**DOT)
def _accumulate(dZ, XT, dW, k0, k1, j0, j1):
    """dW[:, k0:k1] += dZ[:, j0:j1] @ XT[j0:j1, k0:k1], 4 rows x 6 examples per pass."""
    n = dZ.shape[0]
    j6 = j1 - (j1 - j0) % 6
    n4 = n - n % 4
    for i in range(0, n4, 4):
        o0, o1, o2, o3 = dW[i, k0:k1], dW[i + 1, k0:k1], dW[i + 2, k0:k1], dW[i + 3, k0:k1]
        d0, d1, d2, d3 = dZ[i], dZ[i + 1], dZ[i + 2], dZ[i + 3]
        for j in range(j0, j6, 6):
            x0, x1, x2 = XT[j, k0:k1], XT[j + 1, k0:k1], XT[j + 2, k0:k1]
            x3, x4, x5 = XT[j + 3, k0:k1], XT[j + 4, k0:k1], XT[j + 5, k0:k1]
            a0, a1, a2, a3, a4, a5 = d0[j], d0[j + 1], d0[j + 2], d0[j + 3], d0[j + 4], d0[j + 5]
            b0, b1, b2, b3, b4, b5 = d1[j], d1[j + 1], d1[j + 2], d1[j + 3], d1[j + 4], d1[j + 5]
            c0, c1, c2, c3, c4, c5 = d2[j], d2[j + 1], d2[j + 2], d2[j + 3], d2[j + 4], d2[j + 5]
            e0, e1, e2, e3, e4, e5 = d3[j], d3[j + 1], d3[j + 2], d3[j + 3], d3[j + 4], d3[j + 5]
            for k in range(k1 - k0):
                y0, y1, y2, y3, y4, y5 = x0[k], x1[k], x2[k], x3[k], x4[k], x5[k]
                o0[k] += a0 * y0 + a1 * y1 + a2 * y2 + a3 * y3 + a4 * y4 + a5 * y5
                o1[k] += b0 * y0 + b1 * y1 + b2 * y2 + b3 * y3 + b4 * y4 + b5 * y5
                o2[k] += c0 * y0 + c1 * y1 + c2 * y2 + c3 * y3 + c4 * y4 + c5 * y5
                o3[k] += e0 * y0 + e1 * y1 + e2 * y2 + e3 * y3 + e4 * y4 + e5 * y5
        for j in range(j6, j1):
            x = XT[j, k0:k1]
            a0, b0, c0, e0 = d0[j], d1[j], d2[j], d3[j]
            for k in range(k1 - k0):
                y = x[k]
                o0[k] += a0 * y
                o1[k] += b0 * y
                o2[k] += c0 * y
                o3[k] += e0 * y
    for i in range(n4, n):  # the last n % 4 rows, one at a time
        o, d = dW[i, k0:k1], dZ[i]
        for j in range(j0, j1):
            x, a = XT[j, k0:k1], d[j]
            for k in range(k1 - k0):
                o[k] += a * x[k]


@njit(**dict(PARALLEL, fastmath=DOT["fastmath"]))
def _weight_step_parallel(dZ, XT, dW, scale, W, learning_rate):
    """``_weight_step_rows`` over all features, one work item per ``GRAD_BLOCK``
    block; returns the number of blocks that saw NaN or inf."""
    n_x = XT.shape[1]
    bad = 0
    for t in prange((n_x + GRAD_BLOCK - 1) // GRAD_BLOCK):
        k0 = t * GRAD_BLOCK
        bad += _weight_step_block(
            dZ, XT, dW, scale, W, learning_rate, k0, min(n_x, k0 + GRAD_BLOCK)
        )
    return bad
