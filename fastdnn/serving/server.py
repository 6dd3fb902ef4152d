"""``fastdnn serve``: a model over HTTP on the Open Inference Protocol, with dynamic batching.

Needs the ``serve`` extra: ``pip install "fastdnn[serve]"`` (Starlette, uvicorn,
prometheus_client, Pillow, python-multipart). No HTTP is parsed here; Starlette
and uvicorn do that. The pieces, in the order a request meets them:

- ``serving.protocol``: what a request's body may hold (tensors, images) and
  how it is decoded and checked;
- ``serving.routes``: ``create_app(model, name)``, the ASGI app: the protocol's
  HTTP routes over the service;
- ``serving.grpc_service``: the same protocol over gRPC (``--grpc-port``), over
  the same service;
- ``serving.service``: ``InferenceService``, what both transports share: the
  model and its reloads, the batcher, limits, metrics, metadata, and the one
  table from errors to statuses;
- ``serving.batcher``: ``Batcher``, concurrent requests coalesced into one
  ``Model.predict_proba`` on a worker thread;
- this module: ``run(path, ...)``, what the command calls: the process set-up
  (threads, kernels, garbage collector), uvicorn, reload on SIGHUP, SIGTERM
  drains the requests in flight and exits 0.
"""

import os
import signal

import numpy as np

from .batcher import Batcher
from .headers import MAX_HEADER_BYTES, MAX_HEADERS, http_protocol
from .model import Model
from .routes import create_app

__all__ = ["Batcher", "address", "batch_threads", "create_app", "prepare_process", "run"]


def run(
    path,
    name=None,
    host="127.0.0.1",
    port=8000,
    *,
    grpc_port=None,
    n_threads=None,
    max_header_bytes=MAX_HEADER_BYTES,
    max_headers=MAX_HEADERS,
    **options,
):
    """Serve the model file ``path`` until SIGTERM or Ctrl-C (``fastdnn serve``).

    ``options`` are ``create_app``'s (``max_batch``, ``max_delay_ms``,
    ``max_queue``, ``batching``, ``max_body_bytes``). Tuned for a process of its
    own: the batch kernel gets all cores but one (``n_threads``, unless given)
    and ``prepare_process`` runs before serving. With ``grpc_port``, the protocol is
    served over gRPC on that port too (``serving.grpc_service``). An HTTP request's head
    (request line and headers) may hold at most ``max_header_bytes`` bytes and
    ``max_headers`` fields, else 431 (``serving.headers``). Use ``create_app`` to mount
    the app in a server of your own without these.
    """
    import uvicorn

    model = Model.load(path)
    name = name or os.path.splitext(os.path.basename(os.fspath(path)))[0]
    if grpc_port is not None:
        _check_bindable(host, grpc_port, "--grpc-port")
    app = create_app(
        model,
        name,
        path=os.fspath(path),
        n_threads=batch_threads() if n_threads is None else n_threads,
        reload_on_sighup=True,
        grpc_address=None if grpc_port is None else address(host, grpc_port),
        **options,
    )
    dims = " -> ".join(map(str, model.layer_dims))
    print(
        f"fastdnn serve: model {name!r} ({dims}, {np.dtype(model.dtype).name}) on http://{address(host, port)}/v2/models/{name}"
        + ("" if grpc_port is None else f" and grpc://{address(host, grpc_port)}"),
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
            **http_protocol(max_header_bytes, max_headers),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def address(host, port):
    """ "host:port", an IPv6 address in brackets ("[::1]:8001"), as URLs and gRPC write it."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _check_bindable(host, port, flag):
    """OSError naming ``flag`` when ``host:port`` cannot be bound, before the server
    starts: a failure inside the app's start-up would end as uvicorn's traceback."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
            probe.bind((host.strip("[]"), port))
    except OSError as exc:
        raise OSError(
            exc.errno, f"{flag}: cannot serve on {address(host, port)} ({exc.strerror or exc})"
        ) from None


def batch_threads():
    """Threads for the batch kernel in a server process: all cores but one, since
    the event loop needs a core of its own (docs/performance.md, "Serving")."""
    return max(1, (os.cpu_count() or 2) - 1)


def prepare_process(model):
    """Before serving from a process of its own: compile or load the kernels now,
    not on the first request, then take the objects that live as long as the
    server (numba's, the model's) out of the garbage collector's view: its full
    passes over them stalled requests (docs/performance.md, "Serving"). Freed request
    memory goes back to the operating system (``serving.memory``)."""
    import gc

    from . import memory

    memory.enable()
    model.predict_proba(np.zeros((model.layer_dims[0], 1), dtype=model.dtype))
    gc.collect()
    gc.freeze()


def _exit_drained(signum, frame):
    raise SystemExit(0)
