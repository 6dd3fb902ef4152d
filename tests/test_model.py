"""fastdnn.Model: the cache-free inference path against the step-by-step forward pass."""

import pickle
import threading
import time

import h5py
import numpy as np
import pytest

import fastdnn
import naive
from conftest import TOL, jit_only
from fastdnn.app.data import flatten_images
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import ModelFileError


def network(rng, dims, dtype=np.float64):
    p = {}
    for l in range(1, len(dims)):
        p[f"W{l}"] = (rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])).astype(
            dtype
        )
        p[f"b{l}"] = (0.1 * rng.standard_normal((dims[l], 1))).astype(dtype)
    return p


# n_1 multiple of 5 and not (tiles and remainder units), L = 1..4, widths that
# are not multiples of the vector length.
DIMS = [[3, 1], [7, 5, 1], [13, 6, 2], [300, 20, 7, 5, 1], [129, 11, 3, 4, 2]]
SIZES = [1, 2, 3, 4, 5, 9, 64, 65, 131]


@pytest.mark.parametrize("dims", DIMS, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_proba_equals_L_model_forward(rng, dims, dtype):
    p = network(rng, dims, dtype)
    model = Model.from_parameters(p)
    assert model.dtype == dtype and model.layer_dims == tuple(dims)
    for m in SIZES:
        X = rng.standard_normal((dims[0], m)).astype(dtype)
        AL, _ = naive.L_model_forward(X, p)  # the plain NumPy twin
        for X_in in (
            np.asfortranarray(X),
            np.ascontiguousarray(X),
            np.repeat(X, 2, axis=1)[:, ::2],
        ):
            P = model.predict_proba(X_in)
            assert P.shape == (dims[-1], m) and P.dtype == dtype
            np.testing.assert_allclose(P, AL, **TOL[np.dtype(dtype)])
        labels = model.predict(X)
        assert labels.dtype == np.uint8
        np.testing.assert_array_equal(labels, (model.predict_proba(X) > 0.5).astype(np.uint8))


def test_float32_model_against_float64_reference(rng):
    p = network(rng, [500, 20, 7, 5, 1])
    X = rng.random((500, 40))
    AL, _ = fastdnn.L_model_forward(X, p)
    P = Model.from_parameters(p, dtype="float32").predict_proba(X)
    assert P.dtype == np.float32
    np.testing.assert_allclose(P, AL, rtol=1e-5, atol=1e-6)


def test_integer_input_is_converted(rng):
    p = network(rng, [12, 5, 1])
    X = rng.integers(0, 255, (12, 10), dtype=np.uint8)
    model = Model.from_parameters(p)
    np.testing.assert_allclose(
        model.predict_proba(X),
        fastdnn.L_model_forward(X.astype(float), p)[0],
        **TOL[np.dtype("f8")],
    )


@pytest.mark.parametrize("m", [1, 5, 16])
def test_small_batches_parallel_branch_matches_serial(m, rng, monkeypatch):
    # Small batches run serially by default (PREDICT_PARALLEL_MIN_MACS: idle
    # workers wake slowly); lowered here, the parallel branch must give the
    # same bits. Small enough for the no-JIT run, which covers the driver.
    p = network(rng, [70, 7, 3, 1], np.float32)
    model = Model.from_parameters(p)
    X = np.asfortranarray(rng.random((70, m), dtype=np.float32))
    serial = model.predict_proba(X)
    monkeypatch.setattr("fastdnn.serving.forward.PREDICT_PARALLEL_MIN_MACS", 1)
    np.testing.assert_array_equal(model.predict_proba(X), serial)
    np.testing.assert_array_equal(model.predict_proba(X, n_threads=1), serial)


@jit_only
def test_parallel_and_serial_are_bitwise_equal(rng):
    # 1,024 x 1,100 elements: above the parallel threshold.
    p = network(rng, [1024, 20, 7, 5, 1], np.float32)
    model = Model.from_parameters(p)
    X = np.asfortranarray(rng.random((1024, 1100), dtype=np.float32))
    serial = model.predict_proba(X, n_threads=1)
    np.testing.assert_array_equal(model.predict_proba(X), serial)
    np.testing.assert_array_equal(model.predict_proba(X, n_threads=2), serial)
    for _ in range(3):  # run after run
        np.testing.assert_array_equal(model.predict_proba(X), serial)


def test_roundtrip_save_load_parameters_pickle(rng, tmp_path):
    p = network(rng, [30, 20, 7, 1])
    model = Model.from_parameters(p)
    path = tmp_path / "m.h5"
    model.save(path)
    loaded = Model.load(path)
    assert loaded == model and repr(loaded) == "Model(layer_dims=[30, 20, 7, 1], dtype=float64)"
    assert pickle.loads(pickle.dumps(model)) == model
    back = model.parameters()
    assert set(back) == set(p)
    for k in p:
        np.testing.assert_array_equal(back[k], p[k])
    back["W1"][:] = 0  # a copy: the model is not changed
    assert Model.from_parameters(p) == model
    assert Model.load(path, dtype="float32").dtype == np.float32


def test_model_does_not_alias_caller_parameters(rng):
    p = network(rng, [6, 5, 1])
    model = Model.from_parameters(p)
    X = rng.random((6, 3))
    before = model.predict_proba(X)
    p["W1"][:] = 0
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_stream_hdf5_course_layout(rng, tmp_path):
    images = rng.integers(0, 256, (37, 4, 4, 3), dtype=np.uint8)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=images, chunks=(5, 4, 4, 3))
        f.create_dataset("xt", data=images.reshape(37, -1).T)
    model = Model.from_parameters(network(rng, [48, 20, 7, 1]), dtype="float32")
    expected = model.predict_proba(flatten_images(images, np.float32))
    for chunk in (None, 1, 7, 37):
        P = model.predict_proba_hdf5(path, "x", scale=1 / 255, chunk_examples=chunk)
        np.testing.assert_allclose(P, expected, **TOL[np.dtype("f4")])
    P = model.predict_proba_hdf5(path, "xt", examples_first=False, scale=1 / 255, chunk_examples=8)
    np.testing.assert_allclose(P, expected, **TOL[np.dtype("f4")])
    with pytest.raises(ValueError, match="no dataset 'nope'"):
        model.predict_proba_hdf5(path, "nope")


def test_stream_memmap_equals_in_memory(rng, tmp_path):
    X = rng.random((50, 23))
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=(50, 23))
    mm[:] = X
    model = Model.from_parameters(network(rng, [50, 6, 1]))
    np.testing.assert_array_equal(
        model.predict_proba_stream(mm, examples_first=False, chunk_examples=4),
        model.predict_proba(np.asfortranarray(X)),  # the chunks take the tiled kernel too
    )


BAD = [
    ("width", lambda m: m.predict_proba(np.ones((7, 3))), ValueError, r"has 7 rows .* takes 8"),
    ("1-D", lambda m: m.predict_proba(np.ones(8)), ValueError, "2-D"),
    ("empty", lambda m: m.predict_proba(np.ones((8, 0))), ValueError, "empty"),
    ("complex", lambda m: m.predict_proba(np.ones((8, 2), complex)), TypeError, "real numbers"),
    ("object", lambda m: m.predict_proba(np.array([[None] * 2] * 8)), TypeError, "real numbers"),
    ("None", lambda m: m.predict_proba(None), TypeError, "numeric array"),
    ("threads", lambda m: m.predict_proba(np.ones((8, 2)), n_threads=0), ValueError, "n_threads"),
    (
        "chunk",
        lambda m: m.predict_proba_stream(np.ones((2, 8)), chunk_examples=0),
        ValueError,
        "chunk",
    ),
    ("stream width", lambda m: m.predict_proba_stream(np.ones((2, 9))), ValueError, "9 features"),
    ("stream 1-D", lambda m: m.predict_proba_stream(np.ones(8)), ValueError, "2 dimensions"),
    ("scale", lambda m: m.predict_proba_stream(np.ones((2, 8)), scale=np.nan), ValueError, "scale"),
]


@pytest.mark.parametrize("call,error,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(rng, call, error, match):
    with pytest.raises(error, match=match):
        call(Model.from_parameters(network(rng, [8, 5, 1])))


@pytest.mark.parametrize("order", ["F", "C"])
def test_nan_row_is_named(rng, order):
    model = Model.from_parameters(network(rng, [8, 5, 1]))
    X = np.array(rng.random((8, 6)), order=order)
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf in example 4 \(feature 3"):
        model.predict_proba(X)
    X[3, 4] = np.inf
    with pytest.raises(ValueError, match="example 4"):
        model.predict_proba(X)


def test_nan_in_streamed_chunk_names_global_example(rng):
    model = Model.from_parameters(network(rng, [8, 5, 1]))
    X = rng.random((20, 8))
    X[13, 2] = np.nan
    with pytest.raises(ValueError, match="example 13"):
        model.predict_proba_stream(X, chunk_examples=4)


def test_bad_parameters():
    with pytest.raises(ValueError, match="b1 must be a 2-D array"):
        Model.from_parameters({"W1": np.ones((2, 3)), "b1": np.ones((2,))})
    with pytest.raises(ValueError, match="W2 has shape"):
        Model.from_parameters(
            {
                "W1": np.ones((2, 3)),
                "b1": np.ones((2, 1)),
                "W2": np.ones((1, 4)),
                "b2": np.ones((1, 1)),
            }
        )
    with pytest.raises(ValueError, match="NaN"):
        Model.from_parameters({"W1": np.full((1, 3), np.nan), "b1": np.ones((1, 1))})
    with pytest.raises(TypeError, match="float32 or float64"):
        Model.from_parameters({"W1": np.ones((1, 3)), "b1": np.ones((1, 1))}, dtype="int32")
    with pytest.raises(ValueError, match="missing"):
        Model.from_parameters({"W1": np.ones((1, 3))})


def test_load_refuses_non_model(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ModelFileError):
        Model.load(path)


@jit_only
def test_eight_threads_predict_concurrently(rng):
    """Eight threads, each with its own inputs (some above the parallel
    threshold), for about two seconds: every result equals the serial one."""
    p = network(rng, [1024, 20, 7, 5, 1], np.float32)
    model = Model.from_parameters(p)
    inputs = [np.asfortranarray(rng.random((1024, m), dtype=np.float32)) for m in (1, 3, 64, 1100)]
    inputs.append(np.ascontiguousarray(inputs[3]))
    expected = [model.predict_proba(X, n_threads=1) for X in inputs]
    failures, calls = [], [0] * 8
    stop = time.monotonic() + 2.0

    def worker(t):
        k = t
        while time.monotonic() < stop:
            i = k % len(inputs)
            P = model.predict_proba(inputs[i])
            if i == 4:  # the BLAS path may sum in another order than the tiled kernel
                ok = np.allclose(P, expected[i], **TOL[np.dtype("f4")])
            else:
                ok = np.array_equal(P, expected[i])
            if not ok:
                failures.append((t, i))
            calls[t] += 1
            k += 1

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert min(calls) > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_layer_kernels_against_numpy(rng, dtype):
    """The tiled first layer, serial and parallel (split over examples and over
    units), against X.T @ W1.T: 4x5 tiles plus remainders of both (units past
    the last 5-unit tile: 1 to 4, in tiles of 2 and 1)."""
    from fastdnn import kernels as K

    shapes = ((1, 5, 7), (3, 23, 2049), (37, 23, 300), (9, 2, 4100), (13, 9, 2050), (6, 6, 9))
    for m, n1, n_x in shapes:
        XT = rng.standard_normal((m, n_x)).astype(dtype)
        W1 = rng.standard_normal((n1, n_x)).astype(dtype)
        serial, parallel = np.empty((m, n1), dtype), np.empty((m, n1), dtype)
        K._first_layer_rows(XT, W1, serial, 0, m)
        for items in (1, 8, 64):
            K._first_layer_parallel(XT, W1, parallel, items)
            np.testing.assert_array_equal(parallel, serial)
        expected = XT.astype(np.float64) @ W1.T.astype(np.float64)
        bound = 2 * (n_x + 2) * np.finfo(dtype).eps * (np.abs(XT) @ np.abs(W1.T))
        assert np.all(np.abs(serial - expected) <= bound)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_saved_files_get_the_mode_open_would_give(rng, tmp_path, umask):
    """Model files and ONNX exports are readable as a plain open() would make them under
    the caller's umask (not mkstemp's 0600): a service account must be able to read them."""
    import os
    import stat

    model = Model.from_parameters(network(rng, [6, 3, 1]))
    old = os.umask(umask)
    try:
        model.save(tmp_path / "m.h5")
        paths = [tmp_path / "m.h5"]
        try:
            import onnx  # noqa: F401
        except ImportError:
            pass
        else:
            model.to_onnx(tmp_path / "m.onnx")
            paths.append(tmp_path / "m.onnx")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    want = stat.S_IMODE(os.stat(tmp_path / "plain").st_mode)
    assert want == 0o666 & ~umask
    for path in paths:
        assert stat.S_IMODE(os.stat(path).st_mode) == want, path
