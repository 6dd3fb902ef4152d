"""The cross-entropy cost of the course, finite for every finite input."""

import numpy as np

from .._internal.dispatch import run
from .._internal.lazy import kernels as K
from .._internal.validation import (
    as_array,
    as_matrix,
    converted,
    flat,
    float_dtype,
    raise_nonfinite,
)


def checked_labels(AL, Y, where):
    """AL as a float matrix and Y as an array of the same shape and dtype.

    ``Y`` may be ints, bools or floats (the course's test case uses int64 and
    real-valued labels), a list, or of shape (m,) for an AL of shape (1, m).
    """
    AL = as_matrix(AL, "AL", where)
    AL = converted(AL, float_dtype(AL))
    return AL, labels(Y, AL.shape, AL.dtype, where)


def labels(Y, shape, dtype, where):
    """``Y`` as an array of ``AL``'s ``shape`` and ``dtype`` (see ``checked_labels``);
    the trainer calls it before any ``AL`` exists."""
    Y = np.asarray(Y) if not isinstance(Y, np.ndarray) else Y
    if Y.size != shape[0] * shape[1] or (Y.shape != shape and Y.ndim != 1):
        raise ValueError(f"{where}: Y must have the shape of AL {shape}; got {Y.shape}")
    return converted(as_array(Y, "Y", where).reshape(shape), dtype)


def compute_cost(AL, Y):
    """Cross-entropy cost, -1/m * sum(Y log AL + (1 - Y) log(1 - AL)).

    Parameters
    ----------
    AL : ndarray of shape (1, m)
        Predicted probabilities.
    Y : ndarray of shape (1, m)
        Labels (0/1; ints, bools and real values are accepted as in the course).

    Returns
    -------
    cost : 0-d ndarray
        In AL's dtype. Where AL is exactly 0 or 1, the log is taken of the
        smallest positive float64 instead (a term costs at most about 744.4), and
        a term whose weight Y or 1 - Y is 0 adds nothing, so the cost is
        finite for every finite input. Inside (0, 1) the values are the course's.
    """
    where = "compute_cost"
    AL, Y = checked_labels(AL, Y, where)
    al, y = flat(AL), flat(Y)
    total, bad = run(
        K._cross_entropy_parallel, K._cross_entropy_span, (al, y), (0, al.size), al.size
    )
    if bad:
        raise_nonfinite(where, {"AL": AL, "Y": Y})
    m = AL.shape[1]
    return np.array(-1 / m * total, dtype=AL.dtype)
