"""The fifth hostile round against ``fastdnn serve`` (issue #39): versions taken with their
model, versioned paths, client strings bounded in reasons, UINT8 tensors within the
documented memory, typed contents that do not stall HTTP, answers bounded as requests are,
cancelled calls dropped from the queue, start-up errors on one line, HTTP headers bounded,
a hostile reload answered 400."""

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

from fastdnn.app import initialize_parameters_deep
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import save_model

httpx = pytest.importorskip("httpx", reason="the serve tests need the test extra (httpx)")
grpc = pytest.importorskip("grpc", reason="the gRPC service needs fastdnn[serve] (grpcio)")
pytest.importorskip("starlette", reason="the serve tests need fastdnn[serve]")

from test_serve import N_X, _peak_rss_mb, free_port, server  # noqa: E402

from fastdnn.serving.grpc_messages import SERVICE, messages  # noqa: E402

M = messages
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A [4, 3, 1] float64 model file."""
    path = tmp_path_factory.mktemp("hostile") / "small.h5"
    save_model(path, initialize_parameters_deep([4, 3, 1]))
    return path


@pytest.fixture(scope="module")
def live(small):
    """(HTTP url, gRPC address) of ``fastdnn serve small.h5`` with 2 MB limits."""
    port = free_port()
    with server(small, "--grpc-port", str(port), "--max-body-bytes", "2000000") as (proc, url):
        yield url, f"127.0.0.1:{port}"


def call(address, method, request, timeout=30):
    response = {
        "ModelInfer": "ModelInferResponse",
        "ModelMetadata": "ModelMetadataResponse",
        "ModelReady": "ModelReadyResponse",
    }[method]
    with grpc.insecure_channel(address) as channel:
        stub = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=M[response].FromString,
        )
        return stub(request, timeout=timeout)


def raw_request(X, name="small", version="", tensor="input", datatype="FP64"):
    request = M["ModelInferRequest"](model_name=name, model_version=version)
    request.inputs.add(name=tensor, datatype=datatype, shape=list(X.shape))
    request.raw_input_contents.append(X.tobytes())
    return request


def infer_body(X, tensor="input"):
    return {"inputs": [{"name": tensor, "shape": list(X.shape), "datatype": "FP64",
                        "data": X.ravel().tolist()}]}  # fmt: skip


# ------------------------------------------------------------- 8. version with its model


class _Slow:
    """A stand-in model whose ``predict_proba`` takes half a second."""

    def __init__(self, n_x=4):
        self.layer_dims, self.dtype = [n_x, 1], np.float64
        self.started = threading.Event()

    def predict_proba(self, X, n_threads=None):
        self.started.set()
        time.sleep(0.5)
        return np.full((1, X.shape[1]), 0.25)


@pytest.fixture
def slow_app(small):
    """``create_app`` serving a slow stand-in as version 1 of ``small.h5`` (a reload loads
    the real file as version 2), with gRPC: (model, client, gRPC address)."""
    from starlette.testclient import TestClient

    from fastdnn.serving.routes import create_app

    model = _Slow()
    app = create_app(model, "small", path=str(small), grpc_address="127.0.0.1:0")
    with TestClient(app) as client:
        yield model, client, f"127.0.0.1:{app.state.grpc.port}"


def test_an_answer_names_the_version_that_computed_it(slow_app):
    model, client, address = slow_app
    X = np.ones((1, 4))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        http = pool.submit(client.post, "/v2/models/small/infer", json=infer_body(X))
        rpc = pool.submit(call, address, "ModelInfer", raw_request(X))
        assert model.started.wait(10)
        time.sleep(0.1)  # both are in the slow predict of version 1
        assert client.post("/v2/repository/models/small/load").status_code == 200
        answer, reply = http.result(30), rpc.result(30)
    assert answer.json()["outputs"][0]["data"] == [0.25]  # version 1 computed it ...
    assert answer.json()["model_version"] == "1"  # ... and says so
    assert np.frombuffer(reply.raw_output_contents[0], "<f8")[0] == 0.25
    assert reply.model_version == "1"
    after = client.post("/v2/models/small/infer", json=infer_body(X)).json()
    assert after["model_version"] == "2" and after["outputs"][0]["data"] != [0.25]


# ------------------------------------------------------------- 12. versions


def test_the_versions_the_metadata_lists_are_served_on_both_protocols(live):
    url, address = live
    X = np.ones((2, 4))
    with httpx.Client(base_url=url) as c:
        assert c.get("/v2/models/small").json()["versions"] == ["1"]
        assert c.get("/v2/models/small/versions/1").json()["versions"] == ["1"]
        assert c.get("/v2/models/small/versions/1/ready").status_code == 200
        r = c.post("/v2/models/small/versions/1/infer", json=infer_body(X))
        assert r.status_code == 200 and r.json()["model_version"] == "1"
        for path in ("/versions/7", "/versions/7/ready", "/versions/7/infer"):
            if path.endswith("infer"):
                r = c.post("/v2/models/small" + path, json=infer_body(X))
            else:
                r = c.get("/v2/models/small" + path)
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"] == "model 'small' has no version '7' (it serves version 1)"
    assert call(address, "ModelInfer", raw_request(X, version="1")).model_version == "1"
    for method, request in [
        ("ModelInfer", raw_request(X, version="7")),
        ("ModelMetadata", M["ModelMetadataRequest"](name="small", version="7")),
        ("ModelReady", M["ModelReadyRequest"](name="small", version="7")),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            call(address, method, request)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND, method
        assert "has no version '7'" in info.value.details()


def test_tritonclient_asks_for_a_version(live):
    grpcclient = pytest.importorskip("tritonclient.grpc", reason="the test extra's tritonclient")
    from tritonclient.utils import InferenceServerException

    _, address = live
    client = grpcclient.InferenceServerClient(address)
    tensor = grpcclient.InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(np.ones((1, 4)))
    assert client.infer("small", [tensor], model_version="1").as_numpy("probability").shape == (
        1,
        1,
    )
    with pytest.raises(InferenceServerException, match="no version '2'"):
        client.infer("small", [tensor], model_version="2")
    client.close()


# ------------------------------------------------------------- 10. client strings bounded


def test_client_strings_are_quoted_and_bounded_in_every_reason(live):
    url, address = live
    long = "n" * 20000
    X = np.ones((1, 4))
    cases = [
        (raw_request(X, name=long), grpc.StatusCode.NOT_FOUND),
        (raw_request(X, tensor=long, datatype="INT8"), grpc.StatusCode.INVALID_ARGUMENT),
        (raw_request(X, version=long), grpc.StatusCode.NOT_FOUND),
        (raw_request(X, datatype=long), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for request, status in cases:
        with pytest.raises(grpc.RpcError) as info:
            call(address, "ModelInfer", request)
        assert info.value.code() == status, info.value.details()  # not "Stream removed"
        details = info.value.details()
        assert len(details) < 1100 and "... (20,000 characters)" in details, details[:300]
    with httpx.Client(base_url=url) as c:
        r = c.post(f"/v2/models/{'m' * 6000}/infer", json=infer_body(X))
        assert r.status_code == 404 and len(r.json()["error"]) < 200
        body = infer_body(X, tensor=long)
        body["inputs"][0]["shape"] = [1, 5]
        r = c.post("/v2/models/small/infer", json=body)
        assert r.status_code == 400 and "... (20,000 characters)" in r.json()["error"]
        assert len(r.json()["error"]) < 300


# ------------------------------------------------------------- 14. answers bounded


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A model with 1,000 outputs per example, served with 1 MB limits."""
    path = tmp_path_factory.mktemp("wide") / "wide.h5"
    save_model(path, initialize_parameters_deep([4, 1000]))
    port = free_port()
    with server(path, "--grpc-port", str(port), "--max-body-bytes", "1000000") as (proc, url):
        yield proc, url, f"127.0.0.1:{port}"


def test_an_answer_is_bounded_as_a_request_is(wide):
    proc, url, address = wide
    X = np.ones((100, 4))  # 6 KB of request: 100,000 probabilities, 2.4 MB of JSON
    with httpx.Client(base_url=url) as c:
        before = _peak_rss_mb(proc.pid)
        r = c.post("/v2/models/wide/infer", json=infer_body(X))
        assert r.status_code == 400, r.text
        assert "the answer would hold 100 x 1000 probabilities" in r.json()["error"]
        assert "--max-body-bytes" in r.json()["error"]
        r = c.post("/v2/models/wide/infer", json=infer_body(X[:10]))  # 240 KB: answered
        assert r.status_code == 200 and len(r.json()["outputs"][0]["data"]) == 10000
    for request in (raw_request(X, name="wide"), _typed(X, "wide")):
        with pytest.raises(grpc.RpcError) as info:  # 800 KB raw + framing, or 10 examples more
            call(address, "ModelInfer", _more(request, 130))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
        assert "the answer would hold 130 x 1000" in info.value.details()
    assert _peak_rss_mb(proc.pid) - before < 100
    reply = call(address, "ModelInfer", _typed(X[:10], "wide"))
    assert len(reply.outputs[0].contents.fp64_contents) == 10000


def _typed(X, name):
    request = M["ModelInferRequest"](model_name=name)
    tensor = request.inputs.add(name="input", datatype="FP64", shape=list(X.shape))
    tensor.contents.fp64_contents.extend(X.ravel().tolist())
    return request


def _more(request, m):
    """``request`` with its tensor grown to ``m`` examples of ones."""
    X = np.ones((m, 4))
    tensor = request.inputs[0]
    del tensor.shape[:]
    tensor.shape.extend([m, 4])
    if request.raw_input_contents:
        request.raw_input_contents[0] = X.tobytes()
    else:
        del tensor.contents.fp64_contents[:]
        tensor.contents.fp64_contents.extend(X.ravel().tolist())
    return request


# ------------------------------------------------------------- 14. cancelled calls


def test_a_cancelled_request_leaves_the_queue_at_once():
    from fastdnn.serving.batcher import Batcher

    class Gate:
        layer_dims, dtype = [4, 1], np.float64

        def __init__(self):
            self.open, self.seen = threading.Event(), []

        def predict_proba(self, X, n_threads=None):
            self.open.wait(10)
            self.seen.append(X.shape[1])
            return np.zeros((1, X.shape[1]))

    async def scenario():
        model, batcher = Gate(), Batcher(max_batch=1000, max_delay_ms=0)
        try:
            first = asyncio.ensure_future(batcher.predict(model, np.ones((1, 4))))
            await asyncio.sleep(0.2)  # the worker holds the first, in predict_proba
            queued = [
                asyncio.ensure_future(batcher.predict(model, np.ones((500, 4)))) for _ in range(3)
            ]
            await asyncio.sleep(0.05)
            assert batcher.waiting == 1500
            for task in queued[:2]:
                task.cancel()
            await asyncio.gather(*queued[:2], return_exceptions=True)
            assert batcher.waiting == 500  # their rows left the queue with them
            model.open.set()
            await first
            assert len(await queued[2]) == 500
            return model.seen
        finally:
            batcher.close()

    assert asyncio.run(scenario()) == [1, 500]  # the cancelled rows were never computed


# ------------------------------------------------------------- 11. UINT8 within the bound


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc for memory")
def test_uint8_pixels_cost_their_rows_in_the_model_dtype(tmp_path):
    """16 MiB of raw UINT8 pixels for a float32 model: the body and the rows in float32
    (4 bytes per pixel), never a float64 copy (8 more) in between."""
    path = tmp_path / "cat32.h5"
    save_model(path, initialize_parameters_deep([N_X, 3, 1]), dtype="float32")
    model = Model.load(path)
    m = 1365
    pixels = np.random.default_rng(0).integers(0, 256, (m, N_X), dtype=np.uint8)
    with server(path, "--max-body-bytes", str(64 << 20)) as (proc, url):
        with httpx.Client(base_url=url, timeout=120) as c:
            one = pixels[:1]
            r = c.post(
                "/v2/models/cat32/infer", content=_uint8_body(one), headers=_uint8_headers(one)
            )
            assert r.status_code == 200
            before = _peak_rss_mb(proc.pid)
            r = c.post(
                "/v2/models/cat32/infer",
                content=_uint8_body(pixels),
                headers=_uint8_headers(pixels),
            )
            assert r.status_code == 200, r.text
            grown = _peak_rss_mb(proc.pid) - before
    P = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float32)
    expected = model.predict_proba((pixels / 255).astype(np.float32).T)[0]
    np.testing.assert_allclose(P, expected, rtol=1e-5)
    body, rows32 = pixels.nbytes / 2**20, 4 * pixels.nbytes / 2**20
    assert grown < body + rows32 + 40, (grown, body, rows32)  # the old path: + 8 per pixel


def _uint8_body(pixels):
    return _uint8_head(pixels) + pixels.tobytes()


def _uint8_head(pixels):
    m, n = pixels.shape
    return (
        '{"inputs":[{"name":"input","shape":[%d,%d],"datatype":"UINT8",'  # noqa: UP031
        '"parameters":{"binary_data_size":%d}}]}' % (m, n, pixels.size)
    ).encode()


def _uint8_headers(pixels):
    return {"Inference-Header-Content-Length": str(len(_uint8_head(pixels)))}


def test_the_pixel_table_gives_the_course_values():
    from fastdnn.serving.protocol import scaled_pixels

    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for dtype in (np.float32, np.float64):
        got = scaled_pixels(pixels, np.dtype(dtype))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, (pixels / 255).astype(dtype))


def test_typed_pixels_do_not_stall_http(tmp_path):
    """Typed UINT8 contents (8 million values) are converted a slice at a time beside the
    event loops: HTTP's health probes answer meanwhile."""
    path = tmp_path / "wide_in.h5"
    n_x = 8 << 20
    save_model(path, {"W1": np.zeros((1, n_x)), "b1": np.zeros((1, 1))})
    request = M["ModelInferRequest"](model_name="wide_in")
    tensor = request.inputs.add(name="input", datatype="UINT8", shape=[1, n_x])
    tensor.contents.uint_contents.extend(np.full(n_x, 7, dtype=np.uint32).tolist())
    data = request.SerializeToString()
    port = free_port()
    with server(path, "--grpc-port", str(port), "--max-body-bytes", str(64 << 20)) as (_, url):
        address = f"127.0.0.1:{port}"
        with grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20),
        ]) as channel:  # fmt: skip
            stub = channel.unary_unary(f"/{SERVICE}/ModelInfer")
            worst, done = 0.0, threading.Event()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                future = pool.submit(stub, data, timeout=120)
                future.add_done_callback(lambda _: done.set())
                with httpx.Client(base_url=url, timeout=30) as c:
                    while not done.is_set():
                        t = time.perf_counter()
                        assert c.get("/v2/health/live").status_code == 200
                        worst = max(worst, time.perf_counter() - t)
                        time.sleep(0.01)
                reply = M["ModelInferResponse"].FromString(future.result())
    assert reply.outputs[0].contents.fp64_contents[0] == 0.5
    assert worst < 0.5, worst


# ------------------------------------------------------------- 13. start-up errors


def _serve_fails(path, *options):
    result = subprocess.run(
        [sys.executable, "-m", "fastdnn", "serve", str(path), *options],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_grpc_start_up_errors_are_one_line(small):
    err = _serve_fails(small, "--grpc-port", "0", "--max-body-bytes", "3000000000")
    assert "--max-body-bytes must be at most 2147483647" in err and "with --grpc-port" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _serve_fails(small, "--port", str(free_port()), "--grpc-port", str(port))
    assert f"--grpc-port: cannot serve on 127.0.0.1:{port}" in err


def _ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6(), reason="no IPv6 loopback here")
def test_ipv6_hosts_serve_grpc(small):
    port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastdnn", "serve", str(small), "--host", "::1",
         "--port", str(port), "--grpc-port", str(grpc_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert f"grpc://[::1]:{grpc_port}" in proc.stdout.readline()
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = call(f"[::1]:{grpc_port}", "ModelInfer", raw_request(np.ones((1, 4))))
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert reply.model_version == "1"
        assert httpx.get(f"http://[::1]:{port}/v2/health/ready").status_code == 200
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------- 4. a hostile reload


def test_a_reload_of_a_hostile_file_is_400_and_still_serving(tmp_path):
    path = tmp_path / "m.h5"
    save_model(path, initialize_parameters_deep([4, 3, 1]))
    with server(path) as (_, url), httpx.Client(base_url=url) as c:
        with h5py.File(path, "a") as f:
            f.attrs["training"] = "[" * 100000 + "]" * 100000
        r = c.post("/v2/repository/models/m/load")
        assert r.status_code == 400, r.text
        assert "still serving the previous model" in r.json()["error"]
        assert "nested too deeply" in r.json()["error"]
        assert c.post("/v2/models/m/infer", json=infer_body(np.ones((1, 4)))).status_code == 200


# ------------------------------------------------------------- 9. request heads bounded


def _exchange(port, data, timeout=30):
    """Send ``data`` on a fresh connection, read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: the answer is still there to read
        s.settimeout(2)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _post(path, body, extra=b""):
    return (
        b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" % path.encode()
        + extra
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


def test_request_heads_are_bounded_in_bytes_and_fields(small):
    import json

    body = json.dumps(infer_body(np.ones((1, 4)))).encode()
    with server(small, "--max-header-bytes", "8192", "--max-headers", "20") as (_, url):
        port = int(url.rsplit(":", 1)[1])
        # at the limits: answered
        fits = b"x-pad: " + b"p" * 7000 + b"\r\n"
        assert _exchange(port, _post("/v2/models/small/infer", body, fits)).startswith(
            b"HTTP/1.1 200"
        )
        many = b"".join(b"x-h%d: 1\r\n" % k for k in range(16))
        assert _exchange(port, _post("/v2/models/small/infer", body, many)).startswith(
            b"HTTP/1.1 200"
        )
        # over them: 431 with a JSON reason, the connection closed
        answer = _exchange(port, _post("/v2/models/small/infer", body, b"x-big: " + b"b" * 9000))
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert b"exceeds 8192 bytes (--max-header-bytes)" in answer
        many = b"".join(b"x-h%d: 1\r\n" % k for k in range(30))
        answer = _exchange(port, _post("/v2/models/small/infer", body, many))
        assert answer.startswith(b"HTTP/1.1 431") and b"more than 20 header fields" in answer
        answer = _exchange(port, b"GET /" + b"u" * 10000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 431")
        # pipelined requests with bodies larger than the head limit: all answered
        large = json.dumps(infer_body(np.full((600, 4), 0.5))).encode()
        assert len(large) > 8192
        answer = _exchange(port, _post("/v2/models/small/infer", large) * 3)
        assert answer.count(b"HTTP/1.1 200") == 3, answer[:300]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc for memory")
def test_a_huge_header_is_refused_at_once_and_probes_answer_meanwhile(small):
    with server(small) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        before = _peak_rss_mb(proc.pid)
        head = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: "
        t = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(head)
            sent, answer = 0, b""
            try:
                while sent < 32 << 20:  # 32 MiB of one header, in 1 MiB writes
                    s.sendall(b"h" * (1 << 20))
                    sent += 1 << 20
                    if sent == 4 << 20:  # a probe on another connection meanwhile
                        probe = time.perf_counter()
                        assert httpx.get(f"{url}/v2/health/live").status_code == 200
                        assert time.perf_counter() - probe < 1
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                answer = s.recv(4096)
            except ConnectionResetError:
                answer = b"reset"
        assert answer.startswith(b"HTTP/1.1 431") or answer == b"reset", answer[:200]
        assert time.perf_counter() - t < 10
        assert _peak_rss_mb(proc.pid) - before < 30
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200


# ------------------------------------------------------------- 14. what cancelled calls leave


def _rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc for memory")
def test_cancelled_calls_give_their_memory_back():
    """40 calls of 12.6 MB each, all received and queued, then cancelled: the process's
    memory comes back (glibc kept it for good before: 200 such calls left 3.6 GB behind)."""
    from starlette.testclient import TestClient

    from fastdnn.serving import memory
    from fastdnn.serving.routes import create_app

    if not memory.enable():
        pytest.skip("glibc's malloc_trim is not available here")
    model = _Slow(n_x=N_X)  # half a second a batch: the calls wait in the queue
    app = create_app(model, "m", grpc_address="127.0.0.1:0", max_batch=128)
    X = np.random.default_rng(0).random((128, N_X))
    data = raw_request(X, name="m").SerializeToString()
    options = [("grpc.max_send_message_length", 64 << 20)]
    with TestClient(app):
        app.state.grpc  # noqa: B018
        address = f"127.0.0.1:{app.state.grpc.port}"
        with grpc.insecure_channel(address, options=options) as channel:
            stub = channel.unary_unary(f"/{SERVICE}/ModelInfer")
            stub(data, timeout=60)
            time.sleep(1.5)
            start = _rss_mb()
            calls = [stub.future(data, timeout=120) for _ in range(40)]
            time.sleep(3)
            in_flight = _rss_mb()
            for call_ in calls:
                call_.cancel()
            deadline = time.monotonic() + 15
            while _rss_mb() - start > 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            after = _rss_mb()
    assert in_flight - start > 400, (start, in_flight)  # the calls were really held
    assert after - start < 200, (start, in_flight, after)


def test_the_batcher_outlives_a_closed_event_loop():
    """A request whose event loop closed while its batch ran (gRPC's loop at shutdown, its
    client gone): the batcher drops its answer and goes on serving the others."""
    from fastdnn.serving.batcher import Batcher

    model = _Slow(n_x=4)
    batcher = Batcher(max_batch=1, max_delay_ms=0)
    try:
        closing = asyncio.new_event_loop()
        pending = closing.create_task(batcher.predict(model, np.ones((1, 4))))
        closing.run_until_complete(asyncio.sleep(0.1))  # queued, and taken by the worker
        assert model.started.wait(10)
        pending.cancel()
        closing.run_until_complete(asyncio.gather(pending, return_exceptions=True))
        closing.close()  # its batch is still running
        time.sleep(0.7)  # the batch ends; its answer has no loop to go to
        answer = asyncio.run(asyncio.wait_for(batcher.predict(model, np.ones((2, 4))), 10))
        assert answer.shape == (2, 1)
    finally:
        batcher.close()
