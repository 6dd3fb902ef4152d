"""Course 2's data: scikit-learn's circles and moons as the course draws them, and its MAT file.

The Initialization and Optimization notebooks call ``sklearn.datasets.make_circles`` and
``make_moons`` after seeding NumPy's global generator; with no ``random_state`` those
draw from that generator (``np.random.shuffle`` of the indices, then ``normal`` noise).
``make_circles`` and ``make_moons`` below make the same calls in the same order, so they
return scikit-learn's arrays to the bit (scikit-learn 1.x; the tests compare with it where
it is installed) without needing it. The Regularization notebook reads a MATLAB 5 file
with ``scipy.io.loadmat``; ``read_mat`` reads the numeric matrices such a file holds
(fastdnn does not need SciPy), bounded against hostile files.
"""

import os
import struct
import zlib

import numpy as np


def make_circles(n_samples=100, noise=None, factor=0.8):
    """``sklearn.datasets.make_circles(n_samples, noise=noise, factor=factor)`` with the
    default ``shuffle=True`` and ``random_state=None``: ``(X (n, 2), y (n,) int)``."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    angles_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    angles_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack(
        [
            np.append(np.cos(angles_out), np.cos(angles_in) * factor),
            np.append(np.sin(angles_out), np.sin(angles_in) * factor),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _shuffled_with_noise(X, y, noise)


def make_moons(n_samples=100, noise=None):
    """``sklearn.datasets.make_moons(n_samples, noise=noise)`` with the default
    ``shuffle=True`` and ``random_state=None``: ``(X (n, 2), y (n,) int)``."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    X = np.vstack(
        [
            np.append(
                np.cos(np.linspace(0, np.pi, n_out)), 1 - np.cos(np.linspace(0, np.pi, n_in))
            ),
            np.append(
                np.sin(np.linspace(0, np.pi, n_out)),
                1 - np.sin(np.linspace(0, np.pi, n_in)) - 0.5,
            ),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _shuffled_with_noise(X, y, noise)


def _shuffled_with_noise(X, y, noise):
    # sklearn.utils.shuffle: a permutation of the indices by the generator's shuffle,
    # then both arrays indexed by it; then the noise, drawn for the whole of X at once.
    indices = np.arange(X.shape[0])
    np.random.shuffle(indices)
    X, y = X[indices], y[indices]
    if noise is not None:
        X += np.random.normal(scale=noise, size=X.shape)
    return X, y


def circles():
    """``init_utils.load_dataset``'s arrays: 300 training and 100 test points."""
    np.random.seed(1)
    train_X, train_Y = make_circles(n_samples=300, noise=0.05)
    np.random.seed(2)
    test_X, test_Y = make_circles(n_samples=100, noise=0.05)
    return train_X, train_Y, test_X, test_Y


def moons():
    """``opt_utils_v1a.load_dataset``'s arrays: 300 training points."""
    np.random.seed(3)
    return make_moons(n_samples=300, noise=0.2)


# ----------------------------------------------------------------------- MAT files

MAX_MAT_BYTES = 64 << 20
"""The most a MAT file may hold, read or decompressed (the course's is 6 KB): a
compressed element that inflates past this is refused, not read."""

_MI_INT8, _MI_UINT8, _MI_INT16, _MI_UINT16, _MI_INT32, _MI_UINT32 = 1, 2, 3, 4, 5, 6
_MI_SINGLE, _MI_DOUBLE, _MI_INT64, _MI_UINT64, _MI_MATRIX, _MI_COMPRESSED = 7, 9, 12, 13, 14, 15
_MI_UTF8 = 16
_STORED = {
    _MI_INT8: "i1", _MI_UINT8: "u1", _MI_INT16: "i2", _MI_UINT16: "u2", _MI_INT32: "i4",
    _MI_UINT32: "u4", _MI_SINGLE: "f4", _MI_DOUBLE: "f8", _MI_INT64: "i8", _MI_UINT64: "u8",
}  # fmt: skip
# MATLAB's array classes (mxDOUBLE_CLASS = 6, ...) and the dtype loadmat gives each.
_CLASSES = {
    6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8",
}  # fmt: skip


class MatFileError(ValueError):
    """A MAT file this reader cannot read: not MATLAB 5, truncated, or beyond its bounds."""


def read_mat(path):
    """The numeric matrices of a MATLAB 5 ``.mat`` file, as ``scipy.io.loadmat`` returns
    them: a dict of name -> 2-D array (Fortran order, in the dtype the file stores the
    values in: the course's labels are uint8).

    Reads real, non-sparse numeric arrays (what the course's ``data.mat`` holds);
    anything else in the file is a ``MatFileError`` naming it.
    """
    size = os.path.getsize(path)
    if size > MAX_MAT_BYTES:
        raise MatFileError(f"{path}: {size} bytes; a MAT file here holds at most {MAX_MAT_BYTES}")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 128 or not data.startswith(b"MATLAB 5.0 MAT-file"):
        raise MatFileError(f"{path}: not a MATLAB 5 MAT-file (its 128-byte header is missing)")
    if data[126:128] != b"IM":
        raise MatFileError(f"{path}: a big-endian MAT-file; only little-endian files are read")
    out = {}
    budget = [MAX_MAT_BYTES]
    for kind, body in _elements(data, 128, path):
        if kind == _MI_COMPRESSED:
            body = _inflate(body, budget, path)
            elements = list(_elements(body, 0, path))
            if len(elements) != 1:
                raise MatFileError(f"{path}: a compressed element must hold one array")
            kind, body = elements[0]
        if kind != _MI_MATRIX:
            raise MatFileError(f"{path}: element type {kind} is not an array")
        name, array = _matrix(body, path)
        out[name] = array
    return out


def _inflate(body, budget, path):
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, budget[0] + 1)
    except zlib.error as exc:
        raise MatFileError(f"{path}: a compressed element is corrupt ({exc})") from None
    if len(out) > budget[0] or inflater.unconsumed_tail:
        raise MatFileError(
            f"{path}: a compressed element inflates past {MAX_MAT_BYTES} bytes; refused"
        )
    budget[0] -= len(out)
    return out


def _elements(data, offset, path):
    """(type, body) of each data element from ``offset`` (small elements included)."""
    while offset < len(data):
        if offset + 8 > len(data):
            raise MatFileError(f"{path}: truncated at byte {offset}")
        kind, nbytes = struct.unpack_from("<II", data, offset)
        if kind >> 16:  # small data element: 2-byte size and type, 4 bytes of data
            nbytes, kind = kind >> 16, kind & 0xFFFF
            if nbytes > 4:
                raise MatFileError(f"{path}: a small element of {nbytes} bytes at {offset}")
            yield kind, data[offset + 4 : offset + 4 + nbytes]
            offset += 8
            continue
        start = offset + 8
        if start + nbytes > len(data):
            raise MatFileError(f"{path}: an element of {nbytes} bytes runs past the file's end")
        yield kind, data[start : start + nbytes]
        # compressed elements are not padded; the others to a multiple of 8 bytes
        offset = start + (nbytes if kind == _MI_COMPRESSED else -(-nbytes // 8) * 8)


def _matrix(body, path):
    parts = list(_elements(body, 0, path))
    if len(parts) < 4:
        raise MatFileError(f"{path}: an array element lacks its flags, shape, name or data")
    (flags_type, flags), (dims_type, dims), (_, name), (data_type, values) = parts[:4]
    if flags_type != _MI_UINT32 or len(flags) < 8 or dims_type != _MI_INT32:
        raise MatFileError(f"{path}: an array's flags or dimensions are malformed")
    word = struct.unpack_from("<I", flags)[0]
    array_class, complex_ = word & 0xFF, bool(word & 0x800)
    name = name.decode("ascii", "replace")
    if array_class not in _CLASSES or complex_ or len(parts) > 4:
        raise MatFileError(f"{path}: array {name!r} is not a real numeric matrix")
    shape = tuple(int(d) for d in np.frombuffer(dims, "<i4"))
    if len(shape) != 2 or min(shape) < 0:
        raise MatFileError(f"{path}: array {name!r} has shape {shape}; matrices only")
    if data_type not in _STORED:
        raise MatFileError(f"{path}: array {name!r} stores values of type {data_type}")
    stored = np.frombuffer(values, "<" + _STORED[data_type])
    if stored.size != shape[0] * shape[1]:
        raise MatFileError(f"{path}: array {name!r} of shape {shape} holds {stored.size} values")
    # loadmat's default (mat_dtype=False): the dtype the values are stored in
    array = stored.astype(stored.dtype.newbyteorder("="), copy=True).reshape(shape, order="F")
    return name, array
