"""The training step's first-layer weight step, for ``X`` in Fortran order.

``dW1 = dZ1 @ X.T / m`` as a skinny product (``products._axpy_block``, with
``XT = X.T`` the C-contiguous (m, n_x) view of the course's ``X``), followed by
the update ``W1 -= learning_rate * dW1`` on each block while it is in L1: a
separate update pass read and wrote 2 x 1.9 MB per step. ``Z1 = W1 @ X`` is
the inference tile (``products``' dot form). Work items are blocks of
``GRAD_BLOCK`` features, so a block of ``XT`` stays in L2 while the passes
over the rows of ``dW1`` re-read it.
"""

from numba import njit, prange

from .._config import DOT, GRAD_BLOCK, PARALLEL_DOT
from .products import _axpy_block
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
    """One block of ``_weight_step_rows``; the update goes through ``_sgd_span``
    (compiled without contraction: the same arithmetic as a separate update pass)."""
    n = dZ.shape[0]
    _axpy_block(dZ, XT, dW, scale, 0, n, k0, k1)
    bad = False
    for i in range(n):
        bad |= _sgd_span(W[i], dW[i], learning_rate, W[i], k0, k1)
    return bad


@njit(**PARALLEL_DOT)
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
