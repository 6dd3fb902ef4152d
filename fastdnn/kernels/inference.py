"""Inference kernels: the cache-free forward pass behind ``fastdnn.Model``.

Examples are rows here: ``XT`` is (m, n_x) C-contiguous, which is the course's
``X`` of shape (n_x, m) in Fortran order (what ``flatten_images`` and the
course's ``reshape(m, -1).T`` produce), so no copy is needed.

The first layer dominates (the cat network's W1 has 245,760 of its 245,912
weights). It is computed as dot products of example rows with rows of W1, in
tiles of 4 examples x 5 units: 20 running sums stay in vector registers and
every loaded vector of X feeds 5 FMAs, every vector of W1 feeds 4. W1 (1 MiB
in float32) stays in the L2 cache across examples. The later layers are tiny
(20 x 7 ...) and run per example on a scratch vector. Nothing is stored per
layer beyond one (rows, n_1) scratch block per work item.

``theta`` packs every layer's ``W`` (row-major) followed by its ``b``;
``offsets[l - 1]`` is where layer l's ``W`` starts and ``dims`` is
``layer_dims``. Activations: ReLU for layers 1..L-1, sigmoid for layer L.
"""

import numpy as np
from numba import njit, prange

from .._internal.config import DOT, DOT_BLOCK, DOT_INLINE, PARALLEL_DOT, PREDICT_ROWS
from ._scalar import nonfinite, relu, sigmoid


@njit(**DOT_INLINE)
def _dot_4x5(x0, x1, x2, x3, w0, w1, w2, w3, w4):
    """The 20 dot products of 4 example rows with 5 weight rows (row-major tuple)."""
    z = x0[0] - x0[0]  # a zero of the arrays' dtype, so float32 sums stay float32
    s00 = s01 = s02 = s03 = s04 = z
    s10 = s11 = s12 = s13 = s14 = z
    s20 = s21 = s22 = s23 = s24 = z
    s30 = s31 = s32 = s33 = s34 = z
    for k in range(x0.size):
        a0, a1, a2, a3 = x0[k], x1[k], x2[k], x3[k]
        w = w0[k]
        s00 += a0 * w
        s10 += a1 * w
        s20 += a2 * w
        s30 += a3 * w
        w = w1[k]
        s01 += a0 * w
        s11 += a1 * w
        s21 += a2 * w
        s31 += a3 * w
        w = w2[k]
        s02 += a0 * w
        s12 += a1 * w
        s22 += a2 * w
        s32 += a3 * w
        w = w3[k]
        s03 += a0 * w
        s13 += a1 * w
        s23 += a2 * w
        s33 += a3 * w
        w = w4[k]
        s04 += a0 * w
        s14 += a1 * w
        s24 += a2 * w
        s34 += a3 * w
    return (
        s00, s01, s02, s03, s04,
        s10, s11, s12, s13, s14,
        s20, s21, s22, s23, s24,
        s30, s31, s32, s33, s34,
    )  # fmt: skip


@njit(**DOT_INLINE)
def _dot_1x5(x, w0, w1, w2, w3, w4):
    """The 5 dot products of one example row with 5 weight rows."""
    z = x[0] - x[0]
    s0 = s1 = s2 = s3 = s4 = z
    for k in range(x.size):
        a = x[k]
        s0 += a * w0[k]
        s1 += a * w1[k]
        s2 += a * w2[k]
        s3 += a * w3[k]
        s4 += a * w4[k]
    return (s0, s1, s2, s3, s4)


@njit(**DOT_INLINE)
def _dot_4x2(x0, x1, x2, x3, w0, w1):
    """The 8 dot products of 4 example rows with 2 weight rows (a layer's units
    past its last 5-unit tile: the two-layer network's 7 = 5 + 2)."""
    z = x0[0] - x0[0]
    s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = z
    for k in range(x0.size):
        a0, a1, a2, a3 = x0[k], x1[k], x2[k], x3[k]
        w = w0[k]
        s00 += a0 * w
        s10 += a1 * w
        s20 += a2 * w
        s30 += a3 * w
        w = w1[k]
        s01 += a0 * w
        s11 += a1 * w
        s21 += a2 * w
        s31 += a3 * w
    return (s00, s01, s10, s11, s20, s21, s30, s31)


@njit(**DOT_INLINE)
def _dot_4x1(x0, x1, x2, x3, w):
    """The 4 dot products of 4 example rows with one weight row."""
    z = x0[0] - x0[0]
    s0 = s1 = s2 = s3 = z
    for k in range(x0.size):
        v = w[k]
        s0 += x0[k] * v
        s1 += x1[k] * v
        s2 += x2[k] * v
        s3 += x3[k] * v
    return (s0, s1, s2, s3)


@njit(**DOT_INLINE)
def _dot(x, w):
    s = x[0] - x[0]
    for k in range(x.size):
        s += x[k] * w[k]
    return s


@njit(**DOT)
def _first_layer_rows(XT, W1, Z1, lo, hi):
    """Z1[e - lo, :] = W1 @ XT[e, :] for the examples e in [lo, hi)."""
    n1, n_x = W1.shape
    n1_tiled = n1 - n1 % 5  # units covered by 5-row tiles; the rest in tiles of 2 and 1
    e_tiled = hi - (hi - lo) % 4  # examples covered by 4-row tiles
    Z1[: hi - lo] = 0
    for k0 in range(0, n_x, DOT_BLOCK):
        k1 = min(n_x, k0 + DOT_BLOCK)
        for e in range(lo, e_tiled, 4):
            x0, x1, x2, x3 = XT[e, k0:k1], XT[e + 1, k0:k1], XT[e + 2, k0:k1], XT[e + 3, k0:k1]
            r = e - lo
            for i in range(0, n1_tiled, 5):
                s = _dot_4x5(
                    x0, x1, x2, x3,
                    W1[i, k0:k1], W1[i + 1, k0:k1], W1[i + 2, k0:k1],
                    W1[i + 3, k0:k1], W1[i + 4, k0:k1],
                )  # fmt: skip
                for q in range(4):
                    for j in range(5):
                        Z1[r + q, i + j] += s[5 * q + j]
            i = n1_tiled
            while i + 2 <= n1:
                s2 = _dot_4x2(x0, x1, x2, x3, W1[i, k0:k1], W1[i + 1, k0:k1])
                for q in range(4):
                    Z1[r + q, i] += s2[2 * q]
                    Z1[r + q, i + 1] += s2[2 * q + 1]
                i += 2
            if i < n1:
                s1 = _dot_4x1(x0, x1, x2, x3, W1[i, k0:k1])
                for q in range(4):
                    Z1[r + q, i] += s1[q]
        for e in range(e_tiled, hi):
            x = XT[e, k0:k1]
            r = e - lo
            for i in range(0, n1_tiled, 5):
                s = _dot_1x5(
                    x, W1[i, k0:k1], W1[i + 1, k0:k1], W1[i + 2, k0:k1],
                    W1[i + 3, k0:k1], W1[i + 4, k0:k1],
                )  # fmt: skip
                for j in range(5):
                    Z1[r, i + j] += s[j]
            for i in range(n1_tiled, n1):
                Z1[r, i] += _dot(x, W1[i, k0:k1])


@njit(**DOT)
def _head_rows(Z1, theta, dims, offsets, P, lo, hi):
    """From Z1 = W1 @ x (without b1), the rest of the network for examples [lo, hi).

    ``Z1[e - lo]`` holds example e's first-layer sums; ``P[e]`` receives its
    output probabilities. Returns whether any pre-activation is non-finite (a
    NaN or inf in ``X`` always reaches Z1: 0 * inf is NaN).
    """
    L = dims.size - 1
    n_max = 0
    for l in range(1, L + 1):
        n_max = max(n_max, dims[l])
    a_prev = np.empty(n_max, dtype=P.dtype)
    a = np.empty(n_max, dtype=P.dtype)
    bad = False
    for e in range(lo, hi):
        z_row = Z1[e - lo]
        for l in range(1, L + 1):
            n, n_prev = dims[l], dims[l - 1]
            w_at = offsets[l - 1]
            b = theta[w_at + n * n_prev : w_at + n * n_prev + n]
            for i in range(n):
                if l == 1:
                    z = z_row[i] + b[i]
                else:
                    w = theta[w_at + i * n_prev : w_at + (i + 1) * n_prev]
                    z = b[i] + _dot(a_prev[:n_prev], w)
                bad |= nonfinite(z)
                if l == L:
                    P[e, i] = sigmoid(z)
                else:
                    a[i] = relu(z)
            a_prev, a = a, a_prev
    return bad


@njit(**DOT)
def _predict_rows(XT, W1, theta, dims, offsets, P, lo, hi):
    """Probabilities ``P[e]`` for the examples e in [lo, hi), block by block."""
    Z1 = np.empty((min(PREDICT_ROWS, hi - lo), W1.shape[0]), dtype=P.dtype)
    bad = 0
    for start in range(lo, hi, PREDICT_ROWS):
        stop = min(hi, start + PREDICT_ROWS)
        _first_layer_rows(XT, W1, Z1, start, stop)
        bad += _head_rows(Z1, theta, dims, offsets, P, start, stop)
    return bad


@njit(**DOT)
def _split(m, n1, items):
    """(examples per work item, units per work item) of the parallel kernel.

    About ``items`` work items (the API passes 4 per thread); examples in multiples of 4 (the tile
    width) up to ``PREDICT_ROWS``. A batch too small for that splits W1's
    units instead (in multiples of 5, the tile height), so that even one
    example spreads over cores: each core then streams only its part of W1,
    from its own L2 cache.
    """
    rows = (m + items - 1) // items
    rows = min(PREDICT_ROWS, max(4, (rows + 3) // 4 * 4))
    blocks = (m + rows - 1) // rows
    unit_blocks = 1 if blocks >= items else (items + blocks - 1) // blocks
    units = (n1 + unit_blocks - 1) // unit_blocks
    return rows, min(n1, (units + 4) // 5 * 5)


@njit(**DOT)
def _predict_parallel(XT, W1, theta, dims, offsets, P, items):
    """``_predict_rows`` on all examples, work split over examples and units
    (see ``_split``). The first layer goes to an (m, n_1) scratch array; the
    cheap rest of the network runs after the parallel loop."""
    Z1 = np.empty((XT.shape[0], W1.shape[0]), dtype=P.dtype)
    _first_layer_parallel(XT, W1, Z1, items)
    return _head_rows(Z1, theta, dims, offsets, P, 0, XT.shape[0])


@njit(**PARALLEL_DOT)
def _first_layer_parallel(XT, W1, Z1, items):
    """Z1 = XT @ W1.T, (m, n_1), in about ``items`` work items (see ``_split``)."""
    m = XT.shape[0]
    n1 = W1.shape[0]
    rows, units = _split(m, n1, items)
    unit_blocks = (n1 + units - 1) // units
    for t in prange(((m + rows - 1) // rows) * unit_blocks):
        lo = (t // unit_blocks) * rows
        hi = min(m, lo + rows)
        u0 = (t % unit_blocks) * units
        u1 = min(n1, u0 + units)
        _first_layer_rows(XT, W1[u0:u1], Z1[lo:hi, u0:u1], lo, hi)
