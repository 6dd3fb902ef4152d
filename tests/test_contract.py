"""What drop-in users rely on: structures, keys, types, dtypes, no mutation."""

import re

import numpy as np
import pytest

import course_cases as C
import fastdnn as F


def leaves(x):
    if isinstance(x, (tuple, list)):
        for item in x:
            yield from leaves(item)
    elif isinstance(x, dict):
        for item in x.values():
            yield from leaves(item)
    else:
        yield x


def test_update_parameters_leaves_inputs_untouched():
    params, grads, lr = C.update_parameters()
    before = {k: v.copy() for k, v in params.items()}
    grads_before = {k: v.copy() for k, v in grads.items()}
    first = F.update_parameters(params, grads, lr)
    second = F.update_parameters(params, grads, lr)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
        np.testing.assert_array_equal(first[k], second[k])
        assert first[k] is not params[k]
        assert not np.shares_memory(first[k], params[k])
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads_before[k])
    assert list(first) == ["W1", "b1", "W2", "b2"]


def test_L_model_backward_keys_are_exactly_the_course_keys():
    X, params = C.L_model_forward_2hidden()
    AL, caches = F.L_model_forward(X, params)
    grads = F.L_model_backward(AL, np.array([[1, 0, 1, 0]]), caches)
    assert set(grads) == {"dA0", "dA1", "dA2", "dW1", "dW2", "dW3", "db1", "db2", "db3"}
    assert len(grads) == 9
    for l in range(3):
        assert grads[f"dA{l}"].shape == caches[l][0][0].shape


def test_every_returned_leaf_is_an_ndarray():
    X, params = C.L_model_forward_2hidden()
    AL, caches = F.L_model_forward(X, params)
    grads = F.L_model_backward(AL, np.array([[1, 0, 1, 0]]), caches)
    outputs = [
        AL,
        caches,
        grads,
        F.compute_cost(AL, np.array([[1, 0, 1, 0]])),
        F.update_parameters(params, grads, 0.1),
        F.linear_forward(*C.linear_forward()),
        F.linear_activation_forward(*C.linear_activation_forward(), "relu"),
        F.linear_backward(*C.linear_backward()),
        F.linear_activation_backward(*C.linear_activation_backward(), "sigmoid"),
        F.sigmoid(X),
        F.relu(X),
        F.relu_backward(X, X),
        F.sigmoid_backward(X, X),
        F.initialize_parameters(2, 3, 1),
        F.initialize_parameters_deep((4, 3, 1)),
    ]
    for leaf in leaves(outputs):
        assert isinstance(leaf, np.ndarray), type(leaf)


def test_caches_hold_the_callers_arrays():
    X, params = C.L_model_forward_2hidden()
    _, caches = F.L_model_forward(X, params)
    assert caches[0][0][0] is X
    for l, ((_A_prev, W, b), Z) in enumerate(caches, start=1):
        assert W is params[f"W{l}"] and b is params[f"b{l}"]
        assert Z.shape == (W.shape[0], X.shape[1])


def test_float32_stays_float32_end_to_end():
    X, params = C.L_model_forward_2hidden()
    X = X.astype(np.float32)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    Y = np.array([[1, 0, 1, 0]])  # int labels must not widen to float64
    AL, caches = F.L_model_forward(X, params)
    cost = F.compute_cost(AL, Y)
    grads = F.L_model_backward(AL, Y, caches)
    new = F.update_parameters(params, grads, 0.1)
    for leaf in leaves([AL, caches, cost, grads, new, F.sigmoid(X), F.relu_backward(X, X)]):
        assert leaf.dtype == np.float32


def test_mixed_dtypes_promote_like_numpy():
    A, W, b = C.linear_forward()
    Z, _ = F.linear_forward(A.astype(np.float32), W, b)
    assert Z.dtype == np.float64
    Z, _ = F.linear_forward(A.astype(np.float16), W.astype(np.float32), b.astype(np.float32))
    assert Z.dtype == np.float32


def test_integer_inputs_are_converted():
    Z, cache = F.linear_forward(np.array([[1, 2], [3, 4]]), np.array([[1, -1]]), np.array([[1]]))
    np.testing.assert_array_equal(Z, [[-1.0, -1.0]])
    assert Z.dtype == np.float64


def test_layer_dims_tuple_and_keyword_names():
    p = F.initialize_parameters_deep(layer_dims=(5, 4, 3))
    assert p["W2"].shape == (3, 4)
    A, _ = F.linear_activation_forward(
        A_prev=np.ones((4, 2)), W=p["W1"][:, :4], b=p["b1"], activation="relu"
    )
    assert A.shape == (4, 2)


def test_threads_context_manager_restores():
    import numba

    before = numba.get_num_threads()
    with F.threads(1):
        assert numba.get_num_threads() == 1
        F.sigmoid(np.ones((400, 400)))
    assert numba.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with F.threads(0):
            pass
    with pytest.raises(RuntimeError):
        with F.threads(1):
            raise RuntimeError
    assert numba.get_num_threads() == before


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((500, 300))
    dA = rng.standard_normal((500, 300))
    W = rng.standard_normal((500, 500))
    outs = []
    for n in (1, 2):
        with F.threads(n):
            outs.append(
                (
                    F.sigmoid(Z)[0],
                    F.linear_activation_backward(dA, ((Z, W, np.zeros((500, 1))), dA), "relu")[2],
                )
            )
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


def _count_sites(tmp_path):
    """Every argument that is a count or a size: (``call(value)``, least, a good value)."""
    from fastdnn.app.train import train
    from fastdnn.serving.model import Model
    from fastdnn.serving.modelfile import load_model, save_model

    p = F.initialize_parameters_deep([4, 3, 1])
    model = Model.from_parameters(p)
    path = tmp_path / "m.h5"
    save_model(path, p)
    X, Y = np.ones((4, 6)), np.ones((1, 6))

    def threads(n):
        with F.threads(n):
            pass

    return {
        "threads n": (threads, 1, 1),
        "n_threads": (lambda n: model.predict_proba(X, n_threads=n), 1, 2),
        "chunk_examples": (lambda n: model.predict_proba_stream(X.T, chunk_examples=n), 1, 2),
        "max_bytes": (lambda n: load_model(path, max_bytes=n), 1, 10**6),
        "num_iterations": (lambda n: train(X, Y, p, 0.1, n), 0, 2),
        "layer_dims[1]": (lambda n: F.initialize_parameters_deep([4, n, 1]), 1, 2),
    }


def test_every_count_argument_is_checked_the_same_way(tmp_path):
    """One validator (``_internal.validation.whole_number``) for every count: NumPy ints
    accepted, bools and floats a TypeError naming the argument, out of range a ValueError."""
    for label, (call, least, good) in _count_sites(tmp_path).items():
        name = label.split()[-1]
        call(np.int64(good))
        for bad in (True, 2.0, "2"):  # (None is the default of some)
            with pytest.raises(TypeError, match=re.escape(name) + " must be an int"):
                call(bad)
        with pytest.raises(
            ValueError, match=re.escape(name) + f" must be (at least|between) {least}"
        ):
            call(least - 1)


def test_every_dtype_argument_is_checked_the_same_way(tmp_path):
    from fastdnn.app.estimator import DNNClassifier
    from fastdnn.serving.model import Model
    from fastdnn.serving.modelfile import save_model

    p = F.initialize_parameters_deep([4, 3, 1])
    X, y = np.ones((6, 4)), np.array([0, 1] * 3)
    for call in (
        lambda d: Model.from_parameters(p, dtype=d),
        lambda d: save_model(tmp_path / "m.h5", p, dtype=d),
        lambda d: DNNClassifier(hidden_layer_sizes=(3,), num_iterations=2, dtype=d).fit(X, y),
    ):
        call("float32")
        call(np.float64)
        for bad in ("int8", "float16", ">f8", "nonsense"):
            with pytest.raises(TypeError, match="dtype must be float32 or float64"):
                call(bad)


def test_every_network_is_checked_the_same_way(tmp_path):
    """One validator (``_internal.validation.network``) for a parameters dict's shapes: the
    trainer, ``Model``, model files and the ONNX export name the same layer in the
    same words (and the trainer builds no stand-in arrays to check them)."""
    from fastdnn.app.train import train
    from fastdnn.serving.model import Model
    from fastdnn.serving.modelfile import save_model

    broken = {
        "W1": np.ones((4, 5)),
        "b1": np.ones((4, 1)),
        "W2": np.ones((1, 3)),
        "b2": np.ones((1, 1)),
    }
    bad_bias = {**broken, "W2": np.ones((1, 4)), "b2": np.ones((2, 1))}
    X, Y = np.ones((5, 6)), np.array([[0, 1] * 3])
    sites = {
        "train": lambda p: train(X, Y, p, 0.1, 1),
        "Model.from_parameters": Model.from_parameters,
        "save_model": lambda p: save_model(tmp_path / "m.h5", p),
    }
    try:
        import onnx  # noqa: F401

        from fastdnn.serving.onnx_export import to_onnx

        sites["to_onnx"] = to_onnx
    except ImportError:  # the onnx extra; the other three still run
        pass
    for where, call in sites.items():
        with pytest.raises(ValueError) as e:
            call(broken)
        assert str(e.value) == (
            f"{where} (layer 2): W2 has shape (1, 3), so A1 needs 3 rows; got A1 of 4 rows"
        )
        with pytest.raises(ValueError, match=re.escape(f"{where}: b2 must have shape (1, 1)")):
            call(bad_bias)
    with pytest.raises(ValueError, match=r"train \(layer 1\): W1 has shape \(4, 5\), so X needs 5"):
        train(np.ones((6, 6)), Y, {k: broken[k] for k in ("W1", "b1")}, 0.1, 1)


def test_onnx_export_does_not_import_the_model_module():
    """``fastdnn.serving.onnx_export`` checks a parameters dict itself: model.py imports it, not the reverse."""
    pytest.importorskip("onnx")
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, fastdnn.serving.onnx_export as o; sys.modules.pop('fastdnn.serving.model', None);"
        "import fastdnn.serving.onnx_export; o.to_onnx({'W1': np.ones((1, 3)), 'b1': np.zeros((1, 1))});"
        "print('fastdnn.serving.model' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_parameters_must_be_finite_and_fit_the_dtype():
    from fastdnn.serving.model import Model

    p = F.initialize_parameters_deep([4, 3, 1])
    with pytest.raises(ValueError, match=r"Model.from_parameters: b2 contains NaN or inf"):
        Model.from_parameters({**p, "b2": np.full((1, 1), np.nan)})
    with pytest.raises(ValueError, match="a weight exceeds the range of float32"):
        Model.from_parameters({**p, "W1": p["W1"] * 1e300}, dtype="float32")
