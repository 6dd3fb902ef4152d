"""Gradient descent: update_parameters returns new arrays, never mutates its inputs."""

import numpy as np

from .._internal.dispatch import run
from .._internal.lazy import kernels as K
from .._internal.validation import (
    as_matrix,
    converted,
    flat,
    float_dtype,
    layer_count,
    learning_rate_value,
    raise_nonfinite,
)


def sgd_step(P, dP, learning_rate, name, where):
    """P - learning_rate * dP as a new array (inputs already validated)."""
    P_new = np.empty_like(P)
    p, dp, p_new = flat(P), flat(dP), flat(P_new)
    bad = run(K._sgd_parallel, K._sgd_span, (p, dp, learning_rate, p_new), (0, p.size), p.size)
    if bad:
        raise_nonfinite(where, {"d" + name: dP})
    return P_new


def update_parameters(params, grads, learning_rate):
    """One step of gradient descent, W_l - learning_rate * dW_l and b_l - learning_rate * db_l.

    Parameters
    ----------
    params : dict
        ``"W1" .. "WL"``, ``"b1" .. "bL"``. Left untouched.
    grads : dict
        From ``L_model_backward``; ``"dW1" .. "dWL"`` and ``"db1" .. "dbL"``
        are used (``"dA*"`` keys are ignored).
    learning_rate : float

    Returns
    -------
    parameters : dict
        A new dict of new arrays, in the parameters' dtype.
    """
    where = "update_parameters"
    L = layer_count(params, where, name="params")
    if not isinstance(grads, dict):
        raise TypeError(f"{where}: grads must be a dict; got {type(grads).__name__}")
    learning_rate = learning_rate_value(learning_rate, where)
    parameters = {}
    for l in range(1, L + 1):
        for name in (f"W{l}", f"b{l}"):
            if "d" + name not in grads:
                raise ValueError(f"{where}: grads has no 'd{name}' for params['{name}']")
            P = as_matrix(params[name], f"params['{name}']", where)
            dP = as_matrix(grads["d" + name], f"grads['d{name}']", where)
            if dP.shape != P.shape:
                raise ValueError(
                    f"{where}: grads['d{name}'] has shape {dP.shape} but params['{name}'] "
                    f"has shape {P.shape}"
                )
            dtype = float_dtype(P, dP)
            parameters[name] = sgd_step(
                converted(P, dtype), converted(dP, dtype), learning_rate, name, where
            )
    return parameters
