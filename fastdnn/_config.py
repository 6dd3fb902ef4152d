"""Every numba flag and size threshold of fastdnn, in one place.

Kernels import their decorator options from here, so a reader (or a benchmark)
can see and change the compilation policy without hunting through modules.

Policy
------
* ``cache=True`` everywhere: compiled machine code is written next to the
  sources (or to ``NUMBA_CACHE_DIR`` / the user cache when the package folder
  is read-only), so a second process loads it instead of compiling. The test
  suite checks this with two real processes.
* ``error_model="numpy"``: division by zero gives inf/NaN instead of raising,
  which removes the per-iteration check that would stop vectorization. The API
  validates before any kernel runs, so the kernels never see a zero ``m``.
* No global ``fastmath``: the sigmoid's range reduction depends on the exact
  order of its operations, and every kernel must see NaN/inf to report them.
  Only the row-sum reduction (``db``) allows re-association, so it vectorizes.
* ``nogil=True``: kernels release the GIL, so Python threads that call
  fastdnn concurrently run in parallel (all but the ``*_tiny`` kernels, whose
  calls last about a microsecond; see ``TINY``).
"""

SERIAL = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)
"""Options of the serial kernels (the small-array path, and the bodies that
the parallel drivers call on each block)."""

TINY = dict(SERIAL, nogil=False)
"""Options of the ``*_tiny`` kernels: the lean path's kernels again, for arrays
under ``TINY_MAX_ELEMENTS``, holding the GIL. Releasing and re-taking it costs
about 50 ns per call, a sixth of the kernel call on the course's 3x2 arrays,
while the whole call is shorter than any useful overlap with another thread."""

TINY_MAX_ELEMENTS = 4096
"""Arrays below this many elements use the ``*_tiny`` kernels (a ReLU of 4,096
float64 elements takes about 1 us)."""

PARALLEL = dict(SERIAL, parallel=True)
"""Options of the ``prange`` drivers."""

REDUCTION = dict(SERIAL, fastmath={"reassoc", "nsz"})
"""Options of sum kernels: re-association lets LLVM keep several partial sums
in vector registers. Results stay deterministic for a given machine."""

INLINE = dict(SERIAL, inline="always")
"""Scalar helpers inlined at numba's IR level into every kernel that uses them."""

PARALLEL_MIN_ELEMENTS = 1 << 20
"""Arrays with fewer elements than this take the serial path.

Two costs set this. A parallel region takes microseconds to start. Worse,
with numba's OpenMP threading layer the idle workers keep spinning for
milliseconds after each region (libgomp's active wait), and on a machine
with few cores they steal the cores that the next BLAS product needs: with a
threshold of 65,536 elements the cat network's training step took 9.2 ms
instead of 3.9 ms on 2 cores. A region that saves less than that spin is a
net loss, so only arrays of about a million elements (several milliseconds
of work) go parallel. ``python -m benchmarks`` reports the spin check."""

LAYER_PARALLEL_MIN_ELEMENTS = 1 << 24
"""The same for the layer kernels (``Z += b`` and ``A = g(Z)`` right after
``Z = W @ A_prev``; ``dZ`` and ``db`` right before the backward products).
These sit between BLAS calls, and OpenBLAS's threads keep spinning after
each product, so a numba parallel region started there waits for a core.
Measured on 2 cores, product plus kernel, medians of 7 (ms, parallel against
serial): float32 4096x512 output identity 8.0 / 2.7, relu 8.0 / 3.3, sigmoid
8.0 / 3.9; float64 8.6 / 5.2, 14.2 / 11.5, 19.3 / 13.7; at 4096x2048
serial still won five of six, at 4096x4096 (2^24) the two were within 10%.
So layers go parallel only from 2^24 elements, where the work can repay the
wait on machines with more cores."""

BLOCK = 1 << 14
"""Elements per parallel work item in the elementwise kernels (128 KiB of
float64): large enough to amortise scheduling, small enough to balance load."""

DOT = dict(SERIAL, fastmath={"reassoc", "nsz", "contract"})
"""Options of the inference dot-product kernels: re-association lets LLVM keep
each of a tile's 20 sums in vector registers, contraction gives FMAs. NaN and
inf still propagate (no ``nnan``/``ninf``), so non-finite input is caught."""

DOT_INLINE = dict(DOT, inline="always")

PARALLEL_DOT = dict(PARALLEL, fastmath=DOT["fastmath"])
"""Options of the ``prange`` drivers of the dot-product and skinny-product kernels."""

DOT_BLOCK = 2048
"""Features per pass of the inference tiles: 4 example rows and 5 weight rows
of 2048 float32 (72 KiB) stay in L1/L2 while a tile's sums accumulate
(measured on the cat network's first layer, 8192 examples: 34 ms against
44 ms for one pass over all 12,288 features)."""

PREDICT_ROWS = 64
"""Examples per block of the serial inference kernel (and at most per
parallel work item): the block's first-layer sums fit in L1."""

PREDICT_PARALLEL_MIN_MACS = 1 << 22
"""First-layer multiply-adds from which ``Model.predict_proba`` goes parallel
(the cat network: from 18 examples on). numba's OpenMP workers fall asleep
when no parallel region ran for a few tens of milliseconds, and the next
region then waits milliseconds for them: float32 cat network on 2 cores,
medians of 9, each call after 200 ms idle (back to back in brackets):
m = 1 parallel 0.9-7.1 ms (0.021), serial 0.22 ms (0.023-0.035); m = 16
parallel 4.8-7.1 ms (0.080), serial 0.32-0.36 ms (0.10-0.12); m = 209
parallel 7.7 ms (0.68), serial 2.0 ms (1.24). So small batches, the
single-request latency case, run serially: a few microseconds slower back
to back, milliseconds faster after a pause. (Was 2^17, from one example on.)
``n_threads=1`` forces the serial kernel at any size."""

SMALL_PRODUCT_MACS = 1 << 16
"""Matrix products with fewer multiply-adds than this go through
``ndarray.dot`` (the course's call), larger ones through ``np.matmul``. Both
make the same BLAS call with bitwise equal results, but dot skips the gufunc
machinery (0.35-0.5 us less per call: 1x3 @ 3x2 0.32 against 0.66 us), while
for larger products matmul measured faster, much so with a transposed left
operand (``W.T @ dZ``, 20x12288 layer at m = 209: 1.41 against 2.37 ms in
float64, 0.66 against 1.10 ms in float32; 7x20 at m = 209, 29,260 MACs: dot
0.3-0.4 us faster in every orientation)."""

SKINNY_MAX_UNITS = 64
SKINNY_MIN_INPUTS = 1024
"""A skinny layer: at most ``SKINNY_MAX_UNITS`` units, at least
``SKINNY_MIN_INPUTS`` inputs (the cat network's first layer, 20 x 12288).
With ``A_prev`` in Fortran order (the course's layout) its three products run
on fastdnn's kernels (``fastdnn.products``), in the course API and in
``train``; in C order they stay on OpenBLAS, and a float32 ``Z`` is computed
as ``(A_prev.T @ W.T).T``, the orientation OpenBLAS's sgemm runs faster
(first layer alone 1.05 -> 0.86 ms at m = 209). Why the split by layout:
``fastdnn.products``; figures: CHANGELOG and ``benchmarks/results``."""

GRAD_EXAMPLES = 128
GRAD_BLOCK = 512
"""Blocks of the skinny products' axpy form (``kernels.products``): ``GRAD_BLOCK`` features,
``GRAD_EXAMPLES`` examples at a time, so the block of ``X.T`` (512 KiB in
float64) stays in L2 across the passes over the rows of ``dW1``. Without the
examples blocking, m = 2048 read the block from L3 on every pass (32 against
OpenBLAS's 17 ms for the product alone; 21-23 with it). Sweep of the whole
training step (ms, float64 m = 209 / 2048, float32 m = 209 / 2048; two runs
each): 512 x 128 3.05-3.32 / 34.3-35.9, 1.67-1.83 / 16.3-17.9; 512 x 256
3.11-3.27 / 35.4-38.2, 1.80-1.91 / 17.3-18.4; 256 x 256, 1024 x 128,
1024 x 256, 768 x 128, 512 x 64, 512 x 512 and 256 x 512 no better."""
