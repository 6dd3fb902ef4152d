"""Atomic file writes: a temporary file in the target's folder, renamed over it."""

import contextlib
import os
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


@contextlib.contextmanager
def atomic_path(path, suffix):
    """Yield a temporary path to write; on success it replaces ``path``.

    The temporary file lives in ``path``'s folder (so the rename is atomic), is
    flushed to disk before the rename, and the folder is flushed after it. On
    any exception the temporary file is removed and ``path`` is untouched, so a
    crash mid-write leaves the previous file intact.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastdnn-", suffix=suffix, dir=folder)
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
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is done
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
