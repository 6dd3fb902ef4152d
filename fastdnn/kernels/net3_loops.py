"""Course 2's training loops, whole, in compiled code (``model(...)`` of each notebook).

The parameters live in one flat vector ``theta`` (W1, b1, W2, b2, W3, b3 in that order,
each row-major: ``gc_utils.dictionary_to_vector``'s layout), the gradients in another of
the same layout, so that an update is one loop over a vector. ``dims = (n0, n1, n2, n3)``.
The passes are ``kernels.net3``'s, on scratch arrays allocated once per call.
"""

import math

import numpy as np
from numba import njit

from .._internal.activations import NET3_LOWER as LOWER
from .._internal.config import DOT, SERIAL
from ._scalar import _sigmoid64
from .net3 import (
    _acc1,
    _acc2,
    _acc3,
    _acc4,
    _cross_entropy,
    _masked_tiles,
    _relu_tiles,
    _square_sum,
    _weight_tiles,
    _weights,
)

GD = 0
MOMENTUM = 1
ADAM = 2


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
def _forward_rows(W, A_prev, b, D, keep_prob, A, z, zero, output):
    """A layer of the loop's forward pass: for each row, ``z = W[i] A_prev`` into the
    scratch row ``z`` (``_row_product``), then one pass for ``A[i] = g(z + b[i])`` (and
    the dropout mask). Z is not kept: the backward pass reads the activations only."""
    for i in range(W.shape[0]):
        _row_product(W, i, A_prev, z, False, zero)
        if output:
            _finish_sigmoid(z, b[i, 0], A, i)
        else:
            _finish_relu(z, b[i, 0], D, keep_prob, A, i)


@njit(**SERIAL)
def _row_product(W, i, A, z, transposed, zero):
    """``z[0] = W[i] A`` (``W[:, i] A`` when ``transposed``), four k per pass (``_acc*``)."""
    depth = W.shape[0] if transposed else W.shape[1]
    k = 0
    while k < depth:
        g = min(4, depth - k)
        w0, w1, w2, w3 = _weights(W, i, k, g, transposed)
        src = zero if k == 0 else z
        if g == 4:
            _acc4(src, 0, z, 0, A, k, w0, w1, w2, w3)
        elif g == 3:
            _acc3(src, 0, z, 0, A, k, w0, w1, w2)
        elif g == 2:
            _acc2(src, 0, z, 0, A, k, w0, w1)
        else:
            _acc1(src, 0, z, 0, A, k, w0)
        k += g


@njit(**SERIAL)
def _finish_relu(z, bias, D, keep_prob, A, i):
    if D.shape[0] > 0:
        for j in range(z.shape[1]):
            x = z[0, j] + bias
            r = x if x > 0.0 else 0.0
            A[i, j] = (r * (1.0 if D[i, j] else 0.0)) / keep_prob
    else:
        for j in range(z.shape[1]):
            x = z[0, j] + bias
            A[i, j] = x if x > 0.0 else 0.0


@njit(**SERIAL)
def _finish_sigmoid(z, bias, A, i):
    for j in range(z.shape[1]):
        A[i, j] = _sigmoid64(z[0, j] + bias)


@njit(**DOT)
def _masked_gradient(z, A, i, D, keep_prob, dZ):
    """``dZ[i] = z * (A[i] > 0)`` (with dropout first ``z * D[i] / keep_prob``), and the
    row's sum (``db``)."""
    total = 0.0
    if D.shape[0] > 0:
        for j in range(z.shape[1]):
            d = (z[0, j] * (1.0 if D[i, j] else 0.0)) / keep_prob
            d = d * (1.0 if A[i, j] > 0.0 else 0.0)
            dZ[i, j] = d
            total += d
    else:
        for j in range(z.shape[1]):
            d = z[0, j] * (1.0 if A[i, j] > 0.0 else 0.0)
            dZ[i, j] = d
            total += d
    return total


@njit(**DOT)
def _row_dots(dZ, i, A, k, g):
    """``dZ[i] . A[k + q]`` for q < g (g <= 4), and the row's own sum: five sums in one
    pass along the examples."""
    s0 = s1 = s2 = s3 = total = 0.0
    if g == 4:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
            s1 += d * A[k + 1, j]
            s2 += d * A[k + 2, j]
            s3 += d * A[k + 3, j]
    elif g == 3:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
            s1 += d * A[k + 1, j]
            s2 += d * A[k + 2, j]
    elif g == 2:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
            s1 += d * A[k + 1, j]
    else:
        for j in range(dZ.shape[1]):
            d = dZ[i, j]
            total += d
            s0 += d * A[k, j]
    return s0, s1, s2, s3, total


@njit(**SERIAL)
def _weight_row(dZ, i, A_prev, scale, lambd, m, W, dW, db):
    """Row i of ``dW = scale dZ A_prev.T (+ lambd W / m)`` and ``db = scale * sum(dZ[i])``."""
    depth = A_prev.shape[0]
    k = 0
    total = 0.0
    while k < depth:
        g = min(4, depth - k)
        sums = _row_dots(dZ, i, A_prev, k, g)
        if k == 0:
            total = sums[4]
        for q in range(g):
            value = scale * sums[q] if scale != 1.0 else sums[q]
            dW[i, k + q] = value + (lambd * W[i, k + q]) / m if lambd != 0.0 else value
        k += g
    db[i, 0] = scale * total if scale != 1.0 else total


@njit(**SERIAL)
def _weights_and_bias(dZ, A_prev, scale, lambd, m, W, dW, db):
    """``dW = scale dZ A_prev.T (+ (lambd W) / m)`` and ``db = scale sum(dZ, 1)``.

    Few rows of A_prev (the first layer's 2 inputs): register tiles of 2 x 2 sums
    (``kernels.net3._weight_tiles``), 2.3 against 4.0 us for the Regularization net's
    dW1 on the development machine; many (its 20 hidden units): a row of dZ against four
    rows of A_prev per pass (``_weight_row``), 2.6 against 3.7 us for dW2 (the tiles'
    sums are added up once per 2 x 2 block)."""
    if A_prev.shape[0] > 4:
        for i in range(dZ.shape[0]):
            _weight_row(dZ, i, A_prev, scale, lambd, m, W, dW, db)
        return
    _weight_tiles(dZ, A_prev, scale, dW, db, True)
    if lambd != 0.0:
        for i in range(W.shape[0]):
            for k in range(W.shape[1]):
                dW[i, k] = dW[i, k] + (lambd * W[i, k]) / m


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
    z, zero, scratch = deltas[0], deltas[1], deltas[2]
    unused = z[:0]  # the tiles' Z and dA, not kept here
    m = X.shape[1]
    if D1.shape[0] == 0:  # register tiles (kernels.net3), A only
        _relu_tiles(W1, X, b1, unused, A1, False, False)
        _relu_tiles(W2, A1, b2, unused, A2, False, False)
    else:
        _forward_rows(W1, X, b1, D1, keep_prob, A1, z, zero, False)
        _forward_rows(W2, A1, b2, D2, keep_prob, A2, z, zero, False)
    _forward_rows(W3, A2, b3, D2[:0], keep_prob, A3, z, zero, True)
    cost = _cross_entropy(A3, Y, nan_sum, scratch.ravel()) if with_cost else 0.0
    inv_m = 1.0 / m
    scale = 1.0 if mode == LOWER else inv_m
    for i in range(A3.shape[0]):
        for j in range(m):
            d = A3[i, j] - Y[i, j]
            dZ3[i, j] = inv_m * d if mode == LOWER else d
    _weights_and_bias(dZ3, A2, scale, lambd, m, W3, dW3, db3)
    if D1.shape[0] == 0:
        _masked_tiles(W3, dZ3, A2, unused, dZ2, False)
    else:
        for i in range(W2.shape[0]):
            _row_product(W3, i, dZ3, z, True, zero)
            _masked_gradient(z, A2, i, D2, keep_prob, dZ2)
    _weights_and_bias(dZ2, A1, scale, lambd, m, W2, dW2, db2)
    if D1.shape[0] == 0:
        _masked_tiles(W2, dZ2, A1, unused, dZ1, False)
    else:
        for i in range(W1.shape[0]):
            _row_product(W2, i, dZ2, z, True, zero)
            _masked_gradient(z, A1, i, D1, keep_prob, dZ1)
    _weights_and_bias(dZ1, X, scale, lambd, m, W1, dW1, db1)
    return cost


@njit(**SERIAL)
def _buffers(dims, m):
    """The loop's arrays for m examples: (A1, A2, A3, dZ1, dZ2, dZ3) and the scratch
    rows (z, a row of zeros, the cost's terms)."""
    n0, n1, n2, n3 = dims
    acts = (
        np.empty((n1, m)), np.empty((n2, m)), np.empty((n3, m)),
        np.empty((n1, m)), np.empty((n2, m)), np.empty((n3, m)),
    )  # fmt: skip
    deltas = (np.empty((1, m)), np.zeros((1, m)), np.empty((n3, m)))
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
                cost += lambd * (_square_sum(W1) + _square_sum(W2) + _square_sum(W3)) / (2 * m)
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
