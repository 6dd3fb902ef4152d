"""``fastdnn.Model``: a trained network held for serving predictions.

The weights are converted once, when the model is built or loaded, into one
packed C-contiguous buffer in the model's dtype (see
``fastdnn.kernels.inference``). ``predict_proba`` then runs the cache-free
inference kernel: no per-layer arrays, no caches, one output array.

Layouts. ``X`` has shape (n_x, m) as in the course. A Fortran-ordered ``X``
(examples contiguous: what the course's ``reshape(m, -1).T`` and
``fastdnn.app.data.flatten_images`` give, or ``Xb.T`` for a row-per-example
``Xb``) goes straight to the tiled kernel. A C-ordered ``X`` (features
contiguous across examples) runs its first layer as one BLAS product instead
of being copied. Anything else is converted chunk by chunk.

Threads. A model is immutable, so any number of Python threads may share one.
Large batches use numba's parallel region when no other thread is in one and
the serial kernel otherwise (see ``fastdnn._internal.dispatch``); ``n_threads=1``
always runs serially.
"""

import contextlib
import os

import numpy as np

from .._internal import dispatch
from .._internal.config import PREDICT_PARALLEL_MIN_MACS
from .._internal.lazy import kernels as K
from .._internal.threads import threads
from .._internal.validation import as_matrix, chosen_dtype, network, whole_number

_CHUNK_BYTES = 64 << 20
"""Working-set bound of the chunked paths: converted input per chunk."""


class Model:
    """A [LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID network ready for inference.

    Build one with ``Model.from_parameters`` or ``Model.load``.

    Attributes
    ----------
    layer_dims : tuple of int
        (n_x, n_1, ..., n_L).
    dtype : numpy.dtype
        float32 or float64; every prediction is computed in it.
    """

    def __init__(self, theta, layer_dims):
        dims = np.asarray(layer_dims, dtype=np.int64)
        offsets = np.zeros(dims.size - 1, dtype=np.int64)
        at = 0
        for l in range(1, dims.size):
            offsets[l - 1] = at
            at += dims[l] * (dims[l - 1] + 1)
        if theta.shape != (at,):
            raise ValueError(f"Model: theta must have {at} entries for {list(layer_dims)}")
        theta.flags.writeable = False
        self._theta = theta
        self._dims = dims
        self._offsets = offsets
        self._W1 = theta[: dims[1] * dims[0]].reshape(dims[1], dims[0])
        self.layer_dims = tuple(int(n) for n in dims)
        self.dtype = theta.dtype

    # ---------------------------------------------------------------- building

    @classmethod
    def from_parameters(cls, parameters, dtype=None):
        """A model holding a copy of the course's ``parameters`` dict.

        Parameters
        ----------
        parameters : dict
            ``W1 .. WL`` of shapes (n_l, n_{l-1}), ``b1 .. bL`` of shapes (n_l, 1).
        dtype : {"float32", "float64"}, optional
            Default: float64 if any weight is float64, else float32.
        """
        where = "Model.from_parameters"
        dims, Ws, bs = network(parameters, where, finite=True)
        dtype = chosen_dtype(dtype, where, Ws + bs)
        parts = []
        for W, b in zip(Ws, bs, strict=True):
            parts += [W.ravel(), b.ravel()]
        theta = np.concatenate(parts).astype(dtype, copy=False)
        if not np.isfinite(theta).all():  # finite before the cast: float32 overflowed
            raise ValueError(f"{where}: a weight exceeds the range of {np.dtype(dtype).name}")
        return cls(np.ascontiguousarray(theta), dims)

    @classmethod
    def load(cls, path, dtype=None, max_bytes=None):
        """Read a model file written by ``Model.save`` or ``fastdnn.serving.modelfile.save_model``.

        ``max_bytes`` bounds the parameter bytes the file may declare (default
        4 GiB, or ``FASTDNN_MAX_MODEL_BYTES``; see ``fastdnn.serving.modelfile.load_model``).
        Raises ``fastdnn.serving.modelfile.ModelFileError`` for anything but a valid model file.
        """
        from .modelfile import load_model

        parameters, info = load_model(path, max_bytes=max_bytes)
        return cls.from_parameters(parameters, dtype=dtype or info["dtype"])

    def save(self, path, training=None):
        """Write the model to an HDF5 model file, atomically (see ``fastdnn.serving.modelfile``)."""
        from .modelfile import save_model

        save_model(path, self.parameters(), dtype=self.dtype, training=training)

    def parameters(self):
        """The weights as the course's dict (fresh, writable copies)."""
        out = {}
        for l in range(1, len(self.layer_dims)):
            n, n_prev = self.layer_dims[l], self.layer_dims[l - 1]
            at = self._offsets[l - 1]
            out[f"W{l}"] = self._theta[at : at + n * n_prev].reshape(n, n_prev).copy()
            out[f"b{l}"] = self._theta[at + n * n_prev : at + n * (n_prev + 1)].reshape(n, 1).copy()
        return out

    def __repr__(self):
        return f"Model(layer_dims={list(self.layer_dims)}, dtype={self.dtype.name})"

    def __eq__(self, other):
        return (
            isinstance(other, Model)
            and self.layer_dims == other.layer_dims
            and self.dtype == other.dtype
            and np.array_equal(self._theta, other._theta)
        )

    __hash__ = None

    # -------------------------------------------------------------- predicting

    def predict_proba(self, X, n_threads=None):
        """Output probabilities for the examples in the columns of ``X``.

        Parameters
        ----------
        X : array_like of shape (n_x, m)
            Floats, ints or bools; converted to the model's dtype (in chunks
            when a conversion is needed, so the working set stays bounded).
        n_threads : int, optional
            1 runs the serial kernel; n > 1 uses up to n threads for the
            parallel kernel; None uses numba's current thread count.

        Returns
        -------
        P : ndarray of shape (n_L, m), the model's dtype
        """
        where = "Model.predict_proba"
        X = self._checked_input(X, "X", where)
        parallel, scope = _thread_scope(n_threads, where)
        with scope:
            if X.dtype == self.dtype and (X.flags.f_contiguous or X.flags.c_contiguous):
                return self._proba(X, parallel, where, first=0)
            m = X.shape[1]
            return self._chunked(lambda lo, hi: X[:, lo:hi], m, None, None, parallel, where)

    def predict(self, X, threshold=0.5, n_threads=None):
        """Labels: 1 where ``predict_proba(X) > threshold``, else 0.

        Returns
        -------
        labels : ndarray of shape (n_L, m), uint8
        """
        return (self.predict_proba(X, n_threads=n_threads) > threshold).astype(np.uint8)

    def predict_proba_stream(
        self, source, *, examples_first=True, scale=None, chunk_examples=None, n_threads=None
    ):
        """Probabilities for a dataset too large to load: read and predict chunk by chunk.

        Parameters
        ----------
        source : array-like with ``shape`` and slicing (h5py.Dataset, numpy.memmap, ndarray)
            With ``examples_first`` (the course's HDF5 layout), shape (m, ...)
            whose trailing dimensions flatten to n_x, e.g. (m, 64, 64, 3);
            otherwise shape (n_x, m).
        scale : float, optional
            Multiplies the input after reading (1 / 255 for the course's images).
        chunk_examples : int, optional
            Examples read per chunk; by default about 64 MiB of converted input.

        Returns
        -------
        P : ndarray of shape (n_L, m)
        """
        where = "Model.predict_proba_stream"
        read, m = self._source(source, examples_first, scale, where)
        parallel, scope = _thread_scope(n_threads, where)
        with scope:
            return self._chunked(read, m, chunk_examples, scale, parallel, where)

    def predict_proba_chunks(
        self, source, *, examples_first=True, scale=None, chunk_examples=None, n_threads=None
    ):
        """``predict_proba_stream`` one chunk at a time, for output written as it comes
        (``fastdnn predict``): yields ``(lo, P)``, P of shape (n_L, hi - lo) holding the
        probabilities of examples ``lo`` to ``hi``. The arguments are checked at the call;
        memory stays bounded by one chunk whatever the size of ``source``."""
        where = "Model.predict_proba_chunks"
        read, m = self._source(source, examples_first, scale, where)
        step = self._chunk_examples(chunk_examples)
        _thread_scope(n_threads, where)  # checked now, not at the first chunk
        return self._chunks(read, m, step, scale, n_threads, where)

    def _chunks(self, read, m, step, scale, n_threads, where):
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            parallel, scope = _thread_scope(n_threads, where)
            with scope:  # not held across the yield: the caller's code runs unchanged
                P = self._chunk_proba(read(lo, hi), scale, parallel, where, lo)
            yield lo, P

    def _source(self, source, examples_first, scale, where):
        """(read(lo, hi) giving an (n_x, hi - lo) chunk, m) for a streamed ``source``."""
        shape = tuple(getattr(source, "shape", ()))
        if len(shape) < 2:
            raise ValueError(f"{where}: source must have at least 2 dimensions; got shape {shape}")
        n_x = self.layer_dims[0]
        if examples_first:
            m, features = shape[0], int(np.prod(shape[1:]))
        else:
            if len(shape) != 2:
                raise ValueError(f"{where}: a features-first source must be 2-D; got {shape}")
            features, m = shape
        if features != n_x:
            raise ValueError(
                f"{where}: source has {features} features per example (shape {shape}); "
                f"the model takes {n_x}"
            )
        if m == 0:
            raise ValueError(f"{where}: source holds no examples (shape {shape})")
        if scale is not None and not np.isfinite(scale):
            raise ValueError(f"{where}: scale must be finite; got {scale}")

        def read(lo, hi):
            if examples_first:
                raw = np.asarray(source[lo:hi]).reshape(hi - lo, -1).T
            else:
                raw = np.asarray(source[:, lo:hi])
            return self._checked_input(raw, "source", where)

        return read, m

    def predict_proba_hdf5(self, path, dataset, **options):
        """``predict_proba_stream`` over the dataset ``dataset`` of the HDF5 file ``path``.

        Example: ``model.predict_proba_hdf5("test_catvnoncat.h5", "test_set_x", scale=1 / 255)``.
        """
        import h5py

        with h5py.File(os.fspath(path), "r") as f:
            if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
                raise ValueError(f"Model.predict_proba_hdf5: {path!r} has no dataset {dataset!r}")
            return self.predict_proba_stream(f[dataset], **options)

    def to_onnx(self, path=None):
        """The model as an ONNX graph (needs the ``onnx`` extra); see ``fastdnn.serving.onnx_export``."""
        from .onnx_export import to_onnx

        return to_onnx(self, path)

    # ---------------------------------------------------------------- internal

    def _checked_input(self, X, name, where):
        X = as_matrix(X, name, where)
        if X.shape[0] != self.layer_dims[0]:
            raise ValueError(
                f"{where}: {name} has {X.shape[0]} rows (features) but the model takes "
                f"{self.layer_dims[0]}; {name} must have shape ({self.layer_dims[0]}, m)"
            )
        return X

    def _chunk_examples(self, chunk_examples):
        if chunk_examples is None:
            return max(1, _CHUNK_BYTES // (self.layer_dims[0] * self.dtype.itemsize))
        return whole_number(chunk_examples, "chunk_examples", "Model.predict_proba_stream")

    def _chunked(self, read, m, chunk_examples, scale, parallel, where):
        """P (n_L, m) from ``read(lo, hi)``, an (n_x, hi - lo) array per chunk of examples,
        each converted to the model's dtype in Fortran order (and scaled) before predicting."""
        P = np.empty((self.layer_dims[-1], m), dtype=self.dtype)
        step = self._chunk_examples(chunk_examples)
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            P[:, lo:hi] = self._chunk_proba(read(lo, hi), scale, parallel, where, lo)
        return P

    def _chunk_proba(self, raw, scale, parallel, where, first):
        """P for one chunk (n_x, k): converted to the model's dtype in Fortran order, scaled."""
        chunk = np.asfortranarray(raw, dtype=self.dtype)
        if scale is not None:
            chunk *= self.dtype.type(scale)
        return self._proba(chunk, parallel, where, first=first)

    def _proba(self, X, parallel, where, first):
        """P (n_L, m) for X (n_x, m) in the model's dtype, C or Fortran order."""
        n_L, m = self.layer_dims[-1], X.shape[1]
        PT = np.empty((m, n_L), dtype=self.dtype)
        if X.flags.f_contiguous:
            args = (X.T, self._W1, self._theta, self._dims, self._offsets, PT)
            n1 = self.layer_dims[1]
            size = X.size * n1 if parallel else 0
            with dispatch.region(size, PREDICT_PARALLEL_MIN_MACS) as in_region:
                if in_region:
                    bad = K._predict_parallel(*args, dispatch.work_items())
            if not in_region:
                bad = K._predict_rows(*args, 0, m)
        else:
            # C order: one BLAS product for layer 1 beats copying X to examples-as-rows.
            # W1 @ X, not X.T @ W1.T: the faster orientation (docs/performance.md).
            Z1 = np.ascontiguousarray(np.matmul(self._W1, X).T)
            bad = K._head_rows(Z1, self._theta, self._dims, self._offsets, PT, 0, m)
        if bad:
            _raise_nonfinite(X, where, first)
        return PT.T.copy() if n_L > 1 else PT.reshape(1, m)


def _thread_scope(n_threads, where):
    """(parallel allowed, context manager that applies ``n_threads`` to this thread)."""
    if n_threads is None:
        return True, contextlib.nullcontext()
    if whole_number(n_threads, "n_threads", where) == 1:
        return False, contextlib.nullcontext()
    import numba

    return True, threads(min(int(n_threads), numba.config.NUMBA_NUM_THREADS))


def _raise_nonfinite(X, where, first):
    bad_columns = np.flatnonzero(~np.isfinite(X).all(axis=0))
    if bad_columns.size:
        j = int(bad_columns[0])
        row = int(np.flatnonzero(~np.isfinite(X[:, j]))[0])
        raise ValueError(
            f"{where}: X contains NaN or inf in example {first + j} (feature {row}, "
            f"value {X[row, j]}); {bad_columns.size} example(s) affected in this chunk"
        )
    raise ValueError(
        f"{where}: the output overflowed to inf or NaN although X is finite; its values are too large"
    )


def kernel_plan(dtype):
    """The inference kernels a ``Model`` of ``dtype`` runs, with their argument types
    (``_internal.precompile``; ``fastdnn.warmup``): serial and parallel on X in
    Fortran order, and the later layers after BLAS's first layer (X in C order)."""
    import numba
    from numba import types

    from .._internal.precompile import entry

    f = numba.from_dtype(np.dtype(dtype))
    i = numba.typeof(1)
    C2 = types.Array(f, 2, "C")
    theta = types.Array(f, 1, "C", readonly=True)  # a model's weights are read-only
    W1 = types.Array(f, 2, "C", readonly=True)
    ints = types.Array(types.int64, 1, "C")
    model = (theta, ints, ints, C2)  # theta, dims, offsets, P.T
    return [
        entry("_predict_rows", C2, W1, *model, i, i, weight=1.5),
        entry("_predict_parallel", C2, W1, *model, i, weight=3.5),
        entry("_head_rows", C2, *model, i, i),
    ]
