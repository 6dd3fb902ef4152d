"""Writing an output file safely, whatever the path names.

``open_output(path, mode)`` is the one way fastdnn writes a file (model files, ONNX,
``fastdnn predict``'s CSV, the benchmarks' results):

* a regular file, or a new path: written atomically. A temporary file in the
  same folder, flushed to disk, renamed over the target, the folder flushed: an
  error or Ctrl-C midway leaves the previous file as it was (or nothing).
* a symbolic link: resolved, and its final regular file replaced atomically as
  above; the link itself is kept (``model.h5 -> releases/v3.h5`` updates
  ``releases/v3.h5``). A link to nothing, or a loop, is an error.
* anything else (a character or block device such as ``/dev/null``, a FIFO, a
  socket) and any path in ``/dev`` or ``/proc`` (``/dev/stdout``,
  ``/proc/self/fd/3``): written through, in place, as it streams. Nothing is
  ever renamed over such a path: a device node stays a device node, a pipe's
  reader gets the data.

An OSError (a full disk, a missing folder, no permission) is re-raised naming
the path, its errno (and class: ``PermissionError`` stays one) kept.
"""

import contextlib
import errno
import os
import stat
import tempfile


def _umask():
    """The process's umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it back at once
    os.umask(mask)
    return mask


def _write_error(exc, path, atomic=True):
    """``exc`` (an OSError) restated to name the file being saved, same errno and class."""
    reason = exc.strerror or str(exc)
    if not atomic:
        return OSError(exc.errno, f"cannot write {path!r}: {reason}")
    kept = "the previous file is unchanged" if os.path.exists(path) else "nothing was written"
    return OSError(exc.errno, f"cannot write {path!r}: {reason}; {kept}")


def _in_place(path):
    """Whether ``path`` is written through rather than replaced: an existing target that
    is not a regular file, or a path in ``/dev`` or ``/proc``. A symbolic link's target
    decides; a dangling link or a loop raises."""
    try:
        mode = os.stat(path).st_mode  # follows links
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(
                errno.ENOENT,
                f"cannot write {path!r}: it is a symbolic link to "
                f"{os.readlink(path)!r}, which does not exist",
            ) from None
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, f"cannot write {path!r}: a loop of symbolic links") from None
        raise _write_error(exc, path, atomic=False) from exc
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path!r}: it is a folder")
    if not stat.S_ISREG(mode):
        return True
    return any(
        p == root or p.startswith(root + os.sep)
        for p in (os.path.abspath(path), os.path.realpath(path))
        for root in ("/dev", "/proc")
    )


def check_not_input(output, inputs, where):
    """Raise ValueError when ``output`` is the same file as one of ``inputs``
    (``{argument: path}``), before anything is read or written: replacing it would
    destroy the input. Same file means same device and inode, links followed (a
    symbolic or hard link to the input, or another spelling of its path, is it)."""
    try:
        out = os.stat(output)
    except OSError:  # nothing there yet (or unreadable): it cannot be an input
        return
    if not stat.S_ISREG(out.st_mode):  # a device or pipe (``-``) is written through
        return
    for argument, path in inputs.items():
        try:
            st = os.stat(path)
        except OSError:
            continue  # the read reports it
        if (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino):
            raise ValueError(
                f"{where}: the output {output!r} is the {argument} {path!r} (the same file); "
                f"writing it would destroy the {argument}: choose another output"
            )


@contextlib.contextmanager
def open_output(path, mode="w", suffix=".tmp"):
    """Open ``path`` for writing (``mode`` "w" or "wb") as the module docstring says;
    yields the file object. ``suffix`` ends the temporary file's name."""
    path = os.fspath(path)
    if _in_place(path):
        try:
            with open(path, mode) as out:
                yield out
        except OSError as exc:
            raise _write_error(exc, path, atomic=False) from exc
        return
    with _atomic_path(os.path.realpath(path), suffix, path) as tmp, open(tmp, mode) as out:
        yield out


@contextlib.contextmanager
def _atomic_path(path, suffix, shown):
    """Yield a temporary path beside ``path`` (a regular file or a new name) to write; on
    success it replaces ``path`` (module docstring). Errors name ``shown``, the path
    as the caller gave it."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fastdnn-", suffix=suffix, dir=folder)
    except OSError as exc:
        raise _write_error(exc, shown) from exc
    try:
        # mkstemp creates the file 0600; a saved model must be readable by whoever
        # could read a file that open() creates (a service account serving it).
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise _write_error(exc, shown) from exc
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is done
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
