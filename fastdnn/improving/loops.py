"""Each Course 2 notebook's ``model(...)``, its whole loop in compiled code.

The same arguments, printed lines, recorded costs, random draws and returned parameters as
the notebook's own ``model`` (written out in ``reference.notebooks``), with the loop in
``kernels.net3_loops``: Python runs between prints only (every 1,000 iterations, every 100
epochs), to print, to draw the mini-batch permutations from NumPy's global stream exactly
as ``random_mini_batches`` would, and to call a ``decay`` function. The notebooks' cost plot
is drawn where matplotlib is installed (``plot=False`` skips it).
"""

import numpy as np

from .._internal.activations import (
    NET3_ADAM,
    NET3_GD,
    NET3_LOWER,
    NET3_MOMENTUM,
    NET3_UPPER,
)
from .._internal.lazy import kernels as K
from .._internal.validation import learning_rate_value, whole_number
from . import common, net3, plot

_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
OPTIMIZERS = {"gd": NET3_GD, "momentum": NET3_MOMENTUM, "adam": NET3_ADAM}


def flatten(parameters, where):
    """``(theta, dims)``: the six arrays in one vector (``dictionary_to_vector``'s order)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in net3.parameter_arrays(parameters, where)]
    W1, _, W2, _, W3, _ = arrays
    dims = np.array([W1.shape[1], W1.shape[0], W2.shape[0], W3.shape[0]], np.int64)
    return np.concatenate([a.ravel() for a in arrays]), dims


def unflatten(theta, dims):
    """The parameters dict of a flat vector (new arrays)."""
    n0, n1, n2, n3 = (int(n) for n in dims)
    shapes = ((n1, n0), (n1, 1), (n2, n1), (n2, 1), (n3, n2), (n3, 1))
    parameters, offset = {}, 0
    for name, shape in zip(_NAMES, shapes, strict=True):
        size = shape[0] * shape[1]
        parameters[name] = theta[offset : offset + size].reshape(shape).copy()
        offset += size
    return parameters


def _data(X, Y, where):
    Xk = net3.matrix(X, "X", where)
    Yk = net3.matrix(Y, "Y", where)
    if Yk.shape != (1, Xk.shape[1]):
        raise ValueError(
            f"{where}: Y must have shape (1, {Xk.shape[1]}) (a label per column of X); "
            f"got {Yk.shape}"
        )
    if not (np.isfinite(Xk).all() and np.isfinite(Yk).all()):
        raise ValueError(f"{where}: X and Y must be finite (no NaN or inf)")
    return Xk, Yk


def full_batch(
    X, Y, parameters, learning_rate, num_iterations, print_cost, print_every, where,
    mode, lambd=0.0, masks=None, keep_prob=1.0,
):  # fmt: skip
    """Full-batch gradient descent from ``parameters``: ``(parameters, costs)``, printing
    ``Cost after iteration {i}: {cost}`` every ``print_every`` and recording every 1,000
    iterations when ``print_cost`` (as the Initialization and Regularization notebooks)."""
    theta, dims = flatten(parameters, where)
    D1, D2 = masks if masks is not None else (net3.NO_MASK, net3.NO_MASK)
    every = 1000 if print_cost else 0
    costs = []
    chunk = np.empty(1)
    start = 0
    while start < num_iterations:
        stop = min(num_iterations, start + 1000) if print_cost else num_iterations
        bad = K._net3_train(
            X, Y, theta, dims, learning_rate, lambd, D1, D2, keep_prob, mode, True,
            start, stop, every, chunk,
        )  # fmt: skip
        if bad:
            raise ValueError(
                f"{where}: a gradient became NaN or inf between iterations {start} and "
                f"{stop - 1} (learning_rate {learning_rate} too large?)"
            )
        if print_cost:
            cost = chunk[0]
            if start % print_every == 0:
                print(f"Cost after iteration {start}: {cost}")
            costs.append(cost)
        start = stop
    return unflatten(theta, dims), costs


def initialization_model(
    X, Y, learning_rate=0.01, num_iterations=15000, print_cost=True, initialization="he",
    *, plot_costs=True,
):  # fmt: skip
    """The Initialization notebook's ``model``: ``[n_x, 10, 5, 1]`` trained by full-batch
    gradient descent from the ``initialization`` chosen (``"zeros"``, ``"random"``,
    ``"he"``); prints and records the cost every 1,000 iterations; returns the parameters."""
    where = "model"
    X, Y = _data(X, Y, where)
    learning_rate = learning_rate_value(learning_rate, where)
    num_iterations = whole_number(num_iterations, "num_iterations", where, least=0)
    layers_dims = [X.shape[0], 10, 5, 1]
    if initialization == "zeros":
        parameters = common.initialize(layers_dims, None, where)
    elif initialization == "random":
        parameters = common.initialize(layers_dims, ("mul", lambda n: 10), where)
    elif initialization == "he":
        parameters = common.initialize(layers_dims, ("mul", lambda n: np.sqrt(2.0 / n)), where)
    else:
        raise ValueError(
            f"{where}: initialization must be 'zeros', 'random' or 'he'; got {initialization!r}"
        )
    parameters, costs = full_batch(
        X, Y, parameters, learning_rate, num_iterations, print_cost, 1000, where, NET3_LOWER
    )
    if plot_costs:
        plot.cost_curve(costs, "iterations (per hundreds)", "Learning rate =" + str(learning_rate))
    return parameters


def regularization_model(
    X, Y, learning_rate=0.3, num_iterations=30000, print_cost=True, lambd=0, keep_prob=1,
    *, plot_costs=True,
):  # fmt: skip
    """The Regularization notebook's ``model``: ``[n_x, 20, 3, 1]`` from
    ``reg_utils.initialize_parameters``, L2 when ``lambd`` is not 0, dropout when
    ``keep_prob < 1`` (not both: the notebook asserts it); prints every 10,000 iterations,
    records every 1,000; returns the parameters."""
    where = "model"
    X, Y = _data(X, Y, where)
    learning_rate = learning_rate_value(learning_rate, where)
    num_iterations = whole_number(num_iterations, "num_iterations", where, least=0)
    lambd = net3.penalty(lambd, where)
    keep_prob = net3.probability(keep_prob, where)
    if lambd != 0 and keep_prob != 1:
        raise ValueError(
            f"{where}: use L2 (lambd={lambd}) or dropout (keep_prob={keep_prob}), not both: "
            "the notebook's model explores one at a time"
        )
    layers_dims = [X.shape[0], 20, 3, 1]
    parameters = common.initialize(layers_dims, ("div", np.sqrt), where)
    masks = None
    if keep_prob < 1:
        # forward_propagation_with_dropout reseeds on every call: the same masks each time
        m = X.shape[1]
        np.random.seed(1)
        D1 = np.random.rand(20, m) < keep_prob
        D2 = np.random.rand(3, m) < keep_prob
        masks = (D1, D2)
    parameters, costs = full_batch(
        X, Y, parameters, learning_rate, num_iterations, print_cost, 10000, where,
        NET3_UPPER, lambd, masks, keep_prob,
    )  # fmt: skip
    if plot_costs:
        plot.cost_curve(costs, "iterations (x1,000)", "Learning rate =" + str(learning_rate))
    return parameters


def optimization_model(
    X, Y, layers_dims, optimizer, learning_rate=0.0007, mini_batch_size=64, beta=0.9,
    beta1=0.9, beta2=0.999, epsilon=1e-8, num_epochs=5000, print_cost=True, decay=None,
    decay_rate=1, *, plot_costs=True,
):  # fmt: skip
    """The Optimization Methods notebook's ``model``: mini-batch epochs (``seed = 10``,
    plus one before each epoch's ``random_mini_batches``) with ``"gd"``, ``"momentum"`` or
    ``"adam"``, the learning rate set by ``decay(learning_rate0, epoch, decay_rate)``
    after each epoch when given; prints every 1,000 epochs, records every 100; returns
    the parameters."""
    where = "model"
    X, Y = _data(X, Y, where)
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"{where}: optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}"
        )
    dims_list = common.layer_sizes(layers_dims, where)
    if len(dims_list) != 4 or dims_list[0] != X.shape[0] or dims_list[-1] != 1:
        raise ValueError(
            f"{where}: layers_dims must be [{X.shape[0]}, n1, n2, 1] (X's rows, two hidden "
            f"layers, one output): the helpers' network has three layers; got {dims_list}"
        )
    learning_rate = learning_rate_value(learning_rate, where)
    mini_batch_size = whole_number(mini_batch_size, "mini_batch_size", where)
    num_epochs = whole_number(num_epochs, "num_epochs", where, least=0)
    for name, value in (("beta", beta), ("beta1", beta1), ("beta2", beta2), ("epsilon", epsilon)):
        if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
            raise ValueError(f"{where}: {name} must be a finite number; got {value!r}")
    if decay is not None and not callable(decay):
        raise TypeError(f"{where}: decay must be a function (update_lr, ...) or None")
    parameters = common.initialize(dims_list, ("mul", lambda n: np.sqrt(2 / n)), where)
    theta, dims = flatten(parameters, where)
    v = np.zeros_like(theta)
    s = np.zeros_like(theta)
    t = 0
    m = X.shape[1]
    learning_rate0 = learning_rate
    costs = []
    seed = 10
    for start in range(0, num_epochs, 100):
        stop = min(num_epochs, start + 100)
        permutations = np.empty((stop - start, m), np.int64)
        rates = np.empty(stop - start)
        after = []
        for e in range(start, stop):
            seed = seed + 1
            np.random.seed(seed)  # random_mini_batches(X, Y, mini_batch_size, seed)
            permutations[e - start] = np.random.permutation(m)
            rates[e - start] = learning_rate
            if decay:
                learning_rate = decay(learning_rate0, e, decay_rate)
            after.append(learning_rate)
        epoch_costs = np.empty(stop - start)
        t = K._net3_train_batches(
            X, Y, theta, dims, permutations, mini_batch_size, OPTIMIZERS[optimizer], rates,
            float(beta), float(beta1), float(beta2), float(epsilon), v, s, t, epoch_costs,
        )  # fmt: skip
        if t < 0:
            raise ValueError(
                f"{where}: a gradient became NaN or inf between epochs {start} and {stop - 1} "
                f"(learning_rate {learning_rate} too large?)"
            )
        for e in range(start, stop):
            cost_avg = epoch_costs[e - start] / m
            if print_cost and e % 1000 == 0:
                print("Cost after epoch %i: %f" % (e, cost_avg))
                if decay:
                    print("learning rate after epoch %i: %f" % (e, after[e - start]))
            if print_cost and e % 100 == 0:
                costs.append(cost_avg)
    if plot_costs:
        plot.cost_curve(costs, "epochs (per 100)", "Learning rate = " + str(learning_rate))
    return unflatten(theta, dims)
