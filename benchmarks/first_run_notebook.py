"""The application notebook as a learner runs it, top to bottom, in one process.

``python -m benchmarks.first_run_notebook fastdnn|numpy DATA_DIR [ITERATIONS]``: the
notebook's cells with the helper import of one side (``fastdnn.app``, or the
course's plain NumPy code, ``fastdnn.course.reference``), everything else the
same: load the data, flatten and scale it, the notebook's own ``two_layer_model``
and ``L_layer_model`` loops through the step-by-step functions (2500 iterations
each, the cost printed every 100), and ``predict`` on the training and test
sets after each. ``benchmarks.first_run`` times whole processes of it.
"""

import sys

import numpy as np


def two_layer_model(F, X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000):
    """The notebook's cell, as the learner writes it."""
    np.random.seed(1)
    costs = []
    (n_x, n_h, n_y) = layers_dims
    parameters = F.initialize_parameters(n_x, n_h, n_y)
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    grads = {}
    for i in range(0, num_iterations):
        A1, cache1 = F.linear_activation_forward(X, W1, b1, "relu")
        A2, cache2 = F.linear_activation_forward(A1, W2, b2, "sigmoid")
        cost = F.compute_cost(A2, Y)
        dA2 = -(np.divide(Y, A2) - np.divide(1 - Y, 1 - A2))
        dA1, dW2, db2 = F.linear_activation_backward(dA2, cache2, "sigmoid")
        dA0, dW1, db1 = F.linear_activation_backward(dA1, cache1, "relu")
        grads["dW1"], grads["db1"], grads["dW2"], grads["db2"] = dW1, db1, dW2, db2
        parameters = F.update_parameters(parameters, grads, learning_rate)
        W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
        if i % 100 == 0 or i == num_iterations - 1:
            print(f"Cost after iteration {i}: {np.squeeze(cost)}")
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    return parameters, costs


def L_layer_model(F, X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000):
    """The notebook's cell, as the learner writes it."""
    np.random.seed(1)
    costs = []
    parameters = F.initialize_parameters_deep(layers_dims)
    for i in range(0, num_iterations):
        AL, caches = F.L_model_forward(X, parameters)
        cost = F.compute_cost(AL, Y)
        grads = F.L_model_backward(AL, Y, caches)
        parameters = F.update_parameters(parameters, grads, learning_rate)
        if i % 100 == 0 or i == num_iterations - 1:
            print(f"Cost after iteration {i}: {np.squeeze(cost)}")
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    return parameters, costs


def main(side, data, iterations=2500):
    if side == "fastdnn":
        import fastdnn.app as F
    else:
        from fastdnn.course import reference as F
    train_x_orig, train_y, test_x_orig, test_y, classes = F.load_data(data)
    train_x = train_x_orig.reshape(train_x_orig.shape[0], -1).T / 255.0
    test_x = test_x_orig.reshape(test_x_orig.shape[0], -1).T / 255.0
    parameters, _ = two_layer_model(F, train_x, train_y, (12288, 7, 1), 0.0075, iterations)
    F.predict(train_x, train_y, parameters)
    F.predict(test_x, test_y, parameters)
    parameters, _ = L_layer_model(F, train_x, train_y, [12288, 20, 7, 5, 1], 0.0075, iterations)
    F.predict(train_x, train_y, parameters)
    F.predict(test_x, test_y, parameters)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
