"""``init_utils`` and the Initialization notebook's graded functions."""

import numpy as np

from ._common import backward_propagation_lower as backward_propagation
from ._common import forward_propagation, predict, predict_dec, relu, sigmoid, update_parameters
from ._common import nansum_cost as compute_loss

__all__ = [
    "backward_propagation", "compute_loss", "forward_propagation", "initialize_parameters_he",
    "initialize_parameters_random", "initialize_parameters_zeros", "load_dataset", "predict",
    "predict_dec", "relu", "sigmoid", "update_parameters",
]  # fmt: skip


def load_dataset():
    import sklearn.datasets

    np.random.seed(1)
    train_X, train_Y = sklearn.datasets.make_circles(n_samples=300, noise=0.05)
    np.random.seed(2)
    test_X, test_Y = sklearn.datasets.make_circles(n_samples=100, noise=0.05)
    train_X = train_X.T
    train_Y = train_Y.reshape((1, train_Y.shape[0]))
    test_X = test_X.T
    test_Y = test_Y.reshape((1, test_Y.shape[0]))
    return train_X, train_Y, test_X, test_Y


def initialize_parameters_zeros(layers_dims):
    parameters = {}
    L = len(layers_dims)
    for l in range(1, L):
        parameters["W" + str(l)] = np.zeros((layers_dims[l], layers_dims[l - 1]))
        parameters["b" + str(l)] = np.zeros((layers_dims[l], 1))
    return parameters


def initialize_parameters_random(layers_dims):
    np.random.seed(3)
    parameters = {}
    L = len(layers_dims)
    for l in range(1, L):
        parameters["W" + str(l)] = np.random.randn(layers_dims[l], layers_dims[l - 1]) * 10
        parameters["b" + str(l)] = np.zeros((layers_dims[l], 1))
    return parameters


def initialize_parameters_he(layers_dims):
    np.random.seed(3)
    parameters = {}
    L = len(layers_dims) - 1
    for l in range(1, L + 1):
        parameters["W" + str(l)] = np.random.randn(layers_dims[l], layers_dims[l - 1]) * np.sqrt(
            2.0 / layers_dims[l - 1]
        )
        parameters["b" + str(l)] = np.zeros((layers_dims[l], 1))
    return parameters


_ = (relu, sigmoid, predict, predict_dec, update_parameters, compute_loss, backward_propagation)
