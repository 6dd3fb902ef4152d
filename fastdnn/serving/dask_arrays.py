"""Batch inference over Dask arrays (optional extra: ``pip install "fastdnn[dask]"``).

Each block of examples is predicted by ``Model.predict_proba`` on whichever
worker holds it; the model travels to the workers by pickling (weights only,
a few hundred KiB for the cat network; numba's compiled code is loaded from
each worker's cache). Example with the course's HDF5 file::

    import dask.array as da, h5py
    f = h5py.File("test_catvnoncat.h5")
    images = da.from_array(f["test_set_x"], chunks=(1024, 64, 64, 3))
    X = images.reshape(images.shape[0], -1).T / 255      # (n_x, m), lazily
    P = fastdnn.serving.dask_arrays.predict_proba(model, X).compute()   # (1, m)
"""


def predict_proba(model, X, scale=None):
    """Lazy probabilities, shape (n_L, m), for a Dask array ``X`` of shape (n_x, m).

    ``X`` is rechunked to hold all features in each block (blocks split
    examples only); the result has ``X``'s example chunks and the model's dtype.
    ``scale`` as in ``Model.predict_proba`` (uint8 pixels: ``1 / 255``; an int8
    model reads them as they are).
    """
    import dask.array as da

    from .model import Model

    if not isinstance(model, Model):
        raise TypeError(
            f"fastdnn.serving.dask_arrays.predict_proba: model must be a fastdnn.Model; got {type(model).__name__}"
        )
    if not isinstance(X, da.Array):
        raise TypeError(
            f"fastdnn.serving.dask_arrays.predict_proba: X must be a dask array; got {type(X).__name__}"
        )
    if X.ndim != 2 or X.shape[0] != model.layer_dims[0]:
        raise ValueError(
            f"fastdnn.serving.dask_arrays.predict_proba: X must have shape ({model.layer_dims[0]}, m); got {X.shape}"
        )
    X = X.rechunk({0: -1})
    return X.map_blocks(
        _block_proba,
        model,
        scale,
        dtype=model.dtype,
        chunks=((model.layer_dims[-1],), X.chunks[1]),
    )


def predict(model, X, threshold=0.5, scale=None):
    """Lazy uint8 labels: 1 where ``predict_proba(model, X, scale) > threshold``."""
    return (predict_proba(model, X, scale) > threshold).astype("uint8")


def _block_proba(block, model, scale):
    # Safe under Dask's thread pool: one block at a time gets numba's parallel
    # region, the others run the serial kernel (fastdnn._internal.dispatch).
    return model.predict_proba(block, scale=scale)
