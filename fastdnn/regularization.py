"""Course 2, week 1, "Regularization": ``reg_utils`` and the graded functions, as drop-ins.

``from fastdnn.regularization import *`` replaces ``from reg_utils import *``: the
helpers under their names and signatures (uppercase gradient keys, ``1/m`` on each ``dW``
and ``db``, ``compute_cost`` with ``1/m nansum``, ``update_parameters`` writing into the
dict it is given, ``load_2D_dataset`` reading the course's MAT file), the graded L2 and
dropout functions, and ``model``, the notebook's loop run whole in compiled code.
"""

import os

import numpy as np

from .improving import common, data, helpers, loops, net3, plot
from .improving.helpers import plot_decision_boundary, predict, predict_dec, relu, sigmoid

__all__ = [
    "backward_propagation",
    "backward_propagation_with_dropout",
    "backward_propagation_with_regularization",
    "compute_cost",
    "compute_cost_with_regularization",
    "forward_propagation",
    "forward_propagation_with_dropout",
    "initialize_parameters",
    "load_2D_dataset",
    "model",
    "update_parameters",
    *helpers.__all__,
]


def load_2D_dataset(path="datasets/data.mat", *, plot_data=True):
    """``(train_X (2, 211), train_Y (1, 211) uint8, test_X (2, 200), test_Y (1, 200)
    uint8)`` from the course's ``datasets/data.mat`` (``path``: where it is, if not in the
    working folder), as ``scipy.io.loadmat`` reads it; the training set scattered where
    matplotlib is installed (``plot_data=False`` skips it)."""
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"load_2D_dataset: {path} not found; it is the course's datasets/data.mat "
            "(pass path= where it is)"
        )
    mat = data.read_mat(path)
    missing = {"X", "y", "Xval", "yval"} - set(mat)
    if missing:
        raise data.MatFileError(f"{path}: lacks {sorted(missing)}; not the course's data.mat")
    train_X, train_Y = mat["X"].T, mat["y"].T
    test_X, test_Y = mat["Xval"].T, mat["yval"].T
    if plot_data:
        plot.scatter(train_X.T, train_Y)
    return train_X, train_Y, test_X, test_Y


def initialize_parameters(layer_dims):
    """``np.random.seed(3)``, then ``randn(n_l, n_{l-1}) / sqrt(n_{l-1})`` and zero biases."""
    return common.initialize(layer_dims, ("div", np.sqrt), "initialize_parameters")


def forward_propagation(X, parameters):
    """LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID: ``(A3, cache)``, the 12-tuple cache
    ``(Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)``."""
    return net3.forward(X, parameters, "forward_propagation")


def backward_propagation(X, Y, cache):
    """The 11 gradients ``dZ3, dW3, db3, dA2, dZ2, dW2, db2, dA1, dZ1, dW1, db1``."""
    return net3.backward(X, Y, cache, "backward_propagation", net3.UPPER_KEYS)


def compute_cost(a3, Y):
    """``1/m nansum(-log(a3) Y - log(1 - a3) (1 - Y))``."""
    return net3.cost(a3, Y, "compute_cost")


def compute_cost_with_regularization(A3, Y, parameters, lambd):
    """``compute_cost`` plus ``lambd (sum W1^2 + sum W2^2 + sum W3^2) / (2 m)``."""
    return net3.l2_cost(A3, Y, parameters, lambd, "compute_cost_with_regularization")


def backward_propagation_with_regularization(X, Y, cache, lambd):
    """``backward_propagation`` with ``dWl = 1/m dZl A_{l-1}^T + (lambd Wl) / m``."""
    where = "backward_propagation_with_regularization"
    return net3.backward(X, Y, cache, where, net3.UPPER_KEYS, net3.penalty(lambd, where))


def forward_propagation_with_dropout(X, parameters, keep_prob=0.5):
    """The forward pass with inverted dropout on both hidden layers: ``np.random.seed(1)``,
    then ``D1 = rand(*A1.shape) < keep_prob``, ``A1 = A1 * D1 / keep_prob``, the same for
    A2. Returns ``(A3, cache)``, the 14-tuple cache
    ``(Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)``."""
    return net3.forward(X, parameters, "forward_propagation_with_dropout", keep_prob)


def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    """``backward_propagation`` on the dropout cache: ``dA2 = W3^T dZ3 * D2 / keep_prob``,
    the same for ``dA1``."""
    where = "backward_propagation_with_dropout"
    return net3.backward(X, Y, cache, where, net3.UPPER_KEYS, keep_prob=keep_prob)


def update_parameters(parameters, grads, learning_rate):
    """``W = W - learning_rate dW`` (and b), written into ``parameters``, which is returned."""
    return net3.gd_update(parameters, grads, learning_rate, "update_parameters")


model = loops.regularization_model

_ = (predict, predict_dec, relu, sigmoid, plot_decision_boundary)
