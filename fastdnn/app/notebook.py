"""Drop-in for the helper module of the course's application notebook (cat vs non-cat).

``from fastdnn.app import *`` replaces the notebook's helper import: the
application's ``load_data``, ``initialize_parameters_deep`` (seed 1,
``/ sqrt(n_prev)``), ``two_layer_model``, ``L_layer_model``, ``predict`` and
``print_mislabeled_images``, plus every step-by-step function.
"""

import numpy as np

from ..course import api
from ..course.api import *  # noqa: F403 (every step-by-step function, course/api.py)
from ..course.forward import L_model_forward
from ..course.init import checked_layer_dims, initialize_parameters, initialize_parameters_deep_app
from .data import load_data
from .train import train

__all__ = [
    *api.__all__,
    "L_layer_model",
    "load_data",
    "predict",
    "print_mislabeled_images",
    "two_layer_model",
]


def initialize_parameters_deep(layer_dims):
    """Application flavour: ``np.random.seed(1)``, ``W_l = randn(n_l, n_{l-1}) / sqrt(n_{l-1})``.

    Parameters
    ----------
    layer_dims : list or tuple of int

    Returns
    -------
    parameters : dict
        ``W1 .. WL``, ``b1 .. bL`` (zeros), float64.
    """
    return initialize_parameters_deep_app(layer_dims)


def two_layer_model(
    X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000, print_cost=False, progress=None
):
    """LINEAR->RELU->LINEAR->SIGMOID, initialised with ``initialize_parameters``.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (1, m)
    layers_dims : tuple (n_x, n_h, n_y)
    learning_rate : float
    num_iterations : int
    print_cost : bool
        Print the cost every 100 iterations and at the last one.
    progress : bool or None
        Progress bar on stderr (None: only on a terminal).

    Returns
    -------
    parameters : dict
    costs : list of 0-d ndarray, one every 100 iterations
    """
    dims = checked_layer_dims(layers_dims, "two_layer_model", "layers_dims")
    if len(dims) != 3:
        raise ValueError(f"two_layer_model: layers_dims must be (n_x, n_h, n_y); got {dims}")
    parameters = initialize_parameters(*dims)
    return train(
        X,
        Y,
        parameters,
        learning_rate,
        num_iterations,
        print_cost,
        progress,
        where="two_layer_model",
    )


def L_layer_model(
    X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000, print_cost=False, progress=None
):
    """[LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID, initialised with the application's flavour.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (1, m)
    layers_dims : list of int
        ``[n_x, n_1, ..., 1]``.
    learning_rate : float
    num_iterations : int
    print_cost : bool
    progress : bool or None

    Returns
    -------
    parameters : dict
    costs : list of 0-d ndarray, one every 100 iterations
    """
    parameters = initialize_parameters_deep(layers_dims)
    return train(
        X, Y, parameters, learning_rate, num_iterations, print_cost, progress, where="L_layer_model"
    )


def predict(X, y, parameters):
    """Labels (probability > 0.5) and the printed accuracy, as the course's ``predict``.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    y : array-like of shape (1, m)
        True labels (a list works too).
    parameters : dict

    Returns
    -------
    p : ndarray of shape (1, m), float64 of 0/1
    """
    m = X.shape[1]
    probas, _ = L_model_forward(X, parameters)
    p = (probas > 0.5).astype(np.float64)
    print("Accuracy: " + str(np.sum((p == np.asarray(y)) / m)))
    return p


def print_mislabeled_images(classes, X, y, p):
    """Show the images where prediction and label differ (needs matplotlib).

    Parameters
    ----------
    classes : ndarray of bytes
    X : ndarray of shape (64*64*3, m)
    y, p : ndarray of shape (1, m)
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "print_mislabeled_images needs matplotlib: pip install 'fastdnn[plot]'"
        ) from None
    a = p + y
    mislabeled = np.asarray(np.where(a == 1))
    plt.rcParams["figure.figsize"] = (40.0, 40.0)
    n = len(mislabeled[0])
    for i in range(n):
        index = mislabeled[1][i]
        plt.subplot(2, n, i + 1)
        plt.imshow(X[:, index].reshape(64, 64, 3), interpolation="nearest")
        plt.axis("off")
        plt.title(
            "Prediction: "
            + classes[int(p[0, index])].decode("utf-8")
            + " \n Class: "
            + classes[int(y[0, index])].decode("utf-8")
        )
