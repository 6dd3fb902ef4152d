"""Which kernels a call path runs, with their argument types: plans for ``_internal.precompile``.

Each function lists the kernels of the API code it names, asking the same size
decisions that code asks (``course.sizes``: one function each, for the call and its
plan), so that the kernels of a whole training step compile together, in parallel,
before the step's first call, instead of one after another as each is first met. Only
what the sizes reach is listed: a layer that never goes parallel does not
compile the parallel driver. The tests check each plan against its path by
counting numba's compilations after ``precompile.ensure`` (there must be none).

Argument types are numba's: ``Array(float64, 2, 'C')`` for a C-contiguous
matrix of the dtype, Python ints as ``int64``, Python floats (the learning
rate) as ``float64``, the products' scales in the arrays' dtype.
"""

import functools

import numpy as np

from .._internal import precompile
from .._internal.config import SKINNY_MIN_INPUTS
from .._internal.precompile import entry
from . import products
from .sizes import SERIAL, TINY, bias_activation_form, dZ_db_form, parallel, skinny

# Relative compile costs (the first-run benchmark's per-kernel table,
# benchmarks/results/first_run.txt): they only balance the entries over the worker
# processes. Unlisted kernels count as small (precompile.entry's default).
_AXPY_DRIVER = 7.0  # _axpy_parallel (its serial form: _AXPY_BLOCK); the tiles alike
_AXPY_BLOCK = 4.5
_DOT_DRIVER = 3.5  # _first_layer_parallel (its serial form: _DOT_BLOCK)
_DOT_BLOCK = 1.3
_LAYER = 1.0  # the fused layer kernels' serial forms (their prange drivers: _LAYER_DRIVER)
_LAYER_DRIVER = 2.0


class _Types:
    """The numba types the kernels take, for one dtype."""

    def __init__(self, dtype):
        import numba
        from numba import types

        self.dtype = np.dtype(dtype)
        self.f = numba.from_dtype(self.dtype)
        self.C1 = types.Array(self.f, 1, "C")
        self.C2 = types.Array(self.f, 2, "C")
        self.F2 = types.Array(self.f, 2, "F")
        self.i = numba.typeof(1)
        self.lr = numba.typeof(1.0)
        self.strides = types.UniTuple(self.i, 2)


def bias_activation(T, size):
    """``course.forward.bias_activation`` with ReLU or sigmoid, on ``size`` elements."""
    form = bias_activation_form(size)
    if form is TINY:
        return [entry("_bias_activation_tiny", T.C2, T.C2, T.C2, T.i)]
    if form is SERIAL:
        return [entry("_bias_activation_into", T.C2, T.C2, T.C2, T.i, weight=_LAYER)]
    return [entry("_bias_activation_parallel", T.C1, T.C1, T.C1, T.i, T.i, weight=_LAYER_DRIVER)]


def dZ_db(T, size, identity=False):
    """``course.backward.dZ_db`` on ``size`` elements (``identity``: ``row_means``)."""
    serial = dZ_db_form(size) is SERIAL
    if identity:
        if serial:
            return [entry("_row_means_into", T.C2, T.C2)]
        return [entry("_row_means_parallel", T.C1, T.C1, T.i, weight=_LAYER_DRIVER)]
    if serial:
        return [entry("_activation_backward_db_into", *[T.C2] * 4, T.i, weight=_LAYER)]
    return [
        entry("_activation_backward_db_parallel", *[T.C1] * 4, T.i, T.i, weight=_LAYER_DRIVER),
    ]


def cost(T, size):
    """``course.cost.compute_cost`` on ``size`` elements of AL."""
    if parallel(size):
        return [entry("_cross_entropy_parallel", T.C1, T.C1, weight=_LAYER_DRIVER)]
    return [entry("_cross_entropy_span", T.C1, T.C1, T.i, T.i)]


def sgd(T, size):
    """``course.update.sgd_step`` (and the trainer's in-place update) on ``size`` elements."""
    if parallel(size):
        return [entry("_sgd_parallel", T.C1, T.C1, T.lr, T.C1)]
    return [entry("_sgd_span", T.C1, T.C1, T.lr, T.C1, T.i, T.i)]


def skinny_products(T, n, n_x, m, dW=True, dA_prev=True, weight_step=False, every_form=None):
    """``course.products``: ``forward`` and, as asked, ``weight_gradient``,
    ``input_gradient`` and ``weight_step`` for an (n, n_x) layer on m examples, in
    the forms their variants may take (``products.forms``: the chosen one, or all
    that a calibration tries), or, given ``every_form`` (whether the level has
    AVX-512), every form a calibration there may try (``every_kernel``)."""
    in_region = parallel(n * n_x * m)  # every product's region: C.size * A.shape[1]
    if in_region:
        out = [entry("_first_layer_parallel", T.C2, T.C2, T.F2, T.i, weight=_DOT_DRIVER)]
    else:
        out = [entry("_first_layer_rows", T.C2, T.C2, T.F2, T.i, T.i, weight=_DOT_BLOCK)]
    if every_form is not None:
        forms = {False, True} if every_form else {False}  # variants.usable
    else:
        forms = set()
        if dW or weight_step:
            forms.update(products.forms("dW", n, n_x, m, T.dtype))
        if dA_prev:
            forms.update(products.forms("dA_prev", n, n_x, m, T.dtype))
    for tiles in sorted(forms):
        name = ("_tiles" if tiles else "_axpy") + ("_parallel" if in_region else "_rows")
        depth_ahead = (T.i, T.i) if tiles else ()  # the tiles' chunk depth and prefetch
        out.append(
            entry(
                name,
                *(T.C1, T.strides, T.C2, T.C2, T.f, T.i, T.i, T.C2, T.lr, *depth_ahead),
                weight=_AXPY_DRIVER if in_region else _AXPY_BLOCK,
            )
        )
    return out


def course_step(dtype, dims, m, fortran):
    """A step of the notebook's ``L_layer_model`` loop through the course API
    (``L_model_forward``, ``compute_cost``, ``L_model_backward``,
    ``update_parameters``) for ``layer_dims`` ``dims`` on ``m`` examples;
    ``fortran``: X in Fortran order (the notebook's)."""
    T = _Types(dtype)
    plan = []
    for l in range(1, len(dims)):
        n, n_prev = dims[l], dims[l - 1]
        if l == 1 and skinny(n, n_prev, m, fortran):
            plan += skinny_products(T, n, n_prev, m)
        plan += bias_activation(T, n * m) + dZ_db(T, n * m)
        plan += sgd(T, n * n_prev) + sgd(T, n)
    plan += cost(T, dims[-1] * m) + [entry("_cross_entropy_dAL", T.C1, T.C1, T.C1)]
    return plan


def skinny_layer_step(dtype, n, n_x, m):
    """A course-API step whose first layer is this skinny one, the rest unknown:
    what ``course.products`` plans at its first call. The layer's own kernels and
    those of a one-unit output layer (the notebook's two networks' other layers
    take the same tiers)."""
    return course_step(dtype, (n_x, n, 1), m, fortran=True)


@functools.cache
def prepare_skinny_step(dtype, n, n_x, m):
    """Before a skinny layer's products (``course.forward`` and ``course.backward`` call
    this): the kernels of the step around it, all at once, in parallel worker
    processes where numba's cache lacks them, instead of one by one as the step
    meets them. Once per (dtype, n, n_x, m) and process (a cached call after that)."""
    precompile.ensure(skinny_layer_step(dtype, n, n_x, m))


def trainer_step(dtype, dims, m, fused):
    """A step of ``fastdnn.app.train`` (forward, the cost, ``dZ = AL - Y`` at the
    output, in-place updates); ``fused``: its first layer is skinny on X in
    Fortran order, so its products and weight step run on ``course.products``."""
    T = _Types(dtype)
    plan = []
    L = len(dims) - 1
    for l in range(1, L + 1):
        n, n_prev = dims[l], dims[l - 1]
        if l == 1 and fused:
            plan += skinny_products(T, n, n_prev, m, dW=False, dA_prev=False, weight_step=True)
        else:
            plan += sgd(T, n * n_prev)
        plan += bias_activation(T, n * m) + dZ_db(T, n * m, identity=l == L) + sgd(T, n)
    return plan + cost(T, dims[-1] * m)


def notebook(n_x, m_train, m_test):
    """What the application notebook will run on data of ``n_x`` features: its two
    networks ((n_x, 7, 1) and [n_x, 20, 7, 5, 1]) trained in float64 through the
    course API (the learner's loops) or ``fastdnn.app``'s trainer, and ``predict``
    on both sets. ``fastdnn.app.load_data`` prefetches it."""
    plan = []
    for dims in ((n_x, 7, 1), (n_x, 20, 7, 5, 1)):
        plan += course_step(np.float64, dims, m_train, fortran=True)
        plan += trainer_step(np.float64, dims, m_train, skinny(dims[1], n_x, m_train, True))
        plan += course_forward(np.float64, dims, m_test, fortran=True)
    return plan


def course_forward(dtype, dims, m, fortran):
    """``L_model_forward`` alone (``predict``)."""
    T = _Types(dtype)
    plan = []
    for l in range(1, len(dims)):
        n, n_prev = dims[l], dims[l - 1]
        if l == 1 and skinny(n, n_prev, m, fortran):
            plan += skinny_products(T, n, n_prev, m, dW=False, dA_prev=False)
        plan += bias_activation(T, n * m)
    return plan


def every_kernel(dtype, wide=None):
    """Every kernel the course API and the trainer can reach in ``dtype``, at every
    size tier (``fastdnn.warmup``), with every form of the skinny products that a
    calibration may try (``_internal.variants.usable``: the register tiles where the
    kernels run on AVX-512, ``wide``; by default, the loaded kernels' level)."""
    if wide is None:
        wide = products._wide()
    T = _Types(dtype)
    C1, C2, i = T.C1, T.C2, T.i
    plan = [
        entry("_bias_add_tiny", C2, C2),
        entry("_bias_activation_tiny", C2, C2, C2, i),
        entry("_bias_activation_into", C2, C2, C2, i, weight=_LAYER),
        entry("_bias_activation_parallel", C1, C1, C1, i, i, weight=_LAYER_DRIVER),
        entry("_bias_activation_span", C1, C1, C1, i, i, i, i, weight=_LAYER),
        entry("_activation_backward_db_into", C2, C2, C2, C2, i, weight=_LAYER),
        entry("_activation_backward_db_parallel", C1, C1, C1, C1, i, i, weight=_LAYER_DRIVER),
        entry("_activation_backward_db_rows", C1, C1, C1, C1, i, i, i, i, weight=_LAYER),
        entry("_row_means_into", C2, C2),
        entry("_row_means_parallel", C1, C1, i, weight=_LAYER_DRIVER),
        entry("_row_means_rows", C1, C1, i, i, i),
        entry("_cross_entropy_span", C1, C1, i, i),
        entry("_cross_entropy_parallel", C1, C1, weight=_LAYER_DRIVER),
        entry("_cross_entropy_dAL", C1, C1, C1),
        entry("_sgd_span", C1, C1, T.lr, C1, i, i),
        entry("_sgd_parallel", C1, C1, T.lr, C1),
        # dnn_utils: relu, sigmoid and their backward functions
        entry("_relu_tiny", C2, C2),
        entry("_sigmoid_tiny", C2, C2),
        entry("_relu_backward_tiny", C2, C2, C2),
        entry("_sigmoid_backward_tiny", C2, C2, C2),
        entry("_activation_into", C2, C2, i, weight=_LAYER),
        entry("_activation_parallel", C1, C1, i, weight=_LAYER_DRIVER),
        entry("_activation_span", C1, C1, i, i, i, weight=_LAYER),
        entry("_activation_backward_into", C2, C2, C2, i, weight=_LAYER),
        entry("_activation_backward_parallel", C1, C1, C1, i, weight=_LAYER_DRIVER),
        entry("_activation_backward_span", C1, C1, C1, i, i, i, weight=_LAYER),
    ]
    # The skinny products, serial and parallel, in both forms: a layer small
    # enough to stay serial, and the cat network's first layer.
    for n, n_x, m in ((4, SKINNY_MIN_INPUTS, 4), (20, 12288, 209)):
        plan += skinny_products(T, n, n_x, m, every_form=wide)
    return plan
