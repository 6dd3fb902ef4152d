"""Datasets in the course's HDF5 layout: the cat data, and an embedded generator.

The course's files hold ``train_set_x`` (m, 64, 64, 3) uint8, ``train_set_y``
(m,) int64 and ``list_classes`` [b'non-cat', b'cat'] (``test_set_*`` in the
test file). ``synthetic_catvnoncat`` draws a deterministic stand-in with the
same layout so that the demo and the tests run anywhere; the course's own data
is never shipped.
"""

import io
import os

import numpy as np

from .._internal.atomic import open_output

CLASSES = np.array([b"non-cat", b"cat"])


def _read(path, prefix):
    import h5py

    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_data: no dataset file at {path!r}")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in (f"{prefix}_set_x", f"{prefix}_set_y") if k not in f]
            if missing:
                raise ValueError(f"load_data: {path!r} has no dataset {missing[0]!r}")
            x = np.array(f[f"{prefix}_set_x"][:])
            y = np.array(f[f"{prefix}_set_y"][:])
            classes = np.array(f["list_classes"][:]) if "list_classes" in f else CLASSES
    except OSError as exc:
        raise ValueError(f"load_data: {path!r} is not a readable HDF5 file ({exc})") from None
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"load_data: {path!r} holds {prefix}_set_x of shape {x.shape} and "
            f"{prefix}_set_y of shape {y.shape}; expected (m, ...) and (m,)"
        )
    return x, y, classes


def load_data(path=None):
    """Load the cat vs non-cat data, as the course's ``load_data``.

    Parameters
    ----------
    path : str, optional
        Folder holding ``train_catvnoncat.h5`` and ``test_catvnoncat.h5``;
        ``datasets/`` in the working directory by default, as in the course.

    Returns
    -------
    train_x_orig : ndarray of shape (m_train, 64, 64, 3), uint8
    train_y : ndarray of shape (1, m_train)
    test_x_orig : ndarray of shape (m_test, 64, 64, 3), uint8
    test_y : ndarray of shape (1, m_test)
    classes : ndarray of shape (2,), bytes
    """
    folder = "datasets" if path is None else os.fspath(path)
    train_x, train_y, _ = _read(os.path.join(folder, "train_catvnoncat.h5"), "train")
    test_x, test_y, classes = _read(os.path.join(folder, "test_catvnoncat.h5"), "test")
    _prefetch_kernels(train_x, test_x)
    return train_x, train_y.reshape(1, -1), test_x, test_y.reshape(1, -1), classes


def _prefetch_kernels(train_x, test_x):
    """Start compiling, in the background, the kernels the notebook's training on this
    data will call (``course.plans.notebook``), where numba's cache lacks them: the
    cells between loading and training then hide that one-time wait."""
    from .._internal import precompile
    from ..course.plans import notebook

    n_x = int(np.prod(train_x.shape[1:]))
    precompile.prefetch(notebook(n_x, train_x.shape[0], test_x.shape[0]))


def flatten_images(x_orig, dtype=np.float64):
    """(m, h, w, c) uint8 images to the network's (h*w*c, m) input, scaled to [0, 1]."""
    x_orig = np.asarray(x_orig)
    return (x_orig.reshape(x_orig.shape[0], -1).T / 255).astype(dtype, copy=False)


def synthetic_catvnoncat(m, seed, size=64):
    """Deterministic images in the course's layout: 'cat' = a face with two ears.

    Every image is a smooth random background with one bright object. Class 1
    draws a disk with two triangular ears on top; class 0 draws a disk
    without ears, a square or a bar. Position, size, colours and noise vary.

    Returns
    -------
    x_orig : ndarray of shape (m, size, size, 3), uint8
    y : ndarray of shape (m,), int64
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    x = np.empty((m, size, size, 3), dtype=np.uint8)
    y = (rng.random(m) < 0.35).astype(np.int64)  # about the course's share of cats
    for i in range(m):
        base = rng.uniform(20, 140, 3)
        slope = rng.uniform(-60, 60, (2, 3))
        img = base + yy[..., None] * slope[0] + xx[..., None] * slope[1]
        cy, cx = rng.uniform(0.4, 0.65), rng.uniform(0.3, 0.7)
        r = rng.uniform(0.14, 0.22)
        colour = rng.uniform(150, 255, 3)
        kind = 0 if y[i] else rng.integers(0, 3)
        if kind == 0:  # a disk (with ears for cats)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
            if y[i]:
                for side in (-1, 1):
                    ex = cx + side * 0.6 * r
                    top = cy - 1.6 * r
                    inside = (yy > top) & (yy < cy - 0.5 * r)
                    width = (yy - top) * 0.55
                    mask |= inside & (np.abs(xx - ex) < width)
        elif kind == 1:  # a square
            mask = (np.abs(yy - cy) < 0.8 * r) & (np.abs(xx - cx) < 0.8 * r)
        else:  # a bar
            mask = (np.abs(yy - cy) < 0.3 * r) & (np.abs(xx - cx) < 2 * r)
        img[mask] = colour
        img += rng.normal(0, 12, img.shape)
        x[i] = np.clip(img, 0, 255).astype(np.uint8)
    return x, y


def write_course_layout(folder, m_train=209, m_test=50, seed=0):
    """Write the synthetic data as ``train_catvnoncat.h5`` / ``test_catvnoncat.h5``.

    Returns the folder, ready for ``load_data(folder)``.
    """
    import h5py

    os.makedirs(folder, exist_ok=True)
    for prefix, m, s in (("train", m_train, seed), ("test", m_test, seed + 1)):
        x, y = synthetic_catvnoncat(m, s)
        image = io.BytesIO()  # built in memory, then written as every output is
        with h5py.File(image, "w") as f:
            f[f"{prefix}_set_x"] = x
            f[f"{prefix}_set_y"] = y
            f["list_classes"] = CLASSES
        with open_output(os.path.join(folder, f"{prefix}_catvnoncat.h5"), "wb", ".h5.tmp") as fh:
            fh.write(image.getbuffer())
    return folder
