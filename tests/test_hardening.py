"""Hardening: hostile model files, read-only inputs, the command line's bad
input, determinism across runs and thread counts, and a concurrency soak."""

import os
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

import fastdnn as F
from conftest import TOL, jit_only
from fastdnn.app import initialize_parameters_deep
from fastdnn.data import write_course_layout
from fastdnn.model import Model
from fastdnn.modelfile import ModelFileError, load_model, save_model
from fastdnn.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.h5"
    save_model(path, initialize_parameters_deep([6, 4, 1]))
    return path


def edited(good, tmp_path, edit):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(good.read_bytes())
    with h5py.File(bad, "a") as f:
        edit(f)
    return bad


def test_truncated_file(good_file, tmp_path):
    data = good_file.read_bytes()
    for cut in (0, 8, len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut{cut}.h5"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_model(path)


def test_pickled_and_opaque_data_are_refused(good_file, tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    payload = np.void(pickle.dumps(Boom()))

    def opaque(f):
        del f["W1"]
        f.create_dataset("W1", data=payload)

    with pytest.raises(ModelFileError, match="W1 must be a float64 dataset"):
        load_model(edited(good_file, tmp_path, opaque))

    def pickled_attribute(f):
        f.attrs["training"] = payload

    with pytest.raises(ModelFileError):
        load_model(edited(good_file, tmp_path, pickled_attribute))
    assert not (tmp_path / "pwned").exists()


def test_links_are_refused(good_file, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.ones((4, 6))

    def soft(f):
        del f["b1"]
        f["b1"] = h5py.SoftLink("/W1")

    def external(f):
        del f["W1"]
        f["W1"] = h5py.ExternalLink(str(other), "/x")

    for edit in (soft, external):
        with pytest.raises(ModelFileError, match="is a link"):
            load_model(edited(good_file, tmp_path, edit))


def test_bad_attributes(good_file, tmp_path):
    for edit, match in [
        (lambda f: f.attrs.__setitem__("training", "{not json"), "unreadable model attributes"),
        (lambda f: f.attrs.__setitem__("layer_dims", np.array([6, 0, 1])), "invalid layer_dims"),
        (lambda f: f.attrs.__setitem__("layer_dims", np.array([6, -4, 1])), "invalid layer_dims"),
        (
            lambda f: f.attrs.__setitem__("activations", '["tanh", "sigmoid"]'),
            "unsupported activations",
        ),
        (lambda f: f.attrs.__setitem__("dtype", "float16"), "invalid layer_dims .* or dtype"),
        (lambda f: f["W1"].__setitem__((0, 0), np.nan), "W1 contains NaN"),
    ]:
        with pytest.raises(ModelFileError, match=match):
            load_model(edited(good_file, tmp_path, edit))


def test_read_only_inputs_work(rng):
    p = initialize_parameters_deep([5, 4, 1])
    X = rng.random((5, 7))
    Y = (rng.random((1, 7)) > 0.5).astype(float)
    for a in (X, Y, *p.values()):
        a.flags.writeable = False
    AL, caches = F.L_model_forward(X, p)
    grads = F.L_model_backward(AL, Y, caches)
    new = F.update_parameters(p, grads, 0.1)
    assert all(v.flags.writeable for v in new.values())
    F.compute_cost(AL, Y)
    Model.from_parameters(p).predict_proba(X)
    A, Z = F.relu(X)
    F.relu_backward(X, X)
    trained, costs = train(X, Y, p, 0.1, 3)
    assert not np.array_equal(trained["W1"], p["W1"])


@pytest.mark.parametrize("dims", [[2**40, 2**40], [3, 2**20, 2**20, 1]])
def test_very_large_layers_fail_cleanly(dims):
    with pytest.raises(MemoryError, match=r"initialize_parameters_deep: layer \d: W\d of shape"):
        F.initialize_parameters_deep(dims)


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "fastdnn", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_cli_bad_input(tmp_path):
    data = write_course_layout(tmp_path / "data", m_train=12, m_test=5)
    model = tmp_path / "m.h5"
    save_model(model, initialize_parameters_deep([7, 3, 1]))  # wrong width for 12288 features
    not_hdf5 = tmp_path / "x.h5"
    not_hdf5.write_text("hello")
    cases = [
        (["train", str(data), "--layers", "0"], "layer"),
        (["train", str(data), "--layers", "-3"], "layer_dims[1] must be at least 1"),
        (["train", str(data), "--iterations", "-1"], "iterations"),
        (["train", str(data), "--learning-rate", "nan"], "learning_rate"),
        (["train", str(data), "--dtype", "int8"], "dtype"),
        (["predict", str(model), str(data / "test_catvnoncat.h5")], "12288"),
        (["predict", str(tmp_path), str(data / "test_catvnoncat.h5")], "directory"),
        (["predict", str(not_hdf5), str(data / "test_catvnoncat.h5")], "not a readable HDF5"),
        (["predict", str(model), str(not_hdf5)], "not a readable HDF5"),
    ]
    for args, match in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert match.lower() in r.stderr.lower(), (args, r.stderr)


def _cat_like(rng, n_x=300, m=64):
    X = rng.random((n_x, m))
    Y = (rng.random((1, m)) > 0.6).astype(float)
    return X, Y, initialize_parameters_deep([n_x, 20, 7, 5, 1])


def test_bitwise_deterministic_run_after_run(rng):
    X, Y, p = _cat_like(rng)
    first = train(X, Y, p, 0.0075, 20)
    model = Model.from_parameters(first[0])
    P = model.predict_proba(X)
    for _ in range(3):
        again = train(X, Y, p, 0.0075, 20)
        for k in p:
            np.testing.assert_array_equal(again[0][k], first[0][k])
        np.testing.assert_array_equal(again[1], first[1])
        np.testing.assert_array_equal(model.predict_proba(X), P)


@jit_only
def test_results_across_thread_counts(rng):
    """Parallel kernels give bitwise the serial result, except sums split
    over blocks (the cost): those agree within 1e-14 relative. BLAS products
    under different thread counts: within TOL."""
    import numba

    n = max(2, numba.config.NUMBA_NUM_THREADS)
    Z = rng.standard_normal((1100, 1000))
    AL = rng.random((1, 1 << 21))
    Y = (rng.random((1, 1 << 21)) > 0.5).astype(float)
    out = {}
    for t in sorted({1, n}):
        with F.threads(min(t, numba.config.NUMBA_NUM_THREADS)):
            out[t] = (F.sigmoid(Z)[0], F.relu_backward(Z, Z), F.compute_cost(AL, Y))
    a, b = out[1], out[n]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[2], b[2], rtol=1e-14)


@jit_only
def test_concurrency_soak(rng):
    """Six threads for about three seconds: three train their own models, three
    predict with their own; every result equals the one computed alone."""
    jobs = []
    for k in range(3):
        X, Y, p = _cat_like(np.random.default_rng(k), n_x=1100, m=1000)  # above the thresholds
        jobs.append(("train", (X, Y, p), train(X, Y, p, 0.01, 3)[0]))
    for k in range(3):
        X, Y, p = _cat_like(np.random.default_rng(10 + k), n_x=2000, m=300)
        model = Model.from_parameters(p, dtype="float32")
        Xf = np.asfortranarray(X, dtype=np.float32)
        jobs.append(("predict", (model, Xf), model.predict_proba(Xf, n_threads=1)))
    failures, counts = [], [0] * len(jobs)
    stop = time.monotonic() + 3.0

    def worker(i):
        kind, args, expected = jobs[i]
        while time.monotonic() < stop:
            if kind == "train":
                got = train(*args, 0.01, 3)[0]
                ok = all(np.allclose(got[k], expected[k], **TOL[np.dtype("f8")]) for k in expected)
            else:
                ok = np.array_equal(args[0].predict_proba(args[1]), expected)
            if not ok:
                failures.append(i)
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and min(counts) >= 1
