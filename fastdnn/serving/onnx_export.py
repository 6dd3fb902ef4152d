"""Export a model to ONNX (optional extra: ``pip install "fastdnn[onnx]"``).

The graph follows ONNX's row-per-example convention: input ``X`` of shape
(m, n_x), output ``probability`` of shape (m, n_L), with one ``Gemm`` (W
transposed, so the stored weights are the course's own) and one ``Relu`` or
``Sigmoid`` per layer. ``m`` is a symbolic dimension, so any batch size runs.
For a course-layout ``X`` of shape (n_x, m)::

    P = session.run(None, {"X": np.ascontiguousarray(X.T)})[0].T
"""

import numpy as np

from .._internal.atomic import open_output
from .._internal.validation import chosen_dtype, network

OPSET = 17
"""ONNX opset of the exported graph (Gemm, Relu, Sigmoid are unchanged since 13)."""


def to_onnx(model, path=None):
    """The ONNX graph of ``model`` (a ``fastdnn.Model`` or a course ``parameters`` dict).

    Parameters
    ----------
    model : fastdnn.Model or dict
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file, atomically (temporary file + rename).

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker``.
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            'fastdnn.serving.onnx_export needs the onnx package: pip install "fastdnn[onnx]"'
        ) from None
    if hasattr(model, "layer_dims"):  # a fastdnn.Model (not imported: model.py imports this)
        parameters, dims, dtype = model.parameters(), model.layer_dims, model.dtype
        Ws = [parameters[f"W{l}"] for l in range(1, len(dims))]
        bs = [parameters[f"b{l}"] for l in range(1, len(dims))]
    else:  # a parameters dict, checked as Model.from_parameters checks it
        dims, Ws, bs = network(model, "to_onnx", finite=True)
        dtype = chosen_dtype(None, "to_onnx", Ws + bs)
        Ws = [np.ascontiguousarray(W, dtype) for W in Ws]
        bs = [np.ascontiguousarray(b, dtype) for b in bs]
    L = len(dims) - 1
    elem = TensorProto.FLOAT if np.dtype(dtype).itemsize == 4 else TensorProto.DOUBLE
    nodes, initializers = [], []
    previous = "X"
    for l in range(1, L + 1):
        W, b = Ws[l - 1], bs[l - 1].ravel()
        initializers += [numpy_helper.from_array(W, f"W{l}"), numpy_helper.from_array(b, f"b{l}")]
        nodes.append(helper.make_node("Gemm", [previous, f"W{l}", f"b{l}"], [f"Z{l}"], transB=1))
        previous = "probability" if l == L else f"A{l}"
        activation = "Sigmoid" if l == L else "Relu"
        nodes.append(helper.make_node(activation, [f"Z{l}"], [previous]))
    graph = helper.make_graph(
        nodes,
        "fastdnn",
        [helper.make_tensor_value_info("X", elem, ["m", dims[0]])],
        [helper.make_tensor_value_info("probability", elem, ["m", dims[-1]])],
        initializers,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fastdnn"
    )
    onnx.checker.check_model(proto)
    if path is not None:
        with open_output(path, "wb", ".onnx.tmp") as fh:
            fh.write(proto.SerializeToString())
    return proto
