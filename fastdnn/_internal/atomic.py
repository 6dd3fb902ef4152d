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


def _write_error(exc, path):
    """``exc`` (an OSError) restated to name the file being saved, same errno and class."""
    kept = "the previous file is unchanged" if os.path.exists(path) else "nothing was written"
    reason = exc.strerror or str(exc)
    return OSError(exc.errno, f"cannot write {path!r}: {reason}; {kept}")


@contextlib.contextmanager
def atomic_path(path, suffix):
    """Yield a temporary path to write; on success it replaces ``path``.

    The temporary file lives in ``path``'s folder (so the rename is atomic), is
    flushed to disk before the rename, and the folder is flushed after it. On
    any exception the temporary file is removed and ``path`` is untouched, so a
    crash mid-write leaves the previous file intact. An OSError (a full disk,
    a file size limit, a missing folder) is re-raised naming ``path``, with its
    errno kept (so ``PermissionError`` stays a ``PermissionError``).
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fastdnn-", suffix=suffix, dir=folder)
    except OSError as exc:
        raise _write_error(exc, path) from exc
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
            raise _write_error(exc, path) from exc
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is done
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
