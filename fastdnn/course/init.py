"""Parameter initialisation, exactly as the course draws it (NumPy's global RNG).

NumPy does the drawing, not numba: ``np.random.seed`` called from Python does
not seed numba's own generator, and the course's values depend on the seed.
"""

import numpy as np

from .._internal.validation import whole_number


def checked_layer_dims(layer_dims, where, name="layer_dims"):
    """``layer_dims`` as a list of positive ints with at least two entries."""
    if isinstance(layer_dims, (str, bytes, dict)) or not hasattr(layer_dims, "__len__"):
        raise TypeError(f"{where}: {name} must be a list of layer sizes; got {layer_dims!r}")
    dims = list(layer_dims)
    if len(dims) < 2:
        raise ValueError(f"{where}: {name} needs at least 2 sizes (input and output); got {dims}")
    return [whole_number(n, f"{name}[{l}]", where) for l, n in enumerate(dims)]


def initialize_parameters(n_x, n_h, n_y):
    """Parameters of a 2-layer network, seeded as in the course.

    ``np.random.seed(1)``; ``W1 = randn(n_h, n_x) * 0.01``, ``b1 = zeros``,
    ``W2 = randn(n_y, n_h) * 0.01``, ``b2 = zeros``.

    Parameters
    ----------
    n_x, n_h, n_y : int
        Sizes of the input, hidden and output layers.

    Returns
    -------
    parameters : dict
        ``W1`` (n_h, n_x), ``b1`` (n_h, 1), ``W2`` (n_y, n_h), ``b2`` (n_y, 1), float64.
    """
    n_x, n_h, n_y = checked_layer_dims((n_x, n_h, n_y), "initialize_parameters", "(n_x, n_h, n_y)")
    np.random.seed(1)
    W1 = np.random.randn(n_h, n_x) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = np.random.randn(n_y, n_h) * 0.01
    b2 = np.zeros((n_y, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def _deep(layer_dims, seed, scaled, where):
    """``scaled(randn(n_l, n_prev), n_prev)`` per layer: the course's exact expression,
    so the arrays are bit-identical (``* (1 / sqrt(n))`` differs from ``/ sqrt(n)``)."""
    dims = checked_layer_dims(layer_dims, where)
    np.random.seed(seed)
    parameters = {}
    for l in range(1, len(dims)):
        try:
            parameters[f"W{l}"] = scaled(np.random.randn(dims[l], dims[l - 1]), dims[l - 1])
        except (MemoryError, ValueError) as exc:  # ValueError: "array is too big"
            gib = dims[l] * dims[l - 1] * 8 / 2**30
            raise MemoryError(
                f"{where}: layer {l}: W{l} of shape ({dims[l]}, {dims[l - 1]}) needs "
                f"{gib:,.1f} GiB of float64 ({exc})"
            ) from None
        parameters[f"b{l}"] = np.zeros((dims[l], 1))
    return parameters


def initialize_parameters_deep(layer_dims):
    """Parameters of an L-layer network, step-by-step flavour.

    ``np.random.seed(3)``; ``W_l = randn(n_l, n_{l-1}) * 0.01``, ``b_l = zeros``.
    (The application's flavour, seed 1 and ``/ sqrt(n_{l-1})``, is
    ``fastdnn.app.initialize_parameters_deep``.)

    Parameters
    ----------
    layer_dims : list or tuple of int
        ``[n_x, n_1, ..., n_L]``.

    Returns
    -------
    parameters : dict
        ``W1 .. WL`` of shapes (n_l, n_{l-1}), ``b1 .. bL`` of shapes (n_l, 1), float64.
    """
    return _deep(layer_dims, 3, lambda W, n_prev: W * 0.01, "initialize_parameters_deep")


def initialize_parameters_deep_app(layer_dims):
    """Application flavour: ``np.random.seed(1)``, ``W_l = randn(...) / sqrt(n_{l-1})``."""
    return _deep(layer_dims, 1, lambda W, n_prev: W / np.sqrt(n_prev), "initialize_parameters_deep")
