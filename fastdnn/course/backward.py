"""Backward propagation: linear_backward, linear_activation_backward, L_model_backward.

Per layer: one fused kernel pass writes ``dZ`` and ``db`` together, then two
BLAS products give ``dW = dZ @ A_prev.T / m`` and ``dA_prev = W.T @ dZ``
(BLAS reads the transposes in place, nothing is copied).
"""

import numpy as np

from .._internal.activations import IDENTITY, RELU, SIGMOID, activation_code
from .._internal.config import LAYER_PARALLEL_MIN_ELEMENTS, SKINNY_MAX_UNITS, SKINNY_MIN_INPUTS
from .._internal.dispatch import run
from .._internal.lazy import kernels as K
from .._internal.validation import (
    as_matrix,
    blas_ready,
    converted,
    flat,
    float_dtype,
    kernel_view,
    raise_nonfinite,
)
from . import plans, products
from .cost import checked_labels
from .forward import checked_layer, lean_layer, matmul
from .grads import Gradients

_ndarray = np.ndarray


def _unpack(cache, where, with_Z):
    """The course's cache tuples: (A_prev, W, b) or ((A_prev, W, b), Z)."""
    try:
        if with_Z:
            linear_cache, Z = cache
        else:
            linear_cache, Z = cache, None
        A_prev, W, b = linear_cache
    except (TypeError, ValueError):
        shape = "((A_prev, W, b), Z)" if with_Z else "(A_prev, W, b)"
        raise TypeError(f"{where}: cache must be a tuple {shape}") from None
    return A_prev, W, b, Z


def checked_backward(dA, cache, where, with_Z=True, dA_name="dA"):
    """Validate a layer's backward inputs; one dtype, kernel and BLAS layouts.

    Returns dA (or dZ when ``with_Z`` is false), A_prev, W and Z (or None).
    """
    A_prev, W, b, Z = _unpack(cache, where, with_Z)
    A_prev, W, b = checked_layer(A_prev, W, b, where)
    dA = as_matrix(dA, dA_name, where)
    expected = (W.shape[0], A_prev.shape[1])
    if dA.shape != expected:
        raise ValueError(
            f"{where}: {dA_name} must have shape {expected} (rows of W, columns of A_prev); "
            f"got {dA.shape}"
        )
    arrays = [dA, A_prev, W]
    if with_Z:
        Z = as_matrix(Z, "Z (cache)", where)
        if Z.shape != expected:
            raise ValueError(f"{where}: Z (cache) must have shape {expected}; got {Z.shape}")
        arrays.append(Z)
    dtype = float_dtype(*arrays)
    Z = None if Z is None else converted(Z, dtype)
    return converted(dA, dtype), blas_ready(A_prev, dtype), blas_ready(W, dtype), Z


def _lean(dA, A_prev, W, b, Z):
    """True when the inputs can be used as they are, without ``checked_backward``.

    The layer passes ``lean_layer``; ``dA`` (and ``Z``, None for
    ``linear_backward``) are exact ndarrays of the layer's dtype and shape
    (W's rows, A_prev's columns), C-contiguous (the kernel's layout) and writable
    (a read-only array is another signature to numba: ``kernel_view``).
    Anything else goes through ``checked_backward``, which validates,
    converts and names what is wrong.
    """
    return (
        lean_layer(A_prev, W, b)
        and type(dA) is _ndarray
        and dA.dtype is W.dtype
        and dA.shape == (W.shape[0], A_prev.shape[1])
        and (a_flags := dA.flags).c_contiguous
        and a_flags.writeable
        and (
            Z is None
            or (
                type(Z) is _ndarray
                and Z.dtype is W.dtype
                and Z.shape == dA.shape
                and (z_flags := Z.flags).c_contiguous
                and z_flags.writeable
            )
        )
    )


def validated_layer_backward(dA, cache, code, where, dA_name="dA", deferred=False):
    """Validate one layer's backward inputs and run it: (dA_prev, dW, db).

    ``code == IDENTITY`` reads a linear cache ``(A_prev, W, b)`` and takes
    ``dA`` as dZ (``linear_backward``); otherwise the cache is
    ``((A_prev, W, b), Z)``. The lean check skips ``checked_backward`` for
    inputs that need no conversion (docs/performance.md, "Small calls").
    ``deferred``: dA_prev as a function that computes it later (``layer_backward``).
    """
    with_Z = code != IDENTITY
    A_prev, W, b, Z = _unpack(cache, where, with_Z)
    if not _lean(dA, A_prev, W, b, Z):
        dA, A_prev, W, Z = checked_backward(dA, cache, where, with_Z, dA_name)
        # read-only dA or Z run the installed kernels too (the lean check takes writable ones)
        dA, Z = kernel_view(dA), None if Z is None else kernel_view(Z)
    need = "later" if deferred else True
    return layer_backward(dA, A_prev, W, Z, code, where, need_dA_prev=need)


def row_means(dZ, db):
    """db[:, 0] = sum(dZ, axis=1) / m for a C-contiguous (n, m) ``dZ``; True if dZ holds NaN/inf.

    Serial below ``LAYER_PARALLEL_MIN_ELEMENTS`` (whole arrays, one kernel
    call), else the parallel driver. ``layer_backward``'s db for
    ``linear_backward``, and the benchmark's db row.
    """
    if dZ.size < LAYER_PARALLEL_MIN_ELEMENTS:
        return K._row_means_into(dZ, db)
    n, m = dZ.shape
    return run(K._row_means_parallel, K._row_means_rows, (flat(dZ), flat(db), m), (0, n), dZ.size)


def layer_backward(dA, A_prev, W, Z, code, where, need_dA_prev=True):
    """dZ and db in one kernel pass, then dW and (optionally) dA_prev by BLAS.

    Inputs come from ``checked_backward`` or the lean check. With
    ``code == IDENTITY`` and ``Z is None``, ``dA`` is taken as dZ itself
    (``linear_backward``).

    ``need_dA_prev``: True computes dA_prev now; False skips it (None); "later"
    returns a function that computes it when called, from a copy of ``W`` as it is
    now (``L_model_backward``'s ``dA0``, ``course.grads``).

    Returns
    -------
    dA_prev : ndarray of shape (n_prev, m), None, or a function returning it
    dW : ndarray of shape (n, n_prev)
    db : ndarray of shape (n, 1)
    """
    dZ, db = dZ_db(dA, Z, code, where)
    n, n_prev = W.shape
    # sizes.skinny_shape inline (a call shows on a small layer), then the layout
    skinny = n <= SKINNY_MAX_UNITS and n_prev >= SKINNY_MIN_INPUTS and products.skinny(W, A_prev)
    if skinny:
        # A_prev in Fortran order: both products on fastdnn's kernels (not one of
        # them: OpenBLAS's and numba's threads would spin against each other).
        plans.prepare_skinny_step(W.dtype, n, n_prev, A_prev.shape[1])
        dW = products.weight_gradient(dZ, A_prev)
    else:
        dW = matmul(dZ, A_prev.T)
        dW *= 1 / dZ.shape[1]
    if need_dA_prev is True:
        return _input_gradient(W, dZ, skinny), dW, db
    if need_dA_prev:  # "later"
        W = W.copy(order="K")
        return lambda: _input_gradient(W, dZ, skinny), dW, db
    return None, dW, db


def _input_gradient(W, dZ, skinny):
    """dA_prev = W.T @ dZ: on fastdnn's kernels for a skinny layer (as its dW was),
    else by BLAS."""
    return products.input_gradient(W, dZ) if skinny else matmul(W.T, dZ)


def dZ_db(dA, Z, code, where):
    """``dZ = dA * g'(Z)`` and ``db = sum(dZ, axis=1) / m`` in one kernel pass.

    With ``code == IDENTITY`` (``Z`` unused), ``dA`` is dZ itself. Raises
    ``ValueError`` naming the input when ``dA`` or ``Z`` holds NaN or inf.
    """
    n, m = dA.shape
    db = np.empty((n, 1), dtype=dA.dtype)
    if code == IDENTITY:
        dZ = dA
        bad = row_means(dZ, db)
        inputs = {"dZ": dZ}
    else:
        dZ = np.empty_like(dA)
        if dA.size < LAYER_PARALLEL_MIN_ELEMENTS:  # sizes.dZ_db_form, inline
            # Serial (see _internal/config.py): one kernel call on the whole arrays, no flat views.
            bad = K._activation_backward_db_into(dA, Z, dZ, db, code)
        else:
            args = (flat(dA), flat(Z), flat(dZ), flat(db), m, code)
            parallel, serial = K._activation_backward_db_parallel, K._activation_backward_db_rows
            bad = run(parallel, serial, args, (0, n), dZ.size)
        inputs = {"dA": dA, "Z (cache)": Z}
    if bad:
        raise_nonfinite(where, inputs)
    return dZ, db


def linear_backward(dZ, cache):
    """Gradients of the linear part of a layer.

    Parameters
    ----------
    dZ : ndarray of shape (n, m)
    cache : tuple (A_prev, W, b)
        From ``linear_forward``; A_prev of shape (n_prev, m), W (n, n_prev), b (n, 1).

    Returns
    -------
    dA_prev : ndarray of shape (n_prev, m)
    dW : ndarray of shape (n, n_prev)
        dZ @ A_prev.T / m
    db : ndarray of shape (n, 1)
        sum(dZ, axis=1) / m
    """
    return validated_layer_backward(dZ, cache, IDENTITY, "linear_backward", dA_name="dZ")


def linear_activation_backward(dA, cache, activation):
    """Gradients of one LINEAR -> ACTIVATION layer.

    Parameters
    ----------
    dA : ndarray of shape (n, m)
        Gradient of the cost with respect to this layer's activation.
    cache : tuple ((A_prev, W, b), Z)
        From ``linear_activation_forward``.
    activation : {"sigmoid", "relu"}

    Returns
    -------
    dA_prev : ndarray of shape (n_prev, m)
    dW : ndarray of shape (n, n_prev)
    db : ndarray of shape (n, 1)
    """
    where = "linear_activation_backward"
    code = activation_code(activation, where)
    return validated_layer_backward(dA, cache, code, where)


def L_model_backward(AL, Y, caches):
    """Backward pass of [LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID with the cross-entropy cost.

    Parameters
    ----------
    AL : ndarray of shape (1, m)
        Output of ``L_model_forward``.
    Y : ndarray of shape (1, m)
        Labels.
    caches : list or tuple of L tuples ((A_prev, W, b), Z)
        From ``L_model_forward``.

    Returns
    -------
    grads : dict
        Exactly ``"dA0" .. "dA{L-1}"``, ``"dW1" .. "dWL"`` and ``"db1" .. "dbL"``,
        where ``grads["dA" + str(l)]`` is the gradient with respect to the
        activation of layer l (``dA0``: the input X). ``dA0`` is computed when
        first read (a ``course.grads.Gradients``, a dict in every other way):
        the notebook's loop never reads it, and it is a third of the first
        layer's backward work. Its value is the one this call would have given.
    """
    where = "L_model_backward"
    if not isinstance(caches, (list, tuple)) or not caches:
        raise TypeError(f"{where}: caches must be a non-empty list of layer caches")
    L = len(caches)
    AL, Y = checked_labels(AL, Y, where)
    dAL = np.empty_like(AL)
    if K._cross_entropy_dAL(flat(AL), flat(Y), flat(dAL)):
        raise ValueError(
            f"{where}: dAL = -(Y/AL - (1-Y)/(1-AL)) is not finite; AL holds NaN/inf or "
            "values exactly 0 or 1 (a saturated sigmoid)"
        )
    grads = {}
    dA = dAL
    for l in range(L, 0, -1):
        layer = f"{where} (layer {l})"
        code = SIGMOID if l == L else RELU
        dA_prev, dW, db = validated_layer_backward(
            dA, caches[l - 1], code, layer, f"dA{l}", deferred=l == 1
        )
        grads[f"dA{l - 1}"], grads[f"dW{l}"], grads[f"db{l}"] = dA_prev, dW, db
        dA = dA_prev
    # dA0, the gradient with respect to X, is computed when first read (course.grads).
    return Gradients(grads, pending=("dA0", grads["dA0"]))
