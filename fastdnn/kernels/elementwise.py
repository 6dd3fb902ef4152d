"""The four dnn_utils functions as flat, fused kernels.

Each operation has a serial ``*_span`` kernel that works on the flat index
range [lo, hi) of C-contiguous 1-D views, and a ``*_parallel`` driver that
splits the array into blocks of ``BLOCK`` elements with ``prange``. Every
kernel reports whether it read a NaN/inf (a span: True/False; a parallel
driver: the number of blocks that did), so the API can reject non-finite
input without a second pass over memory.

The flag is an OR of booleans, not a count: an int64 count in a float32 loop
halves the vector width LLVM picks (8 float32 lanes against 4 int64 ones per
256-bit register).

The spans loop over slice views, ``for i in range(view.size)``, never from
``lo`` to ``hi``: numba cannot prove ``lo + i`` non-negative, keeps its
negative-index wraparound in the loop, and LLVM then does not vectorize it
(docs/performance.md, "Kernels").
"""

from numba import njit, prange

from .._config import BLOCK, PARALLEL, SERIAL, TINY
from ._scalar import nonfinite, relu, sigmoid, sigmoid_slope


@njit(**SERIAL)
def _sigmoid_span(Z, A, lo, hi):
    Z, A = Z[lo:hi], A[lo:hi]
    bad = False
    for i in range(Z.size):
        z = Z[i]
        A[i] = sigmoid(z)
        bad |= nonfinite(z)
    return bad


@njit(**SERIAL)
def _relu_span(Z, A, lo, hi):
    Z, A = Z[lo:hi], A[lo:hi]
    bad = False
    for i in range(Z.size):
        z = Z[i]
        A[i] = relu(z)
        bad |= nonfinite(z)
    return bad


@njit(**SERIAL)
def _sigmoid_backward_span(dA, Z, dZ, lo, hi):
    dA, Z, dZ = dA[lo:hi], Z[lo:hi], dZ[lo:hi]
    bad = False
    for i in range(Z.size):
        z = Z[i]
        da = dA[i]
        dZ[i] = da * sigmoid_slope(z)
        bad |= nonfinite(z) | nonfinite(da)
    return bad


@njit(**SERIAL)
def _relu_backward_span(dA, Z, dZ, lo, hi):
    dA, Z, dZ = dA[lo:hi], Z[lo:hi], dZ[lo:hi]
    bad = False
    for i in range(Z.size):
        z = Z[i]
        da = dA[i]
        dZ[i] = da if z > 0 else da - da
        bad |= nonfinite(z) | nonfinite(da)
    return bad


@njit(**PARALLEL)
def _sigmoid_parallel(Z, A):
    n = Z.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _sigmoid_span(Z, A, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad


@njit(**PARALLEL)
def _relu_parallel(Z, A):
    n = Z.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _relu_span(Z, A, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad


@njit(**PARALLEL)
def _sigmoid_backward_parallel(dA, Z, dZ):
    n = Z.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _sigmoid_backward_span(dA, Z, dZ, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad


@njit(**PARALLEL)
def _relu_backward_parallel(dA, Z, dZ):
    n = Z.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _relu_backward_span(dA, Z, dZ, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad


# The lean path: the API calls these for exact float32/float64 C-contiguous
# arrays of any shape below the parallel threshold, with the output allocated
# by the caller: ``*_into(inputs..., output)`` on arrays of any C-contiguous
# shape. One dispatcher call with whole arrays (no flat views made in Python,
# no extra arguments to type) is what brings a 3x2 call near NumPy's own
# per-call time (see ``fastdnn.dnn_utils``).


@njit(**SERIAL)
def _sigmoid_into(Z, A):
    return _sigmoid_span(Z.reshape(-1), A.reshape(-1), 0, Z.size)


@njit(**SERIAL)
def _relu_into(Z, A):
    return _relu_span(Z.reshape(-1), A.reshape(-1), 0, Z.size)


@njit(**SERIAL)
def _sigmoid_backward_into(dA, Z, dZ):
    return _sigmoid_backward_span(dA.reshape(-1), Z.reshape(-1), dZ.reshape(-1), 0, Z.size)


@njit(**SERIAL)
def _relu_backward_into(dA, Z, dZ):
    return _relu_backward_span(dA.reshape(-1), Z.reshape(-1), dZ.reshape(-1), 0, Z.size)


# The same for arrays under ``TINY_MAX_ELEMENTS``, without releasing the GIL
# (see ``_config.TINY``).


@njit(**TINY)
def _sigmoid_tiny(Z, A):
    return _sigmoid_into(Z, A)


@njit(**TINY)
def _relu_tiny(Z, A):
    return _relu_into(Z, A)


@njit(**TINY)
def _sigmoid_backward_tiny(dA, Z, dZ):
    return _sigmoid_backward_into(dA, Z, dZ)


@njit(**TINY)
def _relu_backward_tiny(dA, Z, dZ):
    return _relu_backward_into(dA, Z, dZ)
