"""The ASGI app of ``fastdnn serve``: the Open Inference Protocol's routes, errors and metrics.

``create_app(model, name)`` is a Starlette app (mount it in your own, or let
``fastdnn serve`` run it, ``fastdnn.serving.server``). It speaks the Open
Inference Protocol's REST API ("v2", as Triton, KServe and MLServer do), so
their clients work unchanged: health, server and model metadata,
``POST /v2/models/{name}/infer`` (bodies decoded by ``serving.protocol``), and
``POST /predict/image`` for PNG/JPEG uploads. Every request is validated on
the event loop before it is queued for the batcher (``serving.batcher``).
"""

import asyncio
import io
import os
import signal
import time
import types

import numpy as np

from . import memory
from .batcher import Batcher, QueueFull
from .model import Model
from .protocol import (
    BINARY_HEADER,
    INPUT,
    MAX_IMAGE_PIXELS,
    NAMES,
    NPY,
    OUTPUT,
    UINT8_SCALE,
    BadRequest,
    BodyTooLarge,
    UnknownModel,
    check_answer,
    decode_image,
    decode_infer,
    dumps,
    reason,
    scaled_pixels,
    shown,
    tensor_bytes,
)

_BODY_BYTES = "fastdnn.body_bytes"
"""The request scope's key for the size of a large body (``memory.LARGE_BODY`` and more)."""

_INLINE_PIXELS = 1 << 20
"""UINT8 tensors up to this many pixels are scaled on the event loop (under a
millisecond); larger ones in the thread pool."""


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
    """What the app serves: the model and its version (``current``, replaced whole on
    reload, so that a request takes both at once) and where it came from."""

    def __init__(self, model, name, path):
        self.name, self.path = name, path
        self.current = (model, 1)
        self.reload_lock = asyncio.Lock()

    @property
    def model(self):
        return self.current[0]

    @property
    def version(self):
        return self.current[1]

    def served(self, name, version=None):
        """(model, version) being served, read together once: the version an answer
        names is the one that computed it, whatever reload happens meanwhile.
        UnknownModel for another ``name``, or a ``version`` other than the one served
        (None or "" ask for the one served, as the protocol's unversioned paths do)."""
        model, current = self.current
        if name != self.name:
            raise UnknownModel(f"no model named {shown(name)} (this server has {self.name!r})")
        if version and version != str(current):
            raise UnknownModel(
                f"model {self.name!r} has no version {shown(version)} (it serves version {current})"
            )
        return model, current

    async def reload(self):
        """Load ``path`` again and swap it in at once; requests already queued finish on the old model."""
        from starlette.concurrency import run_in_threadpool

        if self.path is None:
            raise BadRequest("this server was given a Model, not a file: nothing to reload")
        async with self.reload_lock:
            model = await run_in_threadpool(Model.load, self.path)
            self.current = (model, self.version + 1)
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
    max_image_pixels=MAX_IMAGE_PIXELS,
    reload_on_sighup=False,
    grpc_address=None,
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
    max_image_pixels : int
        Larger images (declared width x height, read before decoding) are
        answered 413. At most one image per core is decoded at a time, so the
        images in flight cost at most cores x 4 bytes x ``max_image_pixels``.
    grpc_address : str, optional
        "host:port" to serve the protocol over gRPC as well, while the app runs
        (``serving.grpc_service``: the same model, batcher, limits and metrics;
        port 0 takes a free port, then ``app.state.grpc.port``).
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from .._internal.version import __version__

    metrics = _Metrics()
    state = _State(model, name, path)
    batcher = None
    decoding = asyncio.Semaphore(max(1, os.cpu_count() or 1))  # images decoded at once

    def error(status, message, **headers):
        return JSONResponse({"error": reason(message)}, status_code=status, headers=headers)

    async def body_of(request):
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise BodyTooLarge(f"the body has {declared} bytes; the limit is {max_body_bytes}")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_body_bytes:
                    raise BodyTooLarge(f"the body exceeds the {max_body_bytes}-byte limit")
                chunks.append(chunk)
        finally:
            if size >= memory.LARGE_BODY:  # what memory.released hears when it ends
                request.scope[_BODY_BYTES] = size
        return b"".join(chunks)

    async def predict(model, rows):
        scale = None
        if rows.dtype == np.uint8:  # pixels: an int8 model reads them as they are
            if getattr(model, "precision", None) == "int8":
                scale = UINT8_SCALE
            elif rows.size < _INLINE_PIXELS:
                rows = scaled_pixels(rows, model.dtype)
            else:  # off the event loop: a 64 MiB tensor takes a tenth of a second
                rows = await run_in_threadpool(scaled_pixels, rows, model.dtype)
        if batching:
            return await batcher.predict(model, rows, scale)
        options = {} if scale is None else {"scale": scale}
        if getattr(model, "run_inline", False):  # a backend that answers in microseconds
            return np.asarray(model.predict_proba(rows.T, **options)).T
        if n_threads is not None:
            options["n_threads"] = n_threads
        return np.asarray(await run_in_threadpool(model.predict_proba, rows.T, **options)).T

    def endpoint(label):
        """Wrap a handler: errors to their status, metrics for every answer."""

        # The endpoint's metric children, looked up once: prometheus_client's labels()
        # validates and locks on every call, a few microseconds per request.
        latency, counters = metrics.latency.labels(label), {}

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
                status = response.status_code
                counter = counters.get(status)
                if counter is None:
                    counter = counters[status] = metrics.requests.labels(label, str(status))
                counter.inc()
                latency.observe(time.perf_counter() - start)
                if _BODY_BYTES in request.scope:
                    memory.released(request.scope[_BODY_BYTES])
                return response

            return handle

        return wrap

    def served(request):
        """(model, version) the URL names (the one being served now), else UnknownModel."""
        params = request.path_params  # a property that builds its value: read once
        return state.served(params["name"], params.get("version"))

    def metadata(model, version):
        n_x, n_L, datatype = model.layer_dims[0], model.layer_dims[-1], NAMES[np.dtype(model.dtype)]
        return {
            "name": state.name,
            "versions": [str(version)],
            "platform": "fastdnn",
            "inputs": [{"name": INPUT, "datatype": datatype, "shape": [-1, n_x]}],
            "outputs": [{"name": OUTPUT, "datatype": datatype, "shape": [-1, n_L]}],
            "parameters": {
                "layer_dims": list(model.layer_dims),
                "precision": getattr(model, "precision", np.dtype(model.dtype).name),
                "accepts": ["FP32", "FP64", "UINT8"],
                "uint8_scale": UINT8_SCALE,
            },
        }

    async def live(request):
        return JSONResponse({"live": True})

    async def ready(request):
        return JSONResponse({"ready": True})

    async def server_metadata(request):
        return JSONResponse(core.server)

    @endpoint("metadata")
    async def model_metadata(request):
        return JSONResponse(metadata(*served(request)))

    @endpoint("ready")
    async def model_ready(request):
        served(request)
        return JSONResponse({"name": state.name, "ready": True})

    @endpoint("infer")
    async def infer(request):
        model, version = served(request)
        body = await body_of(request)
        dtype = np.dtype(model.dtype)
        rows, header, answer = decode_infer(body, request.headers, model.layer_dims[0], dtype)
        n_L = model.layer_dims[-1]
        check_answer(len(rows), n_L, dtype.itemsize, max_body_bytes, json_values=answer == "json")
        P = await predict(model, rows)
        if answer == "npy":
            buffer = io.BytesIO()
            np.save(buffer, P, allow_pickle=False)
            return Response(buffer.getvalue(), media_type=NPY)
        output = {"name": OUTPUT, "datatype": NAMES[P.dtype], "shape": list(P.shape)}
        reply = {"model_name": state.name, "model_version": str(version), "outputs": [output]}
        if "id" in header:
            if not isinstance(header["id"], str):
                raise BadRequest(f'body: "id" must be a string; got {type(header["id"]).__name__}')
            reply["id"] = header["id"]
        if answer == "json":
            output["data"] = P.ravel().tolist()  # Python floats: each value's exact float64
            return Response(dumps(reply), media_type="application/json")
        data = tensor_bytes(P)
        output["parameters"] = {"binary_data_size": len(data)}
        head = dumps(reply)
        return Response(
            head + data,
            media_type="application/octet-stream",
            headers={BINARY_HEADER: str(len(head))},
        )

    @endpoint("image")
    async def predict_image(request):
        model, _ = state.current
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
            async with decoding:
                rows.append(
                    await run_in_threadpool(decode_image, data, n_x, names[-1], max_image_pixels)
                )
        check_answer(len(rows), model.layer_dims[-1], 1, max_body_bytes, json_values=True)
        P = await predict(model, np.concatenate(rows))
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

    core = types.SimpleNamespace(
        state=state,
        predict=predict,
        metrics=metrics,
        metadata=metadata,
        max_answer_bytes=max_body_bytes,
        server={"name": "fastdnn", "version": __version__, "extensions": ["binary_tensor_data"]},
    )
    grpc_server = None
    if grpc_address is not None:
        from .grpc_service import GrpcServer

        grpc_server = GrpcServer(core, grpc_address, max_body_bytes)

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
        loop = asyncio.get_running_loop()
        if reload_on_sighup:
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload_on_signal()))
        if grpc_server is not None:
            await loop.run_in_executor(None, grpc_server.start)
        try:
            yield
        finally:
            # gRPC's calls in flight finish first: they may be waiting on the batcher.
            if grpc_server is not None:
                await loop.run_in_executor(None, grpc_server.stop)
            if batcher is not None:
                await loop.run_in_executor(None, batcher.close)

    # Each model route also under /versions/{version}, as the protocol's clients ask
    # (tritonclient's model_version=): the version served, else 404.
    infer_routes = [
        Route(f"/v2/models/{{name}}{versioned}/infer", infer, methods=["POST"])
        for versioned in ("", "/versions/{version}")
    ]
    routes = [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        *(
            Route(f"/v2/models/{{name}}{versioned}{tail}", handler)
            for versioned in ("", "/versions/{version}")
            for tail, handler in (("", model_metadata), ("/ready", model_ready))
        ),
        *infer_routes,
        Route("/v2/repository/models/{name}/load", load, methods=["POST"]),
        Route("/predict/image", predict_image, methods=["POST"]),
        Route("/metrics", metrics_page),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.fastdnn = state
    app.state.grpc = grpc_server
    return _InferFirst(app, infer_routes)


class _InferFirst:
    """The Starlette app, with ``POST /v2/models/{name}/infer`` answered before its
    middleware and router: a batched request is suspended while its batch runs, and
    resuming it through Starlette's eight nested ASGI layers cost the event loop more
    than the rest of its Python work (docs/performance.md, "Serving"). The request is
    matched by the app's own ``Route`` and answered by its endpoint (the same
    ``endpoint``-wrapped ``infer``: errors and metrics alike); every other request, a GET
    of that path included, and the lifespan go to the app.
    """

    def __init__(self, app, routes):
        from starlette.requests import Request
        from starlette.routing import Match

        self.app, self.state, self._routes = app, app.state, routes
        self._request, self._full = Request, Match.FULL  # bound once, not per request

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            for route in self._routes:
                match, child_scope = route.matches(scope)  # root_path of a mount included
                if match is self._full:
                    scope.update(child_scope, app=self.app)
                    response = await route.endpoint(self._request(scope, receive, send))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
