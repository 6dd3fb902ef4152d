"""Every numba flag and size threshold of fastdnn, in one place.

Kernels import their decorator options from here, so a reader (or a benchmark)
can see and change the compilation policy without hunting through modules.

Policy
------
* ``cache=True`` everywhere numba can keep a cache: compiled machine code is
  written next to the sources (or to ``NUMBA_CACHE_DIR`` / the user cache when the
  package folder is read-only), so a second process loads it instead of
  compiling. The test suite checks this with two real processes. Where no folder
  is writable (a read-only install run by a user without a writable home: a
  hardened container), ``cache=False``: numba would refuse to define a kernel at
  all ("no locator available"); the installed kernels still load
  (``_internal.installed``), and what must compile compiles in memory. The
  decorator options below are therefore built on first use (when the kernels are
  imported), not when this module is: asking numba costs an import of numba.
* ``error_model="numpy"``: division by zero gives inf/NaN instead of raising,
  which removes the per-iteration check that would stop vectorization. The API
  validates before any kernel runs, so the kernels never see a zero ``m``.
* No global ``fastmath``: the sigmoid's range reduction depends on the exact
  order of its operations, and every kernel must see NaN/inf to report them.
  Only the row-sum reduction (``db``) allows re-association, so it vectorizes.
* ``nogil=True``: kernels release the GIL, so Python threads that call
  fastdnn concurrently run in parallel (all but the ``*_tiny`` kernels, whose
  calls are too short to gain from it; see ``TINY``).
"""

_OPTION_NAMES = (
    "SERIAL",
    "TINY",
    "PARALLEL",
    "REDUCTION",
    "SCALAR",
    "DOT",
    "DOT_INLINE",
    "TILES",
    "PARALLEL_DOT",
)
_options = None


def __getattr__(name):
    """The decorator options (``SERIAL``, ...), built on first use by ``_decorator_options``."""
    global _options
    if name in _OPTION_NAMES:
        if _options is None:
            from .numba_internals import can_cache

            _options = _decorator_options(can_cache())
        return _options[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _decorator_options(cache):
    """Every kernel decorator's options, with numba's disk cache on or off (``cache``)."""
    # Options of the serial kernels (the small-array path, and the bodies that
    # the parallel drivers call on each block).
    #
    # ``fastmath=False`` is explicit on purpose: numba compiles a kernel that leaves
    # ``fastmath`` unset with the flags of the first caller that compiles it (flag
    # inheritance), and its disk cache does not key on them. The scalar helpers
    # (``nonfinite``, ``_sgd_span``, ...) were compiled with a fast-math caller's
    # flags and cached, and a later process's NaN checks loaded that copy and
    # stopped seeing NaN.
    SERIAL = dict(cache=cache, nogil=True, error_model="numpy", boundscheck=False, fastmath=False)
    # Options of the ``*_tiny`` kernels: the lean path's kernels again, for arrays
    # under ``TINY_MAX_ELEMENTS``, holding the GIL: releasing and re-taking it is a
    # sizeable part of a call that short (docs/performance.md, "Small calls").
    TINY = dict(SERIAL, nogil=False)
    # Options of the ``prange`` drivers.
    PARALLEL = dict(SERIAL, parallel=True)
    # Options of sum kernels: re-association lets LLVM keep several partial sums
    # in vector registers. Results stay deterministic for a given machine.
    REDUCTION = dict(SERIAL, fastmath={"reassoc", "nsz"})
    # Scalar helpers (``kernels._scalar``): each compiles once and LLVM inlines it
    # into the kernels that call it. numba's own IR-level inlining (``inline="always"``)
    # gave the same machine code and cost more compile time (docs/performance.md,
    # "Compile time").
    SCALAR = dict(SERIAL)
    # Options of the inference dot-product kernels: re-association lets LLVM keep
    # each of a tile's 20 sums in vector registers, contraction gives FMAs. NaN and
    # inf still propagate (no ``nnan``/``ninf``), so non-finite input is caught.
    DOT = dict(SERIAL, fastmath={"reassoc", "nsz", "contract"})
    DOT_INLINE = dict(DOT, inline="always")
    # Options of the register-tile kernels (``kernels.tiles``): contraction for
    # the scalar columns' FMAs, no re-association, so every element of C is the
    # same multiply-add chain whether a vector or a scalar computes it.
    TILES = dict(SERIAL, fastmath={"contract"})
    # Options of the ``prange`` drivers of the dot-product and skinny-product kernels.
    PARALLEL_DOT = dict(PARALLEL, fastmath=DOT["fastmath"])
    return {name: value for name, value in locals().items() if name in _OPTION_NAMES}


TINY_MAX_ELEMENTS = 4096
"""Arrays below this many elements use the ``*_tiny`` kernels: their whole
call is shorter than any useful overlap with another thread."""


PARALLEL_MIN_ELEMENTS = 1 << 20
"""Arrays with fewer elements than this take the serial path.

A region takes microseconds to start and, under OpenMP, its idle workers spin
for milliseconds after it, stealing the cores the next BLAS product needs; a
region that saves less than that spin is a net loss. Figures:
docs/performance.md, "Parallel thresholds"."""

LAYER_PARALLEL_MIN_ELEMENTS = 1 << 24
"""The same for the layer kernels (``Z += b`` and ``A = g(Z)`` right after
``Z = W @ A_prev``; ``dZ`` and ``db`` right before the backward products).
These sit between BLAS calls, whose threads keep spinning after each
product, so a parallel region started there waits for a core; only from
2^24 elements can the work repay the wait. Figures: docs/performance.md,
"Parallel thresholds"."""

BLOCK = 1 << 14
"""Elements per parallel work item in the elementwise kernels (128 KiB of
float64): large enough to amortise scheduling, small enough to balance load."""


DOT_BLOCK = 2048
"""Features per pass of the inference tiles: 4 example rows and 5 weight rows
of 2048 float32 (72 KiB) stay in L1/L2 while a tile's sums accumulate
(docs/performance.md, "Blocking")."""

PREDICT_ROWS = 64
"""Examples per block of the serial inference kernel (and at most per
parallel work item): the block's first-layer sums fit in L1."""

PREDICT_PARALLEL_MIN_MACS = 1 << 22
"""First-layer multiply-adds from which ``Model.predict_proba`` goes parallel
(the cat network: from 18 examples on). numba's OpenMP workers fall asleep
after a few idle tens of milliseconds and the next region waits for them, so
small batches (single requests) run serially: slightly slower back to back,
much faster after a pause (docs/performance.md, "Inference latency").
``n_threads=1`` forces the serial kernel at any size."""

SMALL_PRODUCT_MACS = 1 << 16
"""Matrix products with fewer multiply-adds than this go through
``ndarray.dot`` (the course's call), larger ones through ``np.matmul``. Both
make the same BLAS call with bitwise equal results, but dot skips the gufunc
machinery, while for larger products matmul measured faster, much so with a
transposed left operand (docs/performance.md, "Small calls")."""

SKINNY_MAX_UNITS = 64
SKINNY_MIN_INPUTS = 1024
"""A skinny layer: at most ``SKINNY_MAX_UNITS`` units, at least
``SKINNY_MIN_INPUTS`` inputs (the cat network's first layer, 20 x 12288).
With ``A_prev`` in Fortran order (the course's layout) its three products run
on fastdnn's kernels (``fastdnn.course.products``), in the course API and in
``train``; in C order they stay on OpenBLAS, as the course computes them.
Why the split by layout: ``fastdnn.course.products``; figures: docs/performance.md,
"Skinny products"."""

GRAD_EXAMPLES = 128
GRAD_BLOCK = 512
"""Blocks of the skinny products' axpy form (``kernels.products``): ``GRAD_BLOCK`` features,
``GRAD_EXAMPLES`` examples at a time, so the block of ``X.T`` (512 KiB in
float64) stays in L2 across the passes over the rows of ``dW1`` (the sweep
that chose them: docs/performance.md, "Blocking")."""

TILE_ROW_BYTES = 2048
"""Bytes of each row of C per work item of the register tiles' ``dW`` (``kernels.tiles``):
256 float64 or 512 float32 features, 48 or 24 work items on the cat network."""

TILE_CHUNK_BYTES = 1 << 19
"""Bytes of B per chunk of the register tiles' reduction: ``depth`` rows of the block's
columns, so that the chunk stays in L2 (half of this machine's 1 MiB) while every row
group of C re-reads it. The cat network's ``dW`` (209 x 256 float64, 428 KB) and
``dA0`` (20 rows of dZ) then reduce in one chunk: C is stored once, never re-loaded."""

TILE_AHEAD_BYTES = 512
"""How far ahead along each row of B the first row group of a tile chunk prefetches
(``dW``: rows of ``X.T`` 98 KB apart, too many streams for the hardware prefetchers)."""

TILE_MIN_EXAMPLES_FLOAT64 = 512
"""Examples from which float64 ``dA_prev`` runs on register tiles: at m = 209
the axpy form is as fast, from 512 the tiles measured faster
(docs/performance.md, "Register tiles")."""

INT8_BLOCK = 16384
"""Bytes of each example row per pass of the int8 tiles (``kernels.int8``). The cat
network's rows (12,288 bytes) run whole: each tile then reads 4 long streams, which
the hardware prefetcher follows, and 4 rows (48 KiB) stay in L2 while every group
of 5 units re-reads them. Blocks of 2048 bytes (the tile's 9 rows in L1) measured
slower (docs/performance.md, "int8"). A multiple of 64."""
