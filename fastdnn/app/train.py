"""The training loop, on the fused kernels, doing only the work training needs.

Compared with chaining the step-by-step functions (which must return the
course's full structures), a training step here:

* takes ``dZ = AL - Y`` for the sigmoid/cross-entropy output layer directly,
  instead of ``dAL`` times the sigmoid's slope (the same value to rounding,
  and finite where AL saturates at exactly 0 or 1);
* never computes ``dA0``, the gradient with respect to the input (the largest
  product of the cat network's backward pass);
* computes the cost only on the iterations that record or print it;
* updates its own copies of the parameters in place (no new arrays per step).
"""

import numpy as np

from .._internal import precompile
from .._internal.activations import IDENTITY, RELU, SIGMOID
from .._internal.dispatch import run
from .._internal.lazy import kernels as K
from .._internal.validation import as_matrix, blas_ready, converted, flat, float_dtype, network
from ..course import plans, products
from ..course.backward import dZ_db, layer_backward
from ..course.cost import compute_cost, labels
from ..course.forward import layer_forward
from .progress import Progress


class TrainingDiverged(ValueError):
    """Training produced NaN or inf; the message names the iteration."""


def _sgd_inplace(P, dP, learning_rate):
    p, dp = flat(P), flat(dP)
    return run(K._sgd_parallel, K._sgd_span, (p, dp, learning_rate, p), (0, p.size), p.size)


def checked_training_data(X, Y, parameters, where):
    """X, Y and owned copies of the parameters, all in one dtype."""
    X = as_matrix(X, "X", where)
    dims, Ws, bs = network(parameters, where, n_x=X.shape[0])
    dtype = float_dtype(X, *Ws, *bs)
    X = blas_ready(X, dtype)
    Ws = [converted(W, dtype).copy() for W in Ws]
    bs = [converted(b, dtype).copy() for b in bs]
    if dims[-1] != 1:
        raise ValueError(
            f"{where}: the last layer must have 1 unit (binary output); W{len(Ws)} has {dims[-1]}"
        )
    Y = labels(Y, (1, X.shape[1]), dtype, where)
    _check_finite(X, Y, where)
    return X, Y, Ws, bs


def _check_finite(X, Y, where):
    """NaN/inf in X or Y, named with the first index.

    Checked before training, so that bad data is not reported as divergence
    (a NaN in X made every cost NaN from iteration 0). ``Y`` may hold any
    finite values, as in the course (its graded ``two_layer_model`` test trains
    on ``np.random.randn`` labels); the 0/1 check belongs where labels come
    from a file (``fastdnn train``) or from classes (``DNNClassifier``).
    """
    for name, A, what in (("X", X, "example"), ("Y", Y, "example")):
        finite = np.isfinite(A)
        if not finite.all():
            i, j = (int(k) for k in np.argwhere(~finite)[0])
            raise ValueError(
                f"{where}: {name} contains NaN or inf (first at index ({i}, {j}): {what} {j}); "
                "training needs finite inputs"
            )


def train(
    X, Y, parameters, learning_rate, num_iterations, print_cost=False, progress=None, where="train"
):
    """Gradient descent on [LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID with cross-entropy.

    Parameters
    ----------
    X : ndarray of shape (n_x, m)
    Y : ndarray of shape (1, m)
    parameters : dict
        Initial ``W1 .. WL``, ``b1 .. bL``; not modified.
    learning_rate : float
    num_iterations : int
    print_cost : bool
        Print ``Cost after iteration {i}: {cost}`` every 100 iterations and at
        the last one, as the course does.
    progress : bool or None
        Progress bar on stderr; None shows it when stderr is a terminal.

    Returns
    -------
    parameters : dict
        New arrays, in the dtype of the computation.
    costs : list of 0-d ndarray
        The cost at every iteration ``i`` with ``i % 100 == 0``.
    """
    from .._internal.validation import learning_rate_value, whole_number

    learning_rate = learning_rate_value(learning_rate, where)
    num_iterations = whole_number(num_iterations, "num_iterations", where, least=0)
    X, Y, Ws, bs = checked_training_data(X, Y, parameters, where)
    L = len(Ws)
    # X in Fortran order and a skinny first layer: dW1 and the W1 update fused.
    fused = products.skinny(Ws[0], X)
    # Every kernel of the step at once (in parallel where numba's cache lacks them).
    dims = [X.shape[0], *(W.shape[0] for W in Ws)]
    precompile.ensure(plans.trainer_step(X.dtype, dims, X.shape[1], fused))
    dW1 = np.empty_like(Ws[0]) if fused else None
    costs = []
    bar = Progress(num_iterations, enabled=progress)
    dZ_out = np.empty_like(Y)
    try:
        for i in range(num_iterations):
            try:
                As, Zs = [X], []
                for l in range(L):
                    code = SIGMOID if l == L - 1 else RELU
                    A, Z = layer_forward(As[-1], Ws[l], bs[l], code, where, planned=True)
                    As.append(A)
                    Zs.append(Z)
                AL = As[-1]
                last = i == num_iterations - 1
                if i % 100 == 0 or (print_cost and last):
                    cost = compute_cost(AL, Y)
                    if i % 100 == 0:
                        costs.append(cost)
                    if print_cost:
                        print(f"Cost after iteration {i}: {np.squeeze(cost)}")
                    bar.update(i, cost)
                else:
                    bar.update(i)
                np.subtract(AL, Y, out=dZ_out)
                dA = None
                for l in range(L - 1, -1, -1):
                    # The output layer's dZ = AL - Y is given: the identity's backward.
                    code, dA_l = (IDENTITY, dZ_out) if l == L - 1 else (RELU, dA)
                    if l == 0 and fused:
                        dZ, db = dZ_db(dA_l, Zs[0], code, where)
                        # dW1 and the W1 update in one pass (products.weight_step).
                        bad = products.weight_step(dZ, X, Ws[0], learning_rate, dW1)
                        dA_prev = None
                    else:
                        dA_prev, dW, db = layer_backward(
                            dA_l, As[l], Ws[l], Zs[l], code, where, need_dA_prev=l > 0
                        )
                        # dA_prev was computed from the old W above; now update.
                        bad = _sgd_inplace(Ws[l], dW, learning_rate)
                    bad += _sgd_inplace(bs[l], db, learning_rate)
                    if bad:
                        raise ValueError("a gradient is NaN or inf")
                    dA = dA_prev
            except ValueError as exc:
                raise TrainingDiverged(
                    f"{where}: training diverged at iteration {i} ({exc}); "
                    f"try a smaller learning_rate than {learning_rate}"
                ) from None
        bar.update(num_iterations)
    finally:
        # Also on Ctrl-C, which numba's kernels let through between two calls,
        # so within one iteration: the bar shows where training stopped.
        bar.close()
    result = {}
    for l in range(L):
        result[f"W{l + 1}"], result[f"b{l + 1}"] = Ws[l], bs[l]
    return result, costs
