"""Compile every kernel specialisation the API can reach (see ``fastdnn.warmup``).

First every kernel of ``course.plans.every_kernel`` and the model's, compiled
together in parallel worker processes (``_internal.precompile``); then one call
of each path on small inputs, which finds them all compiled (the tests check
that it compiles nothing: the plans match the calls)."""

import numpy as np

from ._internal.config import PARALLEL_MIN_ELEMENTS, SKINNY_MIN_INPUTS


def _network(dtype, n_x, n_h, m):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    parameters = {
        "W1": (rng.standard_normal((n_h, n_x)) * 0.1).astype(dtype),
        "b1": np.zeros((n_h, 1), dtype),
        "W2": (rng.standard_normal((1, n_h)) * 0.1).astype(dtype),
        "b2": np.zeros((1, 1), dtype),
    }
    return X, Y, parameters


def plan(dtypes, wide=None):
    """Every kernel, with its argument types, for ``dtypes``; ``wide``: for a level with
    AVX-512 or not (default: the loaded kernels' level)."""
    from .course.plans import every_kernel
    from .improving import plans as course2
    from .serving.forward import kernel_plan

    plan = [
        e for dtype in map(np.dtype, dtypes) for e in every_kernel(dtype, wide) + kernel_plan(dtype)
    ]
    if np.dtype(np.float64) in map(np.dtype, dtypes):  # Course 2 runs in float64 only
        plan += course2.kernel_plan()
    return plan


def run(dtypes):
    from ._internal import precompile

    precompile.ensure(plan(dtypes))
    exercise(dtypes)


def exercise(dtypes):
    """One call of each path on small inputs, in every size tier."""
    from ._internal.activations import RELU
    from ._internal.lazy import kernels as K
    from .app.train import train
    from .course import api as F
    from .serving.model import Model

    side = int(np.ceil(np.sqrt(PARALLEL_MIN_ELEMENTS)))
    for dtype in map(np.dtype, dtypes):
        # The serial path (tiny arrays), then the parallel one for the
        # dnn_utils functions, the cost and the update (an n x m layer with at
        # least PARALLEL_MIN_ELEMENTS entries, and a 1 x m output; its layer
        # kernels still run serially, see below).
        for n_x, n_h, m in ((3, 2, 2), (4, side, PARALLEL_MIN_ELEMENTS // side)):
            X, Y, parameters = _network(dtype, n_x, n_h, m)
            AL, caches = F.L_model_forward(X, parameters)
            F.compute_cost(AL, Y)
            F.compute_cost(np.tile(AL, (side, 1)), np.tile(Y, (side, 1)))
            grads = F.L_model_backward(AL, Y, caches)
            F.update_parameters(parameters, grads, 0.01)
            Z, cache = F.linear_forward(X, parameters["W1"], parameters["b1"])
            F.linear_backward(Z, cache)
            for forward, backward in ((F.sigmoid, F.sigmoid_backward), (F.relu, F.relu_backward)):
                A, Z = forward(Z)
                backward(A, Z)
        # Layers go parallel only from LAYER_PARALLEL_MIN_ELEMENTS (2^24, too
        # large to allocate here): compile those drivers on small arrays. The
        # activation code is a runtime argument, so one call per driver and
        # dtype compiles every activation.
        Z, b, dZ, db = (np.zeros(4, dtype) for _ in range(4))
        K._bias_activation_parallel(Z, b, dZ, 1, RELU)
        K._activation_backward_db_parallel(Z, Z, dZ, db, 1, RELU)
        K._row_means_parallel(Z, db, 1)
        # Skinny layers on X in Fortran order (fastdnn.course.products, and the
        # trainer's fused weight step): serial on 4 examples, parallel from
        # PARALLEL_MIN_ELEMENTS multiply-adds.
        for m in (4, -(-PARALLEL_MIN_ELEMENTS // (4 * SKINNY_MIN_INPUTS))):
            X, Y, parameters = _network(dtype, SKINNY_MIN_INPUTS, 4, m)
            X = np.asfortranarray(X)
            train(X, Y, parameters, 0.01, 1)
            AL, caches = F.L_model_forward(X, parameters)
            F.L_model_backward(AL, Y, caches)
        # Inference: the serial, parallel (at least PREDICT_PARALLEL_MIN_MACS)
        # and BLAS (C-ordered X) paths.
        _, _, parameters = _network(dtype, 1 << 13, 20, 1)
        model = Model.from_parameters(parameters)
        X = np.ones((1 << 13, 32), dtype)  # 32 x 8192 x 20 MACs: above the parallel threshold
        for X_in in (np.asfortranarray(X), np.ascontiguousarray(X)):
            model.predict_proba(X_in)
            model.predict_proba(X_in, n_threads=1)
        if dtype == np.float32:  # its int8 model: uint8 and float32 X
            int8 = model.quantize()
            for X_in in (np.asfortranarray(X), np.asfortranarray(X, dtype=np.uint8)):
                int8.predict_proba(X_in)
                int8.predict_proba(X_in, n_threads=1)
        if dtype == np.float64:
            exercise_course2()


def exercise_course2():
    """One call of every Course 2 function that reaches a kernel, and each ``model``."""
    import contextlib
    import io

    from . import gradient_checking, optimization, regularization

    state = np.random.get_state()  # noqa: NPY002 (Course 2 seeds the global stream)
    try:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((2, 8))
        Y = (rng.random((1, 8)) > 0.5).astype(np.int64)
        R = regularization
        p = R.initialize_parameters([2, 4, 3, 1])
        with contextlib.redirect_stdout(io.StringIO()):
            for keep_prob in (None, 0.8):
                if keep_prob is None:
                    A3, cache = R.forward_propagation(X, p)
                    grads = R.backward_propagation_with_regularization(X, Y, cache, 0.1)
                else:
                    A3, cache = R.forward_propagation_with_dropout(X, p, keep_prob)
                    grads = R.backward_propagation_with_dropout(X, Y, cache, keep_prob)
                R.compute_cost_with_regularization(A3, Y, p, 0.1)
                R.update_parameters(dict(p), grads, 0.1)
            O = optimization
            q = {k: v[:, :] for k, v in p.items()}
            q.pop("W3"), q.pop("b3")  # two layers: the per-parameter updates
            g = {"d" + k: np.ones_like(v) for k, v in q.items()}
            O.update_parameters_with_gd(q, g, 0.1)
            O.update_parameters_with_momentum(q, g, O.initialize_velocity(q), 0.9, 0.1)
            O.update_parameters_with_adam(q, g, *O.initialize_adam(q), 2)
            full = dict(p)  # three layers: the one-call momentum and Adam
            O.update_parameters_with_momentum(full, grads, O.initialize_velocity(full), 0.9, 0.1)
            O.update_parameters_with_adam(full, grads, *O.initialize_adam(full), 2)
            O.compute_cost(A3, Y)
            R.model(X, Y, num_iterations=2, lambd=0.1, plot_costs=False)
            R.model(X, Y, num_iterations=2, keep_prob=0.8, plot_costs=False)
            O.model(X, Y, [2, 3, 2, 1], "adam", num_epochs=2, mini_batch_size=3, plot_costs=False)
            gradient_checking.forward_propagation_n(X, Y, p)
    finally:
        np.random.set_state(state)  # noqa: NPY002
