"""Course 2's training loops, whole, in compiled code (``model(...)`` of each notebook).

The parameters live in one flat vector ``theta`` (W1, b1, W2, b2, W3, b3 in that order,
each row-major: ``gc_utils.dictionary_to_vector``'s layout), the gradients in another of
the same layout, so that an update is one loop over a vector. ``dims = (n0, n1, n2, n3)``.
The passes are ``kernels.net3``'s, on scratch arrays allocated once per call.
"""

import math

import numpy as np
from numba import njit

from .._internal.activations import NET3_ADAM as ADAM
from .._internal.activations import NET3_GD as GD
from .._internal.activations import NET3_LOWER as LOWER
from .._internal.activations import NET3_MOMENTUM as MOMENTUM
from .._internal.config import SERIAL
from .net3 import (
    _add_l2,
    _cross_entropy,
    _dropout,
    _masked_tiles,
    _net3_l2,
    _output_gradient,
    _relu_tiles,
    _sigmoid_rows,
    _weight_products,
)


@njit(**SERIAL)
def _views(theta, dims):
    """W1, b1, W2, b2, W3, b3 as views of the flat vector ``theta``."""
    n0, n1, n2, n3 = dims
    o1 = n1 * n0
    o2 = o1 + n1
    o3 = o2 + n2 * n1
    o4 = o3 + n2
    o5 = o4 + n3 * n2
    W1 = theta[0:o1].reshape((n1, n0))
    b1 = theta[o1:o2].reshape((n1, 1))
    W2 = theta[o2:o3].reshape((n2, n1))
    b2 = theta[o3:o4].reshape((n2, 1))
    W3 = theta[o4:o5].reshape((n3, n2))
    b3 = theta[o5 : o5 + n3].reshape((n3, 1))
    return W1, b1, W2, b2, W3, b3


@njit(**SERIAL)
def _divide(dZ, keep_prob):
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            dZ[i, j] = dZ[i, j] / keep_prob


@njit(**SERIAL)
def _weights_and_bias(dZ, A_prev, scale, lambd, m, W, dW, db):
    """``dW = scale dZ A_prev.T (+ (lambd W) / m)`` and ``db = scale sum(dZ, 1)``
    (``kernels.net3._weight_products``), then reg_utils' L2 term."""
    _weight_products(dZ, A_prev, scale, dW, db, True)
    if lambd != 0.0:
        _add_l2(W, lambd, m, dW)


@njit(**SERIAL)
def _step(
    X, Y, theta, grad, dims, D1, D2, keep_prob, lambd, mode, acts, deltas, with_cost, nan_sum
):
    """One forward and backward pass of a loop: the gradients into ``grad``; returns the
    cost (the helper's cross-entropy summed over the examples; 0 unless ``with_cost``).

    The same arithmetic as ``kernels.net3``'s passes, in fewer passes over the examples:
    Z and dA are never stored (a scratch row holds each in turn), and each row's
    gradient, its ``db`` and its first four ``dW`` sums come out of one pass."""
    W1, b1, W2, b2, W3, b3 = _views(theta, dims)
    dW1, db1, dW2, db2, dW3, db3 = _views(grad, dims)
    A1, A2, A3, dZ1, dZ2, dZ3 = acts
    z, scratch = deltas[0], deltas[1]
    unused = z[:0]  # the tiles' Z and dA, not kept here
    m = X.shape[1]
    # kernels.net3's passes (register tiles), keeping neither Z nor dA
    _relu_tiles(W1, X, b1, unused, A1, False, False)
    if D1.shape[0] > 0:
        _dropout(A1, D1, keep_prob)
    _relu_tiles(W2, A1, b2, unused, A2, False, False)
    if D2.shape[0] > 0:
        _dropout(A2, D2, keep_prob)
    _relu_tiles(W3, A2, b3, z, A3, True, False)
    _sigmoid_rows(z, A3)
    cost = _cross_entropy(A3, Y, nan_sum, scratch.ravel()) if with_cost else 0.0
    inv_m = 1.0 / m
    scale = 1.0 if mode == LOWER else inv_m
    _output_gradient(A3, Y, mode, dZ3)
    _weights_and_bias(dZ3, A2, scale, lambd, m, W3, dW3, db3)
    # dZ2 = (W3.T dZ3) * (A2 > 0); with dropout A2 > 0 only where D2 kept the unit, and
    # the course's (dA * D) / keep_prob there is dA / keep_prob
    _masked_tiles(W3, dZ3, A2, unused, dZ2, False)
    if D2.shape[0] > 0:
        _divide(dZ2, keep_prob)
    _weights_and_bias(dZ2, A1, scale, lambd, m, W2, dW2, db2)
    _masked_tiles(W2, dZ2, A1, unused, dZ1, False)
    if D1.shape[0] > 0:
        _divide(dZ1, keep_prob)
    _weights_and_bias(dZ1, X, scale, lambd, m, W1, dW1, db1)
    return cost


@njit(**SERIAL)
def _buffers(dims, m):
    """The loop's arrays for m examples: (A1, A2, A3, dZ1, dZ2, dZ3) and scratch rows
    (Z3, the cost's terms)."""
    n0, n1, n2, n3 = dims
    acts = (
        np.empty((n1, m)), np.empty((n2, m)), np.empty((n3, m)),
        np.empty((n1, m)), np.empty((n2, m)), np.empty((n3, m)),
    )  # fmt: skip
    deltas = (np.empty((n3, m)), np.empty((n3, m)))
    return acts, deltas


@njit(**SERIAL)
def _net3_train(
    X, Y, theta, dims, learning_rate, lambd, D1, D2, keep_prob, mode, nan_sum,
    start, stop, every, costs,
):  # fmt: skip
    """Full-batch gradient descent, iterations ``start`` to ``stop - 1``, on ``theta`` in
    place. At each iteration ``i`` divisible by ``every`` (none when ``every`` is 0), ``costs[i // every - start //
    every]`` gets the iteration's cost (``1/m`` (nan)sum, plus reg_utils' L2 term when
    ``lambd`` is not 0), taken before that iteration's update as the notebooks do.
    Returns whether a gradient was NaN/inf (training stops there)."""
    m = X.shape[1]
    grad = np.empty_like(theta)
    acts, deltas = _buffers(dims, m)
    first = -(-start // every) if every > 0 else 0
    for i in range(start, stop):
        recording = every > 0 and i % every == 0
        cost = _step(
            X, Y, theta, grad, dims, D1, D2, keep_prob, lambd, mode, acts, deltas,
            recording, nan_sum,
        )  # fmt: skip
        if recording:
            cost = (1.0 / m) * cost  # the helpers: 1./m * np.nansum(...)
            if lambd != 0.0:
                W1, _, W2, _, W3, _ = _views(theta, dims)
                cost += _net3_l2(W1, W2, W3, lambd, m)
            costs[i // every - first] = cost
        bad = False
        for k in range(theta.size):
            g = grad[k]
            bad |= (g - g) != 0
            theta[k] = theta[k] - learning_rate * g
        if bad:
            return True
    return False


@njit(**SERIAL)
def _net3_train_batches(
    X, Y, theta, dims, permutations, mini_batch_size, optimizer, rates, beta, beta1, beta2,
    epsilon, v, s, t, epoch_costs,
):  # fmt: skip
    """``opt_utils_v1a``'s mini-batch epochs, one per row of ``permutations`` (each the
    epoch's ``np.random.permutation(m)``): forward, the summed cost, backward
    (``LOWER``), and the optimizer's update (``GD``, ``MOMENTUM`` with ``v``, ``ADAM``
    with ``v``, ``s`` and the step count ``t``), at the epoch's learning rate
    ``rates[e]``. ``epoch_costs[e]`` gets the epoch's total cost. Returns the new ``t``,
    or -1 where a gradient was NaN/inf."""
    m = X.shape[1]
    n0, n3 = dims[0], dims[3]
    grad = np.empty_like(theta)
    no_mask = np.zeros((0, 0), np.bool_)
    full = m // mini_batch_size
    size = min(mini_batch_size, m)
    tail = m - full * mini_batch_size
    # a full batch's buffers, and the remainder batch's (the course's last, smaller one)
    X_full, Y_full = np.empty((n0, size)), np.empty((n3, size))
    X_tail, Y_tail = np.empty((n0, max(tail, 1))), np.empty((n3, max(tail, 1)))
    full_buffers = _buffers(dims, size)
    tail_buffers = _buffers(dims, max(tail, 1))
    batches = full + (1 if tail else 0)
    c1 = c2 = 1.0
    for e in range(permutations.shape[0]):
        perm = permutations[e]
        total = 0.0
        rate = rates[e]
        for b in range(batches):
            lo = b * mini_batch_size
            count = min(mini_batch_size, m - lo)
            whole = count == size
            xb = X_full if whole else X_tail
            yb = Y_full if whole else Y_tail
            acts, deltas = full_buffers if whole else tail_buffers
            for j in range(count):
                col = perm[lo + j]
                for r in range(n0):
                    xb[r, j] = X[r, col]
                for r in range(n3):
                    yb[r, j] = Y[r, col]
            total += _step(
                xb, yb, theta, grad, dims, no_mask, no_mask, 1.0, 0.0, LOWER, acts, deltas,
                True, False,
            )  # fmt: skip
            bad = False
            if optimizer == ADAM:
                t += 1
                # Python's float ** int is C's pow(); numba's ** would multiply out
                c1 = 1 - math.pow(beta1, float(t))
                c2 = 1 - math.pow(beta2, float(t))
            for k in range(theta.size):
                g = grad[k]
                bad |= (g - g) != 0
                if optimizer == GD:
                    theta[k] = theta[k] - rate * g
                elif optimizer == MOMENTUM:
                    vk = beta * v[k] + (1 - beta) * g
                    v[k] = vk
                    theta[k] = theta[k] - rate * vk
                else:
                    vk = beta1 * v[k] + (1 - beta1) * g
                    v[k] = vk
                    sk = beta2 * s[k] + (1 - beta2) * (g * g)
                    s[k] = sk
                    theta[k] = theta[k] - rate * (vk / c1) / (np.sqrt(sk / c2) + epsilon)
            if bad:
                return -1
        epoch_costs[e] = total
    return t
