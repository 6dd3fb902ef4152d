"""Course 2, week 1, "Initialization": ``init_utils`` and the graded functions, as drop-ins.

``from fastdnn.initialization import *`` replaces ``from init_utils import *``: the
helpers under their names and signatures (forward and backward passes with the flat
12-tuple cache and lowercase gradient keys, ``compute_loss`` with ``1/m nansum``,
``update_parameters`` writing into the dict it is given), the notebook's three graded
initialisations, and ``model``, the notebook's loop run whole in compiled code.
"""

import numpy as np

from .improving import common, data, helpers, loops, net3, plot
from .improving.helpers import plot_decision_boundary, predict, predict_dec, relu, sigmoid

__all__ = [
    "backward_propagation",
    "compute_loss",
    "forward_propagation",
    "initialize_parameters_he",
    "initialize_parameters_random",
    "initialize_parameters_zeros",
    "load_dataset",
    "model",
    "update_parameters",
    *helpers.__all__,
]


def forward_propagation(X, parameters):
    """LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID: ``(a3, cache)``, the cache
    ``(z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3)``.

    X : (n_x, m); parameters : W1 (n1, n_x), b1 (n1, 1), ..., W3 (1, n2), b3 (1, 1).
    """
    return net3.forward(X, parameters, "forward_propagation")


def backward_propagation(X, Y, cache):
    """The gradients: a dict of ``dz3, dW3, db3, da2, dz2, dW2, db2, da1, dz1, dW1, db1``
    (``dz3 = 1/m (a3 - Y)``, then plain products and sums)."""
    return net3.backward(X, Y, cache, "backward_propagation", net3.LOWER_KEYS)


def compute_loss(a3, Y):
    """``1/m nansum(-log(a3) Y - log(1 - a3) (1 - Y))`` (a saturated output gives inf)."""
    return net3.cost(a3, Y, "compute_loss")


def update_parameters(parameters, grads, learning_rate):
    """``W = W - learning_rate dW`` (and b) for every layer, written into ``parameters``,
    which is returned."""
    return net3.gd_update(parameters, grads, learning_rate, "update_parameters")


def load_dataset(*, plot_data=True):
    """``(train_X (2, 300), train_Y (1, 300), test_X (2, 100), test_Y (1, 100))``: the
    circles the course draws (seed 1, then seed 2), its arrays to the bit; the training
    set scattered where matplotlib is installed, as the course does (``plot_data=False``
    skips it)."""
    train_X, train_Y, test_X, test_Y = data.circles()
    if plot_data:
        plot.scatter(train_X, train_Y)
    return train_X.T, train_Y.reshape((1, -1)), test_X.T, test_Y.reshape((1, -1))


def initialize_parameters_zeros(layers_dims):
    """Every W and b zero (the notebook's first, failing, choice)."""
    return common.initialize(layers_dims, None, "initialize_parameters_zeros")


def initialize_parameters_random(layers_dims):
    """``np.random.seed(3)``, then ``randn(n_l, n_{l-1}) * 10`` and zero biases."""
    return common.initialize(layers_dims, ("mul", lambda n: 10), "initialize_parameters_random")


def initialize_parameters_he(layers_dims):
    """``np.random.seed(3)``, then ``randn(n_l, n_{l-1}) * sqrt(2 / n_{l-1})`` and zero
    biases."""
    return common.initialize(
        layers_dims, ("mul", lambda n: np.sqrt(2.0 / n)), "initialize_parameters_he"
    )


model = loops.initialization_model

_ = (predict, predict_dec, relu, sigmoid, plot_decision_boundary)
