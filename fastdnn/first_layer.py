"""The training step's first layer on fastdnn's own kernels (``X`` in Fortran order).

``train`` sends the first layer here when it is skinny (few units, many
inputs: the cat network's 20 x 12288) and ``X`` is in Fortran order, the
course's layout: ``Z1 = W1 @ X`` and ``dW1 = dZ1 @ X.T / m`` then run in numba
(``kernels.first_layer``) on ``XT = X.T``, a C-contiguous view. In the cat
network at m = 209 every other product is under 30,000 multiply-adds, which
OpenBLAS runs on the calling thread, so no OpenBLAS worker spins against
numba's parallel regions (mixing the two on this layer cost 8-9 ms a step).
"""

import numpy as np

from . import _dispatch
from ._config import FIRST_LAYER_MAX_UNITS, FIRST_LAYER_MIN_INPUTS, PARALLEL_MIN_ELEMENTS
from ._lazy import kernels as K
from ._validation import raise_nonfinite
from .forward import bias_activation


def examples_as_rows(X, W1):
    """``X.T`` (C-contiguous) when this module should run the first layer, else None."""
    n1, n_x = W1.shape
    if (
        X.flags.f_contiguous
        and not X.flags.c_contiguous  # (n_x, 1): BLAS is as good, keep one path
        and n1 <= FIRST_LAYER_MAX_UNITS
        and n_x >= FIRST_LAYER_MIN_INPUTS
    ):
        return X.T
    return None


def layer_forward(XT, W1, b1, code, where):
    """(A1, Z1) of the first layer, Z1 = W1 @ XT.T + b1 as a C-contiguous (n1, m) array."""
    m, n_x = XT.shape
    Z1 = np.empty((W1.shape[0], m), dtype=W1.dtype)
    # The inference tile writes example rows: through the (m, n1) view Z1.T.
    if _dispatch.enter(Z1.size * n_x, PARALLEL_MIN_ELEMENTS):
        try:
            K._first_layer_parallel(XT, W1, Z1.T, _dispatch.work_items())
        finally:
            _dispatch.leave()
    else:
        K._first_layer_rows(XT, W1, Z1.T, 0, m)
    A1 = bias_activation(Z1, b1, code)
    if A1 is None:
        raise_nonfinite(where, {"X": XT, "W1": W1, "b1": b1})
    return A1, Z1


def weight_step(dZ1, XT, W1, learning_rate, dW1):
    """dW1 = dZ1 @ XT / m into ``dW1``, and ``W1 -= learning_rate * dW1`` in place.

    Returns a true value if dW1 holds NaN or inf.
    """
    m, n_x = XT.shape
    scale = dZ1.dtype.type(1 / m)
    args = (dZ1, XT, dW1, scale, W1, learning_rate)
    if _dispatch.enter(dW1.size * m, PARALLEL_MIN_ELEMENTS):
        try:
            return K._weight_step_parallel(*args)
        finally:
            _dispatch.leave()
    return K._weight_step_rows(*args, 0, n_x)
