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

int8. ``model.quantize()`` gives a model whose first layer runs in integer
arithmetic (``fastdnn.kernels.int8``): int8 weights with one scale per unit,
uint8 inputs. uint8 ``X`` (pixels as stored, with ``scale=1 / 255`` for the
course's preparation) is used as it is, exactly; float ``X`` is quantized per
example as it is read. The later layers stay float32.

Threads. A model is immutable, so any number of Python threads may share one.
Large batches use numba's parallel region when no other thread is in one and
the serial kernel otherwise (see ``fastdnn._internal.dispatch``); ``n_threads=1``
always runs serially.
"""

import os

import numpy as np

from .._internal.validation import as_matrix, chosen_dtype, network
from .chunks import Streaming
from .forward import check_scale, proba, proba_int8, thread_scope


class Model(Streaming):
    """A [LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID network ready for inference.

    Build one with ``Model.from_parameters`` or ``Model.load``.

    Attributes
    ----------
    layer_dims : tuple of int
        (n_x, n_1, ..., n_L).
    dtype : numpy.dtype
        float32 or float64; every prediction is computed in it (an int8 model's
        later layers and outputs are float32).
    precision : str
        "float32", "float64", or "int8" for a model from ``quantize``.
    """

    def __init__(self, theta, layer_dims, int8=None):
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
        # int8: (W1q (n_1p, n_x) int8, w_sum (n_1p,) int32, unit_scale (n_1p,) float32),
        # n_1p = n_1 rounded up to the int8 tile's 5 units (zero rows past n_1).
        self._int8 = int8
        self._int8_tiles = True
        """The int8 kernels' sums: the register tiles (``vpdpbusd`` where the CPU has
        AVX-512 VNNI, widening multiply-adds elsewhere), or, False, the portable scalar
        loop: the tests' oracle, set on the model they test (the sums are exact, so
        both give the same results)."""
        self.precision = "int8" if int8 is not None else self.dtype.name

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

    def quantize(self):
        """This model with its first layer in int8: a new immutable ``Model``.

        W1 is quantized symmetrically per unit (``W1[i] ~ q[i] * s[i]``, q in
        [-127, 127], ``s[i] = max|W1[i]| / 127``); the later layers and the
        outputs are float32. Predictions then take uint8 ``X`` as it is (pass
        ``scale=1 / 255`` for the course's pixels: it becomes part of the unit
        scales, so the input is exact), and quantize float ``X`` per example
        to uint8 with a zero point as they read it.

        Accuracy: on the course's trained L-layer model, the labels of every
        train and test image equal the float32 model's (``python -m benchmarks
        --only int8`` measures it, with the largest probability difference).
        The first layer's sums are exact integers; the error is the rounding of
        the weights (half a step of ``s[i]`` each) and, for float input, of X.

        Returns
        -------
        Model
            ``precision == "int8"``; ``parameters()`` gives the dequantized
            weights (``q * s``), which ``to_onnx`` exports.
        """
        if self._int8 is not None:
            return self
        from ..kernels.int8 import MAX_INT8_INPUTS

        n1, n_x = self._W1.shape
        if n_x > MAX_INT8_INPUTS:
            raise ValueError(
                f"Model.quantize: the first layer has {n_x} inputs; int8 sums stay exact "
                f"up to {MAX_INT8_INPUTS}"
            )
        W1 = self._W1.astype(np.float64)
        scale = np.abs(W1).max(axis=1) / 127
        scale[scale == 0] = 1.0  # an all-zero unit: any scale gives q = 0
        q = np.clip(np.rint(W1 / scale[:, None]), -127, 127).astype(np.int8)
        return Model._from_int8(self.parameters(), q, scale.astype(np.float32))

    @classmethod
    def _from_int8(cls, parameters, W1q, W1_scale):
        """An int8 model from the float parameters of its later layers (and b1) and
        W1's int8 values and unit scales; W1 in ``parameters`` is replaced by q * s."""
        n1, n_x = W1q.shape
        parameters = dict(parameters)
        parameters["W1"] = W1q.astype(np.float32) * W1_scale[:, None]
        float_model = cls.from_parameters(parameters, dtype="float32")
        padded = -(-n1 // 5) * 5  # the int8 tile's 5 units
        q = np.zeros((padded, n_x), dtype=np.int8)
        q[:n1] = W1q
        unit_scale = np.ones(padded, dtype=np.float32)
        unit_scale[:n1] = W1_scale
        w_sum = q.sum(axis=1, dtype=np.int32)
        for a in (q, w_sum, unit_scale):
            a.flags.writeable = False
        return cls(float_model._theta, float_model._dims, int8=(q, w_sum, unit_scale))

    def int8_weights(self):
        """(W1's int8 values (n_1, n_x), their unit scales (n_1,) float32) of an int8 model."""
        if self._int8 is None:
            raise ValueError(f"Model.int8_weights: this model's precision is {self.precision}")
        q, _, unit_scale = self._int8
        n1 = self.layer_dims[1]
        return q[:n1].copy(), unit_scale[:n1].copy()

    @classmethod
    def load(cls, path, dtype=None, max_bytes=None):
        """Read a model file written by ``Model.save`` or ``fastdnn.serving.modelfile.save_model``.

        ``max_bytes`` bounds the parameter bytes the file may declare (default
        4 GiB, or ``FASTDNN_MAX_MODEL_BYTES``; see ``fastdnn.serving.modelfile.load_model``).
        Raises ``fastdnn.serving.modelfile.ModelFileError`` for anything but a valid model file.
        """
        from .modelfile import load_model

        parameters, info = load_model(path, max_bytes=max_bytes)
        if info["precision"] == "int8":
            if dtype is not None and np.dtype(dtype) != np.float32:
                raise ValueError(
                    f"Model.load: {os.fspath(path)!r} is an int8 model, which computes in "
                    f"float32; dtype={dtype!r} cannot apply"
                )
            return cls._from_int8(parameters, *info["int8"])
        return cls.from_parameters(parameters, dtype=dtype or info["dtype"])

    def save(self, path, training=None):
        """Write the model to an HDF5 model file, atomically (see ``fastdnn.serving.modelfile``).

        An int8 model is written as format version 2 (int8 W1 and its unit
        scales); float models as version 1, which every fastdnn reads."""
        from .modelfile import save_model

        int8 = self.int8_weights() if self._int8 is not None else None
        save_model(path, self.parameters(), dtype=self.dtype, training=training, int8=int8)

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
        kind = "precision=int8" if self._int8 is not None else f"dtype={self.dtype.name}"
        return f"Model(layer_dims={list(self.layer_dims)}, {kind})"

    def __eq__(self, other):
        return (
            isinstance(other, Model)
            and self.layer_dims == other.layer_dims
            and self.precision == other.precision
            and np.array_equal(self._theta, other._theta)
            and (self._int8 is None or all(map(np.array_equal, self._int8, other._int8)))
        )

    __hash__ = None

    # -------------------------------------------------------------- predicting

    def predict_proba(self, X, n_threads=None, scale=None):
        """Output probabilities for the examples in the columns of ``X``.

        Parameters
        ----------
        X : array_like of shape (n_x, m)
            Floats, ints or bools; converted to the model's dtype (in chunks
            when a conversion is needed, so the working set stays bounded).
            An int8 model takes uint8 ``X`` as it is, without a conversion.
        scale : float, optional
            The network's input is ``X * scale`` (``1 / 255`` for the course's
            uint8 pixels).
        n_threads : int, optional
            1 runs the serial kernel; n > 1 uses up to n threads for the
            parallel kernel; None uses numba's current thread count.

        Returns
        -------
        P : ndarray of shape (n_L, m), the model's dtype
        """
        where = "Model.predict_proba"
        X = self._checked_input(X, "X", where)
        check_scale(scale, where)
        parallel, scope = thread_scope(n_threads, where)
        with scope:
            direct = X.flags.f_contiguous or (X.flags.c_contiguous and self._int8 is None)
            if direct and scale is None and X.dtype == self.dtype:
                return proba(self, X, parallel, where, first=0)
            if self._int8 is not None and X.dtype == np.uint8 and X.flags.f_contiguous:
                return proba_int8(self, X, 1.0 if scale is None else scale, parallel, where, 0)
            m = X.shape[1]
            return self._chunked(lambda lo, hi: X[:, lo:hi], m, None, scale, parallel, where)

    def predict(self, X, threshold=0.5, n_threads=None, scale=None):
        """Labels: 1 where ``predict_proba(X, scale=scale) > threshold``, else 0.

        Returns
        -------
        labels : ndarray of shape (n_L, m), uint8
        """
        P = self.predict_proba(X, n_threads=n_threads, scale=scale)
        return (P > threshold).astype(np.uint8)

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
