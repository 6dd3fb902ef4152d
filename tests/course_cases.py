"""The course's test-case inputs (newest testCases generators, and older ones).

See ../shared/COURSE_FACTS.md. Each returns exactly what the course's
generator returns, drawn from NumPy's global RNG with the course's seed.
"""

import numpy as np

randn = np.random.randn


def linear_forward():
    np.random.seed(1)
    return randn(3, 2), randn(1, 3), randn(1, 1)


def linear_activation_forward():
    np.random.seed(2)
    return randn(3, 2), randn(1, 3), randn(1, 1)


def _params(*shapes):
    parameters = {}
    for l, (n, n_prev) in enumerate(shapes, start=1):
        parameters[f"W{l}"] = randn(n, n_prev)
        parameters[f"b{l}"] = randn(n, 1)
    return parameters


def L_model_forward_2hidden():
    np.random.seed(6)
    X = randn(5, 4)
    return X, _params((4, 5), (3, 4), (1, 3))


def L_model_forward_1hidden():
    np.random.seed(1)
    X = randn(4, 2)
    return X, _params((3, 4), (1, 3))


def compute_cost(old=False):
    return np.asarray([[1, 1, 1]] if old else [[1, 1, 0]]), np.array([[0.8, 0.9, 0.4]])


def linear_backward(old=False):
    np.random.seed(1)
    if old:
        dZ, A, W, b = randn(1, 2), randn(3, 2), randn(1, 3), randn(1, 1)
    else:
        dZ, A, W, b = randn(3, 4), randn(5, 4), randn(3, 5), randn(3, 1)
    return dZ, (A, W, b)


def linear_activation_backward():
    np.random.seed(2)
    dA, A, W, b, Z = randn(1, 2), randn(3, 2), randn(1, 3), randn(1, 1), randn(1, 2)
    return dA, ((A, W, b), Z)


def L_model_backward():
    np.random.seed(3)
    AL = randn(1, 2)
    Y = np.array([[1, 0]])
    A1, W1, b1, Z1 = randn(4, 2), randn(3, 4), randn(3, 1), randn(3, 2)
    A2, W2, b2, Z2 = randn(3, 2), randn(1, 3), randn(1, 1), randn(1, 2)
    return AL, Y, (((A1, W1, b1), Z1), ((A2, W2, b2), Z2))


def update_parameters():
    np.random.seed(2)
    parameters = {"W1": randn(3, 4), "b1": randn(3, 1), "W2": randn(1, 3), "b2": randn(1, 1)}
    np.random.seed(3)
    grads = {"dW1": randn(3, 4), "db1": randn(3, 1), "dW2": randn(1, 3), "db2": randn(1, 1)}
    return parameters, grads, 0.1
