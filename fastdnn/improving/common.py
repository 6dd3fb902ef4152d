"""What the four Course 2 modules share: the helpers' activations, predictions and the
notebooks' initialisations (NumPy's global stream, as the course draws it)."""

import numbers

import numpy as np

from . import net3


def sigmoid(x):
    """The helpers' ``sigmoid``: ``1 / (1 + np.exp(-x))``, in NumPy as the course (a
    scalar or an array; the passes themselves run in ``kernels.net3``)."""
    s = 1 / (1 + np.exp(-x))
    return s


def relu(x):
    """The helpers' ``relu``: ``np.maximum(0, x)``."""
    s = np.maximum(0, x)
    return s


def predict(X, y, parameters):
    """The helpers' ``predict``: prints ``Accuracy: <mean>`` and returns the int
    predictions ``(1, m)`` (the course's ``np.int``, gone from NumPy 1.24, is ``int``)."""
    where = "predict"
    a3, _ = net3.forward(X, parameters, where)
    p = (a3 > 0.5).astype(int)
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] != p.shape[1]:
        raise ValueError(f"{where}: y must have shape (1, {p.shape[1]}); got {y.shape}")
    print("Accuracy: " + str(np.mean(p[0, :] == y[0, :])))
    return p


def predict_dec(parameters, X):
    """The helpers' ``predict_dec``: the boolean ``a3 > 0.5`` (for the decision boundary)."""
    a3, _ = net3.forward(X, parameters, "predict_dec")
    return a3 > 0.5


def layer_sizes(layers_dims, where, name="layers_dims"):
    """``layers_dims`` as a list of ints >= 1, at least two of them."""
    try:
        dims = list(layers_dims)
    except TypeError:
        raise TypeError(
            f"{where}: {name} must be a list of layer sizes; got {layers_dims!r}"
        ) from None
    if len(dims) < 2:
        raise ValueError(f"{where}: {name} needs the input size and at least one layer; got {dims}")
    for n in dims:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"{where}: {name} must hold ints >= 1; got {dims}")
    return [int(n) for n in dims]


def initialize(layers_dims, scale, where, seed=3):
    """``np.random.seed(seed)``, then per layer ``randn(n_l, n_{l-1})`` scaled by
    ``scale(n_{l-1})`` (``("mul", f)`` or ``("div", f)``, in the course's own order of
    operations) and a zero bias; ``scale`` None: all zeros, no draw."""
    dims = layer_sizes(layers_dims, where)
    if scale is not None:
        np.random.seed(seed)
    parameters = {}
    for l in range(1, len(dims)):
        if scale is None:
            W = np.zeros((dims[l], dims[l - 1]))
        else:
            op, factor = scale
            draw = np.random.randn(dims[l], dims[l - 1])
            W = draw * factor(dims[l - 1]) if op == "mul" else draw / factor(dims[l - 1])
        parameters["W" + str(l)] = W
        parameters["b" + str(l)] = np.zeros((dims[l], 1))
    return parameters
