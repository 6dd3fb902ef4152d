"""Which kernel form a size chooses, for the course API and the trainer: each decision once.

The plans that compile kernels ahead (``plans``) and ``products`` ask these, so a
plan lists what a call runs by the same rule, and ``plans`` reads no threshold. They
live below the API modules rather than beside each kernel call because the course
API's first skinny call ensures its step's plan from inside ``forward`` and
``backward``: a plan built from functions in those modules would be an import cycle.

Where a call is a few microseconds, the API modules compare inline instead, each
comparison marked with the function here that it mirrors: a function call per decision
is a measurable part of a small layer's time (docs/performance.md, "Small calls"), as
it was for ``dnn_utils``' elementwise tiers. The tests hold the two together: every
plan, ensured, leaves its path nothing to compile (``tests/test_precompile.py``).
"""

from .._internal.config import (
    LAYER_PARALLEL_MIN_ELEMENTS,
    SKINNY_MAX_UNITS,
    SKINNY_MIN_INPUTS,
    SMALL_PRODUCT_MACS,
    TINY_MAX_ELEMENTS,
)
from .._internal.dispatch import parallel_size

TINY, SERIAL, PARALLEL = "tiny", "serial", "parallel"
"""A layer kernel's forms: the ``*_tiny`` kernel holding the GIL, one serial call on
whole arrays, the ``prange`` driver on flat views."""


def bias_activation_form(size):
    """``forward.bias_activation``'s form for ``size`` elements of Z."""
    if size < TINY_MAX_ELEMENTS:
        return TINY
    return SERIAL if size < LAYER_PARALLEL_MIN_ELEMENTS else PARALLEL


def dZ_db_form(size):
    """``backward.dZ_db``'s (and ``row_means``') form for ``size`` elements of dZ: no
    tiny form (one fused pass of two outputs)."""
    return SERIAL if size < LAYER_PARALLEL_MIN_ELEMENTS else PARALLEL


def parallel(size):
    """Whether a call of ``size`` elements of work may take the parallel region
    (``dispatch.region``'s threshold; another thread in a region makes it serial, a
    fallback that compiles on its first use, not ahead)."""
    return parallel_size(size)


def skinny_shape(n, n_prev):
    """Whether an (n, n_prev) layer is skinny: at most ``SKINNY_MAX_UNITS`` units, at
    least ``SKINNY_MIN_INPUTS`` inputs (its products run on ``course.products`` when
    ``A_prev`` is also in Fortran order: ``products.skinny``)."""
    return n <= SKINNY_MAX_UNITS and n_prev >= SKINNY_MIN_INPUTS


def skinny(n, n_prev, m, fortran):
    """``products.skinny`` from shapes: ``fortran`` says A_prev is in Fortran order
    (and, with ``m > 1``, not also in C order)."""
    return skinny_shape(n, n_prev) and fortran and m > 1


def small_product(macs):
    """Whether a BLAS product of ``macs`` multiply-adds goes through ``ndarray.dot``
    (one call less than ``np.matmul``; ``_internal.config.SMALL_PRODUCT_MACS``)."""
    return macs < SMALL_PRODUCT_MACS
