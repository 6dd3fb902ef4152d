"""Fused per-layer kernels: what runs around the two BLAS products of a layer.

Forward:  ``Z += b`` and ``A = g(Z)`` in one pass (after ``Z = W @ A_prev``).
Backward: ``dZ = dA * g'(Z)`` and ``db = sum(dZ, axis=1) / m`` in one pass
(before ``dW = dZ @ A_prev.T / m`` and ``dA_prev = W.T @ dZ``).

Arrays are C-contiguous and flat (a (n, m) matrix as n*m elements); ``m`` is
the row length. ``code`` selects the activation (see ``fastdnn._internal.activations``).
The BLAS products stay outside: a BLAS call inside ``prange`` would start
BLAS threads inside numba threads (oversubscription).
"""

from numba import njit, prange

from .._internal.activations import IDENTITY, RELU, SIGMOID
from .._internal.config import BLOCK, PARALLEL, REDUCTION, SERIAL, TINY
from ._scalar import nonfinite, relu, sigmoid, sigmoid_slope


@njit(**SERIAL)
def _bias_activation_span(Z, b, A, m, code, lo, hi):
    """Z[k] += b[row(k)]; A[k] = g(Z[k]) for flat k in [lo, hi).

    For the identity activation ``A`` must be ``Z`` itself (it is not
    written). Returns True if any ``Z`` value is non-finite.
    """
    bad = False
    row = lo // m
    start = lo
    while start < hi:
        stop = min(hi, (row + 1) * m)
        # Views, so that the loops index from 0 and vectorize (see elementwise.py).
        Zr, Ar = Z[start:stop], A[start:stop]
        b_row = b[row]
        if code == RELU:
            for k in range(Zr.size):
                z = Zr[k] + b_row
                Zr[k] = z
                Ar[k] = relu(z)
                bad |= nonfinite(z)
        elif code == SIGMOID:
            for k in range(Zr.size):
                z = Zr[k] + b_row
                Zr[k] = z
                Ar[k] = sigmoid(z)
                bad |= nonfinite(z)
        else:
            # Identity: the caller passes Z as A, so only Z is written. A
            # second store through another name would keep LLVM from
            # vectorizing (the two may alias).
            for k in range(Zr.size):
                z = Zr[k] + b_row
                Zr[k] = z
                bad |= nonfinite(z)
        start = stop
        row += 1
    return bad


@njit(**SERIAL)
def _bias_activation_into(Z, b, A, code):
    """``_bias_activation_span`` over all of the C-contiguous (n, m) ``Z``.

    The API's lean path for small layers: whole 2-D arrays in, so the caller
    makes no flat views (see ``fastdnn.course.forward.layer_forward``).
    """
    return _bias_activation_span(
        Z.reshape(-1), b.reshape(-1), A.reshape(-1), Z.shape[1], code, 0, Z.size
    )


@njit(**TINY)
def _bias_activation_tiny(Z, b, A, code):
    """``_bias_activation_into`` holding the GIL, for layers under
    ``TINY_MAX_ELEMENTS`` (see ``_internal.config.TINY``)."""
    return _bias_activation_into(Z, b, A, code)


@njit(**TINY)
def _bias_add_tiny(Z, b):
    """``Z += b`` (the identity activation: ``linear_forward``) under
    ``TINY_MAX_ELEMENTS``. Two arguments instead of four: numba's dispatch of
    the Python int ``code`` and the second ``Z`` is a sizeable part of a call
    on the course's 3x2 layer."""
    return _bias_activation_into(Z, b, Z, IDENTITY)


@njit(**PARALLEL)
def _bias_activation_parallel(Z, b, A, m, code):
    n = Z.size
    bad = 0
    for k in prange((n + BLOCK - 1) // BLOCK):
        bad += _bias_activation_span(Z, b, A, m, code, k * BLOCK, min(n, (k + 1) * BLOCK))
    return bad


@njit(**REDUCTION)
def _sum(x):
    """sum(x) accumulated in float64 (float32 input loses nothing)."""
    s = 0.0
    for k in range(x.size):
        s += x[k]
    return s


@njit(**SERIAL)
def _activation_backward_db_rows(dA, Z, dZ, db, m, code, row_lo, row_hi):
    """dZ = dA * g'(Z) and db[i] = sum(dZ[i, :]) / m for rows [row_lo, row_hi).

    Each row is summed right after it is written, while it is still in L1/L2.
    Returns True if any ``dA`` or ``Z`` value is non-finite.
    """
    bad = False
    inv_m = 1.0 / m
    for i in range(row_lo, row_hi):
        dAr, Zr, dZr = dA[i * m : (i + 1) * m], Z[i * m : (i + 1) * m], dZ[i * m : (i + 1) * m]
        if code == RELU:
            for k in range(m):
                z = Zr[k]
                da = dAr[k]
                dZr[k] = da if z > 0 else da - da
                bad |= nonfinite(z) | nonfinite(da)
        elif code == SIGMOID:
            for k in range(m):
                z = Zr[k]
                da = dAr[k]
                dZr[k] = da * sigmoid_slope(z)
                bad |= nonfinite(z) | nonfinite(da)
        else:
            for k in range(m):
                da = dAr[k]
                dZr[k] = da
                bad |= nonfinite(da)
        db[i] = _sum(dZr) * inv_m
    return bad


@njit(**SERIAL)
def _activation_backward_db_into(dA, Z, dZ, db, code):
    """``_activation_backward_db_rows`` over all of the C-contiguous (n, m) ``dA``.

    The small-layer path of ``fastdnn.course.backward.layer_backward``: whole 2-D
    arrays in, no flat views made by the caller.
    """
    return _activation_backward_db_rows(
        dA.reshape(-1),
        Z.reshape(-1),
        dZ.reshape(-1),
        db.reshape(-1),
        dA.shape[1],
        code,
        0,
        dA.shape[0],
    )


@njit(**PARALLEL)
def _activation_backward_db_parallel(dA, Z, dZ, db, m, code):
    n = db.size
    rows = max(1, BLOCK // m)
    bad = 0
    for k in prange((n + rows - 1) // rows):
        bad += _activation_backward_db_rows(
            dA, Z, dZ, db, m, code, k * rows, min(n, (k + 1) * rows)
        )
    return bad


@njit(**SERIAL)
def _row_means_rows(dZ, db, m, row_lo, row_hi):
    """db[i] = sum(dZ[i, :]) / m for rows [row_lo, row_hi); True if any is non-finite."""
    bad = False
    inv_m = 1.0 / m
    for i in range(row_lo, row_hi):
        dZr = dZ[i * m : (i + 1) * m]
        for k in range(m):
            bad |= nonfinite(dZr[k])
        db[i] = _sum(dZr) * inv_m
    return bad


@njit(**SERIAL)
def _row_means_into(dZ, db):
    """``_row_means_rows`` over all of the C-contiguous (n, m) ``dZ``."""
    return _row_means_rows(dZ.reshape(-1), db.reshape(-1), dZ.shape[1], 0, dZ.shape[0])


@njit(**PARALLEL)
def _row_means_parallel(dZ, db, m):
    n = db.size
    rows = max(1, BLOCK // m)
    bad = 0
    for k in prange((n + rows - 1) // rows):
        bad += _row_means_rows(dZ, db, m, k * rows, min(n, (k + 1) * rows))
    return bad
