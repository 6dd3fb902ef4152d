"""The inference service behind ``fastdnn serve``: one, whatever the transport.

``InferenceService`` holds what HTTP (``serving.routes``) and gRPC
(``serving.grpc_service``) share: the model being served and its version
(``ModelState``; a reload swaps it for both), the batcher (one queue: a batch may
hold requests from both), the limits, the metrics (``Metrics``), ``predict``, the
model and server metadata, and ``STATUSES``, the one table from an error class (and
its subclasses) to what each transport answers. The transports only read their
requests, call the service, and write its answers in their own forms.

Every task the service starts (a reload on SIGHUP) is kept and awaited by ``stop``.
"""

import asyncio
import functools
import os
from typing import NamedTuple

import numpy as np

from .batcher import Batcher, QueueFull
from .model import Model
from .protocol import (
    INPUT,
    MAX_IMAGE_PIXELS,
    NAMES,
    OUTPUT,
    UINT8_SCALE,
    BadRequest,
    BodyTooLarge,
    UnknownModel,
    decode_image,
    reason,
    scaled_pixels,
    shown,
)

_INLINE_PIXELS = 1 << 20
"""UINT8 tensors up to this many pixels are scaled on the event loop (under a
millisecond); larger ones in the thread pool."""


class Status(NamedTuple):
    """What a transport answers for an error: HTTP's status code, gRPC's status name,
    the reason's form (``{}``: the error's message) and HTTP's extra headers."""

    http: int
    grpc: str
    form: str = "{}"
    headers: tuple = ()


STATUSES = (
    (UnknownModel, Status(404, "NOT_FOUND")),
    (BadRequest, Status(400, "INVALID_ARGUMENT")),
    (BodyTooLarge, Status(413, "RESOURCE_EXHAUSTED")),
    (
        QueueFull,
        Status(503, "RESOURCE_EXHAUSTED", "busy: {}; retry shortly", (("Retry-After", "1"),)),
    ),
)
"""Each error class, and its subclasses, to its answer; the first that matches counts.
An error of none of these is the server's own (HTTP's 500, gRPC's UNKNOWN)."""


def status_of(exc):
    """(``Status``, the one-line reason) for an error a transport answers, else None."""
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status, reason(status.form.format(exc))
    return None


def _to_thread(function, *args, **kwargs):
    """``function`` in the server's thread pool (Starlette's: anyio's limiter of 40)."""
    return _run_in_threadpool()(function, *args, **kwargs)


@functools.cache
def _run_in_threadpool():
    """Starlette's ``run_in_threadpool``, imported once (an import per request showed)."""
    from starlette.concurrency import run_in_threadpool

    return run_in_threadpool


class Metrics:
    """The Prometheus metrics of one service: requests by endpoint and status, latency by
    endpoint, examples per batch, examples waiting."""

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

    def endpoint(self, label):
        """The recorder of endpoint ``label``'s answers (``EndpointMetrics``)."""
        return EndpointMetrics(self, label)

    def on_batch(self, examples, waiting):
        if examples:
            self.batch.observe(examples)
        self.queue.set(waiting)


class EndpointMetrics:
    """One endpoint's metric children, looked up once each: prometheus_client's
    ``labels()`` validates and locks on every call, which shows per request."""

    def __init__(self, metrics, label):
        self._metrics, self._label = metrics, label
        self._latency = metrics.latency.labels(label)
        self._counters = {}

    def record(self, status, seconds):
        """Count one answer with ``status`` (HTTP's code or gRPC's name) taking ``seconds``."""
        counter = self._counters.get(status)
        if counter is None:
            counter = self._metrics.requests.labels(self._label, str(status))
            self._counters[status] = counter
        counter.inc()
        self._latency.observe(seconds)


class ModelState:
    """What the service serves: the model and its version (``current``, replaced whole on
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
        if self.path is None:
            raise BadRequest("this server was given a Model, not a file: nothing to reload")
        async with self.reload_lock:
            model = await _to_thread(Model.load, self.path)
            self.current = (model, self.version + 1)
        return model


class InferenceService:
    """``model`` served under ``name``: the state, batcher, limits, metrics and answers
    that every transport shares (``routes.create_app`` builds one for HTTP and gRPC).

    Parameters
    ----------
    model : fastdnn.Model, or any object with ``layer_dims``, ``dtype`` and
        ``predict_proba(X)`` for X of shape (n_x, m)
    name : str
        The model's name (``/v2/models/{name}/...``, gRPC's ``model_name``).
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
    """

    def __init__(
        self,
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
    ):
        from .._internal.version import __version__

        self.state = ModelState(model, name, path)
        self.metrics = Metrics()
        self.batching, self.n_threads = batching, n_threads
        self._batcher_options = (max_batch, max_delay_ms, max_queue, n_threads)
        self.max_body_bytes, self.max_image_pixels = max_body_bytes, max_image_pixels
        self.server = {
            "name": "fastdnn",
            "version": __version__,
            "extensions": ["binary_tensor_data"],
        }
        self.batcher = None
        self._decoding = asyncio.Semaphore(max(1, os.cpu_count() or 1))  # images at once
        self._tasks = set()

    # ------------------------------------------------------------------ lifetime

    def start(self):
        """Start the batcher (on the event loop that serves, before the first request)."""
        if self.batching and self.batcher is None:
            self.batcher = Batcher(*self._batcher_options, self.metrics.on_batch)

    async def stop(self):
        """Await every task the service started, then let the batcher answer what it
        holds and stop (the transports have stopped taking requests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.batcher is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.batcher.close)

    def spawn(self, coroutine):
        """Run ``coroutine`` as a task the service keeps until it ends (``stop`` awaits it)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ answers

    def served(self, name, version=None):
        """``ModelState.served``: (model, version), else UnknownModel."""
        return self.state.served(name, version)

    def metadata(self, model, version):
        """The protocol's model metadata of ``model`` at ``version``, as a dict."""
        n_x, n_L, datatype = model.layer_dims[0], model.layer_dims[-1], NAMES[np.dtype(model.dtype)]
        return {
            "name": self.state.name,
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

    async def predict(self, model, rows):
        """Probabilities (m, n_L) of ``rows`` (m, n_x: ``model.dtype``, or uint8 pixels)."""
        scale = None
        if rows.dtype == np.uint8:  # pixels: an int8 model reads them as they are
            if getattr(model, "precision", None) == "int8":
                scale = UINT8_SCALE
            elif rows.size < _INLINE_PIXELS:
                rows = scaled_pixels(rows, model.dtype)
            else:  # off the event loop: a large tensor would stall other requests
                rows = await _to_thread(scaled_pixels, rows, model.dtype)
        if self.batching:
            return await self.batcher.predict(model, rows, scale)
        options = {} if scale is None else {"scale": scale}
        if getattr(model, "run_inline", False):  # a backend that answers in microseconds
            return np.asarray(model.predict_proba(rows.T, **options)).T
        if self.n_threads is not None:
            options["n_threads"] = self.n_threads
        return np.asarray(await _to_thread(model.predict_proba, rows.T, **options)).T

    async def decode_images(self, model, images):
        """The rows (m, n_x) of ``images`` ((file name, bytes) pairs), decoded in the
        thread pool, at most one per core at a time (``decode_image``)."""
        rows = []
        for name, data in images:
            async with self._decoding:
                rows.append(
                    await _to_thread(
                        decode_image, data, model.layer_dims[0], name, self.max_image_pixels
                    )
                )
        return np.concatenate(rows)

    async def reload(self):
        """Load the model file again; BadRequest (the old model still served) if that fails."""
        try:
            return await self.state.reload()
        except (ValueError, OSError) as exc:
            raise BadRequest(f"reload failed, still serving the previous model: {exc}") from None

    async def reload_and_say(self):
        """``reload``, saying on stdout what happened (``fastdnn serve``'s SIGHUP)."""
        try:
            model = await self.reload()
            dims = list(model.layer_dims)
            print(f"fastdnn serve: reloaded {self.state.path!r} ({dims})", flush=True)
        except BadRequest as exc:
            print(f"fastdnn serve: {exc}", flush=True)

    def exposition(self):
        """(the metrics in Prometheus' text format, its content type)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if self.batcher is not None:
            self.metrics.queue.set(self.batcher.waiting)
        return generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST
