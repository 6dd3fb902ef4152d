"""The course's ``dnn_utils``: sigmoid, relu and their backward functions.

Same signatures and return structures as the course; inputs of any shape
(the course uses 2-D), float32 or float64 (ints and bools converted, see
``fastdnn._internal.validation``). Non-finite input raises ``ValueError``.
"""

import numpy as np

from .._internal.activations import RELU, SIGMOID
from .._internal.config import PARALLEL_MIN_ELEMENTS, TINY_MAX_ELEMENTS
from .._internal.dispatch import run
from .._internal.lazy import kernels as K
from .._internal.validation import (
    _F32,
    _F64,
    as_array,
    converted,
    flat,
    float_dtype,
    kernel_view,
    raise_nonfinite,
)

_ndarray = np.ndarray


def _activation(Z, where, code, tiny):
    # The lean check: an exact float32/float64 ndarray in C order needs no
    # validation beyond these attribute reads and no conversion. Anything
    # else is validated and converted. (``dtype is`` matches only the
    # native-order dtypes.) The checks are inline: on a 3x2 array each Python
    # call is a sizeable part of the budget (docs/performance.md, "Small calls").
    if not (
        type(Z) is _ndarray
        and (Z.dtype is _F64 or Z.dtype is _F32)
        and Z.size
        and (flags := Z.flags).c_contiguous
        and flags.writeable
    ):
        Z = as_array(Z, "Z", where)
        Z = converted(Z, float_dtype(Z))
        Zk = kernel_view(Z)  # a read-only Z runs the installed kernels; Z is the cache
    else:
        Zk = Z
    A = np.empty_like(Z)
    if Z.size < TINY_MAX_ELEMENTS:  # the same kernel, holding the GIL (see config.TINY)
        bad = tiny(Zk, A)
    elif Z.size < PARALLEL_MIN_ELEMENTS:
        # Serial anyway: one kernel call on the whole arrays, no flat views. (The tiers
        # stay inline: a helper call shows on a 20x209 call, docs/performance.md.)
        bad = K._activation_into(Zk, A, code)
    else:
        args = (flat(Z), flat(A), code)
        bad = run(K._activation_parallel, K._activation_span, args, (0, Z.size), Z.size)
    if bad:
        raise_nonfinite(where, {"Z": Z})
    return A, Z


def _activation_backward(dA, Z, where, code, tiny):
    # The lean check, as in _activation, for two arrays of one dtype and shape.
    if not (
        type(Z) is _ndarray
        and type(dA) is _ndarray
        and (Z.dtype is _F64 or Z.dtype is _F32)
        and dA.dtype is Z.dtype
        and dA.shape == Z.shape
        and Z.size
        and (z_flags := Z.flags).c_contiguous
        and z_flags.writeable
        and (a_flags := dA.flags).c_contiguous
        and a_flags.writeable
    ):
        dA = as_array(dA, "dA", where)
        Z = as_array(Z, "cache (Z)", where)
        if dA.shape != Z.shape:
            raise ValueError(f"{where}: dA has shape {dA.shape} but cache (Z) has shape {Z.shape}")
        dtype = float_dtype(dA, Z)
        # read-only inputs run the installed kernels too (kernel_view)
        dA, Z = kernel_view(converted(dA, dtype)), kernel_view(converted(Z, dtype))
    dZ = np.empty_like(Z)
    if Z.size < TINY_MAX_ELEMENTS:
        bad = tiny(dA, Z, dZ)
    elif Z.size < PARALLEL_MIN_ELEMENTS:
        bad = K._activation_backward_into(dA, Z, dZ, code)
    else:
        args = (flat(dA), flat(Z), flat(dZ), code)
        parallel, serial = K._activation_backward_parallel, K._activation_backward_span
        bad = run(parallel, serial, args, (0, Z.size), Z.size)
    if bad:
        raise_nonfinite(where, {"dA": dA, "cache (Z)": Z})
    return dZ


def sigmoid(Z):
    """Sigmoid activation, 1 / (1 + exp(-Z)), without overflow for any finite Z.

    Parameters
    ----------
    Z : ndarray of shape (n, m)
        Pre-activations.

    Returns
    -------
    A : ndarray of shape (n, m)
        Activations, same dtype as ``Z`` (float32 or float64).
    cache : ndarray of shape (n, m)
        ``Z`` itself, kept for ``sigmoid_backward``.
    """
    return _activation(Z, "sigmoid", SIGMOID, K._sigmoid_tiny)


def relu(Z):
    """ReLU activation, max(0, Z); ReLU(0) = 0.

    Parameters
    ----------
    Z : ndarray of shape (n, m)

    Returns
    -------
    A : ndarray of shape (n, m)
    cache : ndarray of shape (n, m)
        ``Z`` itself, kept for ``relu_backward``.
    """
    return _activation(Z, "relu", RELU, K._relu_tiny)


def relu_backward(dA, cache):
    """Gradient through a ReLU: dZ = dA where Z > 0, else 0.

    Parameters
    ----------
    dA : ndarray of shape (n, m)
        Gradient of the cost with respect to the activation.
    cache : ndarray of shape (n, m)
        ``Z`` from the forward pass.

    Returns
    -------
    dZ : ndarray of shape (n, m)
    """
    return _activation_backward(dA, cache, "relu_backward", RELU, K._relu_backward_tiny)


def sigmoid_backward(dA, cache):
    """Gradient through a sigmoid: dZ = dA * s * (1 - s) with s = sigmoid(Z).

    Parameters
    ----------
    dA : ndarray of shape (n, m)
    cache : ndarray of shape (n, m)
        ``Z`` from the forward pass.

    Returns
    -------
    dZ : ndarray of shape (n, m)
    """
    return _activation_backward(dA, cache, "sigmoid_backward", SIGMOID, K._sigmoid_backward_tiny)
