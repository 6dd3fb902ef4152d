"""The command line's input: HDF5 data files, or folders in the course's layout."""

import contextlib
import os

import numpy as np

from .._internal.validation import check_chunks, readable_hdf5

COURSE_FILES = {"train": "train_catvnoncat.h5", "test": "test_catvnoncat.h5"}


def data_file(path, split):
    """The HDF5 file that ``path`` names for ``split``: ``path`` itself, or a course-layout
    folder's ``split`` file (``train`` for training, ``test`` for predicting)."""
    if not os.path.isdir(path):
        return path
    name = COURSE_FILES[split]
    if not os.path.isfile(os.path.join(path, name)):
        raise ValueError(
            f"DATA folder {path!r} has no {name} (the course's layout: "
            f"{COURSE_FILES['train']} to train, {COURSE_FILES['test']} to predict)"
        )
    return os.path.join(path, name)


@contextlib.contextmanager
def open_data(path, split):
    """Open HDF5 data: yields (x, Y, one example's shape), ``x`` the *_x dataset itself
    (nothing read yet: it may be larger than memory), ``Y`` of shape (1, m) or None.

    A folder in the course's layout gives its ``split`` file (``data_file``); a file
    must hold a dataset whose name ends in ``_x`` (samples first: images (m, h, w, c)
    or rows (m, n)) and optionally one ending in ``_y``, of 0/1 labels. Every size
    is checked before anything is read: the labels' count against the examples',
    and both datasets' HDF5 chunks (``validation.check_chunks``: x is read a chunk of
    examples at a time, so its chunks may hold at most ``CHUNK_BYTES``).
    """
    import h5py

    path = data_file(path, split)
    with readable_hdf5(path, "data file or folder") as f:
        xs = [k for k in f if k.lower().endswith("_x") or k == "X"]
        ys = [k for k in f if k.lower().endswith("_y") or k == "Y"]
        if len(xs) != 1 or not isinstance(f[xs[0]], h5py.Dataset):
            raise ValueError(f"{path!r} must hold one dataset named *_x; found {sorted(f)}")
        x = f[xs[0]]
        if x.dtype.kind not in "fiub" or x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(
                f"{path!r}: {xs[0]} must hold numbers, samples first (m, ...) with m >= 1; "
                f"got dtype {x.dtype}, shape {x.shape}"
            )
        check_chunks(x, f"{path!r}: {xs[0]}", cap=CHUNK_BYTES)
        Y = None
        if len(ys) == 1:
            Y = _labels(f, ys[0], x.shape[0], path)
        yield x, Y, x.shape[1:]


CHUNK_BYTES = 64 << 20
"""The largest HDF5 chunk of a data file's examples (``fastdnn predict`` reads them
a chunk of about 64 MiB at a time: ``serving.chunks``)."""


def _labels(f, name, m, path):
    """The labels dataset ``name`` as (1, m) 0/1 values, its size and chunks checked
    before it is read (a small file may declare billions of labels)."""
    import h5py

    y = f[name]
    if not isinstance(y, h5py.Dataset) or y.dtype.kind not in "fiub":
        raise ValueError(f"{path!r}: {name} must be a dataset of 0/1 labels")
    if y.size != m:
        raise ValueError(f"{path!r}: {m} samples but {y.size} labels in {name}")
    check_chunks(y, f"{path!r}: {name}")
    Y = np.asarray(y[()]).reshape(1, -1)
    bad = np.flatnonzero((Y != 0) & (Y != 1))
    if bad.size:
        raise ValueError(
            f"{path!r}: labels in {name} must be 0 or 1; example {bad[0]} has "
            f"{Y[0, bad[0]].item()!r} ({bad.size} such)"
        )
    return Y


def read_xy(path, split, dtype=np.float64):
    """(X of shape (n_x, m) in ``dtype``, Y of shape (1, m) or None, one example's shape),
    all in memory (training needs it there); a clear error when it cannot fit."""
    from ..app.data import flatten_images

    with open_data(path, split) as (x, Y, example):
        m, n_x = x.shape[0], int(np.prod(example))
        # The data as stored, its float64 form (uint8 images: / 255), and the dtype's.
        dtype = np.dtype(dtype)
        need = m * n_x * (x.dtype.itemsize + 8 + (dtype.itemsize if dtype != np.float64 else 0))
        room = available_memory()
        if room is not None and need > room:
            raise ValueError(_too_large(path, m, n_x, need, room))
        try:
            raw = x[()]
            if raw.dtype == np.uint8:
                X = flatten_images(raw, dtype)
            else:
                X = raw.reshape(m, -1).T.astype(dtype)
        except MemoryError:
            raise ValueError(_too_large(path, m, n_x, need, room)) from None
    return X, Y, example


def _too_large(path, m, n_x, need, room):
    have = "" if room is None else f", and this process can use about {room / 2**30:.1f} GiB"
    return (
        f"{path!r} holds {m} examples of {n_x} values: training keeps them in memory, "
        f"{need / 2**30:.1f} GiB{have}; train on fewer examples, or on a machine with more memory"
    )


def available_memory():
    """Bytes this process can still allocate, about (None if unknown): the memory the
    OS reports available, less if an address-space limit (``ulimit -v``) is nearer."""
    limits = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limits.append(max(0, soft - used))
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) if limits else None


def shape_text(example_shape):
    return "x".join(map(str, example_shape))
