"""Forward propagation: linear_forward, linear_activation_forward, L_model_forward.

Each layer is one BLAS product ``Z = W @ A_prev`` into a fresh C-ordered array,
then one fused kernel pass that adds ``b`` and applies the activation, writing
``Z`` (kept for the cache) and ``A``.
"""

import numpy as np

from ._config import SKINNY_MAX_UNITS, SKINNY_MIN_INPUTS
from ._dispatch import run
from ._lazy import kernels as K
from ._validation import (
    as_matrix,
    blas_ready,
    check_bias,
    flat,
    float_dtype,
    layer_count,
    raise_nonfinite,
)
from .activations import IDENTITY, RELU, SIGMOID, activation_code


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
    return blas_ready(A_prev, dtype), blas_ready(W, dtype), np.ascontiguousarray(b, dtype)


def layer_forward(A_prev, W, b, code, where, names=("A_prev", "W", "b")):
    """One checked layer: (A, Z) with Z = W @ A_prev + b and A = g(Z).

    For the identity activation, ``A`` is ``Z``. ``A_prev``, ``W`` and ``b`` must
    already come from ``checked_layer``.
    """
    n, n_prev = W.shape
    if W.dtype == np.float32 and n <= SKINNY_MAX_UNITS and n_prev >= SKINNY_MIN_INPUTS:
        # Few units, many inputs (the cat network's first layer): OpenBLAS's
        # sgemm is faster on A_prev.T @ W.T than on W @ A_prev; the transposing
        # copy of the small (m, n) result costs microseconds. (Measured, see
        # _config.SKINNY_MAX_UNITS: in float64 it is no faster.)
        Z = np.matmul(A_prev.T, W.T).T.copy()
    else:
        Z = np.empty((n, A_prev.shape[1]), dtype=W.dtype)
        np.matmul(W, A_prev, out=Z)
    A = Z if code == IDENTITY else np.empty_like(Z)
    z, bias, a, m = flat(Z), flat(b), flat(A), Z.shape[1]
    args = (z, bias, a, m, code)
    bad = run(K._bias_activation_parallel, K._bias_activation_span, args, (0, z.size), z.size)
    if bad:
        a_name, w_name, b_name = names
        raise_nonfinite(where, {a_name: A_prev, w_name: W, b_name: b})
    return A, Z


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
    A, W, b = checked_layer(A, W, b, "linear_forward", names=("A", "W", "b"))
    Z, _ = layer_forward(A, W, b, IDENTITY, "linear_forward", names=("A", "W", "b"))
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
    A_prev, W, b = checked_layer(A_prev, W, b, where)
    A, Z = layer_forward(A_prev, W, b, code, where)
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
        A_prev, W, b = checked_layer(A, parameters[f"W{l}"], parameters[f"b{l}"], where, names)
        A, Z = layer_forward(A_prev, W, b, SIGMOID if l == L else RELU, where, names)
        caches.append(((A_prev, W, b), Z))
    return A, caches
