"""Course 2's three-layer network (LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID), whole passes.

The networks of "Improving Deep Neural Networks" are tiny (2 inputs, 3-20 units, 64-300
examples), so a pass is a few microseconds of arithmetic and NumPy spends most of its time
between its 50-80 calls. One kernel per pass (forward, backward, cost, update) makes a
notebook's step four calls; ``_net3_train`` and ``_net3_train_batches`` run a notebook's
whole loop. Serial on purpose: a parallel region costs more than these passes.

float64 only (the course's numbers), every array 2-D and C-contiguous: ``X (n0, m)``,
``Y (1, m)`` as float64, ``Wl (nl, nl-1)``, ``bl (nl, 1)``. ``mode`` is the helper module's
convention: ``LOWER`` (``init_utils``, ``opt_utils_v1a``: ``dz3 = 1/m (a3 - Y)``, plain
products), ``UPPER`` (``reg_utils``: ``dZ3 = A3 - Y``, ``1/m`` on each ``dW`` and ``db``,
``lambd`` for L2). Dropout is on where the masks ``D1, D2`` are not empty.

Results match NumPy's to rounding: the products' sums run in another order than
OpenBLAS's (``dW``'s re-associated into vector lanes); ``db`` and the costs follow NumPy's
pairwise summation exactly, and the exp and log are within 1 ulp of NumPy's.
"""

import numpy as np
from numba import njit

from .._internal.activations import NET3_LOWER as LOWER
from .._internal.config import DOT, SERIAL, TILES
from .._internal.simd import (
    VECTOR_BYTES,
    vfma,
    vkeep,
    vload,
    vload_part,
    vmax,
    vsplat,
    vstore,
    vstore_part,
    vsum,
    vzero,
)
from ._scalar import _sigmoid64, log_pos

OK = 0
NONFINITE = 1
SHAPES = 2
"""Status codes of the public kernels (the API explains a non-zero one)."""

# NumPy's blocking of a pairwise sum (numpy/_core/src/umath/loops_utils.h.src)
_PW_BLOCKSIZE = 128


@njit(**SERIAL)
def _pairwise_block(a, lo, n):
    """NumPy's ``pairwise_sum`` of ``a[lo:lo + n]`` for ``n <= 128``: eight running sums."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(**SERIAL)
def _pairwise_stack(a, lo, n):
    """``_pairwise`` for any n: NumPy's tree walked with an explicit stack."""
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(a, lo, n)
    los = np.empty(64, np.int64)  # depth <= log2(n / 64): far below 64
    ns = np.empty(64, np.int64)
    left = np.empty(64)
    phase = np.zeros(64, np.int64)  # 0: not split yet, 1: left half pending, 2: right half
    top = 0
    los[0], ns[0], phase[0] = lo, n, 0
    value = 0.0
    while True:
        c = ns[top]
        if phase[top] == 0 and c > _PW_BLOCKSIZE:
            n2 = c // 2
            n2 -= n2 % 8
            phase[top] = 1
            los[top + 1], ns[top + 1], phase[top + 1] = los[top], n2, 0
            top += 1
            continue
        value = _pairwise_block(a, los[top], c) if phase[top] == 0 else value
        top -= 1  # ``value`` is this node's sum: hand it to its parent
        while top >= 0:
            if phase[top] == 1:  # the left half: now the right one
                left[top] = value
                phase[top] = 2
                n2 = ns[top] // 2
                n2 -= n2 % 8
                los[top + 1], ns[top + 1], phase[top + 1] = los[top] + n2, ns[top] - n2, 0
                top += 1
                break
            value = left[top] + value  # both halves done
            top -= 1
        if top < 0:
            return value


@njit(**SERIAL)
def _pairwise(a, lo, n):
    """NumPy's ``pairwise_sum`` of ``a[lo:lo + n]``: the same additions in the same order,
    so ``db`` and the costs are NumPy's to the bit.

    NumPy recurses: halves (the first rounded down to a multiple of 8) down to blocks of
    at most 128. numba cannot inline a recursive function into another module's kernel,
    so the first four levels (n up to about 2,000) are written out below, and longer
    sums walk the same tree with an explicit stack (``_pairwise_stack``).
    """
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(a, lo, n)
    n2 = n // 2 - (n // 2) % 8
    return _pairwise2(a, lo, n2) + _pairwise2(a, lo + n2, n - n2)


@njit(**SERIAL)
def _pairwise2(a, lo, n):
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(a, lo, n)
    n2 = n // 2 - (n // 2) % 8
    return _pairwise3(a, lo, n2) + _pairwise3(a, lo + n2, n - n2)


@njit(**SERIAL)
def _pairwise3(a, lo, n):
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(a, lo, n)
    n2 = n // 2 - (n // 2) % 8
    return _pairwise4(a, lo, n2) + _pairwise4(a, lo + n2, n - n2)


@njit(**SERIAL)
def _pairwise4(a, lo, n):
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(a, lo, n)
    return _pairwise_stack(a, lo, n)


@njit(**SERIAL)
def _row_sums(dZ, scale, db):
    """``db = scale * np.sum(dZ, axis=1, keepdims=True)`` (``scale`` 1: the plain sum)."""
    for i in range(dZ.shape[0]):
        s = _pairwise(dZ[i], 0, dZ.shape[1])
        db[i, 0] = scale * s if scale != 1.0 else s


_LANES = VECTOR_BYTES // 8  # float64 examples per vector


@njit(**TILES)
def _relu_tiles(W, A_prev, b, Z, A, store_z, check_finite=True):
    """``A = relu(W A_prev + b)`` (and ``Z = W A_prev + b`` when ``store_z``) by register
    tiles: 4 rows x one vector of examples, the sums over k held in registers (per k, one
    vector load feeds four fused multiply-adds; A and Z are stored once). The same
    multiply-add chain in k's order as ``_combine_rows``, so the same numbers. Returns
    whether a sum was NaN/inf (a ReLU would turn NaN into 0: ``0 * z`` keeps it; not
    checked without ``check_finite``: the loops check every gradient instead)."""
    n, depth = W.shape
    m = A_prev.shape[1]
    a_prev, z_out, a_out = A_prev.reshape(A_prev.size), Z.reshape(Z.size), A.reshape(A.size)
    zero = vzero(a_prev)
    one = vsplat(1.0)
    check = zero
    for i0 in range(0, n, 4):
        r = min(4, n - i0)
        # rows past the last are computed on a valid row and not stored
        i1, i2, i3 = min(i0 + 1, n - 1), min(i0 + 2, n - 1), min(i0 + 3, n - 1)
        b0, b1, b2, b3 = vsplat(b[i0, 0]), vsplat(b[i1, 0]), vsplat(b[i2, 0]), vsplat(b[i3, 0])
        for j in range(0, m, _LANES):
            c = min(_LANES, m - j)
            s0 = s1 = s2 = s3 = zero
            for k in range(depth):
                # a masked load only for the last columns (vmaskmov is slow on AMD Zen)
                x = vload(a_prev, k * m + j) if c == _LANES else vload_part(a_prev, k * m + j, c)
                s0 = vfma(vsplat(W[i0, k]), x, s0)
                s1 = vfma(vsplat(W[i1, k]), x, s1)
                s2 = vfma(vsplat(W[i2, k]), x, s2)
                s3 = vfma(vsplat(W[i3, k]), x, s3)
            # Z = sum + b (1 * s + b: one rounding, as s + b)
            s0, s1, s2, s3 = (
                vfma(one, s0, b0),
                vfma(one, s1, b1),
                vfma(one, s2, b2),
                vfma(one, s3, b3),
            )
            _store_rows(z_out, a_out, i0, r, m, j, c, s0, s1, s2, s3, zero, store_z)
            if check_finite:
                check = vfma(s0, zero, check)
                if r > 1:
                    check = vfma(s1, zero, check)
                if r > 2:
                    check = vfma(s2, zero, check)
                if r > 3:
                    check = vfma(s3, zero, check)
    total = vsum(check)
    return total != 0.0 or total != total


@njit(**TILES)
def _put(out, o, v, c):
    """Store ``c`` lanes of ``v`` at ``out[o:]``: a masked store only for the last columns
    (``vmaskmov`` is slow on AMD Zen)."""
    if c == _LANES:
        vstore(out, o, v)
    else:
        vstore_part(out, o, v, c)


@njit(**TILES)
def _store_rows(z_out, a_out, i0, r, m, j, c, s0, s1, s2, s3, zero, store_z):
    """Rows i0.. of a tile: Z (when asked) and relu(Z)."""
    o = i0 * m + j
    if store_z:
        _put(z_out, o, s0, c)
    _put(a_out, o, vmax(s0, zero), c)
    if r > 1:
        if store_z:
            _put(z_out, o + m, s1, c)
        _put(a_out, o + m, vmax(s1, zero), c)
    if r > 2:
        if store_z:
            _put(z_out, o + 2 * m, s2, c)
        _put(a_out, o + 2 * m, vmax(s2, zero), c)
    if r > 3:
        if store_z:
            _put(z_out, o + 3 * m, s3, c)
        _put(a_out, o + 3 * m, vmax(s3, zero), c)


@njit(**TILES)
def _masked_tiles(W, dZ, A, dA, dZ_prev, store_dA):
    """``dA = W.T dZ`` and ``dZ_prev = dA * (A > 0)`` by register tiles (4 rows of dA x
    one vector of examples; ``dA`` stored only when ``store_dA``)."""
    depth, n = W.shape
    m = dZ.shape[1]
    dz, a, da, out = (
        dZ.reshape(dZ.size),
        A.reshape(A.size),
        dA.reshape(dA.size),
        dZ_prev.reshape(dZ_prev.size),
    )
    zero = vzero(dz)
    for i0 in range(0, n, 4):
        r = min(4, n - i0)
        i1, i2, i3 = min(i0 + 1, n - 1), min(i0 + 2, n - 1), min(i0 + 3, n - 1)
        for j in range(0, m, _LANES):
            c = min(_LANES, m - j)
            s0 = s1 = s2 = s3 = zero
            for k in range(depth):
                x = vload(dz, k * m + j) if c == _LANES else vload_part(dz, k * m + j, c)
                s0 = vfma(vsplat(W[k, i0]), x, s0)
                s1 = vfma(vsplat(W[k, i1]), x, s1)
                s2 = vfma(vsplat(W[k, i2]), x, s2)
                s3 = vfma(vsplat(W[k, i3]), x, s3)
            o = i0 * m + j
            for q in range(r):
                s = s0 if q == 0 else (s1 if q == 1 else (s2 if q == 2 else s3))
                if store_dA:
                    _put(da, o + q * m, s, c)
                mask = vload(a, o + q * m) if c == _LANES else vload_part(a, o + q * m, c)
                _put(out, o + q * m, vkeep(s, mask), c)


@njit(**TILES)
def _weight_tiles(dZ, A_prev, scale, dW, db, with_db):
    """``dW = scale * dZ A_prev.T`` (and, with ``with_db``, ``db = scale * sum(dZ, 1)``) by
    register tiles: 2 rows of dZ x 2 rows of A_prev, four vectors of sums (and two of the
    rows' sums) held in registers along the examples, added up at the end."""
    n, m = dZ.shape
    depth = A_prev.shape[0]
    dz, a = dZ.reshape(dZ.size), A_prev.reshape(A_prev.size)
    zero = vzero(dz)
    for i0 in range(0, n, 2):
        i1 = min(i0 + 1, n - 1)
        for k0 in range(0, depth, 2):
            k1 = min(k0 + 1, depth - 1)
            s00 = s01 = s10 = s11 = t0 = t1 = zero
            for j in range(0, m, _LANES):
                c = min(_LANES, m - j)
                if c == _LANES:
                    d0, d1 = vload(dz, i0 * m + j), vload(dz, i1 * m + j)
                    x0, x1 = vload(a, k0 * m + j), vload(a, k1 * m + j)
                else:
                    d0, d1 = vload_part(dz, i0 * m + j, c), vload_part(dz, i1 * m + j, c)
                    x0, x1 = vload_part(a, k0 * m + j, c), vload_part(a, k1 * m + j, c)
                s00 = vfma(d0, x0, s00)
                s01 = vfma(d0, x1, s01)
                s10 = vfma(d1, x0, s10)
                s11 = vfma(d1, x1, s11)
                if with_db and k0 == 0:
                    t0 = vfma(d0, vsplat(1.0), t0)
                    t1 = vfma(d1, vsplat(1.0), t1)
            dW[i0, k0] = scale * vsum(s00) if scale != 1.0 else vsum(s00)
            dW[i0, k1] = scale * vsum(s01) if scale != 1.0 else vsum(s01)
            dW[i1, k0] = scale * vsum(s10) if scale != 1.0 else vsum(s10)
            dW[i1, k1] = scale * vsum(s11) if scale != 1.0 else vsum(s11)
            if with_db and k0 == 0:
                db[i0, 0] = scale * vsum(t0) if scale != 1.0 else vsum(t0)
                db[i1, 0] = scale * vsum(t1) if scale != 1.0 else vsum(t1)


@njit(**DOT)
def _row_dots(dZ, i, A, k, g):
    """``dZ[i] . A[k + q]`` for q < g (g <= 4), and the row's own sum: five sums in one
    pass along the examples."""
    s0 = s1 = s2 = s3 = total = 0.0
    if g == 4:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
            s1 += d * A[k + 1, j]
            s2 += d * A[k + 2, j]
            s3 += d * A[k + 3, j]
    elif g == 3:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
            s1 += d * A[k + 1, j]
            s2 += d * A[k + 2, j]
    elif g == 2:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
            s1 += d * A[k + 1, j]
    else:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
    return s0, s1, s2, s3, total


@njit(**SERIAL)
def _weight_row(dZ, i, A_prev, scale, dW, db, with_db):
    """Row i of ``dW = scale dZ A_prev.T`` (and ``db = scale * sum(dZ[i])``)."""
    depth = A_prev.shape[0]
    k = 0
    total = 0.0
    while k < depth:
        g = min(4, depth - k)
        sums = _row_dots(dZ, i, A_prev, k, g)
        if k == 0:
            total = sums[4]
        for q in range(g):
            dW[i, k + q] = scale * sums[q] if scale != 1.0 else sums[q]
        k += g
    if with_db:
        db[i, 0] = scale * total if scale != 1.0 else total


@njit(**SERIAL)
def _weight_products(dZ, A_prev, scale, dW, db, with_db):
    """``dW = scale * dZ A_prev.T`` (and, with ``with_db``, ``db = scale * sum(dZ, 1)``).

    Few rows of A_prev (the first layer's 2 inputs): register tiles of 2 x 2 sums
    (``_weight_tiles``); many (20 hidden units): a row of dZ against four rows of A_prev
    per pass (``_weight_row``), which measured faster there (the tiles add their sums up
    once per 2 x 2 block; docs/course2.md)."""
    if A_prev.shape[0] > 4:
        for i in range(dZ.shape[0]):
            _weight_row(dZ, i, A_prev, scale, dW, db, with_db)
    else:
        _weight_tiles(dZ, A_prev, scale, dW, db, with_db)


@njit(**SERIAL)
def _dropout(A, D, keep_prob):
    """The course's inverted dropout on a layer's activations: ``A = A * D / keep_prob``."""
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            A[i, j] = (A[i, j] * (1.0 if D[i, j] else 0.0)) / keep_prob


@njit(**SERIAL)
def _sigmoid_rows(Z, A):
    """``A = sigmoid(Z)``; whether Z held a NaN/inf."""
    bad = False
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            z = Z[i, j]
            bad |= (z - z) != 0
            A[i, j] = _sigmoid64(z)
    return bad


@njit(**SERIAL)
def _dropout_gradient(dA, A, D, keep_prob, dZ):
    """The course's ``dA = dA * D / keep_prob``, then ``dZ = dA * np.int64(A > 0)``."""
    for i in range(dA.shape[0]):
        for j in range(dA.shape[1]):
            g = (dA[i, j] * (1.0 if D[i, j] else 0.0)) / keep_prob
            dA[i, j] = g
            dZ[i, j] = g * (1.0 if A[i, j] > 0.0 else 0.0)


@njit(**SERIAL)
def _forward_into(X, W1, b1, W2, b2, W3, b3, D1, D2, keep_prob, Z1, A1, Z2, A2, Z3, A3):
    """The forward pass into preallocated arrays; returns whether a sum was NaN/inf.

    Each layer by register tiles (``_relu_tiles``: Z and relu(Z)); dropout after, as the
    course applies it; the output layer's tile writes Z3, then the sigmoid (A3 holds the
    tile's ReLU for a moment)."""
    bad = _relu_tiles(W1, X, b1, Z1, A1, True)
    if D1.shape[0] > 0:
        _dropout(A1, D1, keep_prob)
    bad |= _relu_tiles(W2, A1, b2, Z2, A2, True)
    if D2.shape[0] > 0:
        _dropout(A2, D2, keep_prob)
    _relu_tiles(W3, A2, b3, Z3, A3, True, False)
    bad |= _sigmoid_rows(Z3, A3)
    return bad


@njit(**SERIAL)
def _forward_shapes_ok(X, W1, b1, W2, b2, W3, b3, D1, D2):
    """Whether the shapes chain (X (n0, m), Wl (nl, nl-1), bl (nl, 1), masks empty or of
    their layer's shape): the API's check, here where it costs nothing."""
    m = X.shape[1]
    n0, n1, n2, n3 = X.shape[0], W1.shape[0], W2.shape[0], W3.shape[0]
    ok = W1.shape[1] == n0 and W2.shape[1] == n1 and W3.shape[1] == n2 and m > 0
    ok = ok and b1.shape == (n1, 1) and b2.shape == (n2, 1) and b3.shape == (n3, 1)
    if D1.shape[0] > 0 or D2.shape[0] > 0:
        ok = ok and D1.shape == (n1, m) and D2.shape == (n2, m)
    return ok


@njit(**SERIAL)
def _net3_forward(X, W1, b1, W2, b2, W3, b3, D1, D2, keep_prob, Z1, A1, Z2, A2, Z3, A3):
    """One forward pass into Z1 .. A3 (allocated by the caller: NumPy's arrays cost less to
    hand back than numba's): ``OK``, ``NONFINITE`` (a NaN or inf reached a layer) or
    ``SHAPES`` (they do not chain; nothing written)."""
    if not _forward_shapes_ok(X, W1, b1, W2, b2, W3, b3, D1, D2):
        return SHAPES
    m = X.shape[1]
    if not (Z1.shape == A1.shape == (W1.shape[0], m) and Z2.shape == A2.shape == (W2.shape[0], m)):
        return SHAPES
    if not Z3.shape == A3.shape == (W3.shape[0], m):
        return SHAPES
    bad = _forward_into(X, W1, b1, W2, b2, W3, b3, D1, D2, keep_prob, Z1, A1, Z2, A2, Z3, A3)
    return NONFINITE if bad else OK


@njit(**SERIAL)
def _backward_into(
    X, Y, A1, A2, A3, W1, W2, W3, D1, D2, keep_prob, lambd, mode,
    dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1,
):  # fmt: skip
    """The backward pass into preallocated arrays (the helper module's ``mode``); returns
    whether ``A3 - Y`` held a NaN/inf."""
    m = X.shape[1]
    inv_m = 1.0 / m
    bad = _output_gradient(A3, Y, mode, dZ3)
    # LOWER: products and sums as they are; UPPER: each scaled by 1/m, plus L2.
    scale = 1.0 if mode == LOWER else inv_m
    _weight_products(dZ3, A2, scale, dW3, db3, False)
    _row_sums(dZ3, scale, db3)
    _masked_tiles(W3, dZ3, A2, dA2, dZ2, True)
    if D2.shape[0] > 0:
        _dropout_gradient(dA2, A2, D2, keep_prob, dZ2)
    _weight_products(dZ2, A1, scale, dW2, db2, False)
    _row_sums(dZ2, scale, db2)
    _masked_tiles(W2, dZ2, A1, dA1, dZ1, True)
    if D1.shape[0] > 0:
        _dropout_gradient(dA1, A1, D1, keep_prob, dZ1)
    _weight_products(dZ1, X, scale, dW1, db1, False)
    _row_sums(dZ1, scale, db1)
    if lambd != 0.0:  # reg_utils' L2: dW = 1/m dZ A_prev.T + (lambd * W) / m
        _add_l2(W1, lambd, m, dW1)
        _add_l2(W2, lambd, m, dW2)
        _add_l2(W3, lambd, m, dW3)
    return bad


@njit(**SERIAL)
def _output_gradient(A3, Y, mode, dZ3):
    """``dZ3 = A3 - Y`` (``UPPER``) or ``1/m (A3 - Y)`` (``LOWER``); whether it held a
    NaN/inf."""
    inv_m = 1.0 / A3.shape[1]
    bad = False
    for i in range(A3.shape[0]):
        for j in range(A3.shape[1]):
            d = A3[i, j] - Y[i, j]
            bad |= (d - d) != 0
            dZ3[i, j] = inv_m * d if mode == LOWER else d
    return bad


@njit(**SERIAL)
def _add_l2(W, lambd, m, dW):
    for i in range(W.shape[0]):
        for k in range(W.shape[1]):
            dW[i, k] = dW[i, k] + (lambd * W[i, k]) / m


@njit(**SERIAL)
def _net3_backward(
    X, Y, A1, A2, A3, W1, W2, W3, D1, D2, keep_prob, lambd, mode,
    dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1,
):  # fmt: skip
    """One backward pass into dZ3 .. db1 (allocated by the caller): a status as
    ``_net3_forward``'s (``NONFINITE``: ``A3 - Y`` held a NaN/inf)."""
    m = X.shape[1]
    n0, n1, n2, n3 = X.shape[0], W1.shape[0], W2.shape[0], W3.shape[0]
    ok = W1.shape[1] == n0 and W2.shape[1] == n1 and W3.shape[1] == n2 and m > 0
    ok = ok and A1.shape == (n1, m) and A2.shape == (n2, m) and A3.shape == (n3, m)
    ok = ok and Y.shape == (n3, m)
    if D1.shape[0] > 0 or D2.shape[0] > 0:
        ok = ok and D1.shape == (n1, m) and D2.shape == (n2, m)
    ok = ok and dZ3.shape == (n3, m) and dA2.shape == dZ2.shape == (n2, m)
    ok = ok and dA1.shape == dZ1.shape == (n1, m)
    ok = ok and dW3.shape == W3.shape and dW2.shape == W2.shape and dW1.shape == W1.shape
    ok = ok and db3.shape == (n3, 1) and db2.shape == (n2, 1) and db1.shape == (n1, 1)
    if not ok:
        return SHAPES
    bad = _backward_into(
        X, Y, A1, A2, A3, W1, W2, W3, D1, D2, keep_prob, lambd, mode,
        dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1,
    )  # fmt: skip
    return NONFINITE if bad else OK


@njit(**SERIAL)
def _log(x):
    """np.log for x >= 0 (-inf at 0), within 1 ulp."""
    return log_pos(x) if x > 0.0 else -np.inf


@njit(**SERIAL)
def _cross_entropy(A3, Y, nan_sum, scratch):
    """The helpers' cross-entropy, summed over everything: ``sum(-log(a) y + -log(1 - a)
    (1 - y))``, NaN terms dropped when ``nan_sum`` (``np.nansum``), in NumPy's pairwise
    order. ``scratch``: a buffer of ``A3.size`` values."""
    k = 0
    for i in range(A3.shape[0]):
        for j in range(A3.shape[1]):
            a, y = A3[i, j], Y[i, j]
            t = (-_log(a)) * y + (-_log(1.0 - a)) * (1.0 - y)
            scratch[k] = 0.0 if nan_sum and t != t else t
            k += 1
    return _pairwise(scratch, 0, k)


@njit(**SERIAL)
def _net3_cost(A3, Y, nan_sum, mean):
    """``1/m (nan)sum(logprobs)`` (``compute_loss``, ``reg_utils.compute_cost``) or the plain
    sum (``opt_utils_v1a.compute_cost``, ``mean`` False): ``(status, cost)``, ``SHAPES``
    unless Y has A3's shape."""
    if Y.shape != A3.shape:
        return SHAPES, 0.0
    s = _cross_entropy(A3, Y, nan_sum, np.empty(A3.size))
    return OK, (1.0 / Y.shape[1]) * s if mean else s


@njit(**SERIAL)
def _square_sum(W):
    """``np.sum(np.square(W))`` in NumPy's order."""
    scratch = np.empty(W.size)
    k = 0
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            scratch[k] = W[i, j] * W[i, j]
            k += 1
    return _pairwise(scratch, 0, k)


@njit(**SERIAL)
def _net3_l2(W1, W2, W3, lambd, m):
    """reg_utils' L2 term: ``lambd * (sum(W1^2) + sum(W2^2) + sum(W3^2)) / (2 m)``."""
    return lambd * (_square_sum(W1) + _square_sum(W2) + _square_sum(W3)) / (2 * m)


@njit(**SERIAL)
def _net3_step(P, dP, learning_rate, P_new):
    """``P_new = P - learning_rate * dP``; whether dP held a NaN/inf (shapes: the caller's)."""
    bad = False
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            g = dP[i, j]
            bad |= (g - g) != 0
            P_new[i, j] = P[i, j] - learning_rate * g
    return bad


@njit(**SERIAL)
def _net3_sgd(W1, b1, W2, b2, W3, b3, dW1, db1, dW2, db2, dW3, db3, learning_rate, new):
    """``_net3_step`` on the six parameters at once (one call instead of six), into the
    six arrays of ``new``: ``SHAPES`` unless each gradient and new array has its
    parameter's shape, ``NONFINITE`` if a gradient held a NaN/inf."""
    W1n, b1n, W2n, b2n, W3n, b3n = new
    ok = W1.shape == dW1.shape == W1n.shape and b1.shape == db1.shape == b1n.shape
    ok = ok and W2.shape == dW2.shape == W2n.shape and b2.shape == db2.shape == b2n.shape
    ok = ok and W3.shape == dW3.shape == W3n.shape and b3.shape == db3.shape == b3n.shape
    if not ok:
        return SHAPES
    bad = _net3_step(W1, dW1, learning_rate, W1n)
    bad |= _net3_step(b1, db1, learning_rate, b1n)
    bad |= _net3_step(W2, dW2, learning_rate, W2n)
    bad |= _net3_step(b2, db2, learning_rate, b2n)
    bad |= _net3_step(W3, dW3, learning_rate, W3n)
    bad |= _net3_step(b3, db3, learning_rate, b3n)
    return NONFINITE if bad else OK


@njit(**SERIAL)
def _net3_momentum(P, dP, v, beta, learning_rate, P_new, v_new):
    """``v = beta v + (1 - beta) dP; P - learning_rate v`` into ``P_new``, ``v_new``;
    whether dP held a NaN/inf."""
    bad = False
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            g = dP[i, j]
            bad |= (g - g) != 0
            vv = beta * v[i, j] + (1 - beta) * g
            v_new[i, j] = vv
            P_new[i, j] = P[i, j] - learning_rate * vv
    return bad


@njit(**SERIAL)
def _net3_adam(P, dP, v, s, c1, c2, learning_rate, beta1, beta2, epsilon, out):
    """Adam on one parameter in the course's order, into ``out = (P_new, v_new, s_new,
    v_corrected, s_corrected)``; ``c1 = 1 - beta1**t``, ``c2 = 1 - beta2**t``. Whether
    dP held a NaN/inf."""
    P_new, v_new, s_new, vc_new, sc_new = out
    bad = False
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            g = dP[i, j]
            bad |= (g - g) != 0
            vv = beta1 * v[i, j] + (1 - beta1) * g
            vc = vv / c1
            ss = beta2 * s[i, j] + (1 - beta2) * (g * g)
            sc = ss / c2
            P_new[i, j] = P[i, j] - learning_rate * vc / (np.sqrt(sc) + epsilon)
            v_new[i, j], s_new[i, j], vc_new[i, j], sc_new[i, j] = vv, ss, vc, sc
    return bad


@njit(**SERIAL)
def _net3_momentum_all(Ps, dPs, vs, beta, learning_rate, P_news, v_news):
    """``_net3_momentum`` on every parameter (tuples of arrays): one call instead of six;
    whether a gradient held a NaN/inf (shapes: the caller's)."""
    bad = False
    for k in range(len(Ps)):
        bad |= _net3_momentum(Ps[k], dPs[k], vs[k], beta, learning_rate, P_news[k], v_news[k])
    return bad


@njit(**SERIAL)
def _net3_adam_all(Ps, dPs, vs, ss, c1, c2, learning_rate, beta1, beta2, epsilon, outs):
    """``_net3_adam`` on every parameter: ``outs[k]`` is parameter k's five outputs."""
    bad = False
    for k in range(len(Ps)):
        bad |= _net3_adam(
            Ps[k], dPs[k], vs[k], ss[k], c1, c2, learning_rate, beta1, beta2, epsilon, outs[k]
        )
    return bad
