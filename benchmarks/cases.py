"""The benchmark rows: each names fastdnn's call, the NumPy reference's, and any peers'.

A case is a dict: ``group``, ``name``, ``size`` (a label), ``elements`` (for
plotting against size), ``dtype``, ``impls`` (name -> zero-argument callable
returning its result) and ``steps`` (calls per invocation, for the training
loops timed 10 steps at a time).
"""

import numpy as np

import fastdnn as F
from fastdnn.app import initialize_parameters_deep
from fastdnn.app.train import train
from fastdnn.course import reference as R
from fastdnn.serving.model import Model

from . import notebook, peers

CAT = [12288, 20, 7, 5, 1]


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def elementwise(sizes, dtype):
    rng = np.random.default_rng(0)
    for n, m in sizes:
        yield from _elementwise_rows(_rand(rng, (n, m), dtype, 3), _rand(rng, (n, m), dtype), dtype)


def _elementwise_rows(Z, dA, dtype):
    n, m = Z.shape
    common = dict(group="elementwise", size=f"{n}x{m}", elements=n * m, dtype=dtype)
    for name in ("sigmoid", "relu"):
        fast, ref = getattr(F, name), getattr(R, name)
        impls = {"fastdnn": lambda fast=fast: fast(Z)[0], "numpy": lambda ref=ref: ref(Z)[0]}
        impls.update(peers.torch_elementwise(name, Z))
        yield dict(common, name=name, impls=impls)
    for name in ("sigmoid_backward", "relu_backward"):
        fast, ref = getattr(F, name), getattr(R, name)
        yield dict(
            common,
            name=name,
            impls={"fastdnn": lambda fast=fast: fast(dA, Z), "numpy": lambda ref=ref: ref(dA, Z)},
        )
    yield dict(
        common,
        name="db_row_sum",
        impls={
            "fastdnn": lambda: _db(dA),
            "numpy": lambda: 1 / m * np.sum(dA, axis=1, keepdims=True),
        },
    )


def _db(dZ):
    from fastdnn.course.backward import row_means

    db = np.empty((dZ.shape[0], 1), dZ.dtype)
    row_means(dZ, db)  # the call linear_backward makes for db
    return db


def linear(shapes, dtype):
    rng = np.random.default_rng(1)
    for n, n_prev, m in shapes:
        A, W, b = (
            _rand(rng, (n_prev, m), dtype),
            _rand(rng, (n, n_prev), dtype, n_prev**-0.5),
            _rand(rng, (n, 1), dtype),
        )
        yield from _linear_rows(A, W, b, _rand(rng, (n, m), dtype), dtype)


def _linear_rows(A, W, b, dZ, dtype):
    (n, n_prev), m = W.shape, A.shape[1]
    Z = (W @ A + b).astype(dtype)
    cache = ((A, W, b), Z)
    common = dict(
        group="linear", size=f"({n}x{n_prev})@({n_prev}x{m})", elements=n * n_prev * m, dtype=dtype
    )
    fwd = {
        "fastdnn": lambda: F.linear_forward(A, W, b)[0],
        "numpy": lambda: R.linear_forward(A, W, b)[0],
    }
    fwd.update(peers.torch_linear(A, W, b))
    yield dict(common, name="linear_forward", impls=fwd)
    for act in ("relu", "sigmoid"):
        yield dict(
            common,
            name=f"linear_activation_forward[{act}]",
            impls={
                "fastdnn": lambda act=act: F.linear_activation_forward(A, W, b, act)[0],
                "numpy": lambda act=act: R.linear_activation_forward(A, W, b, act)[0],
            },
        )
    yield dict(
        common,
        name="linear_backward",
        impls={
            "fastdnn": lambda: F.linear_backward(dZ, (A, W, b)),
            "numpy": lambda: R.linear_backward(dZ, (A, W, b)),
        },
    )
    for act in ("relu", "sigmoid"):
        yield dict(
            common,
            name=f"linear_activation_backward[{act}]",
            impls={
                "fastdnn": lambda act=act: F.linear_activation_backward(dZ, cache, act),
                "numpy": lambda act=act: R.linear_activation_backward(dZ, cache, act),
            },
        )


def cost_and_update(ms, param_shapes, dtype):
    rng = np.random.default_rng(2)
    for m in ms:
        AL = rng.uniform(0.01, 0.99, (1, m)).astype(dtype)
        Y = (rng.random((1, m)) > 0.5).astype(np.int64)
        yield dict(
            group="cost",
            name="compute_cost",
            size=f"1x{m}",
            elements=m,
            dtype=dtype,
            impls={
                "fastdnn": lambda AL=AL, Y=Y: F.compute_cost(AL, Y),
                "numpy": lambda AL=AL, Y=Y: R.compute_cost(AL, Y),
            },
        )
    for label, dims in param_shapes:
        params = {k: v.astype(dtype) for k, v in initialize_parameters_deep(dims).items()}
        grads = {"d" + k: _rand(rng, v.shape, dtype) for k, v in params.items()}
        elements = sum(v.size for v in params.values())
        yield dict(
            group="update",
            name="update_parameters",
            size=label,
            elements=elements,
            dtype=dtype,
            impls={
                "fastdnn": lambda p=params, g=grads: F.update_parameters(p, g, 0.01),
                "numpy": lambda p=params, g=grads: R.update_parameters(p, g, 0.01),
            },
        )


def model(ms, dtypes, steps=10):
    rng = np.random.default_rng(3)
    for dtype in dtypes:
        for m in ms:
            # The course's layout: reshape(m, -1).T / 255 is Fortran-ordered.
            X = np.asfortranarray(rng.random((CAT[0], m)), dtype=dtype)
            Y = (rng.random((1, m)) > 0.6).astype(dtype)
            params = {k: v.astype(dtype) for k, v in initialize_parameters_deep(CAT).items()}
            AL, caches = R.L_model_forward(X, params)
            size = f"cat m={m}"
            common = dict(group="model", size=size, elements=m, dtype=dtype)
            yield dict(
                common,
                name="L_model_forward",
                impls={
                    "fastdnn": lambda X=X, p=params: F.L_model_forward(X, p)[0],
                    "numpy": lambda X=X, p=params: R.L_model_forward(X, p)[0],
                },
            )
            yield dict(
                common,
                name="L_model_backward",
                impls={
                    # dict(...) reads dA0 too: the same work as NumPy's
                    "fastdnn": lambda AL=AL, Y=Y, c=caches: dict(F.L_model_backward(AL, Y, c)),
                    "numpy": lambda AL=AL, Y=Y, c=caches: R.L_model_backward(AL, Y, c),
                },
            )
            # The notebook's own loop (forward, cost every step, backward, update to new
            # arrays), with each side's functions: the path a learner runs. Nothing reads
            # dA0: NumPy's L_model_backward computes it, fastdnn's only when read (never).
            yield dict(
                common,
                name="notebook_step",
                impls={
                    name: lambda api=api, X=X, Y=Y, p=params: notebook.L_layer_model(
                        api, X, Y, p, 0.0075, steps
                    )[0]
                    for name, api in notebook.contenders().items()
                },
                steps=steps,
                pause=notebook.PAUSE,
            )
            # fastdnn's trainer against a NumPy loop doing exactly the trainer's
            # work (no dA0, dZ = AL - Y, the cost every 100 steps, in place), and
            # against PyTorch (no dX either).
            impls = {
                "fastdnn": lambda X=X, Y=Y, p=params: train(X, Y, p, 0.0075, steps)[0],
                "numpy": lambda X=X, Y=Y, p=params: R.trainer_steps(X, Y, p, 0.0075, steps)[0],
            }
            impls.update(peers.torch_training(X, Y, params, 0.0075, steps))
            yield dict(common, name="trainer_step", impls=impls, steps=steps, pause=notebook.PAUSE)
            yield from first_layer_products(X, params["W1"], rng, common)


def first_layer_products(X, W1, rng, common):
    """The first layer's three products alone, on the kernels ``linear_forward`` and
    ``linear_backward`` call for the notebook's Fortran-ordered X (``fastdnn.course.products``),
    against NumPy's and torch's same products."""
    from fastdnn.course import products

    m = X.shape[1]
    dZ1 = _rand(rng, (W1.shape[0], m), X.dtype)
    rows = {
        "first_layer[Z1 = W1 @ X]": {
            "fastdnn": lambda: products.forward(W1, X),
            "numpy": lambda: W1 @ X,
        },
        "first_layer[dW1 = dZ1 @ X.T / m]": {
            "fastdnn": lambda: products.weight_gradient(dZ1, X),
            "numpy": lambda: 1 / m * (dZ1 @ X.T),
        },
        "first_layer[dA0 = W1.T @ dZ1]": {
            "fastdnn": lambda: products.input_gradient(W1, dZ1),
            "numpy": lambda: W1.T @ dZ1,
        },
    }
    for (name, impls), peer in zip(rows.items(), peers.torch_first_layer(X, W1, dZ1), strict=True):
        impls.update(peer)
        yield dict(common, name=name, impls=impls, pause=notebook.PAUSE)


def inference(ms, dtypes):
    """Model.predict_proba on the cat network against the course's float64
    L_model_forward (the issue's reference for every inference row), with X in
    the course's layout (Fortran order, as reshape(m, -1).T gives)."""
    rng = np.random.default_rng(5)
    params = initialize_parameters_deep(CAT)
    for dtype in dtypes:
        model = Model.from_parameters(params, dtype=dtype)
        for m in ms:
            X64 = np.asfortranarray(rng.random((CAT[0], m)))
            X = np.asfortranarray(X64, dtype=dtype)
            impls = {
                "fastdnn": lambda X=X, model=model: model.predict_proba(X),
                "numpy": lambda X=X64: R.L_model_forward(X, params)[0],
            }
            impls.update(peers.inference(model, X))
            flops = 2 * m * sum(CAT[l] * CAT[l - 1] for l in range(1, len(CAT)))
            yield dict(
                group="inference",
                name="predict_proba",
                size=f"cat m={m}",
                elements=m,
                dtype=dtype,
                impls=impls,
                flops=flops,
            )


def all_cases(mode):
    quick = mode == "quick"
    elem_sizes = [(3, 2), (20, 209), (256, 256), (1024, 1024)] + ([] if quick else [(4096, 4096)])
    lin_shapes = [(1, 3, 2), (7, 20, 209), (20, 12288, 209), (1024, 1024, 512)] + (
        [] if quick else [(4096, 4096, 512)]
    )
    cost_ms = [3, 209, 100_000]
    updates = [("cat net", CAT)] + ([] if quick else [("4096x4096", [4096, 4096])])
    for dtype in (np.float64, np.float32) if not quick else (np.float64,):
        yield from elementwise(elem_sizes, dtype)
        yield from linear(lin_shapes, dtype)
        yield from cost_and_update(cost_ms, updates, dtype)
    yield from model([209] if quick else [209, 2048], (np.float64, np.float32))
    yield from inference(
        [1, 64, 1024] if quick else [1, 16, 209, 1024, 8192], (np.float32, np.float64)
    )
