"""What the four helper modules share, as the course writes it."""

import numpy as np


def sigmoid(x):
    s = 1 / (1 + np.exp(-x))
    return s


def relu(x):
    s = np.maximum(0, x)
    return s


def forward_propagation(X, parameters):
    W1 = parameters["W1"]
    b1 = parameters["b1"]
    W2 = parameters["W2"]
    b2 = parameters["b2"]
    W3 = parameters["W3"]
    b3 = parameters["b3"]
    z1 = np.dot(W1, X) + b1
    a1 = relu(z1)
    z2 = np.dot(W2, a1) + b2
    a2 = relu(z2)
    z3 = np.dot(W3, a2) + b3
    a3 = sigmoid(z3)
    cache = (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3)
    return a3, cache


def backward_propagation_lower(X, Y, cache):
    """``init_utils``' and ``opt_utils_v1a``'s: 1/m folded into dz3, lowercase keys."""
    m = X.shape[1]
    (z1, a1, W1, b1, z2, a2, W2, b2, z3, a3, W3, b3) = cache
    dz3 = 1.0 / m * (a3 - Y)
    dW3 = np.dot(dz3, a2.T)
    db3 = np.sum(dz3, axis=1, keepdims=True)
    da2 = np.dot(W3.T, dz3)
    dz2 = np.multiply(da2, np.int64(a2 > 0))
    dW2 = np.dot(dz2, a1.T)
    db2 = np.sum(dz2, axis=1, keepdims=True)
    da1 = np.dot(W2.T, dz2)
    dz1 = np.multiply(da1, np.int64(a1 > 0))
    dW1 = np.dot(dz1, X.T)
    db1 = np.sum(dz1, axis=1, keepdims=True)
    gradients = {
        "dz3": dz3, "dW3": dW3, "db3": db3,
        "da2": da2, "dz2": dz2, "dW2": dW2, "db2": db2,
        "da1": da1, "dz1": dz1, "dW1": dW1, "db1": db1,
    }  # fmt: skip
    return gradients


def update_parameters(parameters, grads, learning_rate):
    n = len(parameters) // 2
    for k in range(n):
        parameters["W" + str(k + 1)] = (
            parameters["W" + str(k + 1)] - learning_rate * grads["dW" + str(k + 1)]
        )
        parameters["b" + str(k + 1)] = (
            parameters["b" + str(k + 1)] - learning_rate * grads["db" + str(k + 1)]
        )
    return parameters


def predict(X, y, parameters):
    m = X.shape[1]
    p = np.zeros((1, m), dtype=int)
    a3, caches = forward_propagation(X, parameters)
    for i in range(0, a3.shape[1]):
        if a3[0, i] > 0.5:
            p[0, i] = 1
        else:
            p[0, i] = 0
    print("Accuracy: " + str(np.mean(p[0, :] == y[0, :])))
    return p


def predict_dec(parameters, X):
    a3, cache = forward_propagation(X, parameters)
    predictions = a3 > 0.5
    return predictions


def nansum_cost(a3, Y):
    """``init_utils.compute_loss`` and ``reg_utils.compute_cost``."""
    m = Y.shape[1]
    logprobs = np.multiply(-np.log(a3), Y) + np.multiply(-np.log(1 - a3), 1 - Y)
    cost = 1.0 / m * np.nansum(logprobs)
    return cost
