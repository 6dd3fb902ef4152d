"""Course 2 ("Improving Deep Neural Networks", weeks 1-2): what the four public modules
``fastdnn.initialization``, ``fastdnn.regularization``, ``fastdnn.gradient_checking`` and
``fastdnn.optimization`` are built from.

``net3``: the three-layer network's checks and kernel calls; ``loops``: each notebook's
``model`` as a compiled loop; ``common``: shared helpers and initialisations; ``data``:
the course's datasets; ``plot``: its plots; ``plans``: the kernels' types (compiled ahead);
``reference``: the course's own NumPy code, the tests' oracle.
"""
