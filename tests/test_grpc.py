"""``fastdnn serve``'s gRPC service (``serving.grpc_service``) with NVIDIA's own client.

``tritonclient.grpc`` unchanged against ``fastdnn serve --grpc-port`` in its own
process: health, metadata, inference with FP32, FP64 and UINT8 tensors (answers equal
to direct ``predict_proba`` calls), errors as ``InferenceServerException`` with the
protocol's status codes. Typed contents and malformed messages through a plain gRPC
channel. In-process (``create_app`` with a slow stand-in model): a client cancelling
mid-call, a graceful shutdown draining gRPC calls, one batcher for both protocols,
reloads, metrics.
"""

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from fastdnn.app import initialize_parameters_deep
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import save_model

grpc = pytest.importorskip("grpc", reason="the gRPC service needs fastdnn[serve] (grpcio)")
grpcclient = pytest.importorskip("tritonclient.grpc", reason="the test extra's tritonclient[grpc]")
pytest.importorskip("starlette", reason="the serve tests need fastdnn[serve]")

from test_serve import DIMS, N_X, direct, free_port, rows, same, server  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from fastdnn.serving.grpc_messages import SERVICE, messages  # noqa: E402

M = messages


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    path = tmp_path_factory.mktemp("grpc") / "cat.h5"
    save_model(path, initialize_parameters_deep(DIMS))
    return path


@pytest.fixture(scope="module")
def live(cat):
    """(HTTP url, gRPC address) of ``fastdnn serve cat.h5 --grpc-port N`` (2 MB messages)."""
    port = free_port()
    with server(cat, "--grpc-port", str(port), "--max-body-bytes", "2000000") as (proc, url):
        yield url, f"127.0.0.1:{port}"


def call(address, method, request, timeout=30):
    """One unary call of ``inference.GRPCInferenceService/<method>`` on a plain channel."""
    response_type = {"ModelInfer": "ModelInferResponse", "ModelMetadata": "ModelMetadataResponse"}[
        method
    ]
    with grpc.insecure_channel(address) as channel:
        stub = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=M[response_type].FromString,
        )
        return stub(request, timeout=timeout)


def raw_request(X, datatype="FP64", name="cat", data=None):
    request = M["ModelInferRequest"](model_name=name, id="r1")
    request.inputs.add(name="input", datatype=datatype, shape=list(X.shape))
    request.raw_input_contents.append(X.tobytes() if data is None else data)
    return request


def test_health_and_metadata_with_tritonclient(live):
    _, address = live
    client = grpcclient.InferenceServerClient(address)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cat")
    meta = client.get_server_metadata()
    assert meta.name == "fastdnn" and "binary_tensor_data" in meta.extensions
    model = client.get_model_metadata("cat")
    assert model.name == "cat" and model.platform == "fastdnn" and list(model.versions) == ["1"]
    assert (model.inputs[0].name, model.inputs[0].datatype, list(model.inputs[0].shape)) == (
        "input",
        "FP64",
        [-1, N_X],
    )
    assert (model.outputs[0].name, list(model.outputs[0].shape)) == ("probability", [-1, 1])
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("dog")
    assert "NOT_FOUND" in info.value.status() and "no model named 'dog'" in info.value.message()
    client.close()


@pytest.mark.parametrize("datatype", ["FP64", "FP32", "UINT8"])
def test_infer_with_tritonclient_equals_direct_calls(live, cat, datatype):
    _, address = live
    model = Model.load(cat)
    if datatype == "UINT8":
        X = np.random.default_rng(3).integers(0, 256, (5, N_X), dtype=np.uint8)
        expected = direct(model, X / 255)
    else:
        X = rows(5, 4).astype(np.float32 if datatype == "FP32" else np.float64)
        expected = direct(model, X)
    client = grpcclient.InferenceServerClient(address)
    tensor = grpcclient.InferInput("input", list(X.shape), datatype)
    tensor.set_data_from_numpy(X)
    result = client.infer("cat", [tensor], request_id="abc")
    P = result.as_numpy("probability")
    assert P.shape == (5, 1) and P.dtype == np.float64
    assert same(P, expected)
    response = result.get_response()
    assert response.id == "abc" and response.model_name == "cat" and response.model_version == "1"
    client.close()


def test_tritonclient_gets_errors_as_inference_server_exceptions(live):
    _, address = live
    client = grpcclient.InferenceServerClient(address)
    tensor = grpcclient.InferInput("input", [1, N_X], "INT8")
    tensor.set_data_from_numpy(np.zeros((1, N_X), np.int8))
    with pytest.raises(InferenceServerException) as info:
        client.infer("cat", [tensor])
    assert "INVALID_ARGUMENT" in info.value.status()
    assert "datatype must be FP32, FP64 or UINT8; got 'INT8'" in info.value.message()
    tensor = grpcclient.InferInput("input", [1, N_X], "FP64")
    tensor.set_data_from_numpy(rows(1, 2))
    with pytest.raises(InferenceServerException) as info:
        client.infer("dog", [tensor])
    assert "NOT_FOUND" in info.value.status()
    assert client.infer("cat", [tensor]).as_numpy("probability").shape == (1, 1)
    client.close()


def test_typed_contents_in_typed_contents_out(live, cat):
    _, address = live
    model = Model.load(cat)
    X = rows(2, 5)
    request = M["ModelInferRequest"](model_name="cat")
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[2, N_X])
    tensor.contents.fp64_contents.extend(X.ravel().tolist())
    reply = call(address, "ModelInfer", request)
    assert not reply.raw_output_contents
    assert list(reply.outputs[0].shape) == [2, 1] and reply.outputs[0].datatype == "FP64"
    assert same(np.array(reply.outputs[0].contents.fp64_contents), direct(model, X))
    pixels = np.random.default_rng(6).integers(0, 256, (1, N_X))
    request = M["ModelInferRequest"](model_name="cat")
    tensor = request.inputs.add(name="input", datatype="UINT8", shape=[1, N_X])
    tensor.contents.uint_contents.extend(pixels.ravel().tolist())
    reply = call(address, "ModelInfer", request)
    assert same(np.array(reply.outputs[0].contents.fp64_contents), direct(model, pixels / 255))


def test_hostile_messages_get_a_status_and_the_server_serves_on(live, cat):
    _, address = live
    X = rows(1, 7)
    nan = X.copy()
    nan[0, 3] = np.nan
    typed_pixels = M["ModelInferRequest"](model_name="cat")
    typed_pixels.inputs.add(name="input", datatype="UINT8", shape=[1, N_X])
    typed_pixels.inputs[0].contents.uint_contents.extend([300] * N_X)
    two = raw_request(X)
    two.inputs.add(name="other", datatype="FP64", shape=[1, N_X])
    cases = [
        (raw_request(X, data=X.tobytes()[:-8]), "INVALID_ARGUMENT", "needs 98304 bytes"),
        (raw_request(X, datatype="INT8"), "INVALID_ARGUMENT", "datatype must be FP32, FP64 or UINT8"),
        (raw_request(X.reshape(2, -1)), "INVALID_ARGUMENT", "takes 12288 values per example"),
        (raw_request(nan), "INVALID_ARGUMENT", "holds nan at index 3"),
        (typed_pixels, "INVALID_ARGUMENT", "whole numbers 0..255"),
        (two, "INVALID_ARGUMENT", "one input tensor; got 2"),
        (raw_request(X, name="dog"), "NOT_FOUND", "no model named 'dog'"),
        # 3 MB: past the 2 MB message limit, refused by gRPC before any of fastdnn's code
        (raw_request(rows(32, 8)), "RESOURCE_EXHAUSTED", "larger than max"),
    ]  # fmt: skip
    for request, status, reason in cases:
        with pytest.raises(grpc.RpcError) as info:
            call(address, "ModelInfer", request)
        assert info.value.code().name == status, (status, info.value.details())
        assert reason in info.value.details(), info.value.details()
    # An empty message, and one that is not a ModelInferRequest at all.
    with pytest.raises(grpc.RpcError) as info:
        call(address, "ModelInfer", M["ModelInferRequest"]())
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with grpc.insecure_channel(address) as channel:
        garbage = channel.unary_unary(f"/{SERVICE}/ModelInfer")
        with pytest.raises(grpc.RpcError) as info:
            garbage(b"\xff\xff\xff\xff", timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid inference.ModelInferRequest message" in info.value.details()
    reply = call(address, "ModelInfer", raw_request(X))
    assert same(np.frombuffer(reply.raw_output_contents[0], "<f8"), direct(Model.load(cat), X))


class _Slow:
    """A stand-in model: ``predict_proba`` takes ``seconds`` and records each batch's size."""

    def __init__(self, seconds, n_x=4):
        self.layer_dims, self.dtype, self.seconds, self.batches = [n_x, 1], np.float64, seconds, []
        self.started = threading.Event()

    def predict_proba(self, X, n_threads=None):
        self.started.set()
        self.batches.append(X.shape[1])
        time.sleep(self.seconds)
        return X.sum(axis=0, keepdims=True) / X.shape[0]


@pytest.fixture
def in_process():
    """``create_app`` on a slow stand-in model with gRPC on a free port, run by Starlette's
    TestClient (lifespan included): (model, HTTP client, gRPC address, app, stop)."""
    from starlette.testclient import TestClient

    from fastdnn.serving.routes import create_app

    model = _Slow(0.5)
    app = create_app(model, "slow", grpc_address="127.0.0.1:0", max_delay_ms=0)
    client = TestClient(app)
    client.__enter__()
    stopped = []

    def stop():
        if not stopped:
            stopped.append(True)
            client.__exit__(None, None, None)

    yield model, client, f"127.0.0.1:{app.state.grpc.port}", app, stop
    stop()


def _infer(address, X, timeout=30):
    return call(address, "ModelInfer", raw_request(X, name="slow"), timeout=timeout)


def test_a_client_cancelling_mid_call_leaks_nothing(in_process):
    model, client, address, app, _ = in_process
    X = np.ones((1, 4))
    with grpc.insecure_channel(address) as channel:
        stub = channel.unary_unary(
            f"/{SERVICE}/ModelInfer",
            request_serializer=M["ModelInferRequest"].SerializeToString,
            response_deserializer=M["ModelInferResponse"].FromString,
        )
        future = stub.future(raw_request(X, name="slow"))
        assert model.started.wait(10)
        future.cancel()
        assert future.cancelled()
    time.sleep(0.8)  # the batch ends; its answer for the cancelled call is dropped
    reply = _infer(address, X)
    assert np.frombuffer(reply.raw_output_contents[0], "<f8")[0] == 1.0
    text = client.get("/metrics").text
    assert 'fastdnn_requests_total{endpoint="grpc_infer",status="CANCELLED"} 1.0' in text
    assert 'fastdnn_requests_total{endpoint="grpc_infer",status="OK"} 1.0' in text
    assert "fastdnn_queue_examples 0.0" in text


def test_shutdown_drains_grpc_calls_in_flight(in_process):
    model, _, address, _, stop = in_process
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(_infer, address, np.full((1, 4), k + 1.0)) for k in range(3)]
        assert model.started.wait(10)
        time.sleep(0.1)
        stop()  # the lifespan's shutdown: gRPC stops taking calls, finishes these
        answers = [
            np.frombuffer(c.result(timeout=30).raw_output_contents[0], "<f8")[0] for c in calls
        ]
    assert sorted(answers) == [1.0, 2.0, 3.0]
    with pytest.raises(grpc.RpcError):  # and takes no new ones
        _infer(address, np.ones((1, 4)), timeout=5)


def test_http_and_grpc_share_one_batcher(in_process):
    """Requests of both protocols that queue while a batch runs go in the next batch together."""
    model, client, address, _, _ = in_process
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        first = pool.submit(_infer, address, np.ones((1, 4)))
        assert model.started.wait(10)
        body = {
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64", "data": [2.0] * 8}]
        }
        http = pool.submit(client.post, "/v2/models/slow/infer", json=body)
        time.sleep(0.1)
        grpc_call = pool.submit(_infer, address, np.full((3, 4), 3.0))
        assert http.result(30).json()["outputs"][0]["data"] == [2.0, 2.0]
        assert list(np.frombuffer(grpc_call.result(30).raw_output_contents[0], "<f8")) == [3.0] * 3
        first.result(30)
    assert model.batches == [1, 5]


def test_a_reload_is_served_on_grpc_too(cat, tmp_path):
    from starlette.testclient import TestClient

    from fastdnn.serving.routes import create_app

    path = tmp_path / "cat.h5"
    path.write_bytes(cat.read_bytes())
    app = create_app(Model.load(path), "cat", path=str(path), grpc_address="127.0.0.1:0")
    with TestClient(app) as client:
        address = f"127.0.0.1:{app.state.grpc.port}"
        assert call(address, "ModelInfer", raw_request(rows(1, 1))).model_version == "1"
        new = initialize_parameters_deep(DIMS)
        new["b4"][:] = 3.0
        save_model(path, new)
        assert client.post("/v2/repository/models/cat/load").status_code == 200
        reply = call(address, "ModelInfer", raw_request(rows(1, 1)))
        assert reply.model_version == "2"
        P = np.frombuffer(reply.raw_output_contents[0], "<f8")
        assert same(P, direct(Model.from_parameters(new), rows(1, 1)))


def test_a_taken_port_is_a_clear_error():
    from fastdnn.serving.grpc_service import GrpcServer
    from fastdnn.serving.service import InferenceService

    core = InferenceService(_Slow(0), "slow")
    first = GrpcServer(core, "127.0.0.1:0", 1 << 20)
    first.start()
    try:
        second = GrpcServer(core, f"127.0.0.1:{first.port}", 1 << 20)
        with pytest.raises(OSError, match="gRPC: cannot serve on 127.0.0.1"):
            second.start()
    finally:
        first.stop(0)


def test_the_command_refuses_a_negative_grpc_port(cat):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "fastdnn", "serve", str(cat), "--grpc-port", "-1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "--grpc-port must be at least 0" in result.stderr


def test_a_full_queue_is_resource_exhausted_on_grpc_too():
    """max_queue 1: one call runs, one waits, the third is refused with the busy reason."""
    from starlette.testclient import TestClient

    from fastdnn.serving.routes import create_app

    model = _Slow(0.5)
    app = create_app(model, "slow", grpc_address="127.0.0.1:0", max_delay_ms=0, max_queue=1)
    with TestClient(app):
        address = f"127.0.0.1:{app.state.grpc.port}"
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            running = pool.submit(_infer, address, np.ones((1, 4)))
            assert model.started.wait(10)
            waiting = pool.submit(_infer, address, np.ones((1, 4)))
            time.sleep(0.2)
            with pytest.raises(grpc.RpcError) as info:
                _infer(address, np.ones((1, 4)))
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "busy" in info.value.details() and "max_queue 1" in info.value.details()
            running.result(30)
            waiting.result(30)


class _Refusing(_Slow):
    """A stand-in whose predictions fail with ``error``: a subclass of one of the
    protocol's errors must get its parent's answer on both transports."""

    def __init__(self, error):
        super().__init__(0)
        self.error = error

    def predict_proba(self, X, n_threads=None):
        raise self.error


def test_one_status_table_serves_both_transports_and_subclasses():
    from starlette.testclient import TestClient

    from fastdnn.serving.batcher import QueueFull
    from fastdnn.serving.protocol import BadRequest, UnknownModel
    from fastdnn.serving.routes import create_app
    from fastdnn.serving.service import STATUSES, status_of

    class Unseen(BadRequest):  # a new subclass nobody listed
        pass

    status, message = status_of(Unseen("x must be y"))
    assert (status.http, status.grpc, message) == (400, "INVALID_ARGUMENT", "x must be y")
    assert status_of(UnknownModel("m"))[0].grpc == "NOT_FOUND"
    assert status_of(QueueFull("9 waiting"))[1] == "busy: 9 waiting; retry shortly"
    assert status_of(RuntimeError("ours")) is None  # the server's own error: 500 / UNKNOWN
    assert {kind.__name__ for kind, _ in STATUSES} >= {"BadRequest", "UnknownModel", "QueueFull"}

    app = create_app(_Refusing(Unseen("refused by the model")), "slow", grpc_address="127.0.0.1:0")
    with TestClient(app) as client:
        r = client.post(
            "/v2/models/slow/infer",
            json={
                "inputs": [
                    {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1.0] * 4}
                ]
            },
        )
        assert r.status_code == 400 and r.json() == {"error": "refused by the model"}
        with pytest.raises(grpc.RpcError) as info:
            _infer(f"127.0.0.1:{app.state.grpc.port}", np.ones((1, 4)))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == "refused by the model"
        text = client.get("/metrics").text
    assert 'fastdnn_requests_total{endpoint="infer",status="400"} 1.0' in text
    assert 'fastdnn_requests_total{endpoint="grpc_infer",status="INVALID_ARGUMENT"} 1.0' in text


def test_the_service_keeps_and_awaits_every_task_it_starts():
    import asyncio

    from fastdnn.serving.service import InferenceService

    finished = []

    async def slow_work():
        await asyncio.sleep(0.2)
        finished.append(True)

    async def scenario():
        service = InferenceService(_Slow(0), "slow")
        service.start()
        task = service.spawn(slow_work())
        assert task in service._tasks  # kept: the loop holds tasks only weakly
        await service.stop()  # awaits it before the batcher closes
        assert finished == [True] and not service._tasks
        assert service.batcher._closed

    asyncio.run(scenario())
