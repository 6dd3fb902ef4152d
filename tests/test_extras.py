"""Optional extras: ONNX export (checked in ONNX Runtime) and Dask batch inference."""

import numpy as np
import pytest
from test_model import network

from conftest import TOL
from fastdnn.serving.model import Model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_export_runs_in_onnxruntime(rng, tmp_path, dtype):
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    model = Model.from_parameters(network(rng, [40, 20, 7, 5, 2]), dtype=dtype)
    path = tmp_path / "model.onnx"
    proto = model.to_onnx(path)
    assert path.read_bytes() == proto.SerializeToString()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for m in (1, 17):
        X = rng.random((40, m)).astype(dtype)
        (P_onnx,) = session.run(None, {"X": np.ascontiguousarray(X.T)})
        assert P_onnx.dtype == dtype
        np.testing.assert_allclose(P_onnx.T, model.predict_proba(X), **TOL[np.dtype(dtype)])


def test_onnx_export_from_parameters_dict(rng):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    from fastdnn.serving.onnx_export import to_onnx

    proto = to_onnx(network(rng, [5, 1]))
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Sigmoid"]


def test_dask_map_blocks_on_local_cluster(rng, tmp_path):
    da = pytest.importorskip("dask.array", reason="the dask extra is not installed")
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    import fastdnn.serving.dask_arrays

    model = Model.from_parameters(network(rng, [48, 20, 7, 1]), dtype="float32")
    int8 = model.quantize()
    images = rng.integers(0, 256, (101, 4, 4, 3), dtype=np.uint8)
    darr = da.from_array(images, chunks=(16, 4, 4, 3))
    X = darr.reshape(101, -1).T / 255
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        P = fastdnn.serving.dask_arrays.predict_proba(model, X.astype(np.float32)).compute()
        labels = fastdnn.serving.dask_arrays.predict(model, X).compute()
        # an int8 model on the uint8 pixels themselves
        pixels = darr.reshape(101, -1).T
        P8 = fastdnn.serving.dask_arrays.predict_proba(int8, pixels, scale=1 / 255).compute()
    expected = model.predict_proba(images.reshape(101, -1).T / 255)
    np.testing.assert_array_equal(P8, int8.predict_proba(images.reshape(101, -1).T, scale=1 / 255))
    assert P.shape == (1, 101) and P.dtype == np.float32
    np.testing.assert_allclose(P, expected, **TOL[np.dtype("f4")])
    np.testing.assert_array_equal(labels, (expected > 0.5).astype(np.uint8))
    with pytest.raises(ValueError, match="shape"):
        fastdnn.serving.dask_arrays.predict_proba(model, X[:5])
    with pytest.raises(TypeError, match="dask array"):
        fastdnn.serving.dask_arrays.predict_proba(model, np.ones((48, 2)))
