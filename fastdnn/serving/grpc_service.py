"""``fastdnn serve --grpc-port``: the Open Inference Protocol over gRPC, beside HTTP.

``inference.GRPCInferenceService`` (``serving.grpc_messages``): live, ready, model
ready, server and model metadata, and ``ModelInfer`` with the tensor in
``raw_input_contents`` (bytes, as Triton's clients send it) or in typed contents
(``fp32_contents``, ``fp64_contents``; ``uint_contents`` for UINT8 pixels). The answer
comes back the way the request came: raw bytes for raw input, typed contents for
typed.

The gRPC server (``grpc.aio``) runs on a thread of its own, with its own event loop,
over the same ``serving.service.InferenceService`` as HTTP (``serving.routes.create_app``
starts and stops it in the app's lifespan): the model being served (a reload swaps it
for both), the batcher (one queue: a batch may hold requests from both), the limits (a
message over ``max_body_bytes`` is refused by gRPC itself; a full queue is
``RESOURCE_EXHAUSTED``) and the metrics (endpoints ``grpc_infer``, ...). On shutdown it
stops taking calls and finishes those in flight before the batcher answers what it
holds. Errors are the status codes of ``service.STATUSES`` with the reason HTTP gives:
``INVALID_ARGUMENT`` (HTTP's 400), ``NOT_FOUND`` (404), ``RESOURCE_EXHAUSTED`` (503).
"""

import asyncio
import threading
import time

import numpy as np

from . import memory
from .grpc_messages import METHODS, SERVICE, messages
from .protocol import (
    DATATYPES,
    INPUT,
    NAMES,
    OUTPUT,
    BadRequest,
    check_answer,
    check_binary,
    check_datatype,
    check_shape,
    shown,
    tensor_bytes,
    tensor_rows,
)
from .service import status_of

_TYPED = {"FP32": "fp32_contents", "FP64": "fp64_contents", "UINT8": "uint_contents"}
"""Where each datatype's values sit in ``InferTensorContents`` (Triton's convention:
8-, 16- and 32-bit unsigned integers all in ``uint_contents``)."""


_SLICE = 1 << 16
"""Typed contents are converted this many values at a time, the GIL let go between
slices: a 64-million-value tensor must not stall the HTTP thread for seconds."""


def typed_values(field, dtype):
    """A repeated numeric field as an array of ``dtype``, a slice at a time (protobuf
    offers no buffer to read it at once: every value becomes a Python number)."""
    n = len(field)
    out = np.empty(n, dtype=dtype)
    values = iter(field)
    for lo in range(0, n, _SLICE):
        hi = min(n, lo + _SLICE)
        out[lo:hi] = np.fromiter(values, dtype=dtype, count=hi - lo)
        time.sleep(0)  # let the other threads (HTTP's event loop) run
    return out


def decode_request(request, n_x, dtype):
    """(rows (m, n_x), raw) from a ``ModelInferRequest``: rows as ``protocol.decode_infer``
    gives them (``dtype``, or uint8 pixels), ``raw`` whether the tensor came as bytes.
    Typed contents take a while for a large tensor: call it off the event loop."""
    if len(request.inputs) != 1:
        raise BadRequest(f"the model takes one input tensor; got {len(request.inputs)}")
    tensor = request.inputs[0]
    where = f"input {shown(tensor.name or INPUT)}"
    m, _ = check_shape(list(tensor.shape), n_x, where)
    datatype = check_datatype(tensor.datatype, where)
    raw = len(request.raw_input_contents) > 0
    if raw:
        if len(request.raw_input_contents) != 1:
            raise BadRequest(
                f"raw_input_contents holds {len(request.raw_input_contents)} tensors; "
                "the model takes one"
            )
        if tensor.HasField("contents"):
            raise BadRequest(f"{where}: both raw_input_contents and contents hold the tensor")
        values = check_binary(request.raw_input_contents[0], datatype, m, n_x, where)
    else:
        typed = getattr(tensor.contents, _TYPED[datatype])
        if len(typed) != m * n_x:
            raise BadRequest(
                f"{where}: shape [{m}, {n_x}] needs {m * n_x} values; data holds {len(typed)}"
            )
        # uint_contents holds 32-bit values: read as such, then checked to be 0..255
        values = typed_values(typed, np.uint32 if datatype == "UINT8" else DATATYPES[datatype])
    return tensor_rows(values, datatype, m, n_x, dtype, where), raw


def encode_response(P, name, version, request_id, raw):
    """The ``ModelInferResponse`` for probabilities ``P`` (m, n_L) of model ``name`` at
    ``version`` (the one that computed them)."""
    reply = messages["ModelInferResponse"](
        model_name=name, model_version=str(version), id=request_id
    )
    output = reply.outputs.add(name=OUTPUT, datatype=NAMES[P.dtype], shape=list(P.shape))
    if raw:
        reply.raw_output_contents.append(tensor_bytes(P))
    else:
        field, flat = getattr(output.contents, _TYPED[NAMES[P.dtype]]), P.ravel()
        for lo in range(0, flat.size, _SLICE):  # Python floats a slice at a time
            field.extend(flat[lo : lo + _SLICE].tolist())
    return reply


def handlers(service):
    """The gRPC service's generic handler over ``service`` (an ``InferenceService``)."""
    import grpc

    behaviours = _Behaviours(service)
    methods = {}
    for method, label in _LABELS.items():
        request_type, response_type = (messages[name] for name in METHODS[method])
        recorder = service.metrics.endpoint(f"grpc_{label}")
        methods[method] = grpc.unary_unary_rpc_method_handler(
            _call(recorder, getattr(behaviours, method), request_type),
            response_serializer=response_type.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE, methods)


_LABELS = {
    "ServerLive": "live",
    "ServerReady": "ready",
    "ModelReady": "ready",
    "ServerMetadata": "metadata",
    "ModelMetadata": "metadata",
    "ModelInfer": "infer",
}
"""Each method's metrics endpoint (``grpc_<label>``), as HTTP's."""


def _call(recorder, behaviour, request_type):
    """One method's handler: the request parsed here, not by grpc (a malformed message is
    the client's error, ``INVALID_ARGUMENT``, which grpc's own parsing would report as
    ``UNKNOWN``), errors to status codes (``service.STATUSES``), metrics for every answer."""
    import grpc
    from google.protobuf.message import DecodeError

    async def handle(data, context):
        start, status = time.perf_counter(), "OK"
        try:
            try:
                request = request_type.FromString(data)
            except DecodeError:
                name = request_type.DESCRIPTOR.full_name
                raise BadRequest(f"not a valid {name} message") from None
            return await behaviour(request)
        except asyncio.CancelledError:  # the client went away: its batch slot is dropped
            status = "CANCELLED"
            raise
        except Exception as exc:
            answer = status_of(exc)
            if answer is None:
                status = "UNKNOWN"
                raise
            status = answer[0].grpc
            await context.abort(getattr(grpc.StatusCode, status), answer[1])
        finally:
            memory.released(len(data))
            recorder.record(status, time.perf_counter() - start)

    return handle


class _Behaviours:
    """What each method answers, over ``service``."""

    def __init__(self, service):
        self.service = service

    async def ServerLive(self, request):
        return messages["ServerLiveResponse"](live=True)

    async def ServerReady(self, request):
        return messages["ServerReadyResponse"](ready=True)

    async def ModelReady(self, request):
        self.service.served(request.name, request.version)
        return messages["ModelReadyResponse"](ready=True)

    async def ServerMetadata(self, request):
        return messages["ServerMetadataResponse"](**self.service.server)

    async def ModelMetadata(self, request):
        meta = self.service.metadata(*self.service.served(request.name, request.version))
        reply = messages["ModelMetadataResponse"](
            name=meta["name"], versions=meta["versions"], platform=meta["platform"]
        )
        for field in ("inputs", "outputs"):
            for tensor in meta[field]:
                getattr(reply, field).add(**tensor)
        return reply

    async def ModelInfer(self, request):
        service = self.service
        model, version = service.served(request.model_name, request.model_version)
        dtype, n_x = np.dtype(model.dtype), model.layer_dims[0]
        if request.raw_input_contents:
            rows, raw = decode_request(request, n_x, dtype)
        else:  # typed contents: a large tensor's conversion runs beside the event loop
            rows, raw = await asyncio.to_thread(decode_request, request, n_x, dtype)
        check_answer(len(rows), model.layer_dims[-1], dtype.itemsize, service.max_body_bytes)
        P = await service.predict(model, rows)
        name = service.state.name
        if raw:
            return encode_response(P, name, version, request.id, raw)
        return await asyncio.to_thread(encode_response, P, name, version, request.id, raw)


class GrpcServer:
    """``grpc.aio`` serving ``handlers(service)`` on ``address`` ("host:port"; port 0: any
    free one, then ``.port``) from a thread and event loop of its own.

    ``start()`` returns once the port is bound (or raises ``OSError`` if it cannot
    be); ``stop(grace)`` stops taking calls, waits up to ``grace`` seconds for the
    calls in flight, and joins the thread."""

    def __init__(self, service, address, max_message_bytes):
        self.service, self.address, self.port = service, address, None
        self.options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a taken port must fail, not share it
        ]
        self._loop = self._server = self._thread = self._error = self._stop = None
        self._grace = None

    def start(self):
        # A plain asyncio loop: grpc.aio does not run on uvloop, which uvicorn may install.
        self._loop = asyncio.SelectorEventLoop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete,
            args=(self._serve(ready),),
            name="fastdnn-grpc",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if self._error is not None:
            self._thread.join()
            raise OSError(f"gRPC: cannot serve on {self.address} ({self._error})")

    async def _serve(self, ready):
        import grpc

        try:
            self._server = grpc.aio.server(options=self.options)
            self._server.add_generic_rpc_handlers((handlers(self.service),))
            self.port = self._server.add_insecure_port(self.address)
            if not self.port:  # older grpcio report a failed bind as port 0
                raise RuntimeError("the port could not be bound")
            await self._server.start()
        except Exception as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            ready.set()
            return
        self._stop = asyncio.Event()
        ready.set()
        await self._stop.wait()
        # The shutdown runs here, in the coroutine the thread's loop runs to completion:
        # no task of its own to lose, and the loop runs until grpc's stop() returns
        # (waiting for the server's termination instead ended the loop under it).
        await self._server.stop(self._grace)

    def stop(self, grace=30.0):
        if self._thread is None or self._error is not None:
            return
        self._grace = grace
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._loop.close()
        self._thread = None
