"""``fastdnn serve`` against a real server: uvicorn in its own process on a free
port, queried with httpx. Protocol conformance, answers equal to direct
``predict_proba`` calls (bitwise for a request served alone, to a few ulp when
batched with others), 64 concurrent clients, bad input, a full queue, SIGTERM
draining, reload under load."""

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from fastdnn.app import initialize_parameters_deep
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import save_model

httpx = pytest.importorskip("httpx", reason="the serve tests need the test extra (httpx)")
pytest.importorskip("starlette", reason="the serve tests need fastdnn[serve]")
pytest.importorskip("uvicorn", reason="the serve tests need fastdnn[serve]")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_X = 12288  # 64 x 64 x 3 images, as the course's
DIMS = [N_X, 20, 7, 5, 1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(model_path, *options):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastdnn", "serve", str(model_path), "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    path = folder / "cat.h5"
    save_model(path, initialize_parameters_deep(DIMS))
    return path


@pytest.fixture(scope="module")
def live(cat):
    with server(cat, "--max-body-bytes", "2000000") as (proc, url):
        yield url
    assert proc.returncode is not None


def rows(m, seed):
    return np.random.default_rng(seed).random((m, N_X))


def direct(model, X_rows):
    """What a user gets calling the model on these rows (examples as columns, Fortran order)."""
    return model.predict_proba(np.asfortranarray(np.asarray(X_rows, dtype=model.dtype).T)).T


def same(got, expected):
    """A batched answer against the direct call. The tiled kernel's rounding depends
    on where an example sits in its 4-example tile (a few ulp), so not bitwise; rows
    of another request would differ by ~1e-2 here."""
    got = np.asarray(got).reshape(expected.shape)
    return np.allclose(got, expected, rtol=8 * np.finfo(expected.dtype).eps, atol=0)


def infer_json(X, datatype="FP64", name="cat"):
    return (
        f"/v2/models/{name}/infer",
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(X.shape),
                    "datatype": datatype,
                    "data": X.ravel().tolist(),
                }
            ]
        },
    )


def test_protocol_metadata_and_health(live):
    with httpx.Client(base_url=live) as c:
        assert c.get("/v2/health/live").status_code == 200
        assert c.get("/v2/health/ready").json() == {"ready": True}
        assert c.get("/v2").json()["extensions"] == ["binary_tensor_data"]
        meta = c.get("/v2/models/cat").json()
        assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, N_X]}]
        assert meta["outputs"] == [{"name": "probability", "datatype": "FP64", "shape": [-1, 1]}]
        assert c.get("/v2/models/cat/ready").json() == {"name": "cat", "ready": True}
        for path in ("/v2/models/dog", "/v2/models/dog/ready"):
            assert c.get(path).status_code == 404
        r = c.post("/v2/models/dog/infer", json={})
        assert r.status_code == 404 and "no model named 'dog'" in r.json()["error"]


def test_answers_equal_direct_calls_in_every_encoding(live, cat):
    model = Model.load(cat)
    X = rows(3, 1)
    expected = direct(model, X)
    with httpx.Client(base_url=live) as c:
        path, body = infer_json(X)
        body["id"] = "req-7"
        reply = c.post(path, json=body).json()
        assert reply["id"] == "req-7" and reply["model_name"] == "cat"
        out = reply["outputs"][0]
        assert out["name"] == "probability" and out["shape"] == [3, 1] and out["datatype"] == "FP64"
        np.testing.assert_array_equal(np.array(out["data"]).reshape(3, 1), expected)

        # FP32 data for a float64 model: converted, as a direct call converts it.
        path, body = infer_json(X.astype(np.float32), "FP32")
        out = c.post(path, json=body).json()["outputs"][0]
        np.testing.assert_array_equal(
            np.array(out["data"]).reshape(3, 1), direct(model, X.astype(np.float32))
        )

        # The binary tensor extension, both ways.
        data = X.astype("<f8").tobytes()
        head = json.dumps(
            {
                "inputs": [
                    {
                        "name": "input",
                        "shape": [3, N_X],
                        "datatype": "FP64",
                        "parameters": {"binary_data_size": len(data)},
                    }
                ],
                "outputs": [{"name": "probability", "parameters": {"binary_data": True}}],
            }
        ).encode()
        r = c.post(
            path, content=head + data, headers={"Inference-Header-Content-Length": str(len(head))}
        )
        n = int(r.headers["Inference-Header-Content-Length"])
        meta = json.loads(r.content[:n])["outputs"][0]
        assert meta["parameters"] == {"binary_data_size": 24} and meta["shape"] == [3, 1]
        np.testing.assert_array_equal(np.frombuffer(r.content[n:], "<f8").reshape(3, 1), expected)

        # application/x-npy in, x-npy out.
        buffer = io.BytesIO()
        np.save(buffer, X)
        r = c.post(path, content=buffer.getvalue(), headers={"content-type": "application/x-npy"})
        assert r.headers["content-type"] == "application/x-npy"
        np.testing.assert_array_equal(np.load(io.BytesIO(r.content)), expected)


def test_image_uploads_as_the_course_reads_them(live, cat):
    from PIL import Image

    model = Model.load(cat)
    files, expected = [], []
    for k, size in enumerate([(64, 64), (120, 90)]):
        pixels = (np.random.default_rng(k).random((*size, 3)) * 255).astype(np.uint8)
        encoded = io.BytesIO()
        Image.fromarray(pixels).save(encoded, "PNG")
        files.append(("images", (f"img{k}.png", encoded.getvalue(), "image/png")))
        # The course's "your own image" cell, verbatim but for the file.
        image = np.array(Image.open(io.BytesIO(encoded.getvalue())).resize((64, 64)))
        expected.append(direct(model, image.reshape((1, 64 * 64 * 3)) / 255.0)[0, 0])
    with httpx.Client(base_url=live) as c:
        got = c.post("/predict/image", files=files).json()["predictions"]
        assert [p["filename"] for p in got] == ["img0.png", "img1.png"]
        assert [p["probability"] for p in got] == expected
        assert [p["label"] for p in got] == [int(p > 0.5) for p in expected]
        r = c.post("/predict/image", files=[("images", ("x.png", b"not an image", "image/png"))])
        assert r.status_code == 400 and "'x.png' is not a readable PNG or JPEG" in r.json()["error"]


def _binary_uint8(pixels):
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(pixels.shape),
                    "datatype": "UINT8",
                    "parameters": {"binary_data_size": pixels.size},
                }
            ]
        }
    ).encode()
    return head + pixels.tobytes(), {"Inference-Header-Content-Length": str(len(head))}


def test_uint8_pixels_for_float_and_int8_models(live, cat, tmp_path):
    """UINT8 tensors are pixels (the model sees them / 255), a quarter of FP32's bytes.
    A float model gets the course's ``pixels / 255``; an int8 model reads them as they
    are; images uploaded to an int8 model too."""
    from PIL import Image

    model = Model.load(cat)
    pixels = np.random.default_rng(9).integers(0, 256, size=(3, N_X), dtype=np.uint8)
    with httpx.Client(base_url=live) as c:
        path, body = infer_json(pixels, "UINT8")
        out = c.post(path, json=body).json()["outputs"][0]
        np.testing.assert_array_equal(
            np.array(out["data"]).reshape(3, 1), direct(model, pixels / 255)
        )
        content, headers = _binary_uint8(pixels)
        out = c.post(path, content=content, headers=headers).json()["outputs"][0]
        np.testing.assert_array_equal(
            np.array(out["data"]).reshape(3, 1), direct(model, pixels / 255)
        )
        for bad, reason in ((256, "found 256"), (0.5, "found 0.5"), (-1, "found -1")):
            path, body = infer_json(pixels[:1], "UINT8")
            body["inputs"][0]["data"][7] = bad
            r = c.post(path, json=body)
            assert r.status_code == 400 and "UINT8 data must be whole numbers 0..255" in r.text
            assert reason in r.text
    q = model.quantize()
    q.save(tmp_path / "q.h5")
    want = q.predict_proba(np.asfortranarray(pixels.T), scale=1 / 255).T
    encoded = io.BytesIO()
    Image.fromarray(pixels[0].reshape(64, 64, 3)).save(encoded, "PNG")
    with server(tmp_path / "q.h5") as (_, url), httpx.Client(base_url=url) as c:
        meta = c.get("/v2/models/q").json()
        assert meta["parameters"]["precision"] == "int8"
        assert meta["inputs"][0]["datatype"] == "FP32"
        path, body = infer_json(pixels, "UINT8", name="q")
        out = c.post(path, json=body).json()["outputs"][0]
        assert out["datatype"] == "FP32"
        np.testing.assert_allclose(np.array(out["data"]).reshape(3, 1), want, rtol=1e-6)
        content, headers = _binary_uint8(pixels)
        out = c.post(path, content=content, headers=headers).json()["outputs"][0]
        np.testing.assert_allclose(np.array(out["data"]).reshape(3, 1), want, rtol=1e-6)
        files = [("images", ("p.png", encoded.getvalue(), "image/png"))]
        got = c.post("/predict/image", files=files).json()["predictions"][0]["probability"]
        assert abs(got - float(want[0, 0])) < 1e-6
        # float32 rows to the int8 model: quantized per example, close to the pixels' answer
        path, body = infer_json((pixels / 255).astype(np.float32), "FP32", name="q")
        out = c.post(path, json=body).json()["outputs"][0]
        np.testing.assert_allclose(np.array(out["data"]).reshape(3, 1), want, atol=1e-5)


async def _clients(url, n_clients, requests_each, make, check):
    """``n_clients`` concurrent clients, each sending ``requests_each`` requests."""
    failures = []
    limits = httpx.Limits(max_connections=n_clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as c:

        async def client(k):
            for i in range(requests_each):
                path, kwargs, expected = make(k, i)
                try:
                    r = await c.post(path, **kwargs)
                    check(r, expected)
                except Exception as exc:  # noqa: BLE001 - collected, reported below
                    failures.append((k, i, repr(exc)[:300]))

        await asyncio.gather(*(client(k) for k in range(n_clients)))
    return failures


def test_64_concurrent_clients_each_get_their_own_rows(live, cat):
    model = Model.load(cat)
    inputs = {(k, i): rows(1 + (k + i) % 3, 1000 + 10 * k + i) for k in range(64) for i in range(4)}

    def make(k, i):
        X = inputs[k, i]
        path, body = infer_json(X)
        return path, {"json": body}, direct(model, X)

    def check(r, expected):
        assert r.status_code == 200, r.text
        got = np.array(r.json()["outputs"][0]["data"]).reshape(expected.shape)
        assert same(got, expected), "answer differs from the direct call"

    failures = asyncio.run(_clients(live, 64, 4, make, check))
    assert not failures, failures[:3]
    # Whether these requests shared a call depends on timing (JSON decoding on the event loop
    # is slower than the kernel); that the batcher coalesces is tested deterministically below.


def test_the_batcher_coalesces_what_queues_while_it_works():
    """Requests queued while the worker is inside a call go, together, into the next call,
    and each gets its own rows' answers back."""
    import threading

    from fastdnn.serving.server import Batcher

    class Gated:
        layer_dims, dtype = (3, 1), np.dtype(np.float64)

        def __init__(self):
            self.calls, self.gate = [], threading.Event()

        def predict_proba(self, X, n_threads=None):
            self.calls.append(X.shape[1])
            assert self.gate.wait(30)
            return X.sum(axis=0, keepdims=True)  # each example's own answer

    model, batcher = Gated(), Batcher(max_batch=64, max_delay_ms=0)
    sizes = [k % 3 + 1 for k in range(20)]

    async def requests():
        first = asyncio.ensure_future(batcher.predict(model, np.ones((1, 3))))
        while not model.calls:  # the worker is inside the first call
            await asyncio.sleep(0.001)
        rest = [
            asyncio.ensure_future(batcher.predict(model, np.full((m, 3), float(k))))
            for k, m in enumerate(sizes)
        ]
        await asyncio.sleep(0.05)  # all queued
        model.gate.set()
        return await first, await asyncio.gather(*rest)

    try:
        first, rest = asyncio.run(requests())
    finally:
        batcher.close()
    assert model.calls == [1, sum(sizes)]
    np.testing.assert_array_equal(first, [[3.0]])
    for k, (m, P) in enumerate(zip(sizes, rest, strict=True)):
        np.testing.assert_array_equal(P, np.full((m, 1), 3.0 * k))


def test_bad_input_gets_400_and_the_server_lives_on(live):
    X = rows(2, 5)
    good = infer_json(X)[1]["inputs"][0]

    def tensor(**change):
        return {"inputs": [{**good, **change}]}

    cases = [
        (b"{not json", {}, "malformed JSON"),
        (b"[1, 2]", {}, '"inputs"'),
        (json.dumps({"inputs": []}).encode(), {}, "one input tensor"),
        (json.dumps(tensor(shape=[2])).encode(), {}, "shape must be [m, 12288]"),
        (json.dumps(tensor(shape=[2, 100])).encode(), {}, "takes 12288 values per example"),
        (json.dumps(tensor(shape=[0, N_X], data=[])).encode(), {}, "no examples"),
        (json.dumps(tensor(shape=[3, N_X])).encode(), {}, "needs 36864 values; data holds 24576"),
        (json.dumps(tensor(datatype="INT8")).encode(), {}, "datatype must be FP32, FP64 or UINT8"),
        (json.dumps(tensor(data=["a"] * (2 * N_X))).encode(), {}, "data must be numbers"),
        (
            json.dumps(tensor(data=[float("nan")] + [0.0] * (2 * N_X - 1))).encode(),
            {},
            "example 0 holds nan",
        ),
        (
            json.dumps(tensor(data=None, parameters={"binary_data_size": 8})).encode(),
            {},
            "binary data",
        ),
        (b"{}", {"Inference-Header-Content-Length": "99"}, "outside the body"),
        (b"\x93NUMPY garbage", {"content-type": "application/x-npy"}, "not a readable .npy"),
    ]
    with httpx.Client(base_url=live) as c:
        for body, headers, match in cases:
            r = c.post("/v2/models/cat/infer", content=body, headers=headers)
            assert r.status_code == 400, (match, r.status_code, r.text)
            assert match in r.json()["error"], (match, r.json())
        big = np.zeros((100, N_X))
        r = c.post(
            "/v2/models/cat/infer",
            content=big.tobytes(),
            headers={"content-type": "application/x-npy"},
        )
        assert r.status_code == 413 and "limit is 2000000" in r.json()["error"]
        assert c.get("/v2/health/ready").status_code == 200
        assert 'fastdnn_requests_total{endpoint="infer",status="400"}' in c.get("/metrics").text


def test_a_full_queue_answers_503_with_retry_after(cat):
    model = Model.load(cat)
    X = rows(64, 9)
    statuses = []

    def make(k, i):
        # .npy bodies: decoded in microseconds, so the clients' requests really arrive
        # together (JSON decoding on the event loop spaced them out: no 503 in one run).
        buffer = io.BytesIO()
        np.save(buffer, X[k : k + 1])
        headers = {"content-type": "application/x-npy"}
        return (
            "/v2/models/cat/infer",
            {"content": buffer.getvalue(), "headers": headers},
            (direct(model, X[k : k + 1])),
        )

    def check(r, expected):
        statuses.append(r.status_code)
        if r.status_code == 503:
            assert r.headers["Retry-After"] == "1" and "busy" in r.json()["error"]
        else:
            assert r.status_code == 200
            assert same(np.load(io.BytesIO(r.content)), expected)

    with server(cat, "--max-queue", "1", "--max-delay-ms", "20") as (_, url):
        failures = asyncio.run(_clients(url, 64, 3, make, check))
    assert not failures, failures[:3]
    assert 503 in statuses and 200 in statuses, statuses


def _queued(url):
    text = httpx.get(f"{url}/metrics").text
    return float(
        next(x for x in text.splitlines() if x.startswith("fastdnn_queue_examples ")).split()[-1]
    )


def test_sigterm_drains_requests_in_flight_and_exits_0(tmp_path):
    """Four long calls (512 examples each on a 1024-unit float32 layer, one thread)
    and seven short ones; SIGTERM at the first answer: all eleven answered, exit 0."""
    wide = tmp_path / "wide.h5"
    save_model(wide, initialize_parameters_deep([N_X, 1024, 1]), dtype="float32")
    model = Model.load(wide)
    big, small = rows(512, 11).astype(np.float32), rows(1, 12).astype(np.float32)
    outcome = []

    async def go(url, proc):
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:

            async def one(X):
                data = X.astype("<f4").tobytes()
                head = json.dumps(
                    {
                        "inputs": [
                            {
                                "name": "input",
                                "shape": list(X.shape),
                                "datatype": "FP32",
                                "parameters": {"binary_data_size": len(data)},
                            }
                        ]
                    }
                ).encode()
                r = await c.post(
                    "/v2/models/wide/infer",
                    content=head + data,
                    headers={"Inference-Header-Content-Length": str(len(head))},
                )
                outcome.append((time.monotonic(), r.status_code, X, r.json()["outputs"][0]["data"]))

            tasks = [asyncio.create_task(one(big)) for _ in range(4)]
            await asyncio.sleep(0.05)
            tasks += [asyncio.create_task(one(small)) for _ in range(7)]
            # The first answer: by then every request is with the server, and
            # three long calls cannot all be done (one thread, ~0.3 s each).
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
            return sent

    with server(wide, "--threads", "1") as (proc, url):
        sent = asyncio.run(go(url, proc))
        assert proc.wait(timeout=60) == 0
    assert len(outcome) == 11 and all(status == 200 for _, status, _, _ in outcome)
    # At least two long calls were still waiting then.
    assert sum(t > sent for t, _, _, _ in outcome) >= 2, "answered before SIGTERM: not drained"
    for _, _, X, data in outcome:
        assert same(data, direct(model, X))


def test_reload_under_load_fails_no_request(cat, tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(cat.read_bytes())
    old = Model.load(cat)
    new_parameters = initialize_parameters_deep(DIMS)
    new_parameters["b4"][:] = 3.0  # outputs near sigmoid(3): nothing like the old model's
    new = Model.from_parameters(new_parameters)
    X = rows(1, 21)
    answers = {"old": direct(old, X), "new": direct(new, X)}
    seen = []

    def make(k, i):
        path_, body = infer_json(X, name="model")
        return path_, {"json": body}, None

    def check(r, expected):
        assert r.status_code == 200, r.text
        got = np.array(r.json()["outputs"][0]["data"]).reshape(1, 1)
        which = [k for k, v in answers.items() if same(got, v)]
        assert which, "an answer from neither model"
        seen.append(which[0])

    async def load_and_reload(url, proc):
        clients = asyncio.create_task(_clients(url, 16, 40, make, check))
        await asyncio.sleep(0.3)
        save_model(path, new_parameters)  # atomic: the server never sees half a file
        proc.send_signal(signal.SIGHUP)
        return await clients

    with server(path) as (proc, url):
        failures = asyncio.run(load_and_reload(url, proc))
        with httpx.Client(base_url=url) as c:
            deadline = time.monotonic() + 30
            while c.get("/v2/models/model").json()["versions"] != ["2"]:
                assert time.monotonic() < deadline, "SIGHUP did not reload"
                time.sleep(0.05)
            p, body = infer_json(X, name="model")
            assert np.array_equal(
                np.array(c.post(p, json=body).json()["outputs"][0]["data"]).reshape(1, 1),
                answers["new"],
            )
            # The repository endpoint reloads too; a broken file leaves the model served.
            path.write_bytes(b"not a model")
            r = c.post("/v2/repository/models/model/load")
            assert r.status_code == 400 and "still serving the previous model" in r.json()["error"]
            assert c.get("/v2/models/model").json()["versions"] == ["2"]
            save_model(path, initialize_parameters_deep(DIMS))
            assert c.post("/v2/repository/models/model/load").status_code == 200
            assert c.get("/v2/models/model").json()["versions"] == ["3"]
    assert not failures, failures[:3]
    assert seen[0] == "old" and seen[-1] == "new", (seen[:3], seen[-3:])


def test_the_infer_fast_path_routes_as_starlette_would(cat):
    """``create_app`` answers POST .../infer before Starlette's router (for speed); the same
    answers as the route, also mounted under a prefix, and every other request reaches the
    router: 404 for an unknown model or path, 405 for a GET of the infer URL."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from fastdnn.serving.server import create_app

    model = Model.load(cat)
    X = rows(3, 7)
    expected = direct(model, X)
    app = create_app(model, "cat", batching=False)
    outer = Starlette(routes=[Mount("/api", app=app)])

    async def calls():
        results = {}
        for label, asgi, prefix in [("app", app, ""), ("mounted", outer, "/api")]:
            transport = httpx.ASGITransport(app=asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                path, body = infer_json(X)
                results[label] = await client.post(prefix + path, json=body)
                if label == "app":
                    results["unknown"] = await client.post(infer_json(X, name="dog")[0], json=body)
                    results["get"] = await client.get(path)
                    results["nested"] = await client.post("/v2/models/cat/x/infer", json=body)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            results["metrics"] = await c.get("/metrics")
        return results

    r = asyncio.run(calls())
    for label in ("app", "mounted"):
        assert r[label].status_code == 200, r[label].text
        got = np.array(r[label].json()["outputs"][0]["data"])
        assert same(got, expected), label
    assert r["unknown"].status_code == 404 and "dog" in r["unknown"].json()["error"]
    assert r["get"].status_code == 405
    assert r["nested"].status_code == 404
    counted = r["metrics"].text  # both answered requests and the 404, by the same wrapper
    assert 'fastdnn_requests_total{endpoint="infer",status="200"} 2.0' in counted
    assert 'fastdnn_requests_total{endpoint="infer",status="404"} 1.0' in counted


def png_bomb(width, height):
    """A valid PNG of ``width`` x ``height`` black grey pixels, a few hundred KB: the
    rows are compressed as they are made, never held whole."""
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    packer, row, parts = zlib.compressobj(9), b"\0" * (width + 1), []
    for _ in range(height):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + (chunk(b"IEND", b""))
    )


def _peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc for memory")
def test_an_image_bomb_is_refused_before_decoding(cat):
    """A small PNG declaring 12000 x 12000 pixels: 413 naming the limit, and the server's
    peak memory does not grow by what decoding it would take (144 MB greyscale, 576 MB
    as the RGBA Pillow converts through)."""
    bomb = png_bomb(12000, 12000)
    assert len(bomb) < 1_000_000
    with server(cat) as (proc, url):
        with httpx.Client(base_url=url, timeout=60) as c:
            ok = np.zeros((64, 64, 3), np.uint8)
            encoded = io.BytesIO()
            from PIL import Image

            Image.fromarray(ok).save(encoded, "PNG")
            files = [("images", ("ok.png", encoded.getvalue(), "image/png"))]
            assert c.post("/predict/image", files=files).status_code == 200
            before = _peak_rss_mb(proc.pid)
            r = c.post("/predict/image", files=[("images", ("bomb.png", bomb, "image/png"))])
            assert r.status_code == 413, r.text
            assert "declares 12000 x 12000 pixels" in r.json()["error"]
            assert "--max-image-pixels" in r.json()["error"]
            assert _peak_rss_mb(proc.pid) - before < 60
    with server(cat, "--max-image-pixels", "1000") as (proc, url):
        with httpx.Client(base_url=url) as c:
            r = c.post("/predict/image", files=files)
            assert r.status_code == 413 and "the limit is 1,000" in r.json()["error"]


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size():
    """Draft mode: a 4000 x 3000 JPEG decoded at 1/8 scale gives the course's 64 x 64
    pixels within a few levels of the full decode (smooth picture, as a photo)."""
    from PIL import Image

    from fastdnn.serving.protocol import decode_image

    yy, xx = np.mgrid[0:3000, 0:4000]
    pixels = np.stack([(xx / 16) % 256, (yy / 12) % 256, ((xx + yy) / 28) % 256], axis=-1).astype(
        np.uint8
    )
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, "JPEG", quality=90)
    data = encoded.getvalue()
    full = np.array(Image.open(io.BytesIO(data)).resize((64, 64))).reshape(1, -1) / 255
    got = decode_image(data, N_X, "photo.jpg")  # uint8 pixels
    assert got.dtype == np.uint8
    got = got / 255
    assert got.shape == (1, N_X)
    assert np.abs(got - full).max() * 255 <= 8


def test_malformed_bodies_are_400_never_500(live):
    """JSON nested 100,000 deep; numbers sent as strings or booleans (NumPy would read
    "0.5" and true); a non-string id; every one a 400 with a one-line reason."""
    deep = b'{"inputs": [{"name": "input", "shape": [1, 12288], "datatype": "FP64", "data": ' + (
        b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    )
    numbers = [0.5] * N_X

    def body(data=numbers, **extra):
        tensor = {"name": "input", "shape": [1, N_X], "datatype": "FP32", "data": data}
        return {"inputs": [tensor], **extra}

    cases = [
        (deep, "JSON nested too deeply"),
        (json.dumps(body(["0.5"] * N_X)).encode(), 'found "0.5"'),
        (json.dumps(body([True] + numbers[1:])).encode(), "found true"),
        (json.dumps(body([[0.5, "x"]] * (N_X // 2))).encode(), 'found "x"'),
        (json.dumps(body([[0.5], 0.5] * (N_X // 2))).encode(), "mixes lists and numbers"),
        (json.dumps(body({"a": 1})).encode(), "data must be a list of numbers"),
        (json.dumps(body([10**400] + numbers[1:])).encode(), "beyond float64"),
        (json.dumps(body(id={"nested": 1})).encode(), '"id" must be a string'),
        (json.dumps(body(outputs=7)).encode(), '"outputs" must be a list'),
    ]
    with httpx.Client(base_url=live) as c:
        for content, match in cases:
            r = c.post("/v2/models/cat/infer", content=content)
            assert r.status_code == 400, (match, r.status_code, r.text[:200])
            assert match in r.json()["error"], (match, r.json())
            assert "\n" not in r.json()["error"]
        r = c.post("/v2/models/cat/infer", json=body([1] * N_X))  # ints are numbers
        assert r.status_code == 200, r.text


def test_request_json_is_read_by_orjson_and_refused_as_the_standard_library_does(monkeypatch):
    """The serve extra's orjson reads valid bodies (issue #34); what it refuses is read
    again by ``json``, so every body gets the answer, and the reason, it got before."""
    from fastdnn.serving import protocol

    assert protocol._orjson is not None, "the serve extra installs orjson"
    valid = json.dumps({"inputs": [{"data": [0.5, 1, -2e-300], "shape": [1, 3]}]}).encode()
    assert protocol.loads(valid) == json.loads(valid)
    for body, reason in [
        (b'{"data": [NaN, Infinity]}', None),  # what Python's json.dumps writes: read, as before
        (b"[" * 100_000, "nested too deeply"),
        (b"{not json", "malformed JSON"),
        (b'{"a": 1' + b"\xff" + b"}", "malformed JSON"),
    ]:
        if reason is None:
            assert np.isnan(protocol.loads(body)["data"][0])
            continue
        with pytest.raises(protocol.BadRequest, match=reason):
            protocol.loads(body)
    monkeypatch.setattr(protocol, "_orjson", None)  # the standard library alone: the same
    assert protocol.loads(valid) == json.loads(valid)
    assert json.loads(protocol.dumps({"a": [0.1, 2]})) == {"a": [0.1, 2]}
