"""Model files: HDF5 written with h5py, atomically, and read back with every shape checked.

Layout (format version 1: float models)::

    /            attrs: format = "fastdnn-model", format_version = 1,
                        layer_dims (int64 array), activations (JSON list),
                        dtype ("float32" | "float64"), fastdnn_version,
                        training (JSON object: learning rate, iterations, ...)
    /W1 .. /WL   float datasets of shape (n_l, n_{l-1})
    /b1 .. /bL   float datasets of shape (n_l, 1)

Format version 2 (int8 models, ``Model.quantize``) adds ``precision = "int8"``
(dtype "float32"): ``/W1`` is int8 and ``/W1_scale`` holds its unit scales,
float32 of shape (n_1,), so that W1 = W1 * W1_scale[:, None]; the other
datasets are float32. Float models are still written as version 1, which
every fastdnn reads; a fastdnn that reads version 1 only refuses a version 2
file with "format version 2 is not supported".

Reading trusts nothing in the file. Nothing is ever unpickled: h5py reads
numeric datasets and string attributes only, and any other dataset dtype is
refused. Soft and external links, virtual datasets and datasets whose data lives
in another file are refused, never followed. The memory the file declares
(from ``layer_dims``, checked against every dataset's shape) is bounded before
anything is read (``MAX_MODEL_BYTES``), and a dataset that would inflate more
than ``MAX_EXPANSION`` times its size on disk (a compression bomb), or whose HDF5
chunks declare more bytes than it holds (a chunk bomb: reading decompresses a whole
chunk; ``validation.check_chunks``), is refused. Attributes hold JSON, read with
its nesting bounded by Python's stack: deeper is a ``ModelFileError``.

A save builds the file in memory and writes it to a temporary file in the
target folder, flushes it to disk, then renames it over the target, so a crash
or a full disk mid-save leaves the previous model intact, and a failed write
raises the operating system's own error (``[Errno 28] No space left ...``)
naming the file instead of an HDF5 internal one.
"""

import io
import json
import os

import numpy as np

from .._internal.atomic import open_output
from .._internal.validation import byte_size, check_chunks, readable_hdf5

FORMAT = "fastdnn-model"
FORMAT_VERSION = 2
"""The newest format version: int8 models' (float models are written as version 1)."""
READABLE_VERSIONS = (1, 2)

MAX_MODEL_BYTES = 4 * 2**30
"""Default bound on the parameter bytes a model file may declare (4 GiB: a
[12288, 65536, 1] float64 network fits). Raise it with ``load_model(...,
max_bytes=)``, ``Model.load(..., max_bytes=)`` or the ``FASTDNN_MAX_MODEL_BYTES``
environment variable."""

MAX_EXPANSION = 256
"""A dataset over ``_EXPANSION_FLOOR`` bytes (16 MiB) may read back to at most
this many times its size on disk. Trained float weights compress by less than
2x, a 99%-pruned layer by about 50x; 256x means data that is almost all one
repeated value."""

_EXPANSION_FLOOR = 2**24

# HDF5's own filters, which h5py decodes without loading a plugin library:
# deflate (gzip), shuffle, fletcher32, lzf.
_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}


class ModelFileError(ValueError):
    """A model file that cannot be read as a fastdnn model; the message says why."""


def architecture(parameters):
    """layer_dims and activations of a parameters dict (validated)."""
    from .._internal.validation import network

    dims, _, _ = network(parameters, "save_model")
    return dims, ["relu"] * (len(dims) - 2) + ["sigmoid"]


def save_model(path, parameters, dtype=None, training=None, int8=None):
    """Write ``parameters`` to an HDF5 model file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    parameters : dict
        ``W1 .. WL``, ``b1 .. bL``.
    dtype : {"float32", "float64"}, optional
        Stored dtype; by default the parameters' own (float64 unless all are float32).
    training : dict, optional
        JSON-serialisable settings kept as an attribute (learning rate, iterations, ...).
    int8 : (ndarray, ndarray), optional
        An int8 model's W1: its int8 values (n_1, n_x) and unit scales (n_1,);
        written as format version 2 (``parameters["W1"]`` is not stored).
    """
    import h5py

    from .._internal.validation import chosen_dtype
    from .._internal.version import __version__

    dims, activations = architecture(parameters)
    dtype = chosen_dtype(dtype, "save_model", [np.asarray(v) for v in parameters.values()])
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"save_model: {path!r} is a directory")
    # Built in memory, written with plain file I/O: a full disk then raises the
    # OS's OSError (ENOSPC, EFBIG) instead of an HDF5 internal RuntimeError.
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = 1 if int8 is None else FORMAT_VERSION
        f.attrs["layer_dims"] = np.asarray(dims, dtype=np.int64)
        f.attrs["activations"] = json.dumps(activations)
        f.attrs["dtype"] = dtype.name
        f.attrs["fastdnn_version"] = __version__
        f.attrs["training"] = json.dumps(training or {})
        if int8 is not None:
            f.attrs["precision"] = "int8"
            f.create_dataset("W1_scale", data=np.asarray(int8[1], dtype=np.float32))
        for l in range(1, len(dims)):
            for p in "Wb":
                if int8 is not None and f"{p}{l}" == "W1":
                    f.create_dataset("W1", data=np.asarray(int8[0], dtype=np.int8))
                else:
                    f.create_dataset(f"{p}{l}", data=np.asarray(parameters[f"{p}{l}"], dtype=dtype))
    with open_output(path, "wb", ".h5.tmp") as fh:
        fh.write(image.getbuffer())


def _attr(f, name, path):
    if name not in f.attrs:
        raise ModelFileError(f"{path!r}: not a fastdnn model (attribute {name!r} is missing)")
    value = f.attrs[name]
    return value.decode() if isinstance(value, bytes) else value


def _byte_limit(max_bytes):
    """The bound on declared parameter bytes: ``max_bytes``, else the environment's, else the default."""
    source = "max_bytes"
    if max_bytes is None:
        max_bytes, source = os.environ.get("FASTDNN_MAX_MODEL_BYTES"), "FASTDNN_MAX_MODEL_BYTES"
        if max_bytes is None:
            return MAX_MODEL_BYTES
        try:
            max_bytes = int(max_bytes)
        except ValueError:
            raise ValueError(
                f"FASTDNN_MAX_MODEL_BYTES must be a whole number of bytes; got {max_bytes!r}"
            ) from None
    from .._internal.validation import whole_number

    return whole_number(max_bytes, source, "load_model")


def _layer(name):
    """The layer number in a dataset's name: "W12" -> "12", "W1_scale" -> "1"."""
    return name[1:].split("_")[0]


def _checked_dataset(f, name, dtype, shape, path):
    """The h5py.Dataset ``name`` after every check that needs no read of its data."""
    where = f"{path!r}: layer {_layer(name)}: {name}"
    ds = f[name]
    if ds.is_virtual:
        raise ModelFileError(f"{where} is a virtual dataset (it reads other files); refused")
    if ds.external:
        raise ModelFileError(
            f"{where} keeps its data in another file ({ds.external[0][0]}); refused"
        )
    if ds.dtype != dtype:
        raise ModelFileError(f"{where} must be a {dtype} dataset; got {ds.dtype}")
    if ds.shape != shape:
        raise ModelFileError(f"{where} has shape {ds.shape}, layer_dims need {shape}")
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in _FILTERS:
            raise ModelFileError(
                f"{where} uses HDF5 filter {code}; fastdnn reads {sorted(_FILTERS.values())} only"
            )
    check_chunks(ds, where, ModelFileError)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    stored = ds.id.get_storage_size()
    if nbytes > _EXPANSION_FLOOR and nbytes > MAX_EXPANSION * stored:
        raise ModelFileError(
            f"{where} would inflate from {stored} bytes on disk to {byte_size(nbytes)} "
            f"(over {MAX_EXPANSION}x): a compression bomb, or a dataset never written; refused"
        )
    return ds


def load_model(path, max_bytes=None):
    """Read a model file written by ``save_model``.

    Parameters
    ----------
    path : str or os.PathLike
    max_bytes : int, optional
        Refuse a file whose parameters declare more bytes than this, before
        reading them. Default: the ``FASTDNN_MAX_MODEL_BYTES`` environment
        variable, else ``MAX_MODEL_BYTES`` (4 GiB).

    Returns
    -------
    parameters : dict
        ``W1 .. WL``, ``b1 .. bL`` in the stored dtype.
    info : dict
        ``layer_dims``, ``activations``, ``dtype``, ``training``, ``fastdnn_version``,
        ``precision`` ("float32", "float64" or "int8"), and ``int8``: for an int8
        model, W1's (int8 values, unit scales), ``parameters["W1"]`` being their
        dequantized product; else None.

    Raises
    ------
    ModelFileError
        For a file that is not HDF5, not a fastdnn model, of another format
        version, larger than ``max_bytes``, or whose datasets are missing, extra,
        links, virtual, external, compression bombs, of the wrong shape or
        dtype (the message names the layer).
    """
    import h5py

    limit = _byte_limit(max_bytes)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a directory, not a model file")
    with readable_hdf5(path, "model file", ModelFileError) as f:
        if _attr(f, "format", path) != FORMAT:
            raise ModelFileError(f"{path!r}: not a fastdnn model (format {f.attrs['format']!r})")
        version = _attr(f, "format_version", path)
        if version not in READABLE_VERSIONS:
            readable = ", ".join(map(str, READABLE_VERSIONS))
            raise ModelFileError(
                f"{path!r}: format version {version} is not supported (this fastdnn reads {readable})"
            )
        precision = "int8" if version == 2 else None
        if version == 2 and _attr(f, "precision", path) != "int8":
            raise ModelFileError(
                f"{path!r}: format version 2 holds int8 models; precision is "
                f"{f.attrs['precision']!r}"
            )
        try:
            dims = [int(n) for n in np.asarray(_attr(f, "layer_dims", path)).ravel()]
            activations = json.loads(_attr(f, "activations", path))
            training = json.loads(_attr(f, "training", path))
            dtype = np.dtype(str(_attr(f, "dtype", path)))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path!r}: unreadable model attributes ({exc})") from None
        except RecursionError:  # JSON nested deeper than Python's stack: hostile
            raise ModelFileError(
                f"{path!r}: unreadable model attributes (JSON nested too deeply)"
            ) from None
        L = len(dims) - 1
        if L < 1 or min(dims) < 1 or dtype not in (np.float32, np.float64):
            raise ModelFileError(f"{path!r}: invalid layer_dims {dims} or dtype {dtype}")
        if precision == "int8" and dtype != np.float32:
            raise ModelFileError(f"{path!r}: an int8 model's dtype is float32, not {dtype}")
        if activations != ["relu"] * (L - 1) + ["sigmoid"]:
            raise ModelFileError(f"{path!r}: unsupported activations {activations}")
        # Python ints: exact for any declared size, so no overflow can hide a huge one.
        declared = sum(dims[l] * (dims[l - 1] + 1) for l in range(1, L + 1)) * dtype.itemsize
        if declared > limit:
            raise ModelFileError(
                f"{path!r}: layer_dims {dims} declare {byte_size(declared)} of {dtype} parameters, over "
                f"the {byte_size(limit)} limit; if the file is trusted, raise it with "
                f"load_model(..., max_bytes=) / Model.load(..., max_bytes=) or the "
                f"FASTDNN_MAX_MODEL_BYTES environment variable"
            )
        for name in f:
            link = f.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                # A soft or external link could point anywhere, another file included.
                kind = type(link).__name__
                raise ModelFileError(f"{path!r}: {name} is a link ({kind}), not a dataset; refused")
        expected = {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}
        if precision == "int8":
            expected.add("W1_scale")
        if set(f.keys()) != expected:
            raise ModelFileError(
                f"{path!r}: datasets {sorted(f.keys())} do not match layer_dims {dims} "
                f"(expected {sorted(expected)})"
            )
        datasets = {}
        for l in range(1, L + 1):
            for p, shape in (("W", (dims[l], dims[l - 1])), ("b", (dims[l], 1))):
                if not isinstance(f[f"{p}{l}"], h5py.Dataset):
                    raise ModelFileError(f"{path!r}: layer {l}: {p}{l} is a group, not a dataset")
                stored = np.dtype(np.int8) if precision and p + str(l) == "W1" else dtype
                datasets[f"{p}{l}"] = _checked_dataset(f, f"{p}{l}", stored, shape, path)
        if precision == "int8":
            datasets["W1_scale"] = _checked_dataset(f, "W1_scale", dtype, (dims[1],), path)
        parameters = {}
        for name, ds in datasets.items():
            parameters[name] = np.ascontiguousarray(ds[()])
            if not np.isfinite(parameters[name]).all():
                raise ModelFileError(f"{path!r}: layer {_layer(name)}: {name} contains NaN or inf")
        int8 = None
        if precision == "int8":
            W1q, W1_scale = parameters.pop("W1"), parameters.pop("W1_scale")
            if not (W1_scale > 0).all():
                raise ModelFileError(f"{path!r}: layer 1: W1_scale must hold finite scales > 0")
            if np.any(W1q == -128):
                raise ModelFileError(
                    f"{path!r}: layer 1: W1 holds -128; int8 weights are -127..127"
                )
            int8 = (W1q, W1_scale)
            parameters["W1"] = W1q.astype(np.float32) * W1_scale[:, None]
        info = {
            "layer_dims": dims,
            "activations": activations,
            "dtype": dtype.name,
            "training": training,
            "fastdnn_version": str(_attr(f, "fastdnn_version", path)),
            "precision": precision or dtype.name,
            "int8": int8,
        }
    return parameters, info
