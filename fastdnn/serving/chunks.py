"""Predicting data read a chunk at a time: files larger than memory, inputs that need
converting, output written as it comes. ``Model`` takes these methods from ``Streaming``."""

import os

import numpy as np

from .._internal.validation import whole_number
from .forward import check_scale, proba, proba_int8, thread_scope

_CHUNK_BYTES = 64 << 20
"""Working-set bound of the chunked paths: converted input per chunk."""


class Streaming:
    """The chunked prediction methods of ``Model`` (which holds the weights)."""

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
        parallel, scope = thread_scope(n_threads, where)
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
        thread_scope(n_threads, where)  # checked now, not at the first chunk
        return self._chunks(read, m, step, scale, n_threads, where)

    def _chunks(self, read, m, step, scale, n_threads, where):
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            parallel, scope = thread_scope(n_threads, where)
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
        check_scale(scale, where)

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
        """P for one chunk (n_x, k): converted to the model's dtype in Fortran order, scaled
        (an int8 model's uint8 chunk: in Fortran order, as it is)."""
        if self._int8 is not None and raw.dtype == np.uint8:
            chunk = np.asfortranarray(raw)
            return proba_int8(self, chunk, 1.0 if scale is None else scale, parallel, where, first)
        chunk = np.asfortranarray(raw, dtype=self.dtype)
        if scale is not None:
            chunk *= self.dtype.type(scale)
        return proba(self, chunk, parallel, where, first=first)
