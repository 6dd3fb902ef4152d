"""Input checks shared by the API modules.

Every public function validates here before any kernel runs: a bad argument
gets a ``TypeError`` or ``ValueError`` that names the function, the argument
(and the layer, where there is one) and the shapes or dtypes involved.

dtype rule: float64 if any floating input is float64, else float32 if any is
float32 (or float16, which is widened to float32), else float64 (all-integer
or bool input, converted like NumPy would). Integer inputs never widen a
float32 computation to float64, so float32 in gives float32 out.
"""

import numbers
import os

import numpy as np

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_INF = float("inf")


def as_array(x, name, where):
    """``x`` as an ndarray of real numbers (ints, bools or floats up to 64 bits)."""
    if not isinstance(x, np.ndarray):
        if x is None or isinstance(x, (str, bytes, dict, set)):
            raise TypeError(f"{where}: {name} must be a numeric array; got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}: {name} could not be read as an array ({exc})") from None
    kind = x.dtype.kind
    if kind not in "fiub" or (kind == "f" and x.dtype.itemsize > 8):
        raise TypeError(
            f"{where}: {name} must hold real numbers (float32 or float64, or ints/bools "
            f"to convert); got dtype {x.dtype}"
        )
    if x.size == 0:
        raise ValueError(
            f"{where}: {name} is empty (shape {x.shape}); every dimension must be at least 1"
        )
    return x


def as_matrix(x, name, where):
    """``as_array`` plus a 2-D shape check."""
    x = as_array(x, name, where)
    if x.ndim != 2:
        raise ValueError(f"{where}: {name} must be a 2-D array; got shape {x.shape}")
    return x


def float_dtype(*arrays):
    """The dtype a computation on ``arrays`` runs in (see the module docstring)."""
    dtypes = [a.dtype for a in arrays]
    if _F64 in dtypes:
        return _F64
    if any(d.kind == "f" for d in dtypes):
        return _F32
    return _F64


def converted(x, dtype):
    """``x`` in ``dtype``, C-contiguous; the same object when it already is."""
    return np.ascontiguousarray(x, dtype=dtype)


class _Alias:
    """Holds a read-only array and describes its memory as writable (``kernel_view``)."""

    __slots__ = ("__array_interface__", "array")

    def __init__(self, array):
        self.array = array  # kept alive as long as the view is
        face = dict(array.__array_interface__)
        face["data"] = (face["data"][0], False)
        self.__array_interface__ = face


def kernel_view(x):
    """``x`` as the kernels take it: the array itself, or for a read-only array (a
    read-only memmap, ``np.frombuffer`` of a request's bytes, ``flags.writeable =
    False``) a view of the same memory that is not marked read-only.

    numba types a read-only array as a signature of its own: the installed kernels
    carry the writable ones, so a read-only input would compile every kernel it
    reaches again (seconds, on a server's first request). Kernels never write their
    inputs (arrays in, outputs preallocated by the caller), so only the flag differs;
    nothing is copied. Only inputs a user passes go through here: a ``Model``'s own
    weights are read-only on purpose and compiled that way. Applied where an array
    is handed to a kernel, never to what a function returns: a cache still holds the
    caller's own (read-only) array."""
    if x.flags.writeable:
        return x
    return np.asarray(_Alias(x))


def blas_ready(x, dtype):
    """``x`` in ``dtype`` with a layout BLAS takes directly (C or Fortran order).

    A strided view would make ``np.matmul`` fall back to a slow non-BLAS loop,
    so it is copied once instead.
    """
    x = x.astype(dtype, copy=False)
    if x.flags.c_contiguous or x.flags.f_contiguous:
        return x
    return np.ascontiguousarray(x)


def flat(x):
    """A 1-D view of a C-contiguous array (the kernels' layout), as the kernels take it
    (``kernel_view``)."""
    v = x.reshape(-1)
    return v if v.flags.writeable else np.asarray(_Alias(v))  # kernel_view, inline: hot


def whole_number(value, name, where, least=1, most=None):
    """``value`` as an int in [least, most]: the one check for counts and sizes.

    Any integer type is accepted (NumPy's too); bools are not (``True`` is no
    count). TypeError for another type, ValueError outside the range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int; got {value!r}")
    if value < least or (most is not None and value > most):
        bounds = f"at least {least}" if most is None else f"between {least} and {most}"
        raise ValueError(f"{where}: {name} must be {bounds}; got {value}")
    return int(value)


def chosen_dtype(dtype, where, arrays=()):
    """The computation dtype a caller asks for: ``dtype`` (float32 or float64, any
    spelling NumPy accepts), or by the dtype rule from ``arrays`` when None."""
    if dtype is None:
        return float_dtype(*arrays)
    try:
        chosen = np.dtype(dtype)
    except TypeError:
        chosen = None
    if chosen is not _F32 and chosen is not _F64:
        raise TypeError(f"{where}: dtype must be float32 or float64; got {dtype!r}")
    return chosen


def check_bias(b, n, name, where):
    if b.shape != (n, 1):
        raise ValueError(f"{where}: {name} must have shape ({n}, 1); got {b.shape}")


def learning_rate_value(learning_rate, where):
    # A Python float, the notebooks' every call, without the numbers.Real check (slow)
    if type(learning_rate) is float and -_INF < learning_rate < _INF:
        return learning_rate
    if isinstance(learning_rate, (bool, np.bool_)) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(
            f"{where}: learning_rate must be a real number; got {type(learning_rate).__name__}"
        )
    learning_rate = float(learning_rate)
    if not np.isfinite(learning_rate):
        raise ValueError(f"{where}: learning_rate must be finite; got {learning_rate}")
    return learning_rate


def layer_count(parameters, where, name="parameters"):
    """L for a dict holding exactly W1..WL and b1..bL; a clear error otherwise."""
    if not isinstance(parameters, dict):
        raise TypeError(f"{where}: {name} must be a dict; got {type(parameters).__name__}")
    indices = [
        int(k[1:]) for k in parameters if isinstance(k, str) and k[:1] in "Wb" and k[1:].isdigit()
    ]
    L = max(indices, default=0)
    expected = {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}
    keys = set(parameters)
    if L == 0 or keys != expected:
        missing = sorted(expected - keys) or ["W1", "b1"][: 2 * (L == 0)]
        extra = sorted(map(str, keys - expected))
        raise ValueError(
            f"{where}: {name} must hold exactly W1..WL and b1..bL; "
            f"missing {missing}, unexpected {extra}"
        )
    return L


def network(parameters, where, n_x=None, finite=False):
    """The layer sizes and matrices of a course ``parameters`` dict, their shapes chained.

    The one check of a network's shapes, for every caller that has the
    parameters but not yet the activations (``Model``, the trainer, model
    files, the ONNX export); a forward pass checks each layer against its
    actual input instead (``forward.checked_layer``), in the same words.

    Parameters
    ----------
    parameters : dict
        ``W1 .. WL`` of shapes (n_l, n_{l-1}) and ``b1 .. bL`` of shapes (n_l, 1).
    where : str
        The API function, for messages.
    n_x : int, optional
        Rows of the ``X`` the network will read (``W1`` must have that many
        columns); default: whatever ``W1`` has.
    finite : bool
        Also refuse NaN or inf in any ``W`` or ``b``, naming the first (a
        model that serves or exports them would answer NaN for every input).

    Returns
    -------
    dims : list of int
        ``[n_x, n_1, ..., n_L]``.
    Ws, bs : lists of ndarray
        The matrices as given (``as_matrix``: not converted, not copied).
    """
    L = layer_count(parameters, where)
    Ws = [as_matrix(parameters[f"W{l}"], f"W{l}", where) for l in range(1, L + 1)]
    bs = [as_matrix(parameters[f"b{l}"], f"b{l}", where) for l in range(1, L + 1)]
    dims = [Ws[0].shape[1] if n_x is None else n_x]
    for l, (W, b) in enumerate(zip(Ws, bs, strict=True), start=1):
        if W.shape[1] != dims[-1]:
            prev = "X" if l == 1 else f"A{l - 1}"
            raise ValueError(
                f"{where} (layer {l}): W{l} has shape {W.shape}, so {prev} needs "
                f"{W.shape[1]} rows; got {prev} of {dims[-1]} rows"
            )
        check_bias(b, W.shape[0], f"b{l}", where)
        dims.append(W.shape[0])
    if finite:
        for l, (W, b) in enumerate(zip(Ws, bs, strict=True), start=1):
            for name, a in ((f"W{l}", W), (f"b{l}", b)):
                if not np.isfinite(a).all():
                    raise ValueError(f"{where}: {name} contains NaN or inf")
    return dims, Ws, bs


def raise_nonfinite(where, inputs):
    """Raise for non-finite values reported by a kernel, naming the culprit.

    ``inputs`` maps argument names to arrays; the first holding NaN or inf is
    named. If none does, the result overflowed.
    """
    for name, x in inputs.items():
        bad = ~np.isfinite(x)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{where}: {name} contains NaN or inf (first at index {index}, "
                f"value {x[index]}); fastdnn refuses non-finite values"
            )
    raise ValueError(
        f"{where}: the result overflowed to inf or NaN although the inputs "
        f"{', '.join(inputs)} are finite; their values are too large"
    )


def readable_hdf5(path, what, error=ValueError):
    """``h5py.File(path, "r")``; FileNotFoundError naming ``what`` ("model file") when
    nothing is at ``path``, ``error`` when it is no HDF5 file h5py can read."""
    import h5py

    if not os.path.exists(path):
        raise FileNotFoundError(f"no {what} at {path!r}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise error(f"{path!r} is not a readable HDF5 file ({exc})") from None


CHUNK_FLOOR = 1 << 20
"""HDF5 chunks up to this size are always accepted (h5py's own automatic chunks are
at most 1 MiB)."""


def check_chunks(ds, where, error=ValueError, cap=None):
    """Refuse an HDF5 dataset whose chunks are larger than the data they hold.

    Reading any element of a chunked dataset decompresses its whole chunk, and a
    chunk may declare far more bytes than the dataset holds (an 80-byte dataset in
    one declared 1 GiB gzip chunk costs 1 GiB to read: a chunk bomb). A chunk may
    hold at most ``max(CHUNK_FLOOR, min(dataset bytes, cap))`` bytes: never more
    than the dataset (so reading costs at most twice what it declares, a bound the
    callers check first), and with ``cap`` never more than what a streamed read may
    hold at once. ``error`` is raised, naming ``where``, the chunk shape and both sizes.
    """
    chunks = ds.chunks
    if chunks is None:  # contiguous or compact: read as stored, no chunk buffer
        return
    chunk_bytes = int(np.prod(chunks, dtype=object)) * ds.dtype.itemsize
    data_bytes = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize
    allowed = data_bytes if cap is None else min(data_bytes, cap)
    allowed = max(CHUNK_FLOOR, allowed)
    if chunk_bytes > allowed:
        raise error(
            f"{where} is stored in HDF5 chunks of shape {tuple(chunks)} ({byte_size(chunk_bytes)} "
            f"each) for {byte_size(data_bytes)} of data; reading decompresses a whole chunk, so "
            f"fastdnn reads chunks of at most {byte_size(allowed)}; refused (a chunk bomb, or "
            f"rewrite the file with smaller chunks, e.g. h5repack -l CHUNK=...)"
        )


def byte_size(n):
    """``n`` bytes for a message: "80 bytes", "1.5 MiB", "4 GiB"."""
    if n >= 2**30:
        return f"{n / 2**30:.3g} GiB"
    return f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n} bytes"
