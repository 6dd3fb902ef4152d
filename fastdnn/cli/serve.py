"""``fastdnn serve``: the command's checks, then ``fastdnn.serving.server``."""

from ..serving.headers import MAX_HEADER_BYTES, MAX_HEADERS  # plain constants: no extra needed

GRPC_MAX_MESSAGE = 2**31 - 1
"""gRPC keeps its message limits in a signed 32-bit int."""


def cmd_serve(args):
    try:
        from ..serving.server import run
    except ImportError as exc:
        raise ImportError(f'{exc}; install the extra: pip install "fastdnn[serve]"') from None
    for flag, value, least in [
        ("--max-batch", args.max_batch, 1),
        ("--max-queue", args.max_queue, 1),
        ("--max-body-bytes", args.max_body_bytes, 1),
        ("--max-image-pixels", args.max_image_pixels, 1),
        ("--max-header-bytes", args.max_header_bytes, 1024),
        ("--max-headers", args.max_headers, 1),
        ("--port", args.port, 0),
        ("--grpc-port", 0 if args.grpc_port is None else args.grpc_port, 0),
        ("--threads", args.threads or 1, 1),
    ]:
        if value < least:
            raise ValueError(f"{flag} must be at least {least}; got {value}")
    if args.grpc_port is not None and args.max_body_bytes > GRPC_MAX_MESSAGE:
        raise ValueError(
            f"--max-body-bytes must be at most {GRPC_MAX_MESSAGE} (2 GiB - 1, gRPC's largest "
            f"message) with --grpc-port; got {args.max_body_bytes}"
        )
    if not 0 <= args.max_delay_ms <= 1000:
        raise ValueError(f"--max-delay-ms must be within 0..1000; got {args.max_delay_ms}")
    run(
        args.model,
        args.name,
        args.host,
        args.port,
        grpc_port=args.grpc_port,
        max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms,
        max_queue=args.max_queue,
        n_threads=args.threads,
        batching=not args.no_batching,
        max_body_bytes=args.max_body_bytes,
        max_image_pixels=args.max_image_pixels,
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
    )


def register(sub):
    """Add this module's commands to the ``fastdnn`` parser's subcommands."""
    p = sub.add_parser(
        "serve",
        help="serve a model over HTTP and gRPC (Open Inference Protocol; needs fastdnn[serve])",
    )
    p.add_argument("model", help="model file written by 'fastdnn train' or save_model")
    p.add_argument("--name", help="the model's name in the URLs (default: the file's stem)")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="default: 8000")
    p.add_argument(
        "--grpc-port",
        type=int,
        help="serve the protocol over gRPC on this port too (Triton's habit: 8001; default: off)",
    )
    p.add_argument("--max-batch", type=int, default=256, help="examples per call (default: 256)")
    p.add_argument(
        "--max-delay-ms",
        type=float,
        default=2.0,
        help="how long a batch may wait to fill under load (default: 2)",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=8192,
        help="examples waiting before requests get 503 (default: 8192)",
    )
    p.add_argument(
        "--threads", type=int, help="threads per batch (default: all cores but one, for HTTP)"
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=64 << 20,
        help="larger bodies get 413 (default: 64 MiB)",
    )
    p.add_argument(
        "--max-image-pixels",
        type=int,
        default=50_000_000,
        help="larger uploaded images (declared width x height) get 413 (default: 50 million)",
    )
    p.add_argument(
        "--max-header-bytes",
        type=int,
        default=MAX_HEADER_BYTES,
        help="larger HTTP request heads (request line and headers) get 431 (default: 64 KiB)",
    )
    p.add_argument(
        "--max-headers",
        type=int,
        default=MAX_HEADERS,
        help=f"HTTP requests with more header fields get 431 (default: {MAX_HEADERS})",
    )
    p.add_argument(
        "--no-batching", action="store_true", help="one predict_proba per request (for comparison)"
    )
    p.set_defaults(func=cmd_serve)
