"""The three-layer network the Course 2 helper modules share: checks, kernels, structures.

Each public function of ``fastdnn.initialization``, ``fastdnn.regularization``,
``fastdnn.optimization`` and ``fastdnn.gradient_checking`` calls one kernel of
``fastdnn.kernels.net3`` through the functions here, and returns the course's structures:
the flat 12-tuple (14 with dropout) cache holding the caller's own parameter arrays, a
gradient dict with exactly the module's 11 keys, parameters written back into the dict
given. The helper modules' conventions (key case, where ``1/m`` goes, ``nansum`` or
``sum``) are arguments here, chosen by the modules.

The notebooks call these tens of thousands of times on arrays of a few hundred values, so
a call's own overhead is most of its time: each array is checked once (``matrix``: a
float64 C-contiguous matrix passes as it is), the shapes are checked by the kernel itself
(a ``SHAPES`` status), and only a failed check spends time on its message.
"""

import numbers

import numpy as np

from .._internal.activations import NET3_LOWER, NET3_UPPER
from .._internal.lazy import kernels as K
from .._internal.validation import (
    as_matrix,
    kernel_view,
    layer_count,
    learning_rate_value,
    raise_nonfinite,
)

F64 = np.dtype(np.float64)
NO_MASK = np.zeros((0, 0), bool)
"""The masks' argument without dropout (the kernels test for an empty mask)."""

LOWER_KEYS = ("dz3", "dW3", "db3", "da2", "dz2", "dW2", "db2", "da1", "dz1", "dW1", "db1")
"""``init_utils``' and ``opt_utils_v1a``'s gradient keys, in their order."""
UPPER_KEYS = ("dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1")
"""``reg_utils``' (and the Gradient Checking notebook's) gradient keys."""

NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
_OK, _NONFINITE, _SHAPES = 0, 1, 2  # kernels.net3's status codes


def labels(Y, where):
    """``Y`` as float64 for the kernels: the course's int64 and uint8 labels convert
    exactly (``astype``: a few hundred values, no more checks than the array's own)."""
    if type(Y) is np.ndarray and Y.ndim == 2 and Y.dtype.kind in "uib" and Y.size:
        return Y.astype(F64)
    return matrix(Y, "Y", where)


def matrix(x, name, where):
    """``x`` as the kernels take it: a writable C-contiguous float64 matrix (the same
    object when it already is one; a read-only one through ``kernel_view``)."""
    # The common case in few attribute reads (the notebooks call this 30 times a step):
    # ``carray`` is C-contiguous, aligned and writable at once.
    if type(x) is np.ndarray and x.dtype is F64 and x.ndim == 2 and x.flags.carray:
        return x
    if type(x) is np.ndarray and x.ndim == 2 and x.dtype == F64 and x.flags.c_contiguous and x.size:
        return x if x.flags.writeable else kernel_view(x)  # a read-only array: its memory
    x = as_matrix(x, name, where)
    return kernel_view(np.ascontiguousarray(x, dtype=F64))


def parameter_arrays(parameters, where, name="parameters"):
    """The six arrays of a three-layer ``parameters`` dict, as given (not converted)."""
    try:
        return (
            parameters["W1"], parameters["b1"], parameters["W2"],
            parameters["b2"], parameters["W3"], parameters["b3"],
        )  # fmt: skip
    except (KeyError, TypeError):
        if not isinstance(parameters, dict):
            raise TypeError(
                f"{where}: {name} must be a dict; got {type(parameters).__name__}"
            ) from None
        missing = [k for k in NAMES if k not in parameters]
        raise ValueError(
            f"{where}: {name} lacks {missing}; a three-layer network has the keys "
            "W1, b1, W2, b2, W3, b3"
        ) from None


def probability(keep_prob, where):
    """``keep_prob`` as a float in (0, 1]."""
    if isinstance(keep_prob, (bool, np.bool_)) or not isinstance(keep_prob, numbers.Real):
        raise TypeError(f"{where}: keep_prob must be a real number; got {keep_prob!r}")
    keep_prob = float(keep_prob)
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"{where}: keep_prob must be in (0, 1]; got {keep_prob}")
    return keep_prob


def penalty(lambd, where):
    """``lambd`` as a finite float >= 0."""
    if isinstance(lambd, (bool, np.bool_)) or not isinstance(lambd, numbers.Real):
        raise TypeError(f"{where}: lambd must be a real number; got {lambd!r}")
    lambd = float(lambd)
    if not (lambd >= 0.0 and np.isfinite(lambd)):
        raise ValueError(f"{where}: lambd must be a finite number >= 0; got {lambd}")
    return lambd


def _shape_problem(where, named, masks=()):
    """The message for shapes that do not chain (a kernel's ``SHAPES``)."""
    shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in named.items())
    raise ValueError(
        f"{where}: the shapes do not chain: {shapes}; expected X (n0, m), W1 (n1, n0), "
        f"b1 (n1, 1), W2 (n2, n1), b2 (n2, 1), W3 (n3, n2), b3 (n3, 1), every activation "
        f"and the labels (n_l, m){', masks D1 (n1, m), D2 (n2, m)' if masks else ''}"
    )


def forward(X, parameters, where, keep_prob=None):
    """The forward pass: ``(A3, cache)``, the 12-tuple cache, or with ``keep_prob`` the
    dropout 14-tuple (masks drawn as the course draws them: ``np.random.seed(1)``, then
    ``rand`` for D1 and D2 from NumPy's global stream)."""
    W1, b1, W2, b2, W3, b3 = parameter_arrays(parameters, where)
    arrays = (
        matrix(X, "X", where), matrix(W1, "W1", where), matrix(b1, "b1", where),
        matrix(W2, "W2", where), matrix(b2, "b2", where), matrix(W3, "W3", where),
        matrix(b3, "b3", where),
    )  # fmt: skip
    if keep_prob is None:
        D1 = D2 = NO_MASK
        keep = 1.0
    else:
        keep = probability(keep_prob, where)
        m = arrays[0].shape[1]
        np.random.seed(1)
        D1 = np.random.rand(arrays[1].shape[0], m) < keep_prob
        D2 = np.random.rand(arrays[3].shape[0], m) < keep_prob
    m, empty = arrays[0].shape[1], np.empty
    Z1, A1 = empty((arrays[1].shape[0], m)), empty((arrays[1].shape[0], m))
    Z2, A2 = empty((arrays[3].shape[0], m)), empty((arrays[3].shape[0], m))
    Z3, A3 = empty((arrays[5].shape[0], m)), empty((arrays[5].shape[0], m))
    status = K._net3_forward(*arrays, D1, D2, keep, Z1, A1, Z2, A2, Z3, A3)
    if status:
        named = dict(zip(("X", *NAMES), arrays, strict=True))
        if status == _SHAPES:
            _shape_problem(where, named)
        raise_nonfinite(where, named)
    if keep_prob is None:
        return A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def _mask(D, name, where):
    if type(D) is np.ndarray and D.dtype == np.bool_ and D.flags.c_contiguous:
        return D
    D = np.asarray(D)
    if D.ndim != 2:
        raise ValueError(f"{where}: the cache's {name} must be a 2-D mask; got {D.shape}")
    return np.ascontiguousarray(D, dtype=bool)


def backward(X, Y, cache, where, keys, lambd=0.0, keep_prob=None):
    """The backward pass on a forward pass's ``cache``: a dict of the 11 ``keys``.

    ``keys``: ``LOWER_KEYS`` (1/m folded into dz3) or ``UPPER_KEYS`` (1/m on each dW and
    db; ``lambd`` for L2, ``keep_prob`` for the dropout cache)."""
    dropout = keep_prob is not None
    size = 14 if dropout else 12
    if type(cache) is not tuple or len(cache) != size:
        got = f"a {len(cache)}-tuple" if isinstance(cache, tuple) else type(cache).__name__
        raise ValueError(
            f"{where}: cache must be the {size}-tuple that "
            f"forward_propagation{'_with_dropout' if dropout else ''} returns; got {got}"
        )
    if dropout:
        _, D1, A1, W1, _, _, D2, A2, W2, _, _, A3, W3, _ = cache
        keep = probability(keep_prob, where)
        D1, D2 = _mask(D1, "D1", where), _mask(D2, "D2", where)
    else:
        _, A1, W1, _, _, A2, W2, _, _, A3, W3, _ = cache
        keep = 1.0
        D1 = D2 = NO_MASK
    arrays = (
        matrix(X, "X", where), labels(Y, where), matrix(A1, "A1", where),
        matrix(A2, "A2", where), matrix(A3, "A3", where), matrix(W1, "W1", where),
        matrix(W2, "W2", where), matrix(W3, "W3", where),
    )  # fmt: skip
    mode = NET3_UPPER if keys is UPPER_KEYS else NET3_LOWER
    X_, _, _, _, _, W1_, W2_, W3_ = arrays
    m, empty = X_.shape[1], np.empty
    n1, n2, n3 = W1_.shape[0], W2_.shape[0], W3_.shape[0]
    grads = (
        empty((n3, m)), empty(W3_.shape), empty((n3, 1)), empty((n2, m)), empty((n2, m)),
        empty(W2_.shape), empty((n2, 1)), empty((n1, m)), empty((n1, m)), empty(W1_.shape),
        empty((n1, 1)),
    )  # fmt: skip
    status = K._net3_backward(*arrays, D1, D2, keep, lambd, mode, *grads)
    if status:
        named = dict(zip(("X", "Y", "A1", "A2", "A3", "W1", "W2", "W3"), arrays, strict=True))
        if status == _SHAPES:
            _shape_problem(where, named, masks=dropout)
        raise_nonfinite(where, {"Y": arrays[1], "A3": arrays[4]})
    return dict(zip(keys, grads, strict=True))


def cost(A3, Y, where, nan_sum=True, mean=True, name="a3"):
    """The helpers' cross-entropy: ``1/m nansum`` (``compute_loss``, ``reg_utils``) or the
    plain sum (``opt_utils_v1a``)."""
    A3 = matrix(A3, name, where)
    Y = labels(Y, where)
    status, value = K._net3_cost(A3, Y, nan_sum, mean)
    if status:
        raise ValueError(f"{where}: Y must have {name}'s shape {A3.shape}; got {Y.shape}")
    return np.float64(value)


def l2_cost(A3, Y, parameters, lambd, where):
    """``compute_cost_with_regularization``: the cross-entropy plus
    ``lambd (sum W1^2 + sum W2^2 + sum W3^2) / (2 m)``."""
    lambd = penalty(lambd, where)
    cross_entropy = cost(A3, Y, where, name="A3")
    W1, _, W2, _, W3, _ = parameter_arrays(parameters, where)
    W1, W2, W3 = matrix(W1, "W1", where), matrix(W2, "W2", where), matrix(W3, "W3", where)
    return cross_entropy + K._net3_l2(W1, W2, W3, lambd, np.shape(Y)[1])


def three_layer_pairs(parameters, grads, where):
    """``pairs`` for the helpers' three layers (the notebooks' every call) in few steps,
    or None for anything else (``pairs`` then checks and explains)."""
    if type(parameters) is not dict or len(parameters) != 6 or type(grads) is not dict:
        return None
    try:
        found = [
            (k, matrix(parameters[k], k, where), matrix(grads["d" + k], "d" + k, where))
            for k in NAMES
        ]
    except KeyError:
        return None
    for _, P, dP in found:
        if P.shape != dP.shape:
            return None
    return found


def pairs(parameters, grads, where, grads_name="grads"):
    """``[(name, P, dP)]`` for every W and b of ``parameters`` (any number of layers),
    with the matching gradient of ``grads``; clear errors for missing keys or shapes."""
    L = layer_count(parameters, where)
    if not isinstance(grads, dict):
        raise TypeError(f"{where}: {grads_name} must be a dict; got {type(grads).__name__}")
    out = []
    for l in range(1, L + 1):
        for p in ("W", "b"):
            name = f"{p}{l}"
            P = matrix(parameters[name], name, where)
            if "d" + name not in grads:
                raise ValueError(f"{where}: {grads_name} lacks 'd{name}' (for {name})")
            dP = matrix(grads["d" + name], "d" + name, where)
            if dP.shape != P.shape:
                raise ValueError(
                    f"{where}: {grads_name}['d{name}'] must have {name}'s shape {P.shape}; "
                    f"got {dP.shape}"
                )
            out.append((name, P, dP))
    return out


def gd_update(parameters, grads, learning_rate, where):
    """``P = P - learning_rate * dP`` for every parameter, written into ``parameters``."""
    rate = learning_rate_value(learning_rate, where)
    if type(parameters) is dict and len(parameters) == 6 and type(grads) is dict:
        # the helpers' three layers, the notebooks' every call: one kernel call, which
        # checks the shapes (anything else, or a shape error, takes the general path)
        try:
            P = [matrix(parameters[k], k, where) for k in NAMES]
            dP = [
                matrix(grads["dW1"], "dW1", where), matrix(grads["db1"], "db1", where),
                matrix(grads["dW2"], "dW2", where), matrix(grads["db2"], "db2", where),
                matrix(grads["dW3"], "dW3", where), matrix(grads["db3"], "db3", where),
            ]  # fmt: skip
        except KeyError:
            pass
        else:
            empty = np.empty
            new = (
                empty(P[0].shape), empty(P[1].shape), empty(P[2].shape),
                empty(P[3].shape), empty(P[4].shape), empty(P[5].shape),
            )  # fmt: skip
            status = K._net3_sgd(*P, *dP, rate, new)
            if status == _OK:
                parameters["W1"], parameters["b1"], parameters["W2"] = new[0], new[1], new[2]
                parameters["b2"], parameters["W3"], parameters["b3"] = new[3], new[4], new[5]
                return parameters
            if status == _NONFINITE:
                raise_nonfinite(where, {"d" + k: d for k, d in zip(NAMES, dP, strict=True)})
    for name, P, dP in pairs(parameters, grads, where):
        P_new = np.empty(P.shape)
        if K._net3_step(P, dP, rate, P_new):
            raise_nonfinite(where, {"d" + name: dP})
        parameters[name] = P_new
    return parameters
