"""Every writer, every kind of target (issue #32): a regular file is replaced atomically,
a symbolic link's final file is replaced and the link kept, a device, a FIFO or a path in
/dev or /proc is written through in place and never replaced, "-" is stdout in the
command line, and a dangling link, a loop or a folder is a clear error.

Devices are never harmed: the only one written is /dev/null, and its type is checked
after. The full-disk and Ctrl-C cases stay in tests/test_hardening.py.
"""

import errno
import os
import stat
import subprocess
import sys
import threading

import pytest

from fastdnn._internal.atomic import open_output
from fastdnn.app import initialize_parameters_deep
from fastdnn.app.data import write_course_layout
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import save_model

ROOT = os.path.join(os.path.dirname(__file__), "..")
POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev are POSIX")

PARAMETERS = initialize_parameters_deep([12, 3, 1])


def _write_model(path):
    save_model(path, PARAMETERS)


def _write_saved_model(path):
    Model.from_parameters(PARAMETERS).save(path)


def _write_onnx(path):
    pytest.importorskip("onnx")
    Model.from_parameters(PARAMETERS).to_onnx(path)


def _write_text(path):
    from benchmarks.harness import write_text

    write_text(path, "a benchmark table\n")


def _write_plot(path):
    pytest.importorskip("matplotlib")
    from fastdnn.app.plot import plot_costs

    plot_costs([0.7, 0.5, 0.3], 0.0075, path)


WRITERS = {
    "save_model": (_write_model, b"\x89HDF\r\n\x1a\n"),
    "Model.save": (_write_saved_model, b"\x89HDF\r\n\x1a\n"),
    "to_onnx": (_write_onnx, b"\x08"),
    "benchmark write_text": (_write_text, b"a benchmark table\n"),
    "plot_costs": (_write_plot, b"\x89PNG"),
}


def _reference(write, tmp_path):
    """What ``write`` puts in a new regular file."""
    path = tmp_path / "reference"
    write(str(path))
    return path.read_bytes()


class FifoReader:
    """A FIFO at ``path`` with a thread reading everything written to it."""

    def __init__(self, path):
        os.mkfifo(path)
        self.path, self.data = path, b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.path, "rb") as f:
            self.data = f.read()

    def result(self):
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the FIFO's reader never saw the end"
        return self.data


@pytest.mark.parametrize("name", WRITERS)
def test_a_symlinked_target_is_replaced_and_the_link_kept(name, tmp_path):
    write, _ = WRITERS[name]
    want = _reference(write, tmp_path)
    (tmp_path / "releases").mkdir()
    real = tmp_path / "releases" / "v3"
    real.write_bytes(b"the previous release")
    link = tmp_path / "current"
    link.symlink_to(os.path.join("releases", "v3"))  # relative, as people make them
    write(str(link))
    assert link.is_symlink() and os.readlink(link) == os.path.join("releases", "v3")
    assert real.read_bytes() == want
    assert sorted(os.listdir(tmp_path / "releases")) == ["v3"]  # no temporary file left


@POSIX
@pytest.mark.parametrize("name", WRITERS)
def test_a_fifo_is_written_through_and_stays_a_fifo(name, tmp_path):
    write, _ = WRITERS[name]
    want = _reference(write, tmp_path)
    fifo = FifoReader(str(tmp_path / "pipe"))
    write(fifo.path)
    assert fifo.result() == want
    assert stat.S_ISFIFO(os.lstat(fifo.path).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe", "reference"]


@POSIX
@pytest.mark.parametrize("name", WRITERS)
def test_dev_null_is_written_and_stays_a_device(name, tmp_path):
    write, _ = WRITERS[name]
    before = os.stat("/dev/null")
    write("/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


@pytest.mark.parametrize("name", WRITERS)
def test_a_new_and_an_existing_regular_file(name, tmp_path):
    write, magic = WRITERS[name]
    path = tmp_path / "out"
    write(str(path))
    assert path.read_bytes().startswith(magic)
    path.write_bytes(b"old")
    write(str(path))
    assert path.read_bytes().startswith(magic)
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("name", WRITERS)
def test_a_dangling_link_a_loop_and_a_folder_are_clear_errors(name, tmp_path):
    write, _ = WRITERS[name]
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="symbolic link to .*nowhere.*does not exist"):
        write(str(dangling))
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop")
    with pytest.raises(OSError, match="loop of symbolic links") as info:
        write(str(loop))
    assert info.value.errno == errno.ELOOP
    with pytest.raises(IsADirectoryError):
        write(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["dangling", "loop"]


@POSIX
def test_paths_in_proc_are_written_through_the_descriptor(tmp_path):
    """``/proc/self/fd/N`` (a shell's ``3>file``) writes into the open file itself, not
    a new file renamed over its name: the descriptor's reader sees the data."""
    target = tmp_path / "target"
    with open(target, "w+b") as f:
        with open_output(f"/proc/self/fd/{f.fileno()}", "wb") as out:
            out.write(b"through the descriptor")
        f.seek(0)
        assert f.read() == b"through the descriptor"
    assert os.listdir(tmp_path) == ["target"]


@POSIX
def test_a_full_device_is_an_error_naming_it():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    before = os.stat("/dev/full")
    with pytest.raises(OSError, match="cannot write '/dev/full': No space left") as info:
        _write_model("/dev/full")
    assert info.value.errno == errno.ENOSPC
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert os.stat("/dev/full").st_rdev == before.st_rdev


# ------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    data = write_course_layout(tmp / "data", m_train=12, m_test=6)
    model = tmp / "model.h5"
    save_model(model, initialize_parameters_deep([12288, 3, 1]))
    return data, model


def _cli(*args, stdout=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, "-m", "fastdnn", *map(str, args)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        timeout=300,
    )


def _commands(data, model):
    """Each command that writes a file, as a function of its output path."""
    return {
        "predict": lambda out: ("predict", model, data, "-o", out),
        "train": lambda out: ("train", data, "--iterations", 2, "--layers", 3, "--out", out),
        "quantize": lambda out: ("quantize", model, out),
    }


@POSIX
@pytest.mark.parametrize("command", ["predict", "train", "quantize"])
def test_commands_write_through_a_fifo_dev_null_and_a_link(command, cli_files, tmp_path):
    data, model = cli_files
    args = _commands(data, model)[command]
    regular = tmp_path / "regular"
    assert _cli(*args(regular)).returncode == 0
    want = regular.read_bytes()

    fifo = FifoReader(str(tmp_path / "pipe"))
    done = _cli(*args(fifo.path))
    assert done.returncode == 0, done.stderr
    got = fifo.result()
    assert stat.S_ISFIFO(os.lstat(fifo.path).st_mode)

    before = os.stat("/dev/null")
    assert _cli(*args("/dev/null")).returncode == 0
    assert os.stat("/dev/null").st_ino == before.st_ino
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)

    (tmp_path / "real").write_bytes(b"previous")
    (tmp_path / "link").symlink_to("real")
    assert _cli(*args(tmp_path / "link")).returncode == 0
    assert (tmp_path / "link").is_symlink()
    linked = (tmp_path / "real").read_bytes()
    if command == "predict":
        assert got == want and linked == want
    else:  # model files: the same model (train's file also records its run time)
        for data_ in (got, linked):
            assert Model.load(_bytes_file(tmp_path, data_)) == Model.load(regular)
    left = set(os.listdir(tmp_path)) - {"model"}  # _bytes_file's
    assert left == {"link", "pipe", "real", "regular"}, left  # no temporary file


def _bytes_file(tmp_path, data):
    path = tmp_path / "model"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("command", ["predict", "train", "quantize"])
def test_dash_is_standard_output(command, cli_files, tmp_path):
    data, model = cli_files
    done = _cli(*_commands(data, model)[command]("-"))
    assert done.returncode == 0, done.stderr
    if command == "predict":
        assert done.stdout.startswith(b"probability,label\n")
        assert len(done.stdout.splitlines()) == 1 + 6
    else:  # the model file's bytes, and the closing line on stderr instead
        loaded = Model.load(_bytes_file(tmp_path, done.stdout))
        assert loaded.layer_dims == (12288, 3, 1)
        assert b"written to -" in done.stderr
    assert not os.path.exists(os.path.join(ROOT, "-"))


def test_a_pipe_on_stdout_is_not_replaced(cli_files, tmp_path):
    """``fastdnn predict ... -o /dev/stdout | consumer``: the consumer gets the CSV."""
    data, model = cli_files
    done = _cli("predict", model, data, "-o", "/dev/stdout")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"probability,label\n")
