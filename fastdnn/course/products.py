"""The three products of a skinny layer, on fastdnn's kernels instead of OpenBLAS,
and the trainer's fused first-layer weight step (``weight_step``).

A layer is skinny when it has at most ``SKINNY_MAX_UNITS`` units and at least
``SKINNY_MIN_INPUTS`` inputs (``sizes.skinny_shape``: the cat network's first layer,
20 x 12288, and the two-layer network's 7 x 12288). With ``A_prev`` in Fortran order (the
course's ``reshape(m, -1).T / 255``), ``Z = W @ A_prev``,
``dW = dZ @ A_prev.T / m`` and ``dA_prev = W.T @ dZ`` all run on
``kernels.products``: OpenBLAS runs these shapes at a fraction of its speed,
and a step that mixes OpenBLAS's threads with numba's pays for both pools
spinning. ``A_prev`` in C order keeps all three on BLAS, where OpenBLAS is the
faster (figures: docs/performance.md, "Skinny products").

``linear_forward`` and ``linear_backward`` (and everything above them) call
these, so a notebook's own loop gets the speed. How each product runs (the
register tiles of ``kernels.tiles`` or the loop-vectorized axpy form, block
and chunk sizes, the parallel split) is a variant of its family (``dW``,
``dA_prev``, ``forward``) chosen by measurement on this CPU
(``_internal.variants``); the default rule, which a variant must beat, is the
tiles on AVX-512 where they measured faster (docs/performance.md, "Register
tiles"), the axpy form elsewhere. Results equal the course's products to
rounding (sums in another order), run to run and serial against parallel bit
for bit.
"""

import numpy as np

from .._internal import dispatch, variants
from .._internal.lazy import kernels as K
from .._internal.validation import _F32, _F64, kernel_view
from . import sizes

_TRIAL_EXAMPLES = 1024
_TRIAL_INPUTS = 16384
"""A calibration's arrays: the call's shape with at most this many examples and
inputs, so that a trial takes milliseconds (``_internal.variants``)."""

_wide_vectors = None


def _wide():
    """Whether the kernels run on AVX-512 (the default rule's question; a property
    of the loaded kernels' level, asked once: it imports numba)."""
    global _wide_vectors
    if _wide_vectors is None:
        from .._internal.simd import wide_vectors

        _wide_vectors = wide_vectors()
    return _wide_vectors


def _threads(size):
    """The key's thread count: numba's for a call that goes parallel, else 0."""
    if not sizes.parallel(size):
        return 0
    import numba

    return numba.get_num_threads()


def _key(family, dtype, n, n_prev, m):
    return variants.key(family, dtype, n, n_prev, m, _threads(n * n_prev * m))


def dW_variant(n, n_prev, m, dtype):
    """The ``dW`` family's variant for an (n, n_prev) layer on m examples (and the trial
    that calibrates it: the product on synthetic arrays of that shape)."""
    return _variant("dW", _DWTrial, n, n_prev, m, dtype)


def dA_prev_variant(n, n_prev, m, dtype):
    """The ``dA_prev`` family's variant (as ``dW_variant``)."""
    return _variant("dA_prev", _DATrial, n, n_prev, m, dtype)


def forward_variant(n, n_prev, m, dtype):
    """The ``forward`` family's variant (its split) for a parallel call."""
    return _variant("forward", _ZTrial, n, n_prev, m, dtype)


def _variant(family, trial, n, n_prev, m, dtype):
    k = _key(family, dtype, n, n_prev, m)
    default = variants.default(family, dtype, n, m, _wide())
    return variants.choose(k, default, trial(k, n_prev, m), _wide())


def forms(family, n, n_prev, m, dtype):
    """The forms (True: register tiles) that ``family``'s calls of this shape may run
    from now on: the plans compile these (``course.plans.skinny_products``)."""
    k = _key(family, np.dtype(dtype), n, n_prev, m)
    default = variants.default(family, np.dtype(dtype), n, m, _wide())
    return sorted({v.tiles for v in variants.candidates(k, default, _wide())})


class _Trial:
    """A calibration's runs for the call of key ``k`` (``_internal.variants.calibrate``):
    synthetic arrays of the call's shape (at most ``_TRIAL_INPUTS`` inputs and
    ``_TRIAL_EXAMPLES`` examples), allocated on the first run."""

    def __init__(self, k, n_prev, m):
        self.k, self.n_prev, self.m = k, n_prev, m
        self.arrays = None

    def __call__(self, variant):
        if self.arrays is None:
            n_prev, m = min(self.n_prev, _TRIAL_INPUTS), min(self.m, _TRIAL_EXAMPLES)
            self.arrays = self.allocate(np.dtype(self.k[1]), self.k[2], n_prev, m)
        self.run(variant, bool(self.k[5]), *self.arrays)


class _DWTrial(_Trial):
    def allocate(self, dtype, n, n_prev, m):
        XT = np.full((m, n_prev), 0.25, dtype)
        return np.full((n, m), 0.5, dtype), XT, np.empty((n, n_prev), dtype)

    def run(self, variant, parallel, dZ, XT, dW):
        _axpy_kernel(parallel, variant, dZ, XT, dW, dZ.dtype.type(1), dZ.shape[0], True)


class _DATrial(_Trial):
    def allocate(self, dtype, n, n_prev, m):
        W = np.full((n, n_prev), 0.25, dtype)
        return W, np.full((n, m), 0.5, dtype), np.empty((n_prev, m), dtype)

    def run(self, variant, parallel, W, dZ, dA_prev):
        _axpy_kernel(parallel, variant, W.T, dZ, dA_prev, dZ.dtype.type(1), variant.rows, False)


class _ZTrial(_Trial):
    def allocate(self, dtype, n, n_prev, m):
        W = np.full((n, n_prev), 0.25, dtype)
        return W, np.full((m, n_prev), 0.5, dtype), np.empty((n, m), dtype)

    def run(self, variant, parallel, W, XT, Z):
        K._first_layer_parallel(XT, W, Z.T, dispatch.work_items(variant.items))


def skinny(W, A_prev):
    """True when the layer (``W``, ``A_prev``) runs its products here.

    ``W``: (n, n_prev) C-contiguous float32/float64; ``A_prev``: (n_prev, m) of
    the same dtype in Fortran order (not also C-contiguous: one example).
    """
    n, n_prev = W.shape
    return (
        sizes.skinny_shape(n, n_prev)
        and (W.dtype is _F64 or W.dtype is _F32)
        and A_prev.dtype is W.dtype
        and W.flags.c_contiguous
        and A_prev.flags.f_contiguous
        and not A_prev.flags.c_contiguous
    )


def forward(W, A_prev):
    """``W @ A_prev`` as a fresh C-contiguous (n, m) array (``skinny(W, A_prev)``).

    Dot products of example rows (``A_prev.T``, C-contiguous) with rows of
    ``W``, written through the view ``Z.T`` (the inference tile); in parallel,
    split as the ``forward`` family's variant says.
    """
    (n, n_prev), m = W.shape, A_prev.shape[1]
    Z = np.empty((n, m), dtype=W.dtype)
    items = 0
    if sizes.parallel(n * n_prev * m):
        items = dispatch.work_items(forward_variant(n, n_prev, m, W.dtype).items)
    W, A_prev = kernel_view(W), kernel_view(A_prev)
    with dispatch.region(Z.size * n_prev) as parallel:
        if parallel:
            K._first_layer_parallel(A_prev.T, W, Z.T, items)
        else:
            K._first_layer_rows(A_prev.T, W, Z.T, 0, m)
    return Z


def weight_gradient(dZ, A_prev):
    """``dZ @ A_prev.T / m`` (n, n_prev), C-contiguous; ``dZ`` (n, m) C-contiguous.

    Rows of ``A_prev.T`` scaled by ``dZ``'s entries and summed; the ``1 / m``
    is applied after the sum, as in the course's ``1 / m * np.dot(dZ, A_prev.T)``.
    """
    n, m = dZ.shape
    dW = np.empty((n, A_prev.shape[0]), dtype=dZ.dtype)
    variant = dW_variant(n, A_prev.shape[0], m, dZ.dtype)
    _axpy(dZ, A_prev.T, dW, dZ.dtype.type(1 / m), n, variant, ahead=True)
    return dW


def input_gradient(W, dZ):
    """``W.T @ dZ`` (n_prev, m), C-contiguous; ``dZ`` (n, m) C-contiguous."""
    (n, n_prev), m = W.shape, dZ.shape[1]
    dA_prev = np.empty((n_prev, m), dtype=dZ.dtype)
    variant = dA_prev_variant(n, n_prev, m, dZ.dtype)
    _axpy(W.T, dZ, dA_prev, dZ.dtype.type(1), variant.rows, variant, ahead=False)
    return dA_prev


_NO_UPDATE = {_F64: np.empty((0, 0), _F64), _F32: np.empty((0, 0), _F32)}
"""The kernels' empty ``W``: no update after each block. Writable, as the trainer's
``W1`` is (a read-only array is another type to numba: another compilation);
it has no element to write."""


def _axpy(A, B, C, scale, rows, variant, ahead, W=None, learning_rate=0.0):
    """C = scale * A @ B in blocks of ``rows`` rows, by ``variant`` (its form and
    sizes); with ``W``, ``W -= learning_rate * C`` block by block. Returns the number
    of blocks whose part of C holds NaN or inf (counted only with ``W``)."""
    with dispatch.region(C.size * A.shape[1]) as parallel:
        return _axpy_kernel(parallel, variant, A, B, C, scale, rows, ahead, W, learning_rate)


def _axpy_kernel(parallel, variant, A, B, C, scale, rows, ahead, W=None, learning_rate=0.0):
    """``_axpy``'s kernel call, serial or ``parallel`` (the caller holds the region).

    The tiles (``variant.tiles``) reduce over B's rows in chunks that stay in L2
    (``variant.depth_bytes``) and, with ``ahead``, prefetch B's rows
    (``variant.ahead_bytes``): where B is ``X.T``, read from memory once per call,
    not where it is the small ``dZ``. ``A`` (C or Fortran order) goes to the
    kernels as its flat buffer and strides, so both layouts run one compiled
    kernel (``kernels.products``).
    """
    a = kernel_view(A.ravel(order="K"))  # a view: A is contiguous in one order or the other
    B = kernel_view(B)
    strides = (A.strides[0] // A.itemsize, A.strides[1] // A.itemsize)
    if W is None:
        W = _NO_UPDATE[C.dtype]
    N = C.shape[1]
    if variant.tiles:
        cols = variant.block // C.itemsize if variant.block else max(N, 1)
        kernel = K._tiles_parallel if parallel else K._tiles_rows
        depth = max(1, variant.depth_bytes // (min(cols, N) * C.itemsize or 1))
        fetch = variant.ahead_bytes // C.itemsize if ahead else 0
        return kernel(a, strides, B, C, scale, rows, cols, W, learning_rate, depth, fetch)
    kernel = K._axpy_parallel if parallel else K._axpy_rows
    return kernel(a, strides, B, C, scale, rows, variant.block or max(N, 1), W, learning_rate)


def weight_step(dZ1, X, W1, learning_rate, dW1):
    """The trainer's first-layer weight step: dW1 = dZ1 @ X.T / m into ``dW1``, and
    ``W1 -= learning_rate * dW1`` in place, each block of ``dW1`` updated while in L1.

    For ``skinny(W1, X)`` (``X`` (n_x, m) in Fortran order, so ``X.T`` is
    C-contiguous). The trainer owns its parameters, so it can update ``W1`` in
    place, and it never needs ``dA0``. Work items are blocks of features over all
    units (the ``dW`` family's variant's), so a block of ``X.T`` stays in L2 while
    the passes over the rows of ``dW1`` re-read it, as in ``weight_gradient``.
    Returns a true value if dW1 holds NaN or inf.
    """
    n, m = dZ1.shape
    variant = dW_variant(n, X.shape[0], m, dZ1.dtype)
    scale = dZ1.dtype.type(1 / m)
    return _axpy(dZ1, X.T, dW1, scale, n, variant, True, W1, learning_rate)
