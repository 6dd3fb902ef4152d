"""Plain NumPy versions of every course function: the course's own formulas.

The reference everything is measured against: the tests' oracle
(``tests/naive.py``), the benchmarks' baseline and the demo's speed-up. It is
deliberately the obvious code, with no attention to speed or overflow, and it
imports nothing from fastdnn.
"""

import numpy as np


def sigmoid(Z):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-Z)), Z


def relu(Z):
    return np.maximum(0, Z), Z


def relu_backward(dA, Z):
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, Z):
    s = sigmoid(Z)[0]
    return dA * s * (1 - s)


ACTIVATIONS = {"relu": (relu, relu_backward), "sigmoid": (sigmoid, sigmoid_backward)}


def linear_forward(A, W, b):
    return W @ A + b, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    Z, linear_cache = linear_forward(A_prev, W, b)
    A, activation_cache = ACTIVATIONS[activation][0](Z)
    return A, (linear_cache, activation_cache)


def L_model_forward(X, parameters):
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A, cache = linear_activation_forward(A, parameters[f"W{l}"], parameters[f"b{l}"], "relu")
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters[f"W{L}"], parameters[f"b{L}"], "sigmoid")
    caches.append(cache)
    return AL, caches


def compute_cost(AL, Y):
    m = Y.shape[1]
    cost = -1 / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    return np.squeeze(cost)


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    dZ = ACTIVATIONS[activation][1](dA, activation_cache)
    return linear_backward(dZ, linear_cache)


def L_model_backward(AL, Y, caches):
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads[f"dA{L - 1}"], grads[f"dW{L}"], grads[f"db{L}"] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid"
    )
    for l in reversed(range(L - 1)):
        dA_prev, dW, db = linear_activation_backward(grads[f"dA{l + 1}"], caches[l], "relu")
        grads[f"dA{l}"], grads[f"dW{l + 1}"], grads[f"db{l + 1}"] = dA_prev, dW, db
    return grads


def update_parameters(params, grads, learning_rate):
    parameters = params.copy()
    L = len(parameters) // 2
    for l in range(1, L + 1):
        parameters[f"W{l}"] = params[f"W{l}"] - learning_rate * grads[f"dW{l}"]
        parameters[f"b{l}"] = params[f"b{l}"] - learning_rate * grads[f"db{l}"]
    return parameters


def training_step(X, Y, parameters, learning_rate):
    """One iteration of the course's L_layer_model loop; returns (parameters, cost)."""
    AL, caches = L_model_forward(X, parameters)
    cost = compute_cost(AL, Y)
    grads = L_model_backward(AL, Y, caches)
    return update_parameters(parameters, grads, learning_rate), cost


def trainer_steps(X, Y, parameters, learning_rate, num_iterations):
    """The work of fastdnn's trainer (``fastdnn.app.train``), in plain NumPy.

    Not the notebook's loop (that is ``training_step`` repeated): the output
    layer's ``dZ = AL - Y`` directly, no ``dA0``, the cost only when
    ``i % 100 == 0``, the parameters updated in place on a private copy.
    The benchmarks compare the trainer with this, so both sides do the same work.
    """
    params = {k: np.array(v, copy=True) for k, v in parameters.items()}
    L = len(params) // 2
    m = X.shape[1]
    costs = []
    for i in range(num_iterations):
        As, Zs = [X], []
        for l in range(1, L + 1):
            Z = params[f"W{l}"] @ As[-1] + params[f"b{l}"]
            As.append(sigmoid(Z)[0] if l == L else relu(Z)[0])
            Zs.append(Z)
        if i % 100 == 0:
            costs.append(compute_cost(As[-1], Y))
        dZ = As[-1] - Y
        for l in range(L, 0, -1):
            dW = 1 / m * np.dot(dZ, As[l - 1].T)
            db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
            dA_prev = np.dot(params[f"W{l}"].T, dZ) if l > 1 else None
            params[f"W{l}"] -= learning_rate * dW
            params[f"b{l}"] -= learning_rate * db
            if l > 1:
                dZ = relu_backward(dA_prev, Zs[l - 2])
    return params, costs


# The application notebook's helper module (``dnn_app_utils``), also plain NumPy.


def load_data(path):
    """The course's ``load_data``: the cat vs non-cat sets from ``path``'s two HDF5 files."""
    import os

    import h5py

    with h5py.File(os.path.join(path, "train_catvnoncat.h5"), "r") as f:
        train_x, train_y = np.array(f["train_set_x"][:]), np.array(f["train_set_y"][:])
    with h5py.File(os.path.join(path, "test_catvnoncat.h5"), "r") as f:
        test_x, test_y = np.array(f["test_set_x"][:]), np.array(f["test_set_y"][:])
        classes = np.array(f["list_classes"][:])
    return train_x, train_y.reshape(1, -1), test_x, test_y.reshape(1, -1), classes


def initialize_parameters(n_x, n_h, n_y):
    np.random.seed(1)
    W1 = np.random.randn(n_h, n_x) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = np.random.randn(n_y, n_h) * 0.01
    b2 = np.zeros((n_y, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def initialize_parameters_deep(layer_dims):
    """The application's flavour: seed 1, ``W_l = randn(n_l, n_{l-1}) / sqrt(n_{l-1})``."""
    np.random.seed(1)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters[f"W{l}"] = np.random.randn(layer_dims[l], layer_dims[l - 1]) / np.sqrt(
            layer_dims[l - 1]
        )
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters


def predict(X, y, parameters):
    m = X.shape[1]
    probas, _ = L_model_forward(X, parameters)
    p = (probas > 0.5).astype(np.float64)
    print("Accuracy: " + str(np.sum((p == y) / m)))
    return p
