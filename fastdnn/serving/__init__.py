"""A trained network in production: ``Model`` (cache-free inference, ``model``), HDF5 model
files (``modelfile``), ONNX export (``onnx_export``, the ``onnx`` extra), inference over Dask
arrays (``dask_arrays``, the ``dask`` extra) and ``fastdnn serve`` (``server``, the ``serve``
extra). Uses the internals and the kernels, never the course API or the application.
"""
