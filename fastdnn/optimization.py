"""Course 2, week 2, "Optimization Methods": ``opt_utils_v1a`` and the graded functions.

``from fastdnn.optimization import *`` replaces ``from opt_utils_v1a import *``: the
helpers under their names and signatures (lowercase gradient keys, ``compute_cost`` the
SUM over the examples), the graded updates (gradient descent, momentum, Adam with its
five return values), ``random_mini_batches`` drawing NumPy's permutation as the course
does, the learning-rate decays, and ``model``, the notebook's loop run whole in compiled
code.
"""

import math
import numbers

import numpy as np

from ._internal.lazy import kernels as K
from ._internal.validation import (
    layer_count,
    learning_rate_value,
    raise_nonfinite,
    whole_number,
)
from .improving import common, data, helpers, loops, net3, plot
from .improving.helpers import plot_decision_boundary, predict, predict_dec, relu, sigmoid

__all__ = [
    "backward_propagation",
    "compute_cost",
    "forward_propagation",
    "initialize_adam",
    "initialize_parameters",
    "initialize_velocity",
    "load_dataset",
    "load_params_and_grads",
    "model",
    "random_mini_batches",
    "schedule_lr_decay",
    "update_lr",
    "update_parameters_with_adam",
    "update_parameters_with_gd",
    "update_parameters_with_momentum",
    *helpers.__all__,
]


def load_dataset(*, plot_data=True):
    """``(train_X (2, 300), train_Y (1, 300))``: the moons the course draws (seed 3), its
    arrays to the bit; scattered where matplotlib is installed (``plot_data=False`` skips
    it)."""
    train_X, train_Y = data.moons()
    if plot_data:
        plot.scatter(train_X, train_Y)
    return train_X.T, train_Y.reshape((1, -1))


def load_params_and_grads(seed=1):
    """The helper's test arrays: ``np.random.seed(seed)``, then ``W1 (2, 3), b1 (2, 1),
    W2 (3, 3), b2 (3, 1), dW1, db1, dW2, db2`` of the same shapes drawn by ``randn``."""
    np.random.seed(seed)
    shapes = ((2, 3), (2, 1), (3, 3), (3, 1)) * 2
    return tuple(np.random.randn(*shape) for shape in shapes)


def initialize_parameters(layer_dims):
    """``np.random.seed(3)``, then He: ``randn(n_l, n_{l-1}) * sqrt(2 / n_{l-1})``."""
    return common.initialize(layer_dims, ("mul", lambda n: np.sqrt(2 / n)), "initialize_parameters")


def forward_propagation(X, parameters):
    """LINEAR->RELU->LINEAR->RELU->LINEAR->SIGMOID: ``(a3, cache)``, the 12-tuple cache."""
    return net3.forward(X, parameters, "forward_propagation")


def backward_propagation(X, Y, cache):
    """The 11 lowercase gradients (``dz3 = 1/m (a3 - Y)``, then plain products)."""
    return net3.backward(X, Y, cache, "backward_propagation", net3.LOWER_KEYS)


def compute_cost(a3, Y):
    """The SUM over the examples of ``-log(a3) Y - log(1 - a3) (1 - Y)`` (no ``1/m``: the
    notebook divides an epoch's total by m)."""
    return net3.cost(a3, Y, "compute_cost", nan_sum=False, mean=False)


def update_parameters_with_gd(parameters, grads, learning_rate):
    """``W = W - learning_rate dW`` (and b), written into ``parameters``, returned."""
    return net3.gd_update(parameters, grads, learning_rate, "update_parameters_with_gd")


def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    """``np.random.seed(seed)``, a permutation of the m columns, then
    ``floor(m / mini_batch_size)`` batches of ``mini_batch_size`` and one with the rest:
    a list of ``(mini_batch_X, mini_batch_Y)``."""
    where = "random_mini_batches"
    mini_batch_size = whole_number(mini_batch_size, "mini_batch_size", where)
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim != 2 or Y.size != X.shape[1]:
        raise ValueError(
            f"{where}: X must be (n_x, m) and Y hold m labels; got {X.shape} and {Y.shape}"
        )
    np.random.seed(seed)
    m = X.shape[1]
    permutation = np.random.permutation(m)
    shuffled_X = X[:, permutation]
    shuffled_Y = Y.reshape((-1, m))[:, permutation].reshape((1, m))
    full = m // mini_batch_size
    batches = [
        (
            shuffled_X[:, k * mini_batch_size : (k + 1) * mini_batch_size],
            shuffled_Y[:, k * mini_batch_size : (k + 1) * mini_batch_size],
        )
        for k in range(full)
    ]
    if m % mini_batch_size != 0:
        batches.append(
            (shuffled_X[:, full * mini_batch_size :], shuffled_Y[:, full * mini_batch_size :])
        )
    return batches


def initialize_velocity(parameters):
    """``v``: zeros of each parameter's shape, keys ``dW1, db1, ..., dWL, dbL``."""
    return _zeros_like(parameters, "initialize_velocity")


def initialize_adam(parameters):
    """``(v, s)``: two dicts of zeros, keys ``dW1, db1, ...``."""
    return _zeros_like(parameters, "initialize_adam"), _zeros_like(parameters, "initialize_adam")


def _zeros_like(parameters, where):
    L = layer_count(parameters, where)
    out = {}
    for l in range(1, L + 1):
        out["dW" + str(l)] = np.zeros(np.shape(parameters["W" + str(l)]))
        out["db" + str(l)] = np.zeros(np.shape(parameters["b" + str(l)]))
    return out


def _real(value, name, where):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite; got {value}")
    return value


def _state(state, name, pairs, where):
    """``state[d<name>]`` for each parameter, as kernel arrays of its shape."""
    if not isinstance(state, dict):
        raise TypeError(f"{where}: {name} must be a dict; got {type(state).__name__}")
    out = []
    for key, P, _ in pairs:
        if "d" + key not in state:
            raise ValueError(f"{where}: {name} lacks 'd{key}'")
        a = net3.matrix(state["d" + key], f"{name}['d{key}']", where)
        if a.shape != P.shape:
            raise ValueError(
                f"{where}: {name}['d{key}'] must have {key}'s shape {P.shape}; got {a.shape}"
            )
        out.append(a)
    return out


def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    """``v = beta v + (1 - beta) dW``, ``W = W - learning_rate v`` (and b); both dicts
    updated in place and returned: ``(parameters, v)``."""
    where = "update_parameters_with_momentum"
    pairs = net3.three_layer_pairs(parameters, grads, where) or net3.pairs(parameters, grads, where)
    velocities = _state(v, "v", pairs, where)
    beta = _real(beta, "beta", where)
    rate = learning_rate_value(learning_rate, where)
    if len(pairs) == 6:  # the helpers' three layers: one kernel call (a type of its own)
        news = tuple(np.empty(P.shape) for _, P, _ in pairs)
        v_news = tuple(np.empty(P.shape) for _, P, _ in pairs)
        Ps, dPs = tuple(P for _, P, _ in pairs), tuple(dP for _, _, dP in pairs)
        if K._net3_momentum_all(Ps, dPs, tuple(velocities), beta, rate, news, v_news):
            raise_nonfinite(where, {"d" + name: dP for name, _, dP in pairs})
        for (name, _, _), P_new, v_new in zip(pairs, news, v_news, strict=True):
            v["d" + name] = v_new
            parameters[name] = P_new
        return parameters, v
    for (name, P, dP), velocity in zip(pairs, velocities, strict=True):
        P_new, v_new = np.empty(P.shape), np.empty(P.shape)
        if K._net3_momentum(P, dP, velocity, beta, rate, P_new, v_new):
            raise_nonfinite(where, {"d" + name: dP})
        v["d" + name] = v_new
        parameters[name] = P_new
    return parameters, v


def update_parameters_with_adam(
    parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8
):
    """Adam: ``v`` and ``s`` (moving averages of the gradients and their squares, in place),
    bias-corrected by ``1 - beta**t``, then ``W = W - learning_rate v_corrected /
    (sqrt(s_corrected) + epsilon)``. Returns ``(parameters, v, s, v_corrected,
    s_corrected)``."""
    where = "update_parameters_with_adam"
    pairs = net3.three_layer_pairs(parameters, grads, where) or net3.pairs(parameters, grads, where)
    firsts = _state(v, "v", pairs, where)
    seconds = _state(s, "s", pairs, where)
    t = whole_number(t, "t", where)
    rate = learning_rate_value(learning_rate, where)
    beta1, beta2 = _real(beta1, "beta1", where), _real(beta2, "beta2", where)
    epsilon = _real(epsilon, "epsilon", where)
    c1, c2 = 1 - beta1**t, 1 - beta2**t
    v_corrected, s_corrected = {}, {}
    if len(pairs) == 6:  # the helpers' three layers: one kernel call
        outs = tuple(tuple(np.empty(P.shape) for _ in range(5)) for _, P, _ in pairs)
        Ps, dPs = tuple(P for _, P, _ in pairs), tuple(dP for _, _, dP in pairs)
        args = (tuple(firsts), tuple(seconds), c1, c2, rate, beta1, beta2, epsilon, outs)
        if K._net3_adam_all(Ps, dPs, *args):
            raise_nonfinite(where, {"d" + name: dP for name, _, dP in pairs})
        for (name, _, _), (P_new, v_new, s_new, vc, sc) in zip(pairs, outs, strict=True):
            key = "d" + name
            v[key], v_corrected[key], s[key], s_corrected[key] = v_new, vc, s_new, sc
            parameters[name] = P_new
        return parameters, v, s, v_corrected, s_corrected
    for (name, P, dP), first, second in zip(pairs, firsts, seconds, strict=True):
        out = P_new, v_new, s_new, vc, sc = tuple(np.empty(P.shape) for _ in range(5))
        if K._net3_adam(P, dP, first, second, c1, c2, rate, beta1, beta2, epsilon, out):
            raise_nonfinite(where, {"d" + name: dP})
        key = "d" + name
        v[key], v_corrected[key], s[key], s_corrected[key] = v_new, vc, s_new, sc
        parameters[name] = P_new
    return parameters, v, s, v_corrected, s_corrected


def update_lr(learning_rate0, epoch_num, decay_rate):
    """``learning_rate0 / (1 + decay_rate * epoch_num)``."""
    learning_rate = learning_rate0 / (1 + decay_rate * epoch_num)
    return learning_rate


def schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    """``learning_rate0 / (1 + decay_rate * floor(epoch_num / time_interval))``."""
    learning_rate = learning_rate0 / (1 + decay_rate * np.floor(epoch_num / time_interval))
    return learning_rate


model = loops.optimization_model

_ = (predict, predict_dec, relu, sigmoid, plot_decision_boundary)
