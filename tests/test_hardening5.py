"""The fifth hostile round (issue #39): outputs onto inputs, HDF5 chunk bombs, labels
declared larger than the file, deeply nested JSON, manifests of the wrong types, read-only
inputs and installs. The serving cases are in ``test_serve_hardening.py``."""

import os
import resource
import time

import h5py
import numpy as np
import pytest

from fastdnn.app import initialize_parameters_deep
from fastdnn.app.data import write_course_layout
from fastdnn.cli import main
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import ModelFileError, load_model, save_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(capsys, *args):
    """``fastdnn ARGS`` in this process: (exit code, stderr)."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture
def files(tmp_path):
    data = write_course_layout(tmp_path / "data", m_train=12, m_test=5)
    model = tmp_path / "m.h5"
    save_model(model, initialize_parameters_deep([12288, 3, 1]))
    return data, model


# ------------------------------------------------------------- 1. outputs onto inputs


def test_an_output_onto_an_input_is_refused_before_anything_is_read(tmp_path, files, capsys):
    data, model = files
    test_file = data / "test_catvnoncat.h5"
    train_file = data / "train_catvnoncat.h5"
    os.symlink(test_file, tmp_path / "link.h5")
    os.link(model, tmp_path / "hard.h5")
    kept = {p: p.read_bytes() for p in (test_file, train_file, model)}
    cases = [
        (["predict", model, test_file, "-o", test_file], "data"),
        (["predict", model, data, "-o", test_file], "data"),  # the folder's file
        (["predict", model, test_file, "-o", model], "model"),
        (["predict", model, test_file, "-o", tmp_path / "link.h5"], "data"),  # a link to it
        (["predict", model, test_file, "-o", tmp_path / "hard.h5"], "model"),  # a hard link
        (["predict", model, test_file, "-o", tmp_path / "data" / ".." / "m.h5"], "model"),
        (["train", data, "--out", train_file, "--iterations", "1"], "data"),
        (["train", train_file, "--out", train_file, "--iterations", "1"], "data"),
        (["train", data, "--plot", train_file, "--iterations", "1"], "data"),
        (["quantize", model, model], "model"),
        (["quantize", model, tmp_path / "hard.h5"], "model"),
    ]
    for args, argument in cases:
        code, err = cli(capsys, *args)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and f"is the {argument}" in err, (args, err)
        assert "destroy" in err
    for path, before in kept.items():
        assert path.read_bytes() == before, path
    # Another file is fine, and so is standard output.
    assert cli(capsys, "predict", model, test_file, "-o", tmp_path / "p.csv")[0] == 0
    assert cli(capsys, "quantize", model, tmp_path / "q.h5")[0] == 0


# ------------------------------------------------------------- 2-3. chunks and labels

GIB = 2**30


def _chunked(f, name, shape, dtype, chunks, data=None):
    """A gzip dataset of ``shape`` declared in ``chunks`` (resizable, so chunks may be
    larger than the shape), holding ``data`` where given."""
    ds = f.create_dataset(
        name,
        shape=shape,
        maxshape=(None,) * len(shape),
        chunks=chunks,
        dtype=dtype,
        compression="gzip",
    )
    if data is not None:
        ds[...] = data
    return ds


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_model_whose_chunks_outsize_its_data_is_refused_before_reading(tmp_path):
    parameters = initialize_parameters_deep([6, 4, 1])
    bomb = tmp_path / "bomb.h5"
    save_model(bomb, parameters)
    with h5py.File(bomb, "a") as f:
        del f["b1"]  # 32 bytes of data in one declared 1 GiB gzip chunk
        _chunked(f, "b1", (4, 1), "f8", (2**27, 1), parameters["b1"])
    assert os.path.getsize(bomb) < 4 << 20
    before = _peak_rss_mib()
    t = time.perf_counter()
    with pytest.raises(ModelFileError, match=r"layer 1: b1 is stored in HDF5 chunks .*1 GiB"):
        load_model(bomb)
    assert time.perf_counter() - t < 2
    assert _peak_rss_mib() - before < 200  # nothing decompressed
    # Chunks as large as the data they hold (or 1 MiB) are ordinary, compressed or not.
    fine = tmp_path / "fine.h5"
    save_model(fine, parameters)
    with h5py.File(fine, "a") as f:
        for name in ("W1", "b1"):
            value = parameters[name]
            del f[name]
            _chunked(f, name, value.shape, "f8", value.shape, value)
        del f["b2"]
        _chunked(f, "b2", (1, 1), "f8", (1024, 1), parameters["b2"])  # 8 KiB: under 1 MiB
    loaded, _ = load_model(fine)
    for name, value in parameters.items():
        np.testing.assert_array_equal(loaded[name], value)


def test_data_whose_chunks_outsize_them_is_refused(tmp_path, files, capsys):
    _, model = files
    bomb = tmp_path / "bomb.h5"
    with h5py.File(bomb, "w") as f:  # 80 images, one declared 1 GiB chunk
        x = np.random.default_rng(0).integers(0, 256, (80, 64, 64, 3), dtype=np.uint8)
        _chunked(f, "test_set_x", x.shape, "u1", (87382, 64, 64, 3), x)
    assert os.path.getsize(bomb) < 4 << 20
    before = _peak_rss_mib()
    code, err = cli(capsys, "predict", model, bomb, "-o", tmp_path / "p.csv")
    assert code == 2 and "test_set_x is stored in HDF5 chunks" in err, err
    assert _peak_rss_mib() - before < 200
    with h5py.File(bomb, "w") as f:  # the labels' chunk instead
        f["test_set_x"] = x[:5]
        _chunked(f, "test_set_y", (5,), "i8", (2**27,), [0, 1, 0, 1, 1])
    code, err = cli(capsys, "predict", model, bomb)
    assert code == 2 and "test_set_y is stored in HDF5 chunks" in err, err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("count", [2**31, 2**33])
def test_labels_are_counted_before_they_are_read(tmp_path, files, capsys, count):
    _, model = files
    path = tmp_path / "labels.h5"
    with h5py.File(path, "w") as f:
        f["test_set_x"] = np.zeros((5, 64, 64, 3), np.uint8)
        # declared, never written: a few KB on disk
        f.create_dataset("test_set_y", shape=(count,), dtype="u1", chunks=(2**20,))
    assert os.path.getsize(path) < 1 << 20
    before = _peak_rss_mib()
    t = time.perf_counter()
    code, err = cli(capsys, "predict", model, path)
    assert code == 2 and f"5 samples but {count} labels in test_set_y" in err, err
    assert time.perf_counter() - t < 5
    assert _peak_rss_mib() - before < 100


# ------------------------------------------------------------- 4. nested JSON


def test_deeply_nested_json_in_a_model_attribute(tmp_path, files, capsys):
    _, good = files
    bad = tmp_path / "nested.h5"
    bad.write_bytes(good.read_bytes())
    with h5py.File(bad, "a") as f:
        f.attrs["training"] = "[" * 100000 + "]" * 100000
    with pytest.raises(ModelFileError, match="nested too deeply"):
        Model.load(bad)
    code, err = cli(capsys, "quantize", bad, tmp_path / "q.h5")
    assert code == 2 and err.count("\n") == 1 and "nested too deeply" in err, err
    code, err = cli(capsys, "predict", bad, files[0])
    assert code == 2 and "nested too deeply" in err, err
