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

from .notebook import L_layer_model, two_layer_model


def _trained(loop, F, X, Y, parameters, iterations):
    """The notebook's training cell: its own loop (``benchmarks.notebook``, the
    course's code), then the recorded costs printed as the course prints them."""
    parameters, costs = loop(F, X, Y, parameters, 0.0075, iterations)
    for i, cost in zip(range(0, iterations, 100), costs, strict=True):
        print(f"Cost after iteration {i}: {np.squeeze(cost)}")
    return parameters


def main(side, data, iterations=2500):
    if side == "fastdnn":
        import fastdnn.app as F
    else:
        from fastdnn.course import reference as F
    train_x_orig, train_y, test_x_orig, test_y, classes = F.load_data(data)
    train_x = train_x_orig.reshape(train_x_orig.shape[0], -1).T / 255.0
    test_x = test_x_orig.reshape(test_x_orig.shape[0], -1).T / 255.0
    parameters = _trained(
        two_layer_model, F, train_x, train_y, F.initialize_parameters(12288, 7, 1), iterations
    )
    F.predict(train_x, train_y, parameters)
    F.predict(test_x, test_y, parameters)
    parameters = _trained(
        L_layer_model,
        F,
        train_x,
        train_y,
        F.initialize_parameters_deep([12288, 20, 7, 5, 1]),
        iterations,
    )
    F.predict(train_x, train_y, parameters)
    F.predict(test_x, test_y, parameters)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
