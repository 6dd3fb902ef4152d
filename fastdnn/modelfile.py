"""Model files: HDF5 written with h5py, atomically, and read back with every shape checked.

Layout (format version 1)::

    /            attrs: format = "fastdnn-model", format_version = 1,
                        layer_dims (int64 array), activations (JSON list),
                        dtype ("float32" | "float64"), fastdnn_version,
                        training (JSON object: learning rate, iterations, ...)
    /W1 .. /WL   float datasets of shape (n_l, n_{l-1})
    /b1 .. /bL   float datasets of shape (n_l, 1)

Nothing is ever unpickled: h5py reads numeric datasets and string attributes
only, and any other dataset dtype is refused, as are soft and external links
(which could point into other files). A save writes a temporary file
in the target folder, flushes it to disk, then renames it over the target, so
a crash mid-save leaves the previous model intact.
"""

import json
import os

import numpy as np

from ._atomic import atomic_path

FORMAT = "fastdnn-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be read as a fastdnn model; the message says why."""


def architecture(parameters):
    """layer_dims and activations of a parameters dict (validated)."""
    from ._validation import as_matrix, layer_count

    L = layer_count(parameters, "save_model")
    dims = [as_matrix(parameters["W1"], "W1", "save_model").shape[1]]
    for l in range(1, L + 1):
        W = as_matrix(parameters[f"W{l}"], f"W{l}", "save_model")
        b = as_matrix(parameters[f"b{l}"], f"b{l}", "save_model")
        if W.shape[1] != dims[-1] or b.shape != (W.shape[0], 1):
            raise ValueError(
                f"save_model: layer {l}: W{l} {W.shape} and b{l} {b.shape} do not chain"
            )
        dims.append(W.shape[0])
    return dims, ["relu"] * (L - 1) + ["sigmoid"]


def save_model(path, parameters, dtype=None, training=None):
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
    """
    import h5py

    from . import __version__
    from ._validation import float_dtype

    dims, activations = architecture(parameters)
    arrays = [np.asarray(v) for v in parameters.values()]
    dtype = np.dtype(dtype) if dtype is not None else float_dtype(*arrays)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"save_model: dtype must be float32 or float64; got {dtype}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"save_model: {path!r} is a directory")
    with atomic_path(path, ".h5.tmp") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["layer_dims"] = np.asarray(dims, dtype=np.int64)
        f.attrs["activations"] = json.dumps(activations)
        f.attrs["dtype"] = dtype.name
        f.attrs["fastdnn_version"] = __version__
        f.attrs["training"] = json.dumps(training or {})
        for l in range(1, len(dims)):
            for p in "Wb":
                f.create_dataset(f"{p}{l}", data=np.asarray(parameters[f"{p}{l}"], dtype=dtype))


def _attr(f, name, path):
    if name not in f.attrs:
        raise ModelFileError(f"{path!r}: not a fastdnn model (attribute {name!r} is missing)")
    value = f.attrs[name]
    return value.decode() if isinstance(value, bytes) else value


def load_model(path):
    """Read a model file written by ``save_model``.

    Returns
    -------
    parameters : dict
        ``W1 .. WL``, ``b1 .. bL`` in the stored dtype.
    info : dict
        ``layer_dims``, ``activations``, ``dtype``, ``training``, ``fastdnn_version``.

    Raises
    ------
    ModelFileError
        For a file that is not HDF5, not a fastdnn model, of another format
        version, or whose datasets are missing, extra, of the wrong shape or dtype
        (the message names the layer).
    """
    import h5py

    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a directory, not a model file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ModelFileError(f"{path!r} is not a readable HDF5 file ({exc})") from None
    with f:
        if _attr(f, "format", path) != FORMAT:
            raise ModelFileError(f"{path!r}: not a fastdnn model (format {f.attrs['format']!r})")
        version = _attr(f, "format_version", path)
        if version != FORMAT_VERSION:
            raise ModelFileError(
                f"{path!r}: format version {version} is not supported (this fastdnn reads {FORMAT_VERSION})"
            )
        try:
            dims = [int(n) for n in np.asarray(_attr(f, "layer_dims", path)).ravel()]
            activations = json.loads(_attr(f, "activations", path))
            training = json.loads(_attr(f, "training", path))
            dtype = np.dtype(str(_attr(f, "dtype", path)))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path!r}: unreadable model attributes ({exc})") from None
        L = len(dims) - 1
        if L < 1 or min(dims) < 1 or dtype not in (np.float32, np.float64):
            raise ModelFileError(f"{path!r}: invalid layer_dims {dims} or dtype {dtype}")
        if activations != ["relu"] * (L - 1) + ["sigmoid"]:
            raise ModelFileError(f"{path!r}: unsupported activations {activations}")
        expected = {f"{p}{l}" for l in range(1, L + 1) for p in "Wb"}
        if set(f.keys()) != expected:
            raise ModelFileError(
                f"{path!r}: datasets {sorted(f.keys())} do not match layer_dims {dims} "
                f"(expected {sorted(expected)})"
            )
        parameters = {}
        for l in range(1, L + 1):
            for p, shape in (("W", (dims[l], dims[l - 1])), ("b", (dims[l], 1))):
                if not isinstance(f.get(f"{p}{l}", getlink=True), h5py.HardLink):
                    # A soft or external link could point anywhere, another file included.
                    raise ModelFileError(f"{path!r}: layer {l}: {p}{l} is a link, not a dataset")
                ds = f[f"{p}{l}"]
                if not isinstance(ds, h5py.Dataset) or ds.dtype != dtype:
                    raise ModelFileError(
                        f"{path!r}: layer {l}: {p}{l} must be a {dtype} dataset; got {getattr(ds, 'dtype', type(ds).__name__)}"
                    )
                if ds.shape != shape:
                    raise ModelFileError(
                        f"{path!r}: layer {l}: {p}{l} has shape {ds.shape}, layer_dims {dims} need {shape}"
                    )
                parameters[f"{p}{l}"] = np.ascontiguousarray(ds[()])
                if not np.isfinite(parameters[f"{p}{l}"]).all():
                    raise ModelFileError(f"{path!r}: layer {l}: {p}{l} contains NaN or inf")
        info = {
            "layer_dims": dims,
            "activations": activations,
            "dtype": dtype.name,
            "training": training,
            "fastdnn_version": str(_attr(f, "fastdnn_version", path)),
        }
    return parameters, info
