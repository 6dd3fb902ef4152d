"""``fastdnn serve``: a model over HTTP on the Open Inference Protocol, with dynamic batching.

Needs the ``serve`` extra: ``pip install "fastdnn[serve]"`` (Starlette, uvicorn,
prometheus_client, Pillow, python-multipart). No HTTP is parsed here; Starlette
and uvicorn do that.

The pieces, in the order a request meets them:

- ``create_app(model, ...)``: the ASGI app (mount it in your own, or let
  ``fastdnn serve`` run it). It speaks the Open Inference Protocol's REST API
  ("v2", as Triton, KServe and MLServer do), so their clients work unchanged:
  health, server and model metadata, ``POST /v2/models/{name}/infer`` with JSON
  tensors, the binary tensor extension or an ``application/x-npy`` body, and
  ``POST /predict/image`` for PNG/JPEG uploads. Every request is validated on
  the event loop (shape, dtype, NaN) before it is queued.
- ``Batcher``: requests that arrive together are coalesced into one
  ``Model.predict_proba`` on a worker thread, so the event loop never waits on a
  kernel and the parallel batch kernel sees many examples at once. Each request
  gets exactly its own rows back.
- ``run(path, ...)``: what the command calls: uvicorn, reload on SIGHUP,
  SIGTERM drains the requests in flight and exits 0.
"""

import asyncio
import collections
import io
import json
import math
import os
import signal
import threading
import time

import numpy as np

from .model import Model

DATATYPES = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
NAMES = {np.dtype("float32"): "FP32", np.dtype("float64"): "FP64"}
INPUT, OUTPUT = "input", "probability"
BINARY_HEADER = "Inference-Header-Content-Length"
NPY = "application/x-npy"


class BadRequest(ValueError):
    """A request that cannot be served as sent: answered 400 with its message."""


class QueueFull(RuntimeError):
    """More examples are waiting than ``max_queue``: answered 503 with Retry-After."""


class BodyTooLarge(ValueError):
    """A request body over the limit: answered 413."""


class UnknownModel(LookupError):
    """A model name this server does not serve: answered 404."""


# ------------------------------------------------------------------ batching


class Batcher:
    """Coalesce concurrent requests into one ``predict_proba`` call on a worker thread.

    Parameters
    ----------
    max_batch : int
        Most examples per call (a single larger request runs alone, whole).
    max_delay_ms : float
        How long a batch may wait to fill while requests keep arriving (to the
        size of the last batch). A request that finds the worker idle after a
        quiet spell runs at once: batching must not tax the single client.
    max_queue : int
        Most examples waiting; a request that would exceed it is refused
        (``QueueFull``), unless nothing waits.
    n_threads : int, optional
        Passed to ``predict_proba``.
    on_batch : callable, optional
        ``on_batch(examples, waiting)`` after each call (metrics).
    """

    def __init__(
        self, max_batch=256, max_delay_ms=2.0, max_queue=8192, n_threads=None, on_batch=None
    ):
        self.max_batch, self.max_queue, self.n_threads = max_batch, max_queue, n_threads
        self.max_delay = max_delay_ms / 1000
        self.on_batch = on_batch
        self._cond = threading.Condition()
        self._pending = collections.deque()  # (model, rows (m, n_x), future, loop)
        self._waiting = 0  # examples in _pending
        self._closed = False
        self._buffer = None  # the worker's; see _gather
        self._thread = threading.Thread(target=self._work, name="fastdnn-batcher", daemon=True)
        self._thread.start()

    @property
    def waiting(self):
        return self._waiting

    async def predict(self, model, rows):
        """Probabilities of shape (m, n_L) for ``rows`` (m, n_x) in ``model.dtype``, by ``model``."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._waiting and self._waiting + len(rows) > self.max_queue:
                raise QueueFull(
                    f"{self._waiting} examples are waiting (max_queue {self.max_queue})"
                )
            self._pending.append((model, rows, future, loop))
            self._waiting += len(rows)
            self._cond.notify()
        return await future

    def close(self):
        """Answer what is queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _take(self, expected):
        """The next batch: requests for one model, up to ``max_batch`` examples (at least one request).

        Waits (at most ``max_delay``) for ``expected`` examples: as many as the
        last batch held when it held several requests, since the clients it
        answered are likely to send again. Waiting for a full ``max_batch``
        would cost 8 clients the whole delay on every batch.
        """
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            if expected > 1 and self.max_delay > 0:
                deadline = time.monotonic() + self.max_delay
                target = min(expected, self.max_batch)
                while self._waiting < target and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            model = self._pending[0][0]
            batch, examples = [], 0
            while self._pending and self._pending[0][0] is model:
                m = len(self._pending[0][1])
                if batch and examples + m > self.max_batch:
                    break
                batch.append(self._pending.popleft())
                examples += m
            self._waiting -= examples
            return batch

    def _gather(self, model, batch):
        """The batch's rows, stacked into a buffer kept between calls: a fresh
        array each time would cost the OS's zeroing of its pages, every call."""
        m = sum(len(item[1]) for item in batch)
        shape = (max(m, self.max_batch), model.layer_dims[0])
        if (
            self._buffer is None
            or self._buffer.shape[0] < m
            or self._buffer.shape[1:] != shape[1:]
            or self._buffer.dtype != model.dtype
        ):
            self._buffer = np.empty(shape, dtype=model.dtype)
        lo = 0
        for item in batch:
            self._buffer[lo : lo + len(item[1])] = item[1]
            lo += len(item[1])
        return self._buffer[:m]

    def _work(self):
        expected = 0
        while True:
            batch = self._take(expected)
            if batch is None:
                return
            # Several requests queued while the last call ran: more are coming.
            expected = sum(len(item[1]) for item in batch) if len(batch) > 1 else 0
            model = batch[0][0]
            try:
                if len(batch) == 1:
                    rows = batch[0][1]
                else:
                    rows = self._gather(model, batch)
                # rows.T is Fortran-ordered: the tiled kernel (an example's result
                # depends on its place in a 4-example tile only in the last bits).
                P = model.predict_proba(rows.T, n_threads=self.n_threads).T
                results, lo = [], 0
                for item in batch:
                    hi = lo + len(item[1])
                    results.append((P[lo:hi].copy(), None))
                    lo = hi
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                results = [(None, exc)] * len(batch)
            # One wake-up of each event loop per batch, not one per request.
            answers = {}
            for (_, _, future, loop), (value, exc) in zip(batch, results, strict=True):
                answers.setdefault(loop, []).append((future, value, exc))
            for loop, group in answers.items():
                loop.call_soon_threadsafe(_resolve_all, group)
            if self.on_batch is not None:
                self.on_batch(sum(len(item[1]) for item in batch), self._waiting)


def _resolve_all(answers):
    for future, value, exc in answers:
        if future.cancelled():  # the client went away
            continue
        if exc is None:
            future.set_result(value)
        else:
            future.set_exception(exc)


# ------------------------------------------------------------------ decoding


def _shape(value, n_x, where):
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        raise BadRequest(f"{where}: shape must be [m, {n_x}] (one example per row); got {value!r}")
    m, n = value
    if n != n_x:
        raise BadRequest(f"{where}: the model takes {n_x} values per example; shape is {value}")
    if m < 1:
        raise BadRequest(f"{where}: no examples (shape {value})")
    return m, n


def _checked_rows(rows, dtype, where):
    rows = np.ascontiguousarray(rows, dtype=dtype)
    if not np.isfinite(rows).all():
        i, j = np.argwhere(~np.isfinite(rows))[0]
        raise BadRequest(
            f"{where}: example {i} holds {rows[i, j]} at index {j}; values must be finite"
        )
    return rows


def decode_infer(body, headers, n_x, dtype):
    """(rows (m, n_x) in ``dtype``, header dict, binary answer?) from an infer request body."""
    content_type = headers.get("content-type", "").split(";")[0].strip()
    if content_type == NPY:
        try:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable .npy is the client's
            raise BadRequest(f"body: not a readable .npy array ({exc})") from None
        if array.ndim != 2 or array.dtype.kind not in "fiu":
            raise BadRequest(
                f"body: a .npy array of shape (m, {n_x}) of numbers; got {array.dtype} {array.shape}"
            )
        _shape(list(array.shape), n_x, "body")
        return _checked_rows(array, dtype, "body"), {}, "npy"
    split = headers.get(BINARY_HEADER.lower())
    if split is not None:
        try:
            split = int(split)
        except ValueError:
            raise BadRequest(f"{BINARY_HEADER} must be an integer; got {split!r}") from None
        if not 0 <= split <= len(body):
            raise BadRequest(f"{BINARY_HEADER} {split} is outside the body ({len(body)} bytes)")
        header, binary = body[:split], body[split:]
    else:
        header, binary = body, b""
    try:
        request = json.loads(header)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body: malformed JSON ({exc})") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise BadRequest('body: a JSON object with "inputs": [one tensor]')
    if len(request["inputs"]) != 1 or not isinstance(request["inputs"][0], dict):
        raise BadRequest(f"body: the model takes one input tensor; got {len(request['inputs'])}")
    tensor = request["inputs"][0]
    where = f"input {tensor.get('name', INPUT)!r}"
    m, _ = _shape(tensor.get("shape"), n_x, where)
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise BadRequest(f"{where}: datatype must be FP32 or FP64; got {datatype!r}")
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        expected = m * n_x * DATATYPES[datatype].itemsize
        if size != expected or len(binary) != expected:
            raise BadRequest(
                f"{where}: shape [{m}, {n_x}] {datatype} needs {expected} bytes of binary data; "
                f"binary_data_size is {size!r}, the body holds {len(binary)}"
            )
        values = np.frombuffer(binary, dtype=DATATYPES[datatype])
    else:
        if "data" not in tensor:
            raise BadRequest(f'{where}: no "data" (and no binary_data_size)')
        try:
            values = np.asarray(tensor["data"], dtype=np.float64).ravel()
        except (ValueError, TypeError):
            raise BadRequest(f"{where}: data must be numbers (a flat or nested list)") from None
        if values.size != m * n_x:
            raise BadRequest(
                f"{where}: shape [{m}, {n_x}] needs {m * n_x} values; data holds {values.size}"
            )
    rows = _checked_rows(values.reshape(m, n_x), dtype, where)
    outputs = request.get("outputs") or []
    parameters = request.get("parameters") or {}
    binary_out = bool(parameters.get("binary_data_output")) or any(
        isinstance(o, dict) and (o.get("parameters") or {}).get("binary_data") for o in outputs
    )
    return rows, request, "binary" if binary_out else "json"


def decode_image(data, n_x, filename):
    """One uploaded PNG/JPEG as a (1, n_x) row in [0, 1], as the course's "your own image" cell:
    ``np.array(Image.open(f).resize((num_px, num_px))).reshape(1, -1) / 255``."""
    from PIL import Image

    num_px = math.isqrt(n_x // 3)
    if num_px * num_px * 3 != n_x:
        raise BadRequest(f"the model takes {n_x} values per example, not a square RGB image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB").resize((num_px, num_px))
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for bad files
        raise BadRequest(f"{filename!r} is not a readable PNG or JPEG image ({exc})") from None
    return np.asarray(image).reshape(1, n_x) / 255


# ------------------------------------------------------------------ the app


class _Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fastdnn_requests",
            "Requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fastdnn_request_seconds",
            "Request latency",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
            registry=self.registry,
        )
        self.batch = Histogram(
            "fastdnn_batch_examples",
            "Examples per predict_proba call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
            registry=self.registry,
        )
        self.queue = Gauge(
            "fastdnn_queue_examples", "Examples waiting for a batch", registry=self.registry
        )

    def on_batch(self, examples, waiting):
        if examples:
            self.batch.observe(examples)
        self.queue.set(waiting)


class _State:
    """What the app serves: the model (replaced whole on reload) and where it came from."""

    def __init__(self, model, name, path):
        self.model, self.name, self.path = model, name, path
        self.version = 1
        self.reload_lock = asyncio.Lock()

    async def reload(self):
        """Load ``path`` again and swap it in at once; requests already queued finish on the old model."""
        from starlette.concurrency import run_in_threadpool

        if self.path is None:
            raise BadRequest("this server was given a Model, not a file: nothing to reload")
        async with self.reload_lock:
            model = await run_in_threadpool(Model.load, self.path)
            self.model, self.version = model, self.version + 1
        return model


def create_app(
    model,
    name="model",
    *,
    path=None,
    max_batch=256,
    max_delay_ms=2.0,
    max_queue=8192,
    n_threads=None,
    batching=True,
    max_body_bytes=64 << 20,
    reload_on_sighup=False,
):
    """The ASGI app serving ``model`` under ``name``: a Starlette app, with inference requests
    answered before its middleware (``_InferFirst``); ``.app`` is the Starlette app itself.

    Parameters
    ----------
    model : fastdnn.Model, or any object with ``layer_dims``, ``dtype`` and
        ``predict_proba(X)`` for X of shape (n_x, m)
    name : str
        The model's name in the URLs, ``/v2/models/{name}/...``.
    path : str, optional
        The model file, for reloads (SIGHUP with ``reload_on_sighup``, or
        ``POST /v2/repository/models/{name}/load``).
    max_batch, max_delay_ms, max_queue, n_threads
        See ``Batcher``.
    batching : bool
        False: one ``predict_proba`` per request, in Starlette's thread pool
        (the per-request server, for comparison), or on the event loop for a
        ``model`` whose ``run_inline`` attribute is true (the benchmark's no-op).
    max_body_bytes : int
        Larger bodies are answered 413.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from .. import __version__

    metrics = _Metrics()
    state = _State(model, name, path)
    batcher = None

    def error(status, message, **headers):
        return JSONResponse(
            {"error": " ".join(str(message).split())}, status_code=status, headers=headers
        )

    async def body_of(request):
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise BodyTooLarge(f"the body has {declared} bytes; the limit is {max_body_bytes}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise BodyTooLarge(f"the body exceeds the {max_body_bytes}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def predict(model, rows):
        if batching:
            return await batcher.predict(model, rows)
        if getattr(model, "run_inline", False):  # a backend that answers in microseconds
            return np.asarray(model.predict_proba(rows.T)).T
        options = {} if n_threads is None else {"n_threads": n_threads}
        return np.asarray(await run_in_threadpool(model.predict_proba, rows.T, **options)).T

    def endpoint(label):
        """Wrap a handler: errors to their status, metrics for every answer."""

        def wrap(handler):
            async def handle(request):
                start = time.perf_counter()
                try:
                    response = await handler(request)
                except BadRequest as exc:
                    response = error(400, exc)
                except UnknownModel as exc:
                    response = error(404, exc)
                except BodyTooLarge as exc:
                    response = error(413, exc)
                except QueueFull as exc:
                    response = error(503, f"busy: {exc}; retry shortly", **{"Retry-After": "1"})
                except ClientDisconnect:
                    response = Response(status_code=499)
                metrics.requests.labels(label, str(response.status_code)).inc()
                metrics.latency.labels(label).observe(time.perf_counter() - start)
                return response

            return handle

        return wrap

    def served(request):
        """The model the URL names (the one being served now), else UnknownModel."""
        name = request.path_params["name"]
        if name != state.name:
            raise UnknownModel(f"no model named {name!r} (this server has {state.name!r})")
        return state.model

    def metadata(model):
        n_x, n_L, datatype = model.layer_dims[0], model.layer_dims[-1], NAMES[np.dtype(model.dtype)]
        return {
            "name": state.name,
            "versions": [str(state.version)],
            "platform": "fastdnn",
            "inputs": [{"name": INPUT, "datatype": datatype, "shape": [-1, n_x]}],
            "outputs": [{"name": OUTPUT, "datatype": datatype, "shape": [-1, n_L]}],
            "parameters": {"layer_dims": list(model.layer_dims)},
        }

    async def live(request):
        return JSONResponse({"live": True})

    async def ready(request):
        return JSONResponse({"ready": True})

    async def server_metadata(request):
        return JSONResponse(
            {"name": "fastdnn", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    @endpoint("metadata")
    async def model_metadata(request):
        return JSONResponse(metadata(served(request)))

    @endpoint("ready")
    async def model_ready(request):
        served(request)
        return JSONResponse({"name": state.name, "ready": True})

    @endpoint("infer")
    async def infer(request):
        model = served(request)
        body = await body_of(request)
        rows, header, answer = decode_infer(
            body, request.headers, model.layer_dims[0], np.dtype(model.dtype)
        )
        P = await predict(model, rows)
        if answer == "npy":
            buffer = io.BytesIO()
            np.save(buffer, P, allow_pickle=False)
            return Response(buffer.getvalue(), media_type=NPY)
        output = {"name": OUTPUT, "datatype": NAMES[P.dtype], "shape": list(P.shape)}
        reply = {"model_name": state.name, "model_version": str(state.version), "outputs": [output]}
        if "id" in header:
            reply["id"] = header["id"]
        if answer == "json":
            output["data"] = P.ravel().tolist()
            return JSONResponse(reply)
        data = P.astype(P.dtype.newbyteorder("<"), copy=False).tobytes()
        output["parameters"] = {"binary_data_size": len(data)}
        head = json.dumps(reply).encode()
        return Response(
            head + data,
            media_type="application/octet-stream",
            headers={BINARY_HEADER: str(len(head))},
        )

    @endpoint("image")
    async def predict_image(request):
        model = state.model
        n_x = model.layer_dims[0]
        body = await body_of(request)  # the size limit, before the multipart parser runs
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form()
        except Exception as exc:  # noqa: BLE001 - malformed multipart bodies
            raise BadRequest(f"body: a multipart/form-data upload of images ({exc})") from None
        uploads = [(key, value) for key, value in form.multi_items() if hasattr(value, "read")]
        if not uploads:
            raise BadRequest("no image in the upload (multipart/form-data with one or more files)")
        names, rows = [], []
        for key, upload in uploads:
            data = await upload.read()
            names.append(upload.filename or key)
            rows.append(await run_in_threadpool(decode_image, data, n_x, names[-1]))
        X = _checked_rows(np.concatenate(rows), np.dtype(model.dtype), "images")
        P = await predict(model, X)
        return JSONResponse(
            {
                "model_name": state.name,
                "predictions": [
                    {"filename": n, "probability": float(p[0]), "label": int(p[0] > 0.5)}
                    for n, p in zip(names, P, strict=True)
                ],
            }
        )

    @endpoint("load")
    async def load(request):
        served(request)
        try:
            await state.reload()
        except (ValueError, OSError) as exc:
            raise BadRequest(f"reload failed, still serving the previous model: {exc}") from None
        return JSONResponse({})

    async def metrics_page(request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if batcher is not None:
            metrics.queue.set(batcher.waiting)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def reload_on_signal():
        try:
            model = await state.reload()
            print(f"fastdnn serve: reloaded {state.path!r} ({list(model.layer_dims)})", flush=True)
        except (ValueError, OSError) as exc:
            print(
                f"fastdnn serve: reload failed, still serving the previous model: {exc}", flush=True
            )

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        nonlocal batcher
        if batching:
            batcher = Batcher(max_batch, max_delay_ms, max_queue, n_threads, metrics.on_batch)
        if reload_on_sighup:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload_on_signal()))
        try:
            yield
        finally:
            if batcher is not None:
                await asyncio.get_running_loop().run_in_executor(None, batcher.close)

    infer_route = Route("/v2/models/{name}/infer", infer, methods=["POST"])
    routes = [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route("/v2/models/{name}", model_metadata),
        Route("/v2/models/{name}/ready", model_ready),
        infer_route,
        Route("/v2/repository/models/{name}/load", load, methods=["POST"]),
        Route("/predict/image", predict_image, methods=["POST"]),
        Route("/metrics", metrics_page),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.fastdnn = state
    return _InferFirst(app, infer_route)


class _InferFirst:
    """The Starlette app, with ``POST /v2/models/{name}/infer`` answered before its
    middleware and router: a batched request is suspended while its batch runs, and
    resuming it through Starlette's eight nested ASGI layers cost the event loop more
    than the rest of its Python work (docs/performance.md, "Serving"). The request is
    matched by the app's own ``Route`` and answered by its endpoint (the same
    ``endpoint``-wrapped ``infer``: errors and metrics alike); every other request, a GET
    of that path included, and the lifespan go to the app.
    """

    def __init__(self, app, route):
        from starlette.requests import Request
        from starlette.routing import Match

        self.app, self.state, self._route = app, app.state, route
        self._request, self._full = Request, Match.FULL  # bound once, not per request

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            match, child_scope = self._route.matches(scope)  # root_path of a mount included
            if match is self._full:
                scope.update(child_scope, app=self.app)
                response = await self._route.endpoint(self._request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def run(path, name=None, host="127.0.0.1", port=8000, *, n_threads=None, **options):
    """Serve the model file ``path`` until SIGTERM or Ctrl-C (``fastdnn serve``).

    ``options`` are ``create_app``'s (``max_batch``, ``max_delay_ms``,
    ``max_queue``, ``batching``, ``max_body_bytes``). Tuned for a process of its
    own: the batch kernel gets all cores but one (``n_threads``, unless given)
    and ``prepare_process`` runs before serving. Use ``create_app`` to mount the
    app in a server of your own without either.
    """
    import uvicorn

    model = Model.load(path)
    name = name or os.path.splitext(os.path.basename(os.fspath(path)))[0]
    app = create_app(
        model,
        name,
        path=os.fspath(path),
        n_threads=batch_threads() if n_threads is None else n_threads,
        reload_on_sighup=True,
        **options,
    )
    dims = " -> ".join(map(str, model.layer_dims))
    print(
        f"fastdnn serve: model {name!r} ({dims}, {np.dtype(model.dtype).name}) on http://{host}:{port}/v2/models/{name}",
        flush=True,
    )
    prepare_process(model)
    # uvicorn on SIGTERM/SIGINT: stop accepting, finish the requests in flight,
    # run the lifespan's shutdown (the batcher answers what it holds), then
    # raise the signal again under the handler it found: ours makes SIGTERM's
    # drained exit a clean one (status 0) instead of death by signal.
    previous = signal.signal(signal.SIGTERM, _exit_drained)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def batch_threads():
    """Threads for the batch kernel in a server process: all cores but one, since
    the event loop needs a core of its own (docs/performance.md, "Serving")."""
    return max(1, (os.cpu_count() or 2) - 1)


def prepare_process(model):
    """Before serving from a process of its own: compile or load the kernels now,
    not on the first request, then take the objects that live as long as the
    server (numba's, the model's) out of the garbage collector's view: its full
    passes over them stalled requests (docs/performance.md, "Serving")."""
    import gc

    model.predict_proba(np.zeros((model.layer_dims[0], 1), dtype=model.dtype))
    gc.collect()
    gc.freeze()


def _exit_drained(signum, frame):
    raise SystemExit(0)
