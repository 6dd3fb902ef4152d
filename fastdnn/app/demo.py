"""``fastdnn demo``: the application notebook on the embedded dataset, with timings.

Trains the course's cat network [12288, 20, 7, 5, 1] on deterministic
synthetic images in the course's layout (``fastdnn.app.data``), prints the
training and test accuracy, the time per training step of fastdnn against
the course's plain NumPy code measured side by side, and writes the model
and the cost curve.
"""

import os
import time

import numpy as np

from ..course import reference
from ..serving.modelfile import save_model
from .data import flatten_images, synthetic_catvnoncat
from .notebook import L_layer_model, initialize_parameters_deep, predict
from .train import train

LAYERS = [12288, 20, 7, 5, 1]
LEARNING_RATE = 0.0075


def step_times(X, Y, repeats=5, steps=30):
    """Median seconds per training step: fastdnn's trainer and NumPy doing the same work.

    The NumPy side is ``reference.trainer_steps``: the trainer's work (no
    ``dA0``, ``dZ = AL - Y`` at the output, the cost every 100 steps, in-place
    updates), not the notebook's fuller step. Each sample is ``steps``
    consecutive steps of one side, the two alternating after pauses and
    the first one rotating: OpenBLAS's idle workers spin for a while
    after a call and would slow whoever runs next (docs/performance.md,
    "Spinning thread pools").
    """
    parameters = initialize_parameters_deep(LAYERS)
    sides = {
        "fastdnn": lambda: train(X, Y, parameters, LEARNING_RATE, steps),
        "numpy": lambda: reference.trainer_steps(X, Y, parameters, LEARNING_RATE, steps),
    }
    train(X, Y, parameters, LEARNING_RATE, 2)  # compile or load the kernels first
    times = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeats):
        for name in names[r % 2 :] + names[: r % 2]:
            time.sleep(0.3)  # longer than OpenBLAS's spin
            t = time.perf_counter()
            sides[name]()
            times[name].append((time.perf_counter() - t) / steps)
    return float(np.median(times["fastdnn"])), float(np.median(times["numpy"]))


def run(out=".", iterations=1000, progress=None):
    os.makedirs(out, exist_ok=True)
    print("fastdnn demo: the course's cat network on the embedded synthetic dataset")
    print("(209 training and 50 test images, 64x64x3, in the course's layout; no download)")
    train_x_orig, train_y = synthetic_catvnoncat(209, seed=0)
    test_x_orig, test_y = synthetic_catvnoncat(50, seed=1)
    train_x, test_x = flatten_images(train_x_orig), flatten_images(test_x_orig)
    train_y, test_y = train_y.reshape(1, -1), test_y.reshape(1, -1)

    t = time.perf_counter()
    parameters, costs = L_layer_model(
        train_x, train_y, LAYERS, LEARNING_RATE, iterations, print_cost=True, progress=progress
    )
    seconds = time.perf_counter() - t
    print(
        f"trained {iterations} iterations in {seconds:.2f} s (loading the kernels, or compiling them, included)"
    )
    print("training set: ", end="")
    predict(train_x, train_y, parameters)
    print("test set:     ", end="")
    predict(test_x, test_y, parameters)

    fast, numpy = step_times(train_x, train_y)
    print(
        f"one training step (m=209, float64, same work on both sides): fastdnn {fast * 1e3:.2f} ms, "
        f"NumPy {numpy * 1e3:.2f} ms: {numpy / fast:.2f}x faster"
    )

    model = os.path.join(out, "fastdnn_model.h5")
    save_model(
        model,
        parameters,
        training={
            "learning_rate": LEARNING_RATE,
            "num_iterations": iterations,
            "layers_dims": LAYERS,
            "data": "fastdnn.app.data.synthetic_catvnoncat(209, seed=0)",
        },
    )
    print(f"model written to {model}")
    try:
        from .plot import plot_costs

        print(
            f"cost curve written to {plot_costs(costs, LEARNING_RATE, os.path.join(out, 'fastdnn_costs.png'))}"
        )
    except ImportError as exc:
        print(f"cost curve not written: {exc}")
