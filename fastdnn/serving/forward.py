"""A ``Model``'s weights through the inference kernels: which kernel, on which thread,
and the errors they report (``fastdnn.kernels.inference``, ``fastdnn.kernels.int8``)."""

import contextlib

import numpy as np

from .._internal import dispatch, variants
from .._internal.config import PREDICT_PARALLEL_MIN_MACS
from .._internal.lazy import kernels as K
from .._internal.threads import threads
from .._internal.validation import kernel_view, whole_number


def proba(model, X, parallel, where, first):
    """P (n_L, m) for X (n_x, m) in the model's dtype, C or Fortran order
    (an int8 model's: Fortran order)."""
    if model._int8 is not None:
        return proba_int8(model, X, None, parallel, where, first)
    n_L, m = model.layer_dims[-1], X.shape[1]
    PT = np.empty((m, n_L), dtype=model.dtype)
    X = kernel_view(X)  # a read-only X runs the installed kernels too
    if X.flags.f_contiguous:
        args = (X.T, model._W1, model._theta, model._dims, model._offsets, PT)
        size = X.size * model.layer_dims[1] if parallel else 0
        items = _items(model, m, size)
        bad = _dispatched(K._predict_parallel, K._predict_rows, args, m, size, items=items)
    else:
        # C order: one BLAS product for layer 1 beats copying X to examples-as-rows.
        # W1 @ X, not X.T @ W1.T: the faster orientation (docs/performance.md).
        Z1 = np.ascontiguousarray(np.matmul(model._W1, X).T)
        bad = K._head_rows(Z1, model._theta, model._dims, model._offsets, PT, 0, m)
    return _probabilities(PT, bad, X, where, first)


def proba_int8(model, X, scale, parallel, where, first):
    """P (n_L, m) by the int8 kernels for X (n_x, m) in Fortran order: uint8 X
    standing for ``X * scale``, or float32 X (``scale`` None) quantized per example."""
    W1q, w_sum, unit_scale = model._int8
    n_L, m = model.layer_dims[-1], X.shape[1]
    X = kernel_view(X)  # a read-only X runs the installed kernels too
    PT = np.empty((m, n_L), dtype=np.float32)
    weights = (model._theta, model._dims, model._offsets, PT)
    if X.dtype == np.uint8:
        kernels = (K._int8_u8_parallel, K._int8_u8_rows)
        args = (X.T, W1q, w_sum, unit_scale, np.float32(scale), *weights)
    else:
        kernels = (K._int8_float_parallel, K._int8_float_rows)
        args = (X.T, W1q, w_sum, unit_scale, *weights)
    size = X.size * model.layer_dims[1] if parallel else 0
    bad = _dispatched(*kernels, args, m, size, tiles=(model._int8_tiles,))
    return _probabilities(PT, bad, X, where, first)


def _items(model, m, size):
    """The parallel kernel's work items: the ``predict`` family's variant's split for
    this model and batch (``_internal.variants``), or 0 for a serial call."""
    if size < PREDICT_PARALLEL_MIN_MACS:
        return 0
    import numba

    n1, n_x = model._W1.shape
    k = variants.key("predict", model.dtype, n1, n_x, m, numba.get_num_threads())
    trial = _PredictTrial(model, min(m, _TRIAL_EXAMPLES))
    return dispatch.work_items(variants.choose(k, "split4", trial).items)


_TRIAL_EXAMPLES = 1024
"""A ``predict`` calibration's batch: the call's, at most this many examples."""


class _PredictTrial:
    """A ``predict`` calibration's runs: the model's own weights on a synthetic batch."""

    def __init__(self, model, m):
        self.model, self.m, self.XT = model, m, None

    def __call__(self, variant):
        model = self.model
        if self.XT is None:
            self.XT = np.full((self.m, model.layer_dims[0]), 0.5, model.dtype)
            self.PT = np.empty((self.m, model.layer_dims[-1]), model.dtype)
        weights = (model._W1, model._theta, model._dims, model._offsets, self.PT)
        K._predict_parallel(self.XT, *weights, dispatch.work_items(variant.items))


def _dispatched(parallel_kernel, rows_kernel, args, m, size, tiles=(), items=None):
    """A forward kernel pair on ``args``: the parallel one when ``size`` first-layer
    multiply-adds reach the threshold and no other thread holds the parallel region
    (``_internal.dispatch``), else the serial one on examples [0, m). Returns its
    non-finite flag; ``tiles`` are the int8 kernels' last argument; ``items`` the
    parallel kernel's work items (default: 4 per thread)."""
    with dispatch.region(size, PREDICT_PARALLEL_MIN_MACS) as in_region:
        if in_region:
            bad = parallel_kernel(*args, items or dispatch.work_items(), *tiles)
    if not in_region:
        bad = rows_kernel(*args, 0, m, *tiles)
    return bad


def _probabilities(PT, bad, X, where, first):
    """P (n_L, m) from the kernels' (m, n_L) output, or the error naming a non-finite input."""
    if bad:
        raise_nonfinite(X, where, first)
    return PT.T.copy() if PT.shape[1] > 1 else PT.reshape(1, PT.shape[0])


def check_scale(scale, where):
    if scale is None:
        return
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: scale must be a number; got {type(scale).__name__}")
    if not np.isfinite(scale):
        raise ValueError(f"{where}: scale must be finite; got {scale}")


def thread_scope(n_threads, where):
    """(parallel allowed, context manager that applies ``n_threads`` to this thread)."""
    if n_threads is None:
        return True, contextlib.nullcontext()
    if whole_number(n_threads, "n_threads", where) == 1:
        return False, contextlib.nullcontext()
    import numba

    return True, threads(min(int(n_threads), numba.config.NUMBA_NUM_THREADS))


def raise_nonfinite(X, where, first):
    bad_columns = np.flatnonzero(~np.isfinite(X).all(axis=0))
    if bad_columns.size:
        j = int(bad_columns[0])
        row = int(np.flatnonzero(~np.isfinite(X[:, j]))[0])
        raise ValueError(
            f"{where}: X contains NaN or inf in example {first + j} (feature {row}, "
            f"value {X[row, j]}); {bad_columns.size} example(s) affected in this chunk"
        )
    raise ValueError(
        f"{where}: the output overflowed to inf or NaN although X is finite; its values are too large"
    )


def kernel_plan(dtype):
    """The inference kernels a ``Model`` of ``dtype`` runs, with their argument types
    (``_internal.precompile``; ``fastdnn.warmup``): serial and parallel on X in
    Fortran order, and the later layers after BLAS's first layer (X in C order);
    for float32, also those of its ``quantize()``d model (uint8 and float32 X)."""
    import numba
    from numba import types

    from .._internal.precompile import entry

    f = numba.from_dtype(np.dtype(dtype))
    i = numba.typeof(1)
    C2 = types.Array(f, 2, "C")
    theta = types.Array(f, 1, "C", readonly=True)  # a model's weights are read-only
    W1 = types.Array(f, 2, "C", readonly=True)
    ints = types.Array(types.int64, 1, "C")
    model = (theta, ints, ints, C2)  # theta, dims, offsets, P.T
    plan = [
        entry("_predict_rows", C2, W1, *model, i, i, weight=1.5),
        entry("_predict_parallel", C2, W1, *model, i, weight=3.5),
        entry("_head_rows", C2, *model, i, i),
    ]
    if np.dtype(dtype) != np.float32:
        return plan
    readonly = lambda t, n: types.Array(t, n, "C", readonly=True)  # noqa: E731
    int8 = (readonly(types.int8, 2), readonly(types.int32, 1), readonly(f, 1))  # W1q, w_sum, scales
    u8 = (types.Array(types.uint8, 2, "C"), *int8, f, *model)
    floats = (C2, *int8, *model)
    b = types.boolean
    return plan + [
        entry("_int8_u8_rows", *u8, i, i, b, weight=1.5),
        entry("_int8_u8_parallel", *u8, i, b, weight=2.5),
        entry("_int8_float_rows", *floats, i, i, b, weight=1.5),
        entry("_int8_float_parallel", *floats, i, b, weight=2.5),
    ]
