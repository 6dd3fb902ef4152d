"""The application module, the training loop, model files, the estimator and the CLI."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastdnn.app as app
import naive as N
from conftest import SHARED
from fastdnn.app.data import flatten_images, load_data, synthetic_catvnoncat, write_course_layout
from fastdnn.app.estimator import DNNClassifier
from fastdnn.app.train import TrainingDiverged, train
from fastdnn.course import reference
from fastdnn.serving.modelfile import ModelFileError, load_model, save_model

CAT_DATA = os.path.join(SHARED, "data", "catvnoncat")
needs_cat_data = pytest.mark.skipif(
    not os.path.isfile(os.path.join(CAT_DATA, "train_catvnoncat.h5")),
    reason=f"the course's cat data is not at {CAT_DATA} (../shared beside the repository)",
)


@pytest.fixture(scope="module")
def small_data():
    x, y = synthetic_catvnoncat(60, seed=3, size=16)
    return flatten_images(x), y.reshape(1, -1)


def reference_loop(X, Y, parameters, learning_rate, num_iterations):
    costs = []
    for i in range(num_iterations):
        parameters, cost = N.training_step(X, Y, parameters, learning_rate)
        if i % 100 == 0:
            costs.append(cost)
    return parameters, costs


def test_load_data_course_layout(tmp_path):
    write_course_layout(tmp_path, m_train=7, m_test=3)
    train_x, train_y, test_x, test_y, classes = load_data(tmp_path)
    assert train_x.shape == (7, 64, 64, 3) and train_x.dtype == np.uint8
    assert train_y.shape == (1, 7) and test_x.shape == (3, 64, 64, 3) and test_y.shape == (1, 3)
    assert list(classes) == [b"non-cat", b"cat"]
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path.parent)
        os.rename(tmp_path, tmp_path.parent / "datasets")
        assert load_data()[0].shape == (7, 64, 64, 3)  # the course's default: ./datasets
    finally:
        os.chdir(cwd)


def test_load_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_catvnoncat.h5"):
        load_data(tmp_path)
    (tmp_path / "train_catvnoncat.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_data(tmp_path)


@needs_cat_data
def test_course_data_and_L_layer_model_follow_the_reference():
    train_x_orig, train_y, test_x_orig, test_y, classes = load_data(CAT_DATA)
    assert train_x_orig.shape == (209, 64, 64, 3) and test_x_orig.shape == (50, 64, 64, 3)
    assert train_y.shape == (1, 209) and list(classes) == [b"non-cat", b"cat"]
    X = flatten_images(train_x_orig)
    layers = [12288, 20, 7, 5, 1]
    parameters, costs = app.L_layer_model(X, train_y, layers, num_iterations=201)
    ref_params, ref_costs = reference_loop(
        X, train_y, app.initialize_parameters_deep(layers), 0.0075, 201
    )
    assert len(costs) == 3 and all(isinstance(c, np.ndarray) and c.shape == () for c in costs)
    # The course's printed cost at iteration 0 for this network and data.
    assert abs(float(costs[0]) - 0.771749) < 1e-6
    np.testing.assert_allclose(
        np.array(costs, dtype=float), np.array(ref_costs, dtype=float), rtol=1e-10
    )
    for key in ref_params:
        np.testing.assert_allclose(parameters[key], ref_params[key], rtol=1e-8, atol=1e-12)


def test_two_layer_model_matches_reference_and_prints(small_data, capsys):
    X, Y = small_data
    parameters, costs = app.two_layer_model(
        X, Y, (X.shape[0], 7, 1), learning_rate=0.05, num_iterations=250, print_cost=True
    )
    ref_params, ref_costs = reference_loop(
        X, Y, app.initialize_parameters(X.shape[0], 7, 1), 0.05, 250
    )
    np.testing.assert_allclose(
        np.array(costs, dtype=float), np.array(ref_costs, dtype=float), rtol=1e-11
    )
    for key in ref_params:
        np.testing.assert_allclose(parameters[key], ref_params[key], rtol=1e-9, atol=1e-13)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        f"Cost after iteration {i}" for i in (0, 100, 200, 249)
    ]
    assert lines[0] == f"Cost after iteration 0: {np.squeeze(costs[0])}"


def test_training_in_float32_stays_float32(small_data):
    X, Y = small_data
    params = {
        k: v.astype(np.float32)
        for k, v in app.initialize_parameters_deep([X.shape[0], 5, 1]).items()
    }
    out, costs = train(X.astype(np.float32), Y, params, 0.05, 101)
    assert all(v.dtype == np.float32 for v in out.values())
    assert all(c.dtype == np.float32 for c in costs)
    assert params["W1"] is not out["W1"]


def test_training_divergence_names_the_iteration(small_data):
    X, Y = small_data
    params = app.initialize_parameters_deep([X.shape[0], 5, 1])
    with pytest.raises(TrainingDiverged, match=r"diverged at iteration \d+"):
        train(X, Y, params, 1e300, 50)


def test_predict_prints_accuracy_like_the_course(small_data, capsys):
    X, Y = small_data
    parameters, _ = app.L_layer_model(X, Y, [X.shape[0], 4, 1], 0.05, 300)
    p = app.predict(X, Y.tolist(), parameters)
    assert p.shape == (1, X.shape[1]) and p.dtype == np.float64
    probas = N.L_model_forward(X, parameters)[0]
    np.testing.assert_array_equal(p, (probas > 0.5).astype(float))
    assert capsys.readouterr().out == f"Accuracy: {np.sum((p == Y) / X.shape[1])}\n"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_file_round_trip(tmp_path, dtype):
    params = {k: v.astype(dtype) for k, v in app.initialize_parameters_deep([6, 4, 3, 1]).items()}
    path = tmp_path / "m.h5"
    save_model(path, params, training={"learning_rate": 0.1})
    loaded, info = load_model(path)
    assert info["layer_dims"] == [6, 4, 3, 1] and info["dtype"] == np.dtype(dtype).name
    assert info["activations"] == ["relu", "relu", "sigmoid"] and info["training"] == {
        "learning_rate": 0.1
    }
    for k in params:
        np.testing.assert_array_equal(loaded[k], params[k])
        assert loaded[k].dtype == dtype
    assert os.listdir(tmp_path) == ["m.h5"]  # no temporary file left behind


def test_model_file_errors(tmp_path):
    import h5py

    params = app.initialize_parameters_deep([6, 4, 1])
    good = tmp_path / "good.h5"
    save_model(good, params)
    with pytest.raises(ModelFileError, match="not a readable HDF5"):
        (tmp_path / "junk.h5").write_bytes(b"\x89HDF junk")
        load_model(tmp_path / "junk.h5")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.h5")
    for edit, pattern in [
        (lambda f: f.attrs.__setitem__("format_version", 99), "format version 99"),
        (lambda f: f.attrs.__delitem__("format"), "attribute 'format' is missing"),
        (
            lambda f: (f.__delitem__("W2"), f.create_dataset("W2", data=np.ones((1, 5)))),
            r"layer 2: W2 has shape \(1, 5\)",
        ),
        (lambda f: f.create_dataset("extra", data=np.ones(3)), "do not match layer_dims"),
        (lambda f: f.__delitem__("b1"), "do not match layer_dims"),
        (
            lambda f: (
                f.__delitem__("b1"),
                f.create_dataset(
                    "b1", data=np.array([["x"]] * 4, dtype=object), dtype=h5py.string_dtype()
                ),
            ),
            "b1 must be a float64 dataset",
        ),
    ]:
        bad = tmp_path / "bad.h5"
        bad.write_bytes(good.read_bytes())
        with h5py.File(bad, "a") as f:
            edit(f)
        with pytest.raises(ModelFileError, match=pattern):
            load_model(bad)


def test_save_is_atomic_under_a_real_kill(tmp_path):
    """A process killed in the middle of save_model leaves the previous model intact."""
    path = tmp_path / "model.h5"
    save_model(path, app.initialize_parameters_deep([5, 3, 1]))
    before = path.read_bytes()
    script = f"""
import os, signal, numpy as np, h5py
import fastdnn.serving.modelfile as mf
real = h5py.File.create_dataset
def slow(self, name, **kw):
    out = real(self, name, **kw)
    if name == "W2":
        os.kill(os.getpid(), signal.SIGKILL)   # die with the file half written
    return out
h5py.File.create_dataset = slow
h5py.Group.create_dataset = slow
mf.save_model({str(path)!r}, {{"W1": np.ones((300, 5)), "b1": np.ones((300, 1)), "W2": np.ones((1, 300)), "b2": np.ones((1, 1))}})
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert path.read_bytes() == before
    load_model(path)


def test_estimator(small_data):
    X, Y = small_data
    Xr, y = X.T, np.where(Y.ravel() == 1, "cat", "non-cat")
    clf = DNNClassifier(hidden_layer_sizes=(5,), learning_rate=0.05, num_iterations=300)
    assert clf.get_params()["hidden_layer_sizes"] == (5,)
    clf.set_params(num_iterations=400)
    assert clf.fit(Xr, y) is clf
    proba = clf.predict_proba(Xr)
    assert proba.shape == (Xr.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert set(clf.predict(Xr)) <= {"cat", "non-cat"}
    assert clf.score(Xr, y) > 0.8
    with pytest.raises(ValueError, match="invalid parameter"):
        clf.set_params(bogus=1)
    with pytest.raises(ValueError, match="features"):
        clf.predict(Xr[:, :3])


@pytest.mark.filterwarnings("error::UserWarning")
def test_estimator_in_sklearn_cross_validation(small_data):
    sklearn = pytest.importorskip("sklearn", reason="scikit-learn is an optional test extra")
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, Y = small_data
    pipe = make_pipeline(
        StandardScaler(),
        DNNClassifier(hidden_layer_sizes=(4,), learning_rate=0.05, num_iterations=200),
    )
    scores = cross_val_score(pipe, X.T, Y.ravel(), cv=3, error_score="raise")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert sklearn.base.is_classifier(DNNClassifier())
    assert sklearn.base.clone(DNNClassifier(num_iterations=7)).num_iterations == 7


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "fastdnn", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_train_predict_info(tmp_path):
    data = write_course_layout(tmp_path / "data", m_train=40, m_test=10)
    model = tmp_path / "m.h5"
    r = run_cli(
        "train",
        str(data),
        "--layers",
        "4",
        "--iterations",
        "30",
        "--out",
        str(model),
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    assert "training accuracy" in r.stdout and model.exists()
    r = run_cli("predict", str(model), str(data / "test_catvnoncat.h5"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "probability,label" and len(lines) == 11
    assert "accuracy" in r.stderr
    r = run_cli("info", "--json")
    assert r.returncode == 0 and '"threading_layer"' in r.stdout


def test_cli_errors(tmp_path):
    r = run_cli("predict", str(tmp_path / "nope.h5"), str(tmp_path))
    assert r.returncode == 2 and "error: no model file" in r.stderr
    r = run_cli("train", str(tmp_path))
    assert r.returncode == 2 and "train_catvnoncat.h5" in r.stderr
    r = run_cli("bogus")
    assert r.returncode == 2
    r = run_cli("--help")
    assert r.returncode == 0 and "train" in r.stdout and "demo" in r.stdout


def test_cli_demo_writes_model_and_plot(tmp_path):
    r = run_cli("demo", "--out", str(tmp_path), "--iterations", "20", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "x faster" in r.stdout and "Accuracy: " in r.stdout
    assert (tmp_path / "fastdnn_model.h5").exists()
    load_model(tmp_path / "fastdnn_model.h5")


def test_installed_fastdnn_command(tmp_path):
    """``pip install`` puts a ``fastdnn`` command beside the interpreter (pyproject's
    ``[project.scripts]``): the README's ``fastdnn demo`` must not be "command not found"."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running in a virtual environment: no installed command to look for")
    command = os.path.join(os.path.dirname(sys.executable), "fastdnn")
    assert os.access(command, os.X_OK), (
        f"{command} missing: is [project.scripts] in pyproject.toml?"
    )
    r = subprocess.run([command, "info", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"threading_layer"' in r.stdout
    r = subprocess.run([command, "bogus"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2


def test_version_has_one_source():
    """The installed distribution's version is ``fastdnn.__version__`` (pyproject reads it)."""
    from importlib.metadata import version

    import fastdnn

    assert version("fastdnn") == fastdnn.__version__


@pytest.mark.parametrize("loop", ["L_layer_model", "two_layer_model"])
def test_bad_training_data_is_named_not_called_divergence(loop, rng):
    """NaN/inf in X or Y are ValueErrors that name the argument and the first bad
    index before any iteration, not TrainingDiverged at iteration 0."""
    X = rng.random((12, 10))
    Y = (rng.random((1, 10)) > 0.5).astype(np.int64)
    dims = [12, 3, 1] if loop == "L_layer_model" else (12, 3, 1)
    fit = getattr(app, loop)
    for value in (np.nan, np.inf):
        bad = X.copy()
        bad[4, 7] = value
        with pytest.raises(
            ValueError, match=r"X contains NaN or inf \(first at index \(4, 7\)"
        ) as e:
            fit(bad, Y, dims, num_iterations=5)
        assert not isinstance(e.value, TrainingDiverged)
        labels = Y.astype(float)
        labels[0, 6] = value
        with pytest.raises(ValueError, match=r"Y contains NaN or inf \(first at index \(0, 6\)"):
            fit(X, labels, dims, num_iterations=5)
    with pytest.raises(ValueError, match="Y must have the shape"):
        fit(X, Y[:, :9], dims, num_iterations=5)
    fit(X, Y, dims, num_iterations=5)  # the clean data still trains


def _course_two_layer_model(X, Y, layers_dims, learning_rate, num_iterations):
    """The notebook's own ``two_layer_model`` on the course's plain NumPy code."""
    R = reference
    parameters = R.initialize_parameters(*layers_dims)
    costs = []
    for i in range(num_iterations):
        A1, cache1 = R.linear_activation_forward(X, parameters["W1"], parameters["b1"], "relu")
        A2, cache2 = R.linear_activation_forward(A1, parameters["W2"], parameters["b2"], "sigmoid")
        cost = R.compute_cost(A2, Y)
        dA2 = -(np.divide(Y, A2) - np.divide(1 - Y, 1 - A2))
        dA1, dW2, db2 = R.linear_activation_backward(dA2, cache2, "sigmoid")
        _, dW1, db1 = R.linear_activation_backward(dA1, cache1, "relu")
        grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
        parameters = R.update_parameters(parameters, grads, learning_rate)
        if i % 100 == 0:
            costs.append(cost)
    return parameters, costs


@pytest.mark.parametrize("loop", ["two_layer_model", "L_layer_model"])
def test_real_valued_labels_train_as_in_the_course(loop):
    """The course's graded ``two_layer_model`` test: ``np.random.seed(1)``,
    ``X = randn(10, 10)``, ``Y = randn(1, 10)`` (real labels), layers (10, 4, 1).
    The course's code accepts any finite Y; so do the application's functions, and
    they compute what the course's compute (its own formulas, reference.py)."""
    np.random.seed(1)
    X = np.random.randn(10, 10)
    Y = np.random.randn(1, 10)
    assert not np.isin(Y, (0, 1)).all()
    if loop == "two_layer_model":
        dims = (10, 4, 1)
        got, costs = app.two_layer_model(X, Y, dims, num_iterations=201)
        want, want_costs = _course_two_layer_model(X, Y, dims, 0.0075, 201)
    else:
        dims = [10, 5, 4, 1]
        got, costs = app.L_layer_model(X, Y, dims, num_iterations=201)
        want, want_costs = reference_loop(
            X, Y, reference.initialize_parameters_deep(dims), 0.0075, 201
        )
    assert len(costs) == len(want_costs) == 3
    np.testing.assert_allclose(
        np.array(costs, dtype=float), np.array(want_costs, dtype=float), rtol=1e-10
    )
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-13)
    p = app.predict(X, Y, got)  # the course's predict: accuracy of p == Y, here 0
    assert p.shape == (1, 10) and set(np.unique(p)) <= {0.0, 1.0}
