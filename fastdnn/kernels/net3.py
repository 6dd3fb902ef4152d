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


@njit(**SERIAL)
def _combine_rows(W, A, Z, transposed, zero):
    """``Z = np.dot(W, A)`` (or ``np.dot(W.T, A)`` when ``transposed``). Each row of Z is
    the sum over k of ``W[i, k] A[k, :]`` in k's order, up to four k per pass along the
    examples (a row of Z loaded and stored once for four multiply-adds); the first pass
    reads ``zero`` (a row of zeros: ``0 + x`` is ``x``).

    Each pass is a function of one loop (``_acc1`` .. ``_acc4``) indexing whole matrices:
    loops written among the branches of one larger function measured 2.3x slower (LLVM
    vectorized them worse), and row views cost two atomic reference counts each."""
    n = W.shape[1] if transposed else W.shape[0]
    depth = W.shape[0] if transposed else W.shape[1]
    for i in range(n):
        k = 0
        while k < depth:
            g = min(4, depth - k)
            w0, w1, w2, w3 = _weights(W, i, k, g, transposed)
            src, row = (zero, 0) if k == 0 else (Z, i)
            if g == 4:
                _acc4(src, row, Z, i, A, k, w0, w1, w2, w3)
            elif g == 3:
                _acc3(src, row, Z, i, A, k, w0, w1, w2)
            elif g == 2:
                _acc2(src, row, Z, i, A, k, w0, w1)
            else:
                _acc1(src, row, Z, i, A, k, w0)
            k += g


@njit(**SERIAL)
def _weights(W, i, k, g, transposed):
    """``W[i, k:k + g]`` (or ``W[k:k + g, i]``) as four scalars, 0 past g."""
    if transposed:
        w0 = W[k, i]
        w1 = W[k + 1, i] if g > 1 else 0.0
        w2 = W[k + 2, i] if g > 2 else 0.0
        w3 = W[k + 3, i] if g > 3 else 0.0
    else:
        w0 = W[i, k]
        w1 = W[i, k + 1] if g > 1 else 0.0
        w2 = W[i, k + 2] if g > 2 else 0.0
        w3 = W[i, k + 3] if g > 3 else 0.0
    return w0, w1, w2, w3


@njit(**TILES)
def _acc1(S, s, Z, i, A, k, w0):
    for j in range(Z.shape[1]):
        Z[i, j] = S[s, j] + w0 * A[k, j]


@njit(**TILES)
def _acc2(S, s, Z, i, A, k, w0, w1):
    for j in range(Z.shape[1]):
        Z[i, j] = (S[s, j] + w0 * A[k, j]) + w1 * A[k + 1, j]


@njit(**TILES)
def _acc3(S, s, Z, i, A, k, w0, w1, w2):
    for j in range(Z.shape[1]):
        Z[i, j] = ((S[s, j] + w0 * A[k, j]) + w1 * A[k + 1, j]) + w2 * A[k + 2, j]


@njit(**TILES)
def _acc4(S, s, Z, i, A, k, w0, w1, w2, w3):
    for j in range(Z.shape[1]):
        Z[i, j] = (((S[s, j] + w0 * A[k, j]) + w1 * A[k + 1, j]) + w2 * A[k + 2, j]) + w3 * A[
            k + 3, j
        ]


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


@njit(**SERIAL)
def _layer(W, A_prev, b, D, keep_prob, Z, A, output, zero):
    """``Z = np.dot(W, A_prev) + b`` and ``A = relu(Z)`` (``sigmoid`` for the ``output``
    layer); with dropout (``D`` not empty) ``A = A * D / keep_prob`` in the course's
    order. Returns whether Z held a NaN/inf."""
    if not output and D.shape[0] == 0:
        return _relu_tiles(W, A_prev, b, Z, A, True)
    _combine_rows(W, A_prev, Z, False, zero)
    bad = False
    for i in range(Z.shape[0]):
        if output:
            bad |= _bias_sigmoid(Z, i, b[i, 0], A)
        elif D.shape[0] > 0:
            bad |= _bias_relu_dropout(Z, i, b[i, 0], D, keep_prob, A)
        else:
            bad |= _bias_relu(Z, i, b[i, 0], A)
    return bad


@njit(**SERIAL)
def _bias_relu(Z, i, bias, A):
    bad = False
    for j in range(Z.shape[1]):
        x = Z[i, j] + bias
        Z[i, j] = x
        bad |= (x - x) != 0
        A[i, j] = x if x > 0.0 else 0.0
    return bad


@njit(**SERIAL)
def _bias_relu_dropout(Z, i, bias, D, keep_prob, A):
    bad = False
    for j in range(Z.shape[1]):
        x = Z[i, j] + bias
        Z[i, j] = x
        bad |= (x - x) != 0
        r = x if x > 0.0 else 0.0
        A[i, j] = (r * (1.0 if D[i, j] else 0.0)) / keep_prob
    return bad


@njit(**SERIAL)
def _bias_sigmoid(Z, i, bias, A):
    bad = False
    for j in range(Z.shape[1]):
        x = Z[i, j] + bias
        Z[i, j] = x
        bad |= (x - x) != 0
        A[i, j] = _sigmoid64(x)
    return bad


@njit(**SERIAL)
def _transposed_product(W, dZ, dA, zero):
    """``dA = np.dot(W.T, dZ)``."""
    _combine_rows(W, dZ, dA, True, zero)


@njit(**DOT)
def _outer_product(dZ, A, scale, dW):
    """``dW = scale * np.dot(dZ, A.T)`` (``scale`` 1: the plain product): four sums along
    the examples per pass over a row of dZ, each re-associated into vector lanes."""
    n, m = dZ.shape
    depth = A.shape[0]
    for i in range(n):
        z = dZ[i]
        k = 0
        while k + 4 <= depth:
            a0, a1, a2, a3 = A[k], A[k + 1], A[k + 2], A[k + 3]
            s0 = s1 = s2 = s3 = 0.0
            for j in range(m):
                s0 += z[j] * a0[j]
                s1 += z[j] * a1[j]
                s2 += z[j] * a2[j]
                s3 += z[j] * a3[j]
            dW[i, k] = scale * s0 if scale != 1.0 else s0
            dW[i, k + 1] = scale * s1 if scale != 1.0 else s1
            dW[i, k + 2] = scale * s2 if scale != 1.0 else s2
            dW[i, k + 3] = scale * s3 if scale != 1.0 else s3
            k += 4
        while k < depth:
            a0 = A[k]
            s0 = 0.0
            for j in range(m):
                s0 += z[j] * a0[j]
            dW[i, k] = scale * s0 if scale != 1.0 else s0
            k += 1


@njit(**SERIAL)
def _relu_gradient(dA, A, D, keep_prob, dZ):
    """``dZ = dA * np.int64(A > 0)``, with dropout first ``dA = dA * D / keep_prob`` (written
    back into dA, as the course's gradients hold it)."""
    dropout = D.shape[0] > 0
    for i in range(dA.shape[0]):
        d, a, z = dA[i], A[i], dZ[i]
        for j in range(dA.shape[1]):
            g = d[j]
            if dropout:
                g = (g * (1.0 if D[i, j] else 0.0)) / keep_prob
                d[j] = g
            z[j] = g * (1.0 if a[j] > 0.0 else 0.0)


@njit(**SERIAL)
def _forward_into(X, W1, b1, W2, b2, W3, b3, D1, D2, keep_prob, Z1, A1, Z2, A2, Z3, A3):
    """The forward pass into preallocated arrays; returns whether a sum was NaN/inf."""
    zero = np.zeros((1, X.shape[1]))
    bad = _layer(W1, X, b1, D1, keep_prob, Z1, A1, False, zero)
    bad |= _layer(W2, A1, b2, D2, keep_prob, Z2, A2, False, zero)
    bad |= _layer(W3, A2, b3, D2[:0], keep_prob, Z3, A3, True, zero)
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
def _net3_forward(X, W1, b1, W2, b2, W3, b3, D1, D2, keep_prob):
    """One forward pass: ``(status, Z1, A1, Z2, A2, Z3, A3)``; ``status`` ``OK``,
    ``NONFINITE`` (a NaN or inf reached a layer) or ``SHAPES`` (they do not chain;
    nothing computed)."""
    m = X.shape[1]
    if not _forward_shapes_ok(X, W1, b1, W2, b2, W3, b3, D1, D2):
        e = np.empty((0, 0))
        return SHAPES, e, e, e, e, e, e
    Z1 = np.empty((W1.shape[0], m))
    A1 = np.empty((W1.shape[0], m))
    Z2 = np.empty((W2.shape[0], m))
    A2 = np.empty((W2.shape[0], m))
    Z3 = np.empty((W3.shape[0], m))
    A3 = np.empty((W3.shape[0], m))
    bad = _forward_into(X, W1, b1, W2, b2, W3, b3, D1, D2, keep_prob, Z1, A1, Z2, A2, Z3, A3)
    return (NONFINITE if bad else OK), Z1, A1, Z2, A2, Z3, A3


@njit(**SERIAL)
def _backward_into(
    X, Y, A1, A2, A3, W1, W2, W3, D1, D2, keep_prob, lambd, mode,
    dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1,
):  # fmt: skip
    """The backward pass into preallocated arrays (the helper module's ``mode``); returns
    whether ``A3 - Y`` held a NaN/inf."""
    m = X.shape[1]
    inv_m = 1.0 / m
    bad = False
    for i in range(A3.shape[0]):
        for j in range(m):
            d = A3[i, j] - Y[i, j]
            bad |= (d - d) != 0
            dZ3[i, j] = inv_m * d if mode == LOWER else d
    # LOWER: products and sums as they are; UPPER: each scaled by 1/m, plus L2.
    scale = 1.0 if mode == LOWER else inv_m
    _weight_tiles(dZ3, A2, scale, dW3, db3, False)
    _row_sums(dZ3, scale, db3)
    zero = np.zeros((1, m))
    if D2.shape[0] == 0:
        _masked_tiles(W3, dZ3, A2, dA2, dZ2, True)
    else:
        _transposed_product(W3, dZ3, dA2, zero)
        _relu_gradient(dA2, A2, D2, keep_prob, dZ2)
    _weight_tiles(dZ2, A1, scale, dW2, db2, False)
    _row_sums(dZ2, scale, db2)
    if D1.shape[0] == 0:
        _masked_tiles(W2, dZ2, A1, dA1, dZ1, True)
    else:
        _transposed_product(W2, dZ2, dA1, zero)
        _relu_gradient(dA1, A1, D1, keep_prob, dZ1)
    _weight_tiles(dZ1, X, scale, dW1, db1, False)
    _row_sums(dZ1, scale, db1)
    if lambd != 0.0:  # reg_utils' L2: dW = 1/m dZ A_prev.T + (lambd * W) / m
        _add_l2(W1, lambd, m, dW1)
        _add_l2(W2, lambd, m, dW2)
        _add_l2(W3, lambd, m, dW3)
    return bad


@njit(**SERIAL)
def _add_l2(W, lambd, m, dW):
    for i in range(W.shape[0]):
        for k in range(W.shape[1]):
            dW[i, k] = dW[i, k] + (lambd * W[i, k]) / m


@njit(**SERIAL)
def _net3_backward(X, Y, A1, A2, A3, W1, W2, W3, D1, D2, keep_prob, lambd, mode):
    """One backward pass: ``(status, dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1,
    db1)``; ``status`` as ``_net3_forward``'s (``NONFINITE``: ``A3 - Y`` held a NaN/inf)."""
    m = X.shape[1]
    n0, n1, n2, n3 = X.shape[0], W1.shape[0], W2.shape[0], W3.shape[0]
    ok = W1.shape[1] == n0 and W2.shape[1] == n1 and W3.shape[1] == n2 and m > 0
    ok = ok and A1.shape == (n1, m) and A2.shape == (n2, m) and A3.shape == (n3, m)
    ok = ok and Y.shape == (n3, m)
    if D1.shape[0] > 0 or D2.shape[0] > 0:
        ok = ok and D1.shape == (n1, m) and D2.shape == (n2, m)
    if not ok:
        e = np.empty((0, 0))
        return SHAPES, e, e, e, e, e, e, e, e, e, e, e
    dZ3, dA2, dZ2 = np.empty((n3, m)), np.empty((n2, m)), np.empty((n2, m))
    dA1, dZ1 = np.empty((n1, m)), np.empty((n1, m))
    dW3, dW2, dW1 = np.empty(W3.shape), np.empty(W2.shape), np.empty(W1.shape)
    db3, db2, db1 = np.empty((n3, 1)), np.empty((n2, 1)), np.empty((n1, 1))
    bad = _backward_into(
        X, Y, A1, A2, A3, W1, W2, W3, D1, D2, keep_prob, lambd, mode,
        dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1,
    )  # fmt: skip
    status = NONFINITE if bad else OK
    return status, dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1


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
def _net3_step(P, dP, learning_rate):
    """``P - learning_rate * dP`` as a new array, and whether dP held a NaN/inf."""
    P_new = np.empty(P.shape)
    bad = False
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            g = dP[i, j]
            bad |= (g - g) != 0
            P_new[i, j] = P[i, j] - learning_rate * g
    return P_new, bad


@njit(**SERIAL)
def _net3_sgd(W1, b1, W2, b2, W3, b3, dW1, db1, dW2, db2, dW3, db3, learning_rate):
    """``_net3_step`` on the six parameters at once (one call instead of six):
    ``(status, W1, b1, W2, b2, W3, b3)``; ``SHAPES`` unless each gradient has its
    parameter's shape, ``NONFINITE`` if one held a NaN/inf."""
    ok = W1.shape == dW1.shape and b1.shape == db1.shape and W2.shape == dW2.shape
    ok = ok and b2.shape == db2.shape and W3.shape == dW3.shape and b3.shape == db3.shape
    if not ok:
        e = np.empty((0, 0))
        return SHAPES, e, e, e, e, e, e
    W1n, bad1 = _net3_step(W1, dW1, learning_rate)
    b1n, bad2 = _net3_step(b1, db1, learning_rate)
    W2n, bad3 = _net3_step(W2, dW2, learning_rate)
    b2n, bad4 = _net3_step(b2, db2, learning_rate)
    W3n, bad5 = _net3_step(W3, dW3, learning_rate)
    b3n, bad6 = _net3_step(b3, db3, learning_rate)
    bad = bad1 or bad2 or bad3 or bad4 or bad5 or bad6
    return (NONFINITE if bad else OK), W1n, b1n, W2n, b2n, W3n, b3n


@njit(**SERIAL)
def _net3_momentum(P, dP, v, beta, learning_rate):
    """``v = beta v + (1 - beta) dP; P - learning_rate v``: ``(P_new, v_new, bad)``."""
    P_new, v_new = np.empty(P.shape), np.empty(P.shape)
    bad = False
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            g = dP[i, j]
            bad |= (g - g) != 0
            vv = beta * v[i, j] + (1 - beta) * g
            v_new[i, j] = vv
            P_new[i, j] = P[i, j] - learning_rate * vv
    return P_new, v_new, bad


@njit(**SERIAL)
def _adam_element(p, g, v, s, c1, c2, learning_rate, beta1, beta2, epsilon):
    """One value of Adam's step in the course's order: (p, v, s, v_corrected, s_corrected);
    ``c1 = 1 - beta1**t``, ``c2 = 1 - beta2**t``."""
    v = beta1 * v + (1 - beta1) * g
    vc = v / c1
    s = beta2 * s + (1 - beta2) * (g * g)
    sc = s / c2
    return p - learning_rate * vc / (np.sqrt(sc) + epsilon), v, s, vc, sc


@njit(**SERIAL)
def _net3_adam(P, dP, v, s, c1, c2, learning_rate, beta1, beta2, epsilon):
    """Adam on one parameter: ``(P_new, v_new, s_new, v_corrected, s_corrected, bad)``."""
    P_new, v_new, s_new = np.empty(P.shape), np.empty(P.shape), np.empty(P.shape)
    vc_new, sc_new = np.empty(P.shape), np.empty(P.shape)
    bad = False
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            g = dP[i, j]
            bad |= (g - g) != 0
            p, vv, ss, vc, sc = _adam_element(
                P[i, j], g, v[i, j], s[i, j], c1, c2, learning_rate, beta1, beta2, epsilon
            )
            P_new[i, j], v_new[i, j], s_new[i, j], vc_new[i, j], sc_new[i, j] = p, vv, ss, vc, sc
    return P_new, v_new, s_new, vc_new, sc_new, bad
