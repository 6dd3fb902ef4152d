"""The three products of a skinny layer, on fastdnn's kernels instead of OpenBLAS,
and the trainer's fused first-layer weight step (``weight_step``).

A layer is skinny when it has at most ``SKINNY_MAX_UNITS`` units and at least
``SKINNY_MIN_INPUTS`` inputs (the cat network's first layer, 20 x 12288, and
the two-layer network's 7 x 12288). With ``A_prev`` in Fortran order (the
course's ``reshape(m, -1).T / 255``), ``Z = W @ A_prev``,
``dW = dZ @ A_prev.T / m`` and ``dA_prev = W.T @ dZ`` all run on
``kernels.products``: OpenBLAS runs these shapes at a fraction of its speed,
and a step that mixes OpenBLAS's threads with numba's pays for both pools
spinning. ``A_prev`` in C order keeps all three on BLAS, where OpenBLAS is the
faster (figures: docs/performance.md, "Skinny products").

``linear_forward`` and ``linear_backward`` (and everything above them) call
these, so a notebook's own loop gets the speed. Where numba's CPU has
AVX-512, ``dW`` and ``dA_prev`` run on register tiles (``kernels.tiles``) in the
cases where they measured faster (``_tiles_for_dW``, ``_tiles_for_dA_prev``);
elsewhere on the loop-vectorized axpy form (figures: docs/performance.md,
"Register tiles"). Results equal the course's
products to rounding (sums in another order), run to run and serial against
parallel bit for bit.
"""

import numpy as np

from .._internal import dispatch
from .._internal.config import (
    GRAD_BLOCK,
    SKINNY_MAX_UNITS,
    SKINNY_MIN_INPUTS,
    TILE_AHEAD_BYTES,
    TILE_CHUNK_BYTES,
    TILE_MIN_EXAMPLES_FLOAT64,
    TILE_ROW_BYTES,
)
from .._internal.lazy import kernels as K
from .._internal.validation import _F32, _F64, kernel_view

_TALL_ROWS = 64
"""Rows of ``dA_prev`` per work item (a multiple of the kernel's 4-row pass)."""

use_tiles = None
"""Whether the products may run on register tiles (``kernels.tiles``): None
until the first call, which asks ``_internal.simd.wide_vectors`` (a property
of the CPU, the same for every call; the tests set it to check both forms)."""


def _wide():
    global use_tiles
    if use_tiles is None:
        from .._internal.simd import wide_vectors  # imports numba: not at fastdnn's import

        use_tiles = wide_vectors()
    return use_tiles


def _tiles_for_dW(n, dtype):
    """``dW`` (and the trainer's weight step) on register tiles: on AVX-512, when the
    layer's ``n`` units fill 4-row tiles. A layer of 7 units would run 4-, 2- and
    1-row tiles, and the last two re-read ``X.T`` for too little arithmetic
    (slower than the axpy form from m = 512; docs/performance.md, "Register tiles")."""
    return _wide() and n % 4 == 0


def _tiles_for_dA_prev(m, dtype):
    """``dA_prev`` on register tiles: on AVX-512, in float32, and in float64 from
    ``TILE_MIN_EXAMPLES_FLOAT64`` examples (at m = 209 the axpy form is as fast)."""
    return _wide() and (dtype is _F32 or m >= TILE_MIN_EXAMPLES_FLOAT64)


def skinny(W, A_prev):
    """True when the layer (``W``, ``A_prev``) runs its products here.

    ``W``: (n, n_prev) C-contiguous float32/float64; ``A_prev``: (n_prev, m) of
    the same dtype in Fortran order (not also C-contiguous: one example).
    """
    n, n_prev = W.shape
    return (
        n <= SKINNY_MAX_UNITS
        and n_prev >= SKINNY_MIN_INPUTS
        and (W.dtype is _F64 or W.dtype is _F32)
        and A_prev.dtype is W.dtype
        and W.flags.c_contiguous
        and A_prev.flags.f_contiguous
        and not A_prev.flags.c_contiguous
    )


def forward(W, A_prev):
    """``W @ A_prev`` as a fresh C-contiguous (n, m) array (``skinny(W, A_prev)``).

    Dot products of example rows (``A_prev.T``, C-contiguous) with rows of
    ``W``, written through the view ``Z.T`` (the inference tile).
    """
    Z = np.empty((W.shape[0], A_prev.shape[1]), dtype=W.dtype)
    W, A_prev = kernel_view(W), kernel_view(A_prev)
    with dispatch.region(Z.size * W.shape[1]) as parallel:
        if parallel:
            K._first_layer_parallel(A_prev.T, W, Z.T, dispatch.work_items())
        else:
            K._first_layer_rows(A_prev.T, W, Z.T, 0, Z.shape[1])
    return Z


def weight_gradient(dZ, A_prev):
    """``dZ @ A_prev.T / m`` (n, n_prev), C-contiguous; ``dZ`` (n, m) C-contiguous.

    Rows of ``A_prev.T`` scaled by ``dZ``'s entries and summed; the ``1 / m``
    is applied after the sum, as in the course's ``1 / m * np.dot(dZ, A_prev.T)``.
    """
    n, m = dZ.shape
    dW = np.empty((n, A_prev.shape[0]), dtype=dZ.dtype)
    tiles = _tiles_for_dW(n, dZ.dtype)
    cols = TILE_ROW_BYTES // dZ.itemsize if tiles else GRAD_BLOCK
    _axpy(dZ, A_prev.T, dW, dZ.dtype.type(1 / m), n, cols, tiles, ahead=True)
    return dW


def input_gradient(W, dZ):
    """``W.T @ dZ`` (n_prev, m), C-contiguous; ``dZ`` (n, m) C-contiguous."""
    m = dZ.shape[1]
    dA_prev = np.empty((W.shape[1], m), dtype=dZ.dtype)
    # Register tiles: whole rows of examples per block (209: 3 tiles of 64 float32 columns).
    tiles = _tiles_for_dA_prev(m, dZ.dtype)
    cols = max(m, 1) if tiles else GRAD_BLOCK
    _axpy(W.T, dZ, dA_prev, dZ.dtype.type(1), _TALL_ROWS, cols, tiles, ahead=False)
    return dA_prev


_NO_UPDATE = {_F64: np.empty((0, 0), _F64), _F32: np.empty((0, 0), _F32)}
"""The kernels' empty ``W``: no update after each block. Writable, as the trainer's
``W1`` is (a read-only array is another type to numba: another compilation);
it has no element to write."""


def _axpy(A, B, C, scale, rows, cols, tiles, ahead, W=None, learning_rate=0.0):
    """C = scale * A @ B in blocks of (rows x cols): ``kernels.tiles`` or ``kernels.products``;
    with ``W``, ``W -= learning_rate * C`` block by block. Returns the number of
    blocks whose part of C holds NaN or inf (counted only with ``W``).

    The tiles reduce over B's rows in chunks that stay in L2 (``TILE_CHUNK_BYTES``)
    and, with ``ahead``, prefetch B's rows (``TILE_AHEAD_BYTES``): where B is
    ``X.T``, read from memory once per call, not where it is the small ``dZ``.

    ``A`` (C or Fortran order) goes to the kernels as its flat buffer and strides,
    so both layouts run one compiled kernel (``kernels.products``).
    """
    a = kernel_view(A.ravel(order="K"))  # a view: A is contiguous in one order or the other
    B = kernel_view(B)
    strides = (A.strides[0] // A.itemsize, A.strides[1] // A.itemsize)
    if W is None:
        W = _NO_UPDATE[C.dtype]
    with dispatch.region(C.size * A.shape[1]) as parallel:
        if tiles:
            kernel = K._tiles_parallel if parallel else K._tiles_rows
            depth = max(1, TILE_CHUNK_BYTES // (min(cols, C.shape[1]) * C.itemsize or 1))
            fetch = TILE_AHEAD_BYTES // C.itemsize if ahead else 0
            return kernel(a, strides, B, C, scale, rows, cols, W, learning_rate, depth, fetch)
        kernel = K._axpy_parallel if parallel else K._axpy_rows
        return kernel(a, strides, B, C, scale, rows, cols, W, learning_rate)


def weight_step(dZ1, X, W1, learning_rate, dW1):
    """The trainer's first-layer weight step: dW1 = dZ1 @ X.T / m into ``dW1``, and
    ``W1 -= learning_rate * dW1`` in place, each block of ``dW1`` updated while in L1.

    For ``skinny(W1, X)`` (``X`` (n_x, m) in Fortran order, so ``X.T`` is
    C-contiguous). The trainer owns its parameters, so it can update ``W1`` in
    place, and it never needs ``dA0``. Work items are blocks of features over all
    units (``GRAD_BLOCK``, or ``TILE_ROW_BYTES`` of them on the tiles), so a block of
    ``X.T`` stays in L2 while the passes over the rows of ``dW1`` re-read it, as in
    ``weight_gradient``. Returns a true value if dW1 holds NaN or inf.
    """
    n, m = dZ1.shape
    tiles = _tiles_for_dW(n, dZ1.dtype)
    scale = dZ1.dtype.type(1 / m)
    cols = TILE_ROW_BYTES // dZ1.itemsize if tiles else GRAD_BLOCK
    return _axpy(dZ1, X.T, dW1, scale, n, cols, tiles, True, W1, learning_rate)
