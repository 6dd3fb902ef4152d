"""The four dnn_utils functions as flat, fused kernels, one kernel per role.

``code`` selects the operation (``fastdnn._internal.activations``: ``RELU`` or
``SIGMOID``), branched once outside the loop, so each branch vectorizes on its
own. Forward kernels compute ``A = g(Z)``, backward ones ``dZ = dA * g'(Z)``:

* ``*_span``: the flat index range [lo, hi) of C-contiguous 1-D views;
* ``*_parallel``: blocks of ``BLOCK`` elements with ``prange``, each a span;
* ``*_into``: the whole C-contiguous arrays of any shape (the API's serial
  path: no flat views made in Python);
* ``_relu_tiny`` ...: ``*_into`` holding the GIL, one per operation (see below).

Every kernel reports whether it read a NaN/inf (a span: True/False; a parallel
driver: the number of blocks that did), so the API can reject non-finite
input without a second pass over memory. The flag is an OR of booleans, not a
count: an int64 count in a float32 loop halves the vector width LLVM picks.

The spans loop over slice views, ``for i in range(view.size)``, never from
``lo`` to ``hi``: numba cannot prove ``lo + i`` non-negative, keeps its
negative-index wraparound in the loop, and LLVM then does not vectorize it
(docs/performance.md, "Kernels").
"""

from numba import njit, prange

from .._internal.activations import RELU, SIGMOID
from .._internal.config import BLOCK, PARALLEL, SERIAL, TINY
from ._scalar import nonfinite, relu, sigmoid, sigmoid_slope


@njit(**SERIAL)
def _activation_span(Z, A, code, lo, hi):
    """A[lo:hi] = g(Z[lo:hi]) for ``code`` RELU or SIGMOID."""
    Z, A = Z[lo:hi], A[lo:hi]
    bad = False
    if code == RELU:
        for i in range(Z.size):
            z = Z[i]
            A[i] = relu(z)
            bad |= nonfinite(z)
    else:
        for i in range(Z.size):
            z = Z[i]
            A[i] = sigmoid(z)
            bad |= nonfinite(z)
    return bad


@njit(**SERIAL)
def _activation_backward_span(dA, Z, dZ, code, lo, hi):
    """dZ[lo:hi] = dA * g'(Z) over [lo, hi) for ``code`` RELU or SIGMOID."""
    dA, Z, dZ = dA[lo:hi], Z[lo:hi], dZ[lo:hi]
    bad = False
    if code == RELU:
        for i in range(Z.size):
            z = Z[i]
            da = dA[i]
            dZ[i] = da if z > 0 else da - da
            bad |= nonfinite(z) | nonfinite(da)
    else:
        for i in range(Z.size):
            z = Z[i]
            da = dA[i]
            dZ[i] = da * sigmoid_slope(z)
            bad |= nonfinite(z) | nonfinite(da)
    return bad


@njit(**PARALLEL)
def _activation_parallel(Z, A, code):
    n = Z.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _activation_span(Z, A, code, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad


@njit(**PARALLEL)
def _activation_backward_parallel(dA, Z, dZ, code):
    n = Z.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _activation_backward_span(dA, Z, dZ, code, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad


@njit(**SERIAL)
def _activation_into(Z, A, code):
    return _activation_span(Z.reshape(-1), A.reshape(-1), code, 0, Z.size)


@njit(**SERIAL)
def _activation_backward_into(dA, Z, dZ, code):
    return _activation_backward_span(dA.reshape(-1), Z.reshape(-1), dZ.reshape(-1), code, 0, Z.size)


# Arrays under ``TINY_MAX_ELEMENTS``: ``*_into`` without releasing the GIL (see
# ``_internal.config.TINY``), one kernel per operation with the code fixed, because
# typing an int argument costs a sizeable part of a 3x2 call (docs/performance.md,
# "Small calls").


@njit(**TINY)
def _relu_tiny(Z, A):
    return _activation_into(Z, A, RELU)


@njit(**TINY)
def _sigmoid_tiny(Z, A):
    return _activation_into(Z, A, SIGMOID)


@njit(**TINY)
def _relu_backward_tiny(dA, Z, dZ):
    return _activation_backward_into(dA, Z, dZ, RELU)


@njit(**TINY)
def _sigmoid_backward_tiny(dA, Z, dZ):
    return _activation_backward_into(dA, Z, dZ, SIGMOID)
