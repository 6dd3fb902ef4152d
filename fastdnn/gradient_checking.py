"""Course 2, week 1, "Gradient Checking": ``gc_utils`` and the notebook's functions.

``from fastdnn.gradient_checking import *`` replaces ``from gc_utils import *``: the
vector helpers (``dictionary_to_vector``, ``vector_to_dictionary``,
``gradients_to_vector``), the 1-D example (``forward_propagation``,
``backward_propagation``, ``gradient_check``), and the N-dimensional check.

The notebook defines ``forward_propagation_n`` itself, and its ``gradient_check_n`` calls
that global. Here ``forward_propagation_n`` is the notebook's (the ``[4, 5, 3, 1]`` net's
cost ``1/m sum(logprobs)`` and its cache), and ``gradient_check_n`` calls it unless given
another: ``gradient_check_n(..., forward_propagation_n=my_forward)`` checks against the
learner's own. ``backward_propagation_n`` is the notebook's with its two planted bugs
fixed (``dW2`` doubled, ``db1`` with ``4/m``); the learner's buggy one, passed as the
gradients, reports the large difference the notebook expects.
"""

import numpy as np

from .improving import net3
from .improving.common import relu, sigmoid

__all__ = [
    "backward_propagation",
    "backward_propagation_n",
    "dictionary_to_vector",
    "forward_propagation",
    "forward_propagation_n",
    "gradient_check",
    "gradient_check_n",
    "gradients_to_vector",
    "relu",
    "sigmoid",
    "vector_to_dictionary",
]

_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")
_SHAPES = ((5, 4), (5, 1), (3, 5), (3, 1), (1, 3), (1, 1))


def dictionary_to_vector(parameters):
    """``(theta (n, 1), keys)``: W1, b1, W2, b2, W3, b3 flattened row by row, one after
    another, and the key of each entry."""
    if not isinstance(parameters, dict):
        raise TypeError(
            f"dictionary_to_vector: parameters must be a dict; got {type(parameters).__name__}"
        )
    vectors, keys = [], []
    for key in _KEYS:
        if key not in parameters:
            raise ValueError(f"dictionary_to_vector: parameters lacks {key!r}")
        vector = np.reshape(parameters[key], (-1, 1))
        keys += [key] * vector.shape[0]
        vectors.append(vector)
    return np.concatenate(vectors, axis=0), keys


def vector_to_dictionary(theta):
    """The parameters of the notebook's ``[4, 5, 3, 1]`` net from a (47, 1) vector (views
    of ``theta``, as the course's reshapes)."""
    theta = np.asarray(theta)
    if theta.size != 47:
        raise ValueError(f"vector_to_dictionary: theta must hold 47 values; got {theta.shape}")
    parameters, offset = {}, 0
    for key, shape in zip(_KEYS, _SHAPES, strict=True):
        size = shape[0] * shape[1]
        parameters[key] = theta[offset : offset + size].reshape(shape)
        offset += size
    return parameters


def gradients_to_vector(gradients):
    """dW1, db1, dW2, db2, dW3, db3 flattened into one (n, 1) vector."""
    if not isinstance(gradients, dict):
        raise TypeError(
            f"gradients_to_vector: gradients must be a dict; got {type(gradients).__name__}"
        )
    vectors = []
    for key in ("dW1", "db1", "dW2", "db2", "dW3", "db3"):
        if key not in gradients:
            raise ValueError(f"gradients_to_vector: gradients lacks {key!r}")
        vectors.append(np.reshape(gradients[key], (-1, 1)))
    return np.concatenate(vectors, axis=0)


def forward_propagation(x, theta):
    """The 1-D example's ``J = theta * x``."""
    J = theta * x
    return J


def backward_propagation(x, theta):
    """dJ/dtheta of the 1-D example: ``x``."""
    dtheta = x
    return dtheta


def _report(difference, print_msg):
    if print_msg:
        if difference > 2e-7:
            print(
                "\033[93m" + "There is a mistake in the backward propagation! difference = "
                + str(difference) + "\033[0m"
            )  # fmt: skip
        else:
            print(
                "\033[92m" + "Your backward propagation works perfectly fine! difference = "
                + str(difference) + "\033[0m"
            )  # fmt: skip


def _epsilon(epsilon, where):
    if isinstance(epsilon, (bool, np.bool_)) or not np.isscalar(epsilon) or not epsilon > 0:
        raise ValueError(f"{where}: epsilon must be a number > 0; got {epsilon!r}")
    return epsilon


def gradient_check(x, theta, epsilon=1e-7, print_msg=False):
    """``||grad - gradapprox|| / (||grad|| + ||gradapprox||)`` for the 1-D example, the
    approximation a central difference of width ``2 epsilon``; with ``print_msg``, says
    whether it is under 2e-7."""
    epsilon = _epsilon(epsilon, "gradient_check")
    J_plus = forward_propagation(x, theta + epsilon)
    J_minus = forward_propagation(x, theta - epsilon)
    gradapprox = (J_plus - J_minus) / (2 * epsilon)
    grad = backward_propagation(x, theta)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    difference = numerator / denominator
    _report(difference, print_msg)
    return difference


def _labels(Y, X):
    """The notebook's test case has a 1-D Y (m,): NumPy broadcasts it as (1, m)."""
    Y = np.asarray(Y)
    return Y.reshape((1, -1)) if Y.ndim == 1 and Y.size == np.shape(X)[1] else Y


def forward_propagation_n(X, Y, parameters):
    """The notebook's ``forward_propagation_n``: ``(cost, cache)``, the cost
    ``1/m sum(logprobs)`` (a plain sum), the 12-tuple cache."""
    A3, cache = net3.forward(X, parameters, "forward_propagation_n")
    cost = net3.cost(A3, _labels(Y, X), "forward_propagation_n", nan_sum=False, name="A3")
    return cost, cache


def backward_propagation_n(X, Y, cache):
    """The notebook's ``backward_propagation_n``, correct: the 11 uppercase gradients."""
    return net3.backward(X, _labels(Y, X), cache, "backward_propagation_n", net3.UPPER_KEYS)


def gradient_check_n(
    parameters, gradients, X, Y, epsilon=1e-7, print_msg=False, *, forward_propagation_n=None
):
    """The relative difference between ``gradients`` and a central-difference
    approximation: each of the parameters nudged by +-``epsilon`` in turn, the cost
    evaluated by ``forward_propagation_n`` (this module's, the notebook's, unless another
    is given). With ``print_msg``, says whether it is under 2e-7."""
    where = "gradient_check_n"
    epsilon = _epsilon(epsilon, where)
    forward = (
        globals()["forward_propagation_n"]
        if forward_propagation_n is None
        else forward_propagation_n
    )
    if not callable(forward):
        raise TypeError(f"{where}: forward_propagation_n must be a function")
    parameters_values, _ = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients)
    num_parameters = parameters_values.shape[0]
    if grad.shape != parameters_values.shape:
        raise ValueError(
            f"{where}: gradients hold {grad.shape[0]} values, parameters {num_parameters}"
        )
    J_plus = np.zeros((num_parameters, 1))
    J_minus = np.zeros((num_parameters, 1))
    gradapprox = np.zeros((num_parameters, 1))
    for i in range(num_parameters):
        theta_plus = np.copy(parameters_values)
        theta_plus[i] = theta_plus[i] + epsilon
        J_plus[i], _ = forward(X, Y, vector_to_dictionary(theta_plus))
        theta_minus = np.copy(parameters_values)
        theta_minus[i] = theta_minus[i] - epsilon
        J_minus[i], _ = forward(X, Y, vector_to_dictionary(theta_minus))
        gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    difference = numerator / denominator
    _report(difference, print_msg)
    return difference


_ = (relu, sigmoid)
