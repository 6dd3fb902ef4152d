"""Hardening: hostile model files, read-only inputs, the command line's bad
input, determinism across runs and thread counts, and a concurrency soak."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import h5py
import numpy as np
import pytest

import fastdnn as F
from conftest import TOL, jit_only
from fastdnn.app import initialize_parameters_deep
from fastdnn.app.data import write_course_layout
from fastdnn.app.train import train
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import ModelFileError, load_model, save_model

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


LAYERS = ["W1", "b1", "W2", "b2"]  # every dataset of good_file's [6, 4, 1] network


def _moved(f, name):
    """Move dataset ``name`` out of the root (the model's namespace); return its new path."""
    f.move(name, f"/elsewhere_{name}")
    return f"/elsewhere_{name}"


def _soft(f, name, other):
    f[name] = h5py.SoftLink(_moved(f, name))


def _external_link(f, name, other):
    with h5py.File(other, "a") as g:
        g[name] = f[name][()]
    del f[name]
    f[name] = h5py.ExternalLink(str(other), "/" + name)


def _virtual(f, name, other):
    data = f[name][()]
    with h5py.File(other, "a") as g:
        g[name] = data
    layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
    layout[...] = h5py.VirtualSource(str(other), "/" + name, shape=data.shape)
    del f[name]
    f.create_virtual_dataset(name, layout)


def _external_storage(f, name, other):
    data = f[name][()]
    other.write_bytes(data.tobytes())
    del f[name]
    f.create_dataset(
        name, shape=data.shape, dtype=data.dtype, external=[(str(other), 0, data.nbytes)]
    )


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize(
    "kind, match",
    [
        (_soft, "is a link"),
        (_external_link, "is a link"),
        (_virtual, "virtual dataset"),
        (_external_storage, "keeps its data in another file"),
    ],
)
def test_links_virtual_and_external_data_are_refused(good_file, tmp_path, name, kind, match):
    """Each way an HDF5 dataset can read from elsewhere, for each dataset; the
    edited file reads back the right values through h5py, so only the check refuses it."""
    other = tmp_path / "other.bin"
    bad = edited(good_file, tmp_path, lambda f: kind(f, name, other))
    with h5py.File(good_file, "r") as f:
        expected = f[name][()]
    with h5py.File(bad, "r") as f:
        np.testing.assert_array_equal(f[name][()], expected)  # a working alternative, refused
    with pytest.raises(ModelFileError, match=f"{name} .*{match}|{name} {match}"):
        load_model(bad)


def _declared_huge(path, n=100_000):
    """A [n, n, 1] model whose W1 (n x n float64: 74.5 GiB for n = 100,000) is
    chunked and compressed and holds a few written values: a small file."""
    with h5py.File(path, "w") as f:
        f.attrs.update(
            format="fastdnn-model",
            format_version=1,
            layer_dims=np.array([n, n, 1]),
            activations='["relu", "sigmoid"]',
            dtype="float64",
            fastdnn_version="0",
            training="{}",
        )
        W1 = f.create_dataset("W1", (n, n), "f8", chunks=(64, 4096), compression="gzip")
        W1[:64, :4096] = 0.01
        f["b1"] = np.zeros((n, 1))
        f["W2"] = np.full((1, n), 0.01)
        f["b2"] = np.zeros((1, 1))
    return path


@contextlib.contextmanager
def traced_peak():
    """``with traced_peak() as peak:``; ``peak()`` is the most memory traced so far
    (NumPy reports its buffers to tracemalloc, h5py's reads included)."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_declared_size_over_the_limit_is_refused_before_allocating(tmp_path):
    path = _declared_huge(tmp_path / "huge.h5")
    assert path.stat().st_size < 2**21
    for load in (load_model, Model.load):
        with traced_peak() as peak, pytest.raises(ModelFileError) as info:
            load(path)
        assert peak() < 2**24  # nothing near the declared size was allocated
        message = str(info.value)
        assert "74.5 GiB" in message and "4 GiB limit" in message, message
        assert "max_bytes=" in message and "FASTDNN_MAX_MODEL_BYTES" in message, message


def test_the_limit_can_be_raised_and_lowered(good_file, monkeypatch):
    size = 8 * (4 * 7 + 1 * 5)  # [6, 4, 1] float64: W1 4x6, b1 4, W2 1x4, b2 1
    load_model(good_file, max_bytes=size)
    with pytest.raises(
        ModelFileError, match=f"declare {size} bytes .* over the {size - 1} bytes limit"
    ):
        load_model(good_file, max_bytes=size - 1)
    monkeypatch.setenv("FASTDNN_MAX_MODEL_BYTES", str(size - 1))
    with pytest.raises(ModelFileError, match="limit"):
        Model.load(good_file)
    Model.load(good_file, max_bytes=size)  # the argument wins over the environment
    monkeypatch.setenv("FASTDNN_MAX_MODEL_BYTES", "lots")
    with pytest.raises(ValueError, match="FASTDNN_MAX_MODEL_BYTES must be a whole number"):
        load_model(good_file)
    monkeypatch.delenv("FASTDNN_MAX_MODEL_BYTES")
    for bad, error in [(0, ValueError), (-5, ValueError), (1.5, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="max_bytes"):
            load_model(good_file, max_bytes=bad)


def _gzipped(tmp_path, W1):
    """A [n_x, n_1, 1] model file, written fresh, with W1 gzip-compressed in one chunk."""
    plain = tmp_path / "plain.h5"
    n_1 = W1.shape[0]
    save_model(
        plain, {"W1": W1, "b1": np.zeros((n_1, 1)), "W2": np.ones((1, n_1)), "b2": np.zeros((1, 1))}
    )
    path = tmp_path / "gz.h5"
    with h5py.File(plain, "r") as src, h5py.File(path, "w") as f:
        f.attrs.update(dict(src.attrs))
        for name in src:
            options = (
                dict(compression="gzip", compression_opts=9, chunks=W1.shape)
                if name == "W1"
                else {}
            )
            f.create_dataset(name, data=src[name][()], **options)
    return path


def test_compression_bomb_is_refused(tmp_path):
    """A W1 of 24 MB of zeros in 23 KB (1028x): refused before it is inflated, although
    it is under the size limit; ordinary compressed weights load."""
    bomb = _gzipped(tmp_path, np.zeros((3000, 1000)))
    assert bomb.stat().st_size < 2**17  # W1 in 23 KB; b1 and W2 stored plain
    with (
        traced_peak() as peak,
        pytest.raises(
            ModelFileError, match="W1 would inflate from .* to 22.9 MiB .*compression bomb"
        ),
    ):
        load_model(bomb)
    assert peak() < 2**23
    W1 = np.random.default_rng(0).standard_normal((3000, 1000))
    parameters, _ = load_model(_gzipped(tmp_path, W1))
    np.testing.assert_array_equal(parameters["W1"], W1)


def test_unknown_filters_are_refused(good_file, tmp_path):
    """A filter h5py does not build in would load a plugin library named by the file."""

    def bzip2(f):
        data = f["W1"][()]
        del f["W1"]
        f.create_dataset("W1", data=data, compression=307, allow_unknown_filter=True)

    with pytest.raises(ModelFileError, match="W1 uses HDF5 filter 307"):
        load_model(edited(good_file, tmp_path, bzip2))


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


FULL_DISK = """
import os, resource, signal, sys
import numpy as np
from fastdnn.app import initialize_parameters_deep
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import save_model
folder, what = sys.argv[1], sys.argv[2]
path = os.path.join(folder, "model.h5")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
big = initialize_parameters_deep([12288, 20, 1])  # 1.9 MB
try:
    if what == "save_model":
        save_model(path, big)
    elif what == "Model.save":
        Model.from_parameters(big).save(path)
    else:
        Model.from_parameters(big).to_onnx(os.path.join(folder, "model.onnx"))
except OSError as exc:
    print(type(exc).__name__, exc.errno, exc)
"""


@pytest.mark.parametrize("what", ["save_model", "Model.save", "to_onnx"])
def test_full_disk_while_saving(tmp_path, what):
    """Writes that fail with EFBIG (a file size limit standing in for a full disk):
    an OSError naming the file, the previous file intact, no temporary file left."""
    if what == "to_onnx":
        pytest.importorskip("onnx")
        previous = tmp_path / "model.onnx"
        previous.write_bytes(b"previous model")
    else:
        previous = tmp_path / "model.h5"
        save_model(previous, initialize_parameters_deep([6, 4, 1]))
    before = previous.read_bytes()
    r = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path), what],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    import errno

    assert r.stdout.startswith(f"OSError {errno.EFBIG} "), r.stdout
    assert (
        f"cannot write {str(previous)!r}: File too large; the previous file is unchanged"
        in r.stdout
    )
    assert previous.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [previous.name]


def test_save_into_a_missing_folder_names_the_file(tmp_path):
    target = tmp_path / "no" / "such" / "model.h5"
    with pytest.raises(
        FileNotFoundError, match=f"cannot write {str(target)!r}: .*nothing was written"
    ):
        save_model(target, initialize_parameters_deep([6, 4, 1]))


@contextlib.contextmanager
def ctrl_c_after(seconds):
    """Send this process SIGINT (Ctrl-C) after ``seconds``; yields a list that
    receives the perf_counter time of the signal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sent = []

    def fire():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(seconds, fire)
    timer.start()
    try:
        yield sent
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_L_layer_model_within_an_iteration(rng, capsys):
    """The notebook's L_layer_model with the progress bar on: Ctrl-C returns control
    within one iteration (~0.3 ms here), and the bar's line is ended."""
    from fastdnn.app import L_layer_model

    X, Y, _ = _cat_like(rng)
    L_layer_model(X, Y, [300, 20, 7, 5, 1], num_iterations=2, progress=False)  # compiled
    with ctrl_c_after(0.5) as sent, pytest.raises(KeyboardInterrupt):
        L_layer_model(X, Y, [300, 20, 7, 5, 1], num_iterations=10**8, progress=True)
    stopped = time.perf_counter()
    assert stopped - sent[0] < 0.25, stopped - sent[0]
    err = capsys.readouterr().err
    assert err.endswith("\n") and "/100000000" in err
    last = err.rstrip("\n").split("\r")[-1]
    assert not last.startswith("[#####"), last  # the bar shows where it stopped, not 100%


class _SlowSource:
    """An examples-first source of ``m`` examples that records when each read starts."""

    def __init__(self, n_x, m, rng):
        self.block = rng.random((4096, n_x))
        self.shape = (m, n_x)
        self.reads = []

    def __getitem__(self, rows):
        self.reads.append(time.perf_counter())
        return self.block[: rows.stop - rows.start]


def test_ctrl_c_stops_a_streamed_prediction_within_a_chunk(rng):
    model = Model.from_parameters(initialize_parameters_deep([300, 20, 7, 5, 1]))
    source = _SlowSource(300, 10**9, rng)
    # compiled, or loaded from the cache: the serial kernel and the parallel one (4096 rows)
    model.predict_proba_stream(_SlowSource(300, 4096 + 256, rng), chunk_examples=4096)
    with ctrl_c_after(0.5) as sent, pytest.raises(KeyboardInterrupt):
        model.predict_proba_stream(source, chunk_examples=4096)
    assert len(source.reads) > 2
    assert sum(t > sent[0] for t in source.reads) <= 1  # at most the chunk in flight


def test_ctrl_c_in_the_command_line_loses_nothing(tmp_path):
    """``fastdnn train`` and ``fastdnn predict -o`` interrupted: exit 130 with one
    line, the previous model and CSV untouched, no temporary file left."""
    data = write_course_layout(tmp_path / "data", m_train=24, m_test=8)
    model, csv = tmp_path / "m.h5", tmp_path / "p.csv"
    save_model(model, initialize_parameters_deep([12288, 3, 1]))
    csv.write_text("previous\n")
    before = model.read_bytes()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastdnn",
            "train",
            str(data),
            "--iterations",
            "100000000",
            "--layers",
            "3",
            "--print-cost",
            "--out",
            str(model),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout.readline().startswith("Cost after iteration 0")  # training has begun
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == "fastdnn train: interrupted\n", err
    assert model.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["data", "m.h5", "p.csv"]


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
    cat_model = tmp_path / "cat.h5"
    save_model(cat_model, initialize_parameters_deep([12288, 3, 1]))
    empty = tmp_path / "empty"
    empty.mkdir()
    train_only = tmp_path / "train_only"
    train_only.mkdir()
    (train_only / "train_catvnoncat.h5").write_bytes((data / "train_catvnoncat.h5").read_bytes())
    bad_labels, small = tmp_path / "labels.h5", tmp_path / "small.h5"
    with h5py.File(bad_labels, "w") as f:
        f["train_set_x"] = np.zeros((4, 8, 8, 3), np.uint8)
        f["train_set_y"] = np.array([0, 1, 2, 1])
    with h5py.File(small, "w") as f:
        f["test_set_x"] = np.zeros((4, 32, 32, 3), np.uint8)
        f["test_set_y"] = np.array([0, 1, 0, 1])
    made = os.listdir(tmp_path)
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
        (["train", str(empty)], f"DATA folder {str(empty)!r} has no train_catvnoncat.h5"),
        (["predict", str(cat_model), str(train_only)], "has no test_catvnoncat.h5"),
        (["train", str(bad_labels)], "labels in train_set_y must be 0 or 1; example 2 has 2"),
        (["predict", str(cat_model), str(small)], "examples of shape 32x32x3 (3072 values)"),
        (["train", str(data), "--out", str(tmp_path / "no" / "m.h5")], "cannot write"),
        (["predict", str(cat_model), str(data), "-o", str(tmp_path / "no" / "p.csv")], "cannot"),
    ]
    for args, match in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"fastdnn {args[0]}: error: ")
        assert match.lower() in r.stderr.lower(), (args, r.stderr)
    assert sorted(os.listdir(tmp_path)) == sorted(made)  # nothing written by a failed command
    # A folder needs only the file its command reads.
    r = run_cli(
        "train",
        str(train_only),
        "--iterations",
        "2",
        "--layers",
        "2",
        "--out",
        str(tmp_path / "ok.h5"),
    )
    assert r.returncode == 0, r.stderr


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


def _big_course_file(path, m, chunk=2000):
    """A test file of ``m`` 64x64x3 uint8 images written chunk by chunk (never whole in memory)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        x = f.create_dataset("test_set_x", (m, 64, 64, 3), dtype=np.uint8)
        for lo in range(0, m, chunk):
            hi = min(m, lo + chunk)
            x[lo:hi] = rng.integers(0, 256, (hi - lo, 64, 64, 3), dtype=np.uint8)
        f["test_set_y"] = (np.arange(m) % 2).astype(np.int64)
    return path


PEAK = r"""
import sys
from fastdnn.cli import main
code = main(sys.argv[1:])
# VmHWM: this process's own peak (ru_maxrss also counts the parent's at the fork)
with open("/proc/self/status") as f:
    print(next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) // 1024, file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc for memory")
def test_predict_streams_a_file_larger_than_its_memory(tmp_path):
    """8,000 course-sized images (98 MB of uint8; 786 MB as float64, the old path's
    copy, 1.2 GB at its peak): fastdnn predict's peak memory stays near a process's own
    plus one chunk, and the CSV holds every row, the same as predicting the whole."""
    m = 8000
    data = _big_course_file(tmp_path / "big.h5", m)
    model = tmp_path / "cat.h5"
    parameters = initialize_parameters_deep([12288, 20, 7, 5, 1])
    save_model(model, parameters)
    out = tmp_path / "p.csv"
    r = subprocess.run(
        [sys.executable, "-c", PEAK, "predict", str(model), str(data), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    peak_mb = int(r.stderr.strip().splitlines()[-1])
    assert peak_mb < 450, f"peak {peak_mb} MB: the file's float64 form is 786 MB"
    assert "accuracy" in r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "probability,label" and len(lines) == m + 1
    with h5py.File(data) as f:
        first = f["test_set_x"][:300]
    want = Model.from_parameters(parameters).predict_proba(
        np.asfortranarray(first.reshape(300, -1).T) / 255
    )[0]
    got = np.array([float(line.split(",")[0]) for line in lines[1:301]])
    np.testing.assert_allclose(got, want, rtol=1e-7)


LIMITED = r"""
import resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
with open("/proc/self/statm") as f:
    used = int(f.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + 400 * 2**20, hard))
from fastdnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc for memory")
def test_train_on_a_file_larger_than_memory_says_so(tmp_path):
    """Training keeps X in memory: a file whose float64 form exceeds what the process
    may use is a one-line error naming the sizes (exit 2), not a MemoryError traceback."""
    folder = tmp_path / "data"
    folder.mkdir()
    m = 6000  # 74 MB of uint8, 590 MB as float64: over the 400 MB this process may add
    with h5py.File(folder / "train_catvnoncat.h5", "w") as f:
        f.create_dataset("train_set_x", (m, 64, 64, 3), dtype=np.uint8)
        f["train_set_y"] = (np.arange(m) % 2).astype(np.int64)
    r = subprocess.run(
        [sys.executable, "-c", LIMITED, "train", str(folder), "--iterations", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("fastdnn train: error: ") and r.stderr.count("\n") == 1
    assert "6000 examples of 12288 values" in r.stderr and "GiB" in r.stderr
