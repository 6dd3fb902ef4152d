"""``python -m benchmarks --only serve``: ``fastdnn serve`` under 1, 8 and 64 concurrent clients.

Every contender is the same ASGI app (``fastdnn.serving.server.create_app``) in its own
uvicorn process, so only what answers a request differs:

- ``fastdnn batched``: the dynamic batcher (``fastdnn serve``'s default);
- ``fastdnn per request``: one ``predict_proba`` per request (``--no-batching``);
- ``onnxruntime per request``: the exported model, one ``InferenceSession.run`` per request;
- ``no-op``: a model that returns zeros, on the event loop: the ceiling HTTP alone allows;
- ``no-op batched``: the same zeros behind the batcher: what batching itself costs, so
  ``fastdnn batched`` against it shows what inference adds;
- ``kserve + onnxruntime``: the peer a production user would otherwise deploy (``KSERVE``),
  in the JSON and gRPC rows (``peer_rows``), where kserve is installed.

Clients send single examples as binary bodies (the protocol's binary tensor
extension) for ``seconds`` each from one asyncio process (aiohttp: httpx's
connection pool took a whole core and collapsed to ~100 requests/s at 64
connections here, against a server that does nothing); its CPU time is
reported, since client and server share the machine. JSON bodies (one example,
and 64, per request) are measured for the batched server against the same
server parsing with the standard library alone (``json_rows``); image uploads
for the batched server only. Contenders run one at a time, in rounds (the first
rotating), with a pause between; each binary and JSON row is the median of the
rounds, all of them printed.

Run a contender's server alone: ``python -m benchmarks.serve BACKEND MODEL PORT [GRPC_PORT]``.
"""

import asyncio
import io
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

BACKENDS = [
    "fastdnn batched",
    "fastdnn per request",
    "onnxruntime per request",
    "no-op",
    "no-op batched",
]
CLIENTS = [1, 8, 64]
JSON_STDLIB = ", stdlib json"
"""A contender's suffix: its server parses JSON bodies with the standard library alone."""
KSERVE = "kserve + onnxruntime"
"""The peer: KServe's model server (``kserve.ModelServer``, FastAPI/uvicorn and its gRPC
server, access and latency logging off) hosting a ``kserve.Model`` that runs ONNX Runtime
on the exported model, as a KServe user would deploy this network (``peers`` extra)."""


class OnnxBackend:
    """The exported model behind ``predict_proba``, one ``InferenceSession.run`` per call."""

    def __init__(self, model, threads):
        import onnxruntime

        self.layer_dims, self.dtype = model.layer_dims, model.dtype
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # the cores fastdnn's batch kernel gets
        self.session = onnxruntime.InferenceSession(
            model.to_onnx().SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def predict_proba(self, X, n_threads=None):
        return self.session.run(None, {"X": np.ascontiguousarray(X.T)})[0].T


class NoopBackend:
    """Zeros of the right shape: what serving costs without a model (``inline``: on
    the event loop, no thread at all)."""

    def __init__(self, model, inline=True):
        self.layer_dims, self.dtype = model.layer_dims, model.dtype
        self.run_inline = inline

    def predict_proba(self, X, n_threads=None):
        return np.zeros((self.layer_dims[-1], X.shape[1]), dtype=self.dtype)


def serve_kserve(path, port, grpc_port):
    """Run the KServe + ONNX Runtime server (the subprocess side)."""
    import logging
    from uuid import uuid4

    import kserve
    import onnxruntime

    from fastdnn.serving.model import Model
    from fastdnn.serving.server import batch_threads

    model = Model.load(path)
    datatype = "FP32" if np.dtype(model.dtype) == np.float32 else "FP64"

    class OnnxModel(kserve.Model):
        def __init__(self):
            super().__init__("m")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = batch_threads()  # as fastdnn's batch kernel
            self.session = onnxruntime.InferenceSession(
                model.to_onnx().SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            self.ready = True

        def predict(self, payload, headers=None, response_headers=None):
            X = payload.inputs[0].as_numpy().astype(model.dtype, copy=False)
            P = self.session.run(None, {"X": np.ascontiguousarray(X)})[0]
            output = kserve.InferOutput(name="probability", shape=list(P.shape), datatype=datatype)
            output.set_data_from_numpy(P, binary_data=False)
            return kserve.InferResponse(  # an id is required: KServe's examples make one
                model_name=self.name, infer_outputs=[output], response_id=payload.id or uuid4().hex
            )

    server = kserve.ModelServer(
        http_port=port,
        grpc_port=grpc_port or _free_port(),
        enable_grpc=grpc_port is not None,
        enable_docs_url=False,
        enable_latency_logging=False,
        workers=1,
    )
    for name in ("uvicorn.access", "kserve.trace"):  # access logging off
        logging.getLogger(name).disabled = True
    for name in ("kserve", "uvicorn.error"):  # start-up lines off; warnings and errors stay
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start([OnnxModel()])


def serve_backend(backend, path, port, grpc_port=None):
    """Run one contender's server (the subprocess side)."""
    if backend == KSERVE:
        return serve_kserve(path, port, grpc_port)
    import uvicorn

    from fastdnn.serving.model import Model
    from fastdnn.serving.server import batch_threads, create_app, prepare_process

    # As ``fastdnn serve`` runs (fastdnn.serving.server.run): a core left for HTTP, kernels
    # warm, start-up objects frozen out of the garbage collector. Every contender
    # gets the same treatment.
    threads = batch_threads()
    model = Model.load(path)
    if backend.endswith(JSON_STDLIB):  # the request parser before issue #34: json alone
        from fastdnn.serving import protocol

        protocol._orjson = None
        backend = backend[: -len(JSON_STDLIB)]
    if backend == "onnxruntime per request":
        model = OnnxBackend(model, threads)
    elif backend.startswith("no-op"):
        model = NoopBackend(model, inline=backend == "no-op")
    batching = backend in ("fastdnn batched", "no-op batched")
    grpc_address = None if grpc_port is None else f"127.0.0.1:{grpc_port}"
    app = create_app(model, "m", batching=batching, n_threads=threads, grpc_address=grpc_address)
    prepare_process(model)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(backend, path, grpc=False):
    """(process, HTTP url, gRPC address or None) of a contender's server, once ready."""
    import httpx

    port, grpc_port = _free_port(), _free_port() if grpc else None
    command = [sys.executable, "-m", "benchmarks.serve", backend, path, str(port)]
    proc = subprocess.Popen(
        command + ([str(grpc_port)] if grpc else []),
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdout=None,
        stderr=None,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/v2/models/m/ready").status_code == 200:
                return proc, url, (f"127.0.0.1:{grpc_port}" if grpc else None)
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the {backend} server did not start")
        time.sleep(0.1)


def binary_request(x):
    """(path, kwargs) of an infer request for one example ``x`` (n_x,) as a binary body."""
    data = x.tobytes()
    datatype = "FP32" if x.dtype == np.float32 else "FP64"
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, x.size],
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(data)},
                }
            ],
            "outputs": [{"name": "probability", "parameters": {"binary_data": True}}],
        }
    ).encode()
    headers = {"Inference-Header-Content-Length": str(len(head))}
    return "/v2/models/m/infer", {"data": head + data, "headers": headers}


def json_request(X):
    """(path, kwargs) of an infer request for the examples in the rows of ``X`` as a JSON
    body, serialized once here: the client's own JSON encoding would take the cores the
    server needs (client and server share this machine)."""
    X = np.atleast_2d(X)
    body = {
        "inputs": [
            {
                "name": "input",
                "shape": list(X.shape),
                "datatype": "FP32" if X.dtype == np.float32 else "FP64",
                "data": X.ravel().tolist(),
            }
        ]
    }
    data = json.dumps(body).encode()
    return "/v2/models/m/infer", {"data": data, "headers": {"content-type": "application/json"}}


def grpc_request(X):
    """A serialized ``ModelInferRequest`` for the rows of ``X``, the tensor as raw bytes (as
    Triton's and KServe's gRPC clients send it), serialized once here."""
    from fastdnn.serving.grpc_messages import messages

    X = np.atleast_2d(X)
    request = messages["ModelInferRequest"](model_name="m")
    datatype = "FP32" if X.dtype == np.float32 else "FP64"
    request.inputs.add(name="input", datatype=datatype, shape=list(X.shape))
    request.raw_input_contents.append(np.ascontiguousarray(X).tobytes())
    return request.SerializeToString()


async def _grpc_load(address, n_clients, seconds, requests):
    """Closed loop over one HTTP/2 channel: ``n_clients`` calls in flight, each client
    sending its next when the last is answered (bytes in, bytes out: no client parsing)."""
    import grpc

    latencies, errors = [], 0
    async with grpc.aio.insecure_channel(address) as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        stop = time.perf_counter() + seconds

        async def one(k):
            nonlocal errors
            i = k
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    await infer(requests[i % len(requests)], timeout=30)
                except grpc.RpcError:
                    errors += 1
                latencies.append(time.perf_counter() - t)
                i += n_clients

        start = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(n_clients)))
        wall = time.perf_counter() - start
    return latencies, errors, wall


def image_request(png):
    return "/predict/image", {"png": png}


async def _load(url, n_clients, seconds, requests):
    """Closed loop: each client sends its next request when the last is answered."""
    import aiohttp

    latencies, errors = [], 0
    connector = aiohttp.TCPConnector(limit=n_clients)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        stop = time.perf_counter() + seconds

        async def one(k):
            nonlocal errors
            i = k
            while time.perf_counter() < stop:
                path, kwargs = requests[i % len(requests)]
                i += n_clients
                if "png" in kwargs:
                    form = aiohttp.FormData()
                    form.add_field(
                        "image", kwargs["png"], filename="x.png", content_type="image/png"
                    )
                    kwargs = {"data": form}
                t = time.perf_counter()
                async with session.post(path, **kwargs) as r:
                    await r.read()
                    errors += r.status != 200
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(n_clients)))
        wall = time.perf_counter() - start
    return latencies, errors, wall


def measure(url, n_clients, seconds, requests, grpc_address=None):
    """Throughput and latency of ``n_clients`` closed-loop clients for ``seconds``: HTTP
    requests to ``url``, or, given ``grpc_address``, serialized gRPC requests there."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if grpc_address is None:
        latencies, errors, wall = asyncio.run(_load(url, n_clients, seconds, requests))
    else:
        latencies, errors, wall = asyncio.run(
            _grpc_load(grpc_address, n_clients, seconds, requests)
        )
    after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime) / wall
    lat = np.array(latencies) * 1e3
    return {
        "requests_per_s": len(lat) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": errors,
        "client_cpu_cores": client_cpu,
    }


def _models(folder):
    from fastdnn.app import initialize_parameters_deep
    from fastdnn.serving.modelfile import save_model

    cat = os.path.join(folder, "cat.h5")
    save_model(cat, initialize_parameters_deep([12288, 20, 7, 5, 1]))
    wide = os.path.join(folder, "wide.h5")
    save_model(wide, initialize_parameters_deep([12288, 512, 128, 1]), dtype="float32")
    return {"cat [12288, 20, 7, 5, 1] float64": cat, "wide [12288, 512, 128, 1] float32": wide}


def run(seconds=10.0, out=print, pause=0.5, rounds=3):
    """All rows; returns them as dicts (and prints a table through ``out``).

    The binary-body rows run ``rounds`` times, contenders alternating with the first rotating,
    and report the median run: on a shared 2-core machine one 10 s run of a contender moved by
    up to 20% against the next.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    header = f"{'model':36} {'contender':25} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'client CPU':>10}"
    with tempfile.TemporaryDirectory() as folder:
        for label, path in _models(folder).items():
            dtype = np.float32 if "float32" in label else np.float64
            X = rng.random((256, 12288)).astype(dtype)
            binary = [binary_request(x) for x in X]
            out(f"# {label}, binary bodies, {seconds:g} s per run, median of {rounds} rounds")
            out(header)
            for n in CLIENTS:
                runs = _rounds(BACKENDS, path, n, binary, seconds, rounds, pause)
                for backend in BACKENDS:
                    row, rates = _median_run(runs[backend])
                    row.update(
                        model=label, contender=backend, clients=n, body="binary", rounds=rates
                    )
                    rows.append(row)
                    out(_line(row))
            if dtype == np.float64:
                pixels = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
                png = io.BytesIO()
                Image.fromarray(pixels).save(png, "PNG")
                rows += json_rows(path, label, X, seconds, rounds, pause, out)
                rows += peer_rows(path, label, X, seconds, rounds, pause, out)
                requests = [image_request(png.getvalue())]
                proc, url, _ = _start("fastdnn batched", path)
                try:
                    for n in (1, 64):
                        measure(url, n, min(1.0, seconds), requests)
                        row = measure(url, n, seconds, requests)
                        row.update(
                            model=label, contender="fastdnn batched", clients=n, body="image"
                        )
                        rows.append(row)
                        out(_line(row) + "  (image bodies)")
                finally:
                    proc.terminate()
                    proc.wait()
    return rows


def run_peers(seconds=10.0, out=print, pause=0.5, rounds=3):
    """Only the rows against KServe + ONNX Runtime (``peer_rows``) on the cat network, float64
    and float32 (``python -m benchmarks --only serve_peers``)."""
    rng = np.random.default_rng(0)
    rows = []
    from fastdnn.app import initialize_parameters_deep
    from fastdnn.serving.modelfile import save_model

    parameters = initialize_parameters_deep([12288, 20, 7, 5, 1])
    with tempfile.TemporaryDirectory() as folder:
        cat, cat32 = os.path.join(folder, "cat.h5"), os.path.join(folder, "cat32.h5")
        save_model(cat, parameters)
        save_model(cat32, parameters, dtype="float32")
        for label, path, dtype in [
            ("cat [12288, 20, 7, 5, 1] float64", cat, np.float64),
            ("cat [12288, 20, 7, 5, 1] float32", cat32, np.float32),
        ]:
            X = rng.random((256, 12288)).astype(dtype)
            out(f"# {label}")
            rows += peer_rows(path, label, X, seconds, rounds, pause, out)
    return rows


def _rounds(contenders, path, clients, requests, seconds, rounds, pause, grpc=False):
    """Every contender's server once per round, the first rotating, each measured after a
    warm-up (connections, kernels) and a pause: {contender: [run, ...]}. ``grpc``: the
    requests are serialized gRPC messages, sent to the contender's gRPC port."""
    runs = {c: [] for c in contenders}
    for r in range(rounds):
        k = r % len(contenders)
        for contender in contenders[k:] + contenders[:k]:
            proc, url, address = _start(contender, path, grpc=grpc)
            try:
                measure(url, clients, min(1.0, seconds), requests, address)
                time.sleep(pause)
                runs[contender].append(measure(url, clients, seconds, requests, address))
            finally:
                proc.terminate()
                proc.wait()
            time.sleep(pause)
    return runs


def _median_run(runs):
    """(a copy of the run with the median requests/s, its latencies with it; every rate)."""
    rates = [run["requests_per_s"] for run in runs]
    return dict(sorted(runs, key=lambda run: run["requests_per_s"])[len(rates) // 2]), rates


def json_rows(path, label, X, seconds, rounds, pause, out):
    """JSON bodies, one example and 64 examples per request, 1 and 64 clients:
    ``fastdnn batched`` against the same server parsing with the standard library
    alone (as before issue #34), alternating in rounds; the median run of each."""
    rows = []
    contenders = ["fastdnn batched", "fastdnn batched" + JSON_STDLIB]
    for per_request, clients in ((1, 1), (1, 64), (64, 64)):
        last = min(len(X), 32 * per_request)
        requests = [json_request(X[k : k + per_request]) for k in range(0, last, per_request)]
        runs = _rounds(contenders, path, clients, requests, seconds, rounds, pause)
        for contender in contenders:
            row, rates = _median_run(runs[contender])
            row.update(
                model=label,
                contender=contender,
                clients=clients,
                body="json",
                examples_per_request=per_request,
                rounds=rates,
            )
            rows.append(row)
            out(
                _line(row) + f"  (json bodies, {per_request} example{'s' * (per_request > 1)} each)"
            )
    return rows


def peer_rows(path, label, X, seconds, rounds, pause, out):
    """``fastdnn serve`` against KServe + ONNX Runtime (``KSERVE``), 64 clients: JSON
    bodies of one and of 64 examples, and gRPC with one example (raw tensor bytes), the
    contenders alternating in rounds; the median run of each. Skipped, with a line saying
    so, where kserve is not installed."""
    try:
        import grpc  # noqa: F401
        import kserve  # noqa: F401
    except ImportError as exc:
        out(f"# KServe rows skipped: {exc.name} is not installed (pip install 'fastdnn[peers]')")
        return []
    rows = []
    contenders = ["fastdnn batched", KSERVE]
    for contender in contenders:
        _check_answers(contender, path, X[:3])
    cases = [
        ("json", 1, [json_request(X[k : k + 1]) for k in range(32)]),
        ("json", 64, [json_request(X[k : k + 64]) for k in range(0, 128, 64)]),
        ("grpc", 1, [grpc_request(X[k : k + 1]) for k in range(32)]),
    ]
    out(f"# against {KSERVE}: 64 clients, {seconds:g} s per run, median of {rounds} rounds")
    for body, per_request, requests in cases:
        runs = _rounds(contenders, path, 64, requests, seconds, rounds, pause, body == "grpc")
        for contender in contenders:
            row, rates = _median_run(runs[contender])
            row.update(
                model=label,
                contender=contender,
                clients=64,
                body=body,
                examples_per_request=per_request,
                rounds=rates,
            )
            rows.append(row)
            out(_line(row) + f"  ({body}, {per_request} example{'s' * (per_request > 1)} each)")
    return rows


def _check_answers(contender, path, X):
    """Before timing: the contender's answers over JSON and gRPC equal the model's own."""
    import grpc
    import httpx

    from fastdnn.serving.grpc_messages import SERVICE, messages
    from fastdnn.serving.model import Model

    model = Model.load(path)
    expected = model.predict_proba(np.asfortranarray(X.T.astype(model.dtype))).T
    proc, url, address = _start(contender, path, grpc=True)
    try:
        path_, kwargs = json_request(X)
        got = [
            httpx.post(url + path_, content=kwargs["data"], headers=kwargs["headers"], timeout=30)
        ]
        got = [np.array(got[0].json()["outputs"][0]["data"]).reshape(expected.shape)]
        with grpc.insecure_channel(address) as channel:
            infer = channel.unary_unary(f"/{SERVICE}/ModelInfer")
            reply = messages["ModelInferResponse"].FromString(infer(grpc_request(X), timeout=30))
        if reply.raw_output_contents:
            got.append(
                np.frombuffer(reply.raw_output_contents[0], expected.dtype.newbyteorder("<"))
            )
        else:  # typed contents (KServe answers raw input so)
            contents = reply.outputs[0].contents
            got.append(np.array(contents.fp32_contents or contents.fp64_contents))
    finally:
        proc.terminate()
        proc.wait()
    tol = 1e-5 if expected.dtype == np.float32 else 1e-12
    for answer in got:
        if not np.allclose(answer.reshape(expected.shape), expected, rtol=tol, atol=tol):
            raise AssertionError(f"{contender}: its answers differ from the model's")


def _line(row):
    return (
        f"{row['model']:36} {row['contender']:25} {row['clients']:7d} {row['requests_per_s']:8.0f} "
        f"{row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['client_cpu_cores']:9.2f}c"
        + (f"  {row['errors']} errors" if row["errors"] else "")
        + (
            f"  rounds {', '.join(f'{r:.0f}' for r in row['rounds'])}"
            if len(row.get("rounds", ())) > 1
            else ""
        )
    )


if __name__ == "__main__":
    serve_backend(*sys.argv[1:3], *map(int, sys.argv[3:5]))
