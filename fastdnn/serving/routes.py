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
import signal
import time

import numpy as np
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from . import memory
from .protocol import (
    BINARY_HEADER,
    NAMES,
    NPY,
    OUTPUT,
    BadRequest,
    BodyTooLarge,
    check_answer,
    decode_infer,
    dumps,
    tensor_bytes,
)
from .service import InferenceService, status_of

_BODY_BYTES = "fastdnn.body_bytes"
"""The request scope's key for the size of a large body (``memory.LARGE_BODY`` and more)."""


def create_app(model, name="model", *, reload_on_sighup=False, grpc_address=None, **options):
    """The ASGI app serving ``model`` under ``name``: a Starlette app, with inference requests
    answered before its middleware (``_InferFirst``); ``.app`` is the Starlette app itself.

    Parameters
    ----------
    model : fastdnn.Model, or any object with ``layer_dims``, ``dtype`` and
        ``predict_proba(X)`` for X of shape (n_x, m)
    name : str
        The model's name in the URLs, ``/v2/models/{name}/...``.
    reload_on_sighup : bool
        Reload the model file on SIGHUP (``fastdnn serve``).
    grpc_address : str, optional
        "host:port" to serve the protocol over gRPC as well, while the app runs
        (``serving.grpc_service``: the same service, so the same model, batcher,
        limits and metrics; port 0 takes a free port, then ``app.state.grpc.port``).
    **options
        ``path``, ``max_batch``, ``max_delay_ms``, ``max_queue``, ``n_threads``,
        ``batching``, ``max_body_bytes``, ``max_image_pixels``: the service's
        (``fastdnn.serving.service.InferenceService``).
    """

    service = InferenceService(model, name, **options)
    grpc_server = None
    if grpc_address is not None:
        from .grpc_service import GrpcServer

        grpc_server = GrpcServer(service, grpc_address, service.max_body_bytes)
    handlers = _Handlers(service)
    app = Starlette(
        routes=handlers.routes(),
        lifespan=_lifespan(service, grpc_server, reload_on_sighup),
    )
    app.state.fastdnn = service.state
    app.state.service = service
    app.state.grpc = grpc_server
    return _InferFirst(app, handlers.infer_routes)


def _lifespan(service, grpc_server, reload_on_sighup):
    """The app's start-up and shutdown: the service, SIGHUP, and gRPC beside HTTP."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        service.start()
        loop = asyncio.get_running_loop()
        if reload_on_sighup:
            loop.add_signal_handler(signal.SIGHUP, lambda: service.spawn(service.reload_and_say()))
        if grpc_server is not None:
            await loop.run_in_executor(None, grpc_server.start)
        try:
            yield
        finally:
            if reload_on_sighup:
                loop.remove_signal_handler(signal.SIGHUP)
            # gRPC's calls in flight finish first: they may be waiting on the batcher.
            if grpc_server is not None:
                await loop.run_in_executor(None, grpc_server.stop)
            await service.stop()

    return lifespan


def _endpoint(metrics, label, handler):
    """``handler`` wrapped for HTTP: errors to their status (``service.STATUSES``), a
    client gone to 499, metrics for every answer, large bodies' memory released."""
    recorder = metrics.endpoint(label)

    async def handle(request):
        start = time.perf_counter()
        try:
            response = await handler(request)
        except ClientDisconnect:
            response = Response(status_code=499)
        except Exception as exc:
            answer = status_of(exc)
            if answer is None:
                raise
            status, message = answer
            response = _error(status.http, message, dict(status.headers))
        recorder.record(response.status_code, time.perf_counter() - start)
        if _BODY_BYTES in request.scope:
            memory.released(request.scope[_BODY_BYTES])
        return response

    return handle


def _error(status, message, headers=None):

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _json(content):

    return JSONResponse(content)


class _Handlers:
    """The protocol's HTTP routes over ``service``: each reads its request, asks the
    service, and writes the answer."""

    def __init__(self, service):

        self.service = service
        wrap = {
            label: _endpoint(service.metrics, label, handler)
            for label, handler in (
                ("metadata", self.model_metadata),
                ("ready", self.model_ready),
                ("infer", self.infer),
                ("image", self.predict_image),
                ("load", self.load),
            )
        }
        self.endpoints = wrap
        # Each model route also under /versions/{version}, as the protocol's clients ask
        # (tritonclient's model_version=): the version served, else 404.
        self.infer_routes = [
            Route(f"/v2/models/{{name}}{versioned}/infer", wrap["infer"], methods=["POST"])
            for versioned in ("", "/versions/{version}")
        ]

    def routes(self):

        wrap = self.endpoints
        return [
            Route("/v2/health/live", self.live),
            Route("/v2/health/ready", self.ready),
            Route("/v2", self.server_metadata),
            *(
                Route(f"/v2/models/{{name}}{versioned}{tail}", handler)
                for versioned in ("", "/versions/{version}")
                for tail, handler in (("", wrap["metadata"]), ("/ready", wrap["ready"]))
            ),
            *self.infer_routes,
            Route("/v2/repository/models/{name}/load", wrap["load"], methods=["POST"]),
            Route("/predict/image", wrap["image"], methods=["POST"]),
            Route("/metrics", self.metrics_page),
        ]

    def served(self, request):
        """(model, version) the URL names (the one being served now), else UnknownModel."""
        params = request.path_params  # a property that builds its value: read once
        return self.service.served(params["name"], params.get("version"))

    async def body_of(self, request):
        """The request's body, BodyTooLarge past ``max_body_bytes`` (declared or sent)."""
        limit = self.service.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"the body has {declared} bytes; the limit is {limit}")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"the body exceeds the {limit}-byte limit")
                chunks.append(chunk)
        finally:
            if size >= memory.LARGE_BODY:  # what memory.released hears when it ends
                request.scope[_BODY_BYTES] = size
        return b"".join(chunks)

    async def live(self, request):
        return _json({"live": True})

    async def ready(self, request):
        return _json({"ready": True})

    async def server_metadata(self, request):
        return _json(self.service.server)

    async def model_metadata(self, request):
        return _json(self.service.metadata(*self.served(request)))

    async def model_ready(self, request):
        self.served(request)
        return _json({"name": self.service.state.name, "ready": True})

    async def infer(self, request):

        model, version = self.served(request)
        body = await self.body_of(request)
        dtype = np.dtype(model.dtype)
        rows, header, answer = decode_infer(body, request.headers, model.layer_dims[0], dtype)
        check_answer(
            len(rows),
            model.layer_dims[-1],
            dtype.itemsize,
            self.service.max_body_bytes,
            json_values=answer == "json",
        )
        P = await self.service.predict(model, rows)
        if answer == "npy":
            buffer = io.BytesIO()
            np.save(buffer, P, allow_pickle=False)
            return Response(buffer.getvalue(), media_type=NPY)
        output = {"name": OUTPUT, "datatype": NAMES[P.dtype], "shape": list(P.shape)}
        name = self.service.state.name
        reply = {"model_name": name, "model_version": str(version), "outputs": [output]}
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

    async def predict_image(self, request):
        model, _ = self.service.state.current
        images = await self.uploads(request)
        check_answer(
            len(images), model.layer_dims[-1], 1, self.service.max_body_bytes, json_values=True
        )
        P = await self.service.predict(model, await self.service.decode_images(model, images))
        return _json(
            {
                "model_name": self.service.state.name,
                "predictions": [
                    {"filename": n, "probability": float(p[0]), "label": int(p[0] > 0.5)}
                    for (n, _), p in zip(images, P, strict=True)
                ],
            }
        )

    async def uploads(self, request):
        """The (file name, bytes) of each file of a multipart/form-data body."""

        body = await self.body_of(request)  # the size limit, before the multipart parser runs
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
        return [(upload.filename or key, await upload.read()) for key, upload in uploads]

    async def load(self, request):
        self.served(request)
        await self.service.reload()
        return _json({})

    async def metrics_page(self, request):

        content, media_type = self.service.exposition()
        return Response(content, media_type=media_type)


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
