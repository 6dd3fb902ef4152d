"""Forward propagation: linear_forward, linear_activation_forward, L_model_forward.

Each layer is one BLAS product ``Z = W @ A_prev`` into a fresh C-ordered array,
then one fused kernel pass that adds ``b`` and applies the activation, writing
``Z`` (kept for the cache) and ``A``.
"""

import numpy as np

from .._internal.activations import IDENTITY, RELU, SIGMOID, activation_code
from .._internal.config import (
    LAYER_PARALLEL_MIN_ELEMENTS,
    SKINNY_MAX_UNITS,
    SKINNY_MIN_INPUTS,
    SMALL_PRODUCT_MACS,
    TINY_MAX_ELEMENTS,
)
from .._internal.dispatch import run
from .._internal.lazy import kernels as K
from .._internal.validation import (
    _F32,
    _F64,
    as_matrix,
    blas_ready,
    check_bias,
    converted,
    flat,
    float_dtype,
    kernel_view,
    layer_count,
    raise_nonfinite,
)
from . import plans, products

_ndarray = np.ndarray


def checked_layer(A_prev, W, b, where, names=("A_prev", "W", "b")):
    """Validate one layer's inputs and bring them to one dtype and a BLAS layout.

    Returns
    -------
    A_prev : ndarray of shape (n_prev, m)
    W : ndarray of shape (n, n_prev)
    b : ndarray of shape (n, 1)
    """
    a_name, w_name, b_name = names
    A_prev = as_matrix(A_prev, a_name, where)
    W = as_matrix(W, w_name, where)
    b = as_matrix(b, b_name, where)
    if W.shape[1] != A_prev.shape[0]:
        raise ValueError(
            f"{where}: {w_name} has shape {W.shape}, so {a_name} needs {W.shape[1]} rows; "
            f"got {a_name} of shape {A_prev.shape}"
        )
    check_bias(b, W.shape[0], b_name, where)
    dtype = float_dtype(A_prev, W, b)
    return blas_ready(A_prev, dtype), blas_ready(W, dtype), converted(b, dtype)


def matmul(a, b):
    """``a @ b`` for 2-D arrays: ``a.dot(b)`` for small products, else ``np.matmul``.

    The same BLAS call either way, bitwise equal; see ``_internal.config.SMALL_PRODUCT_MACS``.
    """
    if a.shape[0] * a.shape[1] * b.shape[1] < SMALL_PRODUCT_MACS:
        return a.dot(b)
    return np.matmul(a, b)


def _product(A_prev, W, planned=False):
    """Z = W @ A_prev as a fresh C-contiguous (n, m) array; ``planned``: the caller has
    its own plan's kernels ready (the trainer), else a skinny layer readies the course
    step's (``plans.prepare_skinny_step``)."""
    n, n_prev = W.shape
    if n <= SKINNY_MAX_UNITS and n_prev >= SKINNY_MIN_INPUTS:  # sizes.skinny_shape, inline
        if products.skinny(W, A_prev):  # A_prev in Fortran order: fastdnn's kernel
            if not planned:
                plans.prepare_skinny_step(W.dtype, n, n_prev, A_prev.shape[1])
            return products.forward(W, A_prev)
    if n * n_prev * A_prev.shape[1] < SMALL_PRODUCT_MACS:  # as in matmul(), one call less
        return W.dot(A_prev)
    return np.matmul(W, A_prev)


def lean_layer(A_prev, W, b):
    """True when a layer's (A_prev, W, b) can be used as they are.

    Exact float32/float64 ndarrays of one dtype and matching non-empty 2-D
    shapes, ``W`` and ``A_prev`` in C or Fortran order (BLAS reads either),
    ``b`` of shape (n, 1), C-contiguous and writable (a read-only array is another
    signature to numba: ``kernel_view``): a few attribute reads instead of
    ``checked_layer``'s validation and conversion. The
    backward lean check (``fastdnn.course.backward``) builds on it.
    """
    return (
        type(A_prev) is _ndarray
        and type(W) is _ndarray
        and type(b) is _ndarray
        and (W.dtype is _F64 or W.dtype is _F32)
        and A_prev.dtype is W.dtype
        and b.dtype is W.dtype
        and len(W_shape := W.shape) == 2  # each .shape read builds a tuple: read once
        and len(A_shape := A_prev.shape) == 2
        and W_shape[1] == A_shape[0]
        and b.shape == (W_shape[0], 1)
        and W_shape[0]
        and W_shape[1]
        and A_shape[1]
        and (W.flags.c_contiguous or W.flags.f_contiguous)
        and (A_prev.flags.c_contiguous or A_prev.flags.f_contiguous)
        and (b_flags := b.flags).c_contiguous
        and b_flags.writeable  # a read-only b goes through kernel_view (validated_layer_forward)
    )


def validated_layer_forward(A_prev, W, b, code, where, names=("A_prev", "W", "b")):
    """Validate and run one layer: (A_prev, W, b) as used, A and Z.

    Inputs that pass ``lean_layer`` are used as they are (docs/performance.md,
    "Small calls"). Anything else goes through ``checked_layer``.
    """
    if lean_layer(A_prev, W, b):
        A, Z = layer_forward(A_prev, W, b, code, where, names)
        return A_prev, W, b, A, Z
    A_prev, W, b = checked_layer(A_prev, W, b, where, names)
    # The kernels take b through kernel_view (a read-only b runs the installed
    # kernels); the cache keeps the caller's b.
    A, Z = layer_forward(A_prev, W, kernel_view(b), code, where, names)
    return A_prev, W, b, A, Z


def layer_forward(A_prev, W, b, code, where, names=("A_prev", "W", "b"), planned=False):
    """One checked layer: (A, Z) with Z = W @ A_prev + b and A = g(Z).

    For the identity activation, ``A`` is ``Z``. ``A_prev``, ``W`` and ``b`` must
    already be validated (``checked_layer`` or the lean check above); ``b``
    C-contiguous. ``planned``: the caller has ensured its own plan (the trainer's
    ``plans.trainer_step``), so the course step's is not ensured as well.
    """
    Z = _product(A_prev, W, planned)
    A = bias_activation(Z, b, code)
    if A is None:
        a_name, w_name, b_name = names
        raise_nonfinite(where, {a_name: A_prev, w_name: W, b_name: b})
    return A, Z


def bias_activation(Z, b, code):
    """``Z += b`` in place and ``A = g(Z)``; returns A (``Z`` itself for the identity).

    ``Z`` is a fresh C-contiguous (n, m) product ``W @ A_prev``. Returns None
    when ``Z`` holds NaN or inf (the caller names the input).
    """
    A = Z if code == IDENTITY else np.empty_like(Z)
    # The tiers inline, as sizes.bias_activation_form (the plans') decides them: a
    # call per decision shows on a small layer (course/sizes.py).
    if Z.size < TINY_MAX_ELEMENTS:  # the same kernel, holding the GIL (see config.TINY)
        if code == IDENTITY:
            bad = K._bias_add_tiny(Z, b)
        else:
            bad = K._bias_activation_tiny(Z, b, A, code)
    elif Z.size < LAYER_PARALLEL_MIN_ELEMENTS:
        # Serial (see _internal/config.py): one kernel call on the whole arrays, no flat views.
        bad = K._bias_activation_into(Z, b, A, code)
    else:
        args = (flat(Z), flat(b), flat(A), Z.shape[1], code)
        bad = run(K._bias_activation_parallel, K._bias_activation_span, args, (0, Z.size), Z.size)
    return None if bad else A


_LINEAR_NAMES = ("A", "W", "b")


def linear_forward(A, W, b):
    """The linear part of a layer: Z = W @ A + b.

    Parameters
    ----------
    A : ndarray of shape (n_prev, m)
        Activations of the previous layer (or the input X).
    W : ndarray of shape (n, n_prev)
    b : ndarray of shape (n, 1)

    Returns
    -------
    Z : ndarray of shape (n, m)
    cache : tuple (A, W, b)
        The inputs (converted to the computation's dtype if they were not in it).
    """
    # validated_layer_forward's two steps, inline: on the course's 3x2 layer an
    # extra call and its 5-tuple are a measurable part of the call.
    if lean_layer(A, W, b):
        Z, _ = layer_forward(A, W, b, IDENTITY, "linear_forward", _LINEAR_NAMES)
        return Z, (A, W, b)
    A, W, b = checked_layer(A, W, b, "linear_forward", _LINEAR_NAMES)
    Z, _ = layer_forward(A, W, kernel_view(b), IDENTITY, "linear_forward", _LINEAR_NAMES)
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    """One layer, LINEAR -> ACTIVATION.

    Parameters
    ----------
    A_prev : ndarray of shape (n_prev, m)
    W : ndarray of shape (n, n_prev)
    b : ndarray of shape (n, 1)
    activation : {"sigmoid", "relu"}

    Returns
    -------
    A : ndarray of shape (n, m)
    cache : tuple ((A_prev, W, b), Z)
        The linear cache and the activation cache, as in the course.
    """
    where = "linear_activation_forward"
    code = activation_code(activation, where)
    A_prev, W, b, A, Z = validated_layer_forward(A_prev, W, b, code, where)
    return A, ((A_prev, W, b), Z)


def L_model_forward(X, parameters):
    """Forward pass of [LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    parameters : dict
        ``"W1" .. "WL"`` of shapes (n_l, n_{l-1}) and ``"b1" .. "bL"`` of shapes (n_l, 1).

    Returns
    -------
    AL : ndarray of shape (n_L, m)
        Output probabilities.
    caches : list of L tuples ((A_prev, W, b), Z)
    """
    L = layer_count(parameters, "L_model_forward")
    caches = []
    A = X
    for l in range(1, L + 1):
        where = f"L_model_forward (layer {l})"
        names = ("X" if l == 1 else f"A{l - 1}", f"W{l}", f"b{l}")
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        A_prev, W, b, A, Z = validated_layer_forward(
            A, W, b, SIGMOID if l == L else RELU, where, names
        )
        caches.append(((A_prev, W, b), Z))
    return A, caches
