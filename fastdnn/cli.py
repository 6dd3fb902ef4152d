"""The ``fastdnn`` command: train, predict, serve, info, demo, warmup.

Exit codes: 0 on success; 2 for bad usage, bad input or a file that cannot be
read or written (one line on stderr); 130 on Ctrl-C; 1 for anything unexpected.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from ._internal.atomic import atomic_path

COURSE_FILES = {"train": "train_catvnoncat.h5", "test": "test_catvnoncat.h5"}


def _read_xy(path, split):
    """(X of shape (n_x, m), Y of shape (1, m) or None, one example's shape) from HDF5 data.

    A folder in the course's layout gives its ``split`` file (``train`` for
    training, ``test`` for predicting); a file must hold a dataset whose name
    ends in ``_x`` (samples first: images (m, h, w, c) or rows (m, n)) and
    optionally one ending in ``_y``, of 0/1 labels.
    """
    import h5py

    from .app.data import flatten_images

    if os.path.isdir(path):
        name = COURSE_FILES[split]
        if not os.path.isfile(os.path.join(path, name)):
            raise ValueError(
                f"DATA folder {path!r} has no {name} (the course's layout: "
                f"{COURSE_FILES['train']} to train, {COURSE_FILES['test']} to predict)"
            )
        path = os.path.join(path, name)
    elif not os.path.isfile(path):
        raise FileNotFoundError(f"no data file or folder at {path!r}")
    try:
        with h5py.File(path, "r") as f:
            xs = [k for k in f if k.lower().endswith("_x") or k == "X"]
            ys = [k for k in f if k.lower().endswith("_y") or k == "Y"]
            if len(xs) != 1:
                raise ValueError(f"{path!r} must hold one dataset named *_x; found {sorted(f)}")
            x = np.array(f[xs[0]][()])
            y = np.array(f[ys[0]][()]) if len(ys) == 1 else None
    except OSError as exc:
        raise ValueError(f"{path!r} is not a readable HDF5 file ({exc})") from None
    if x.dtype.kind not in "fiub" or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(
            f"{path!r}: {xs[0]} must hold numbers, samples first (m, ...) with m >= 1; "
            f"got dtype {x.dtype}, shape {x.shape}"
        )
    X = flatten_images(x) if x.dtype == np.uint8 else x.reshape(x.shape[0], -1).T.astype(np.float64)
    if y is not None:
        if y.size != X.shape[1]:
            raise ValueError(f"{path!r}: {X.shape[1]} samples but {y.size} labels in {ys[0]}")
        y = y.reshape(1, -1)
        bad = np.flatnonzero((y != 0) & (y != 1))
        if bad.size:
            raise ValueError(
                f"{path!r}: labels in {ys[0]} must be 0 or 1; example {bad[0]} has "
                f"{y[0, bad[0]].item()!r} ({bad.size} such)"
            )
    return X, y, x.shape[1:]


def _shape(example_shape):
    return "x".join(map(str, example_shape))


def cmd_train(args):
    from .serving.modelfile import save_model

    X, Y, _ = _read_xy(args.data, "train")
    if Y is None:
        raise ValueError(f"{args.data!r} has no labels (*_y dataset) to train on")
    X = X.astype(args.dtype, copy=False)
    dims = [X.shape[0], *args.layers, 1]
    t = time.perf_counter()
    parameters, costs = _train(X, Y, dims, args)
    seconds = time.perf_counter() - t
    settings = {
        "learning_rate": args.learning_rate,
        "num_iterations": args.iterations,
        "layers_dims": dims,
        "seconds": round(seconds, 3),
    }
    save_model(args.out, parameters, training=settings)
    acc = float(np.mean(_labels(X, parameters) == Y))
    print(
        f"trained {dims} for {args.iterations} iterations in {seconds:.2f} s; training accuracy {acc:.4f}; model written to {args.out}"
    )
    if args.plot:
        from .app.plot import plot_costs

        print(f"cost curve written to {plot_costs(costs, args.learning_rate, args.plot)}")


def _train(X, Y, dims, args):
    from .app.notebook import initialize_parameters_deep
    from .app.train import train

    parameters = {k: v.astype(X.dtype) for k, v in initialize_parameters_deep(dims).items()}
    return train(
        X,
        Y,
        parameters,
        args.learning_rate,
        args.iterations,
        args.print_cost,
        progress=False if args.no_progress else None,
        where="fastdnn train",
    )


def _labels(X, parameters):
    from .serving.model import Model

    return Model.from_parameters(parameters).predict(X)


def cmd_predict(args):
    from .serving.model import Model

    model = Model.load(args.model)
    X, Y, example = _read_xy(args.data, "test")
    if X.shape[0] != model.layer_dims[0]:
        raise ValueError(
            f"the model takes {model.layer_dims[0]} values per example; {args.data!r} holds "
            f"examples of shape {_shape(example)} ({X.shape[0]} values)"
        )
    p = model.predict_proba(X).ravel()
    labels = (p > 0.5).astype(int)
    lines = ["probability,label\n"] + [f"{q:.8g},{k}\n" for q, k in zip(p, labels, strict=True)]
    if args.output:
        # Atomically: an interrupted or failed run never leaves a half-written CSV.
        with atomic_path(args.output, ".csv.tmp") as tmp, open(tmp, "w") as out:
            out.writelines(lines)
    else:
        sys.stdout.writelines(lines)
    if Y is not None:
        print(
            f"accuracy {float(np.mean(labels == Y.ravel())):.4f} on {p.size} examples",
            file=sys.stderr,
        )


def environment():
    """Versions, thread counts, threading layer, cache folder and BLAS, as a dict.

    Starts numba's threading layer (one tiny parallel call) so that it can be named.
    """
    import h5py
    import llvmlite
    import numba

    from . import __version__
    from . import kernels as K
    from ._internal import dispatch
    from ._internal.activations import RELU

    # One tiny parallel call starts the threading layer; through the dispatcher,
    # like every parallel call, so it never overlaps another thread's region.
    with dispatch.region(1, threshold=0) as parallel:
        if parallel:
            K._activation_parallel(np.zeros(4), np.zeros(4), RELU)
    return {
        "fastdnn": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "h5py": h5py.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": numba.threading_layer(),
        "cpu_count": os.cpu_count(),
        "numba_cache_dir": getattr(
            getattr(K._activation_span, "_cache", None), "_cache_path", None
        ),
        "blas": _blas_name(),
    }


def cmd_info(args):
    info = environment()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:18} {value}")


def _blas_name():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no dict mode
        return "unknown"


def cmd_demo(args):
    from .app.demo import run

    run(out=args.out, iterations=args.iterations, progress=False if args.no_progress else None)


def cmd_warmup(args):
    from . import _warmup
    from ._internal import precompile

    t = time.perf_counter()
    plan = _warmup.plan(args.dtype)
    compiled = len(precompile.missing(plan))
    _warmup.run(args.dtype)
    print(
        f"fastdnn warmup: {len(plan)} kernels ready for {' and '.join(args.dtype)} in "
        f"{time.perf_counter() - t:.1f} s ({compiled} compiled, the rest loaded from "
        f"{precompile.cache_folder()})"
    )


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error (usage: --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def cmd_serve(args):
    try:
        from .serving.server import run
    except ImportError as exc:
        raise ImportError(f'{exc}; install the extra: pip install "fastdnn[serve]"') from None
    for flag, value, least in [
        ("--max-batch", args.max_batch, 1),
        ("--max-queue", args.max_queue, 1),
        ("--max-body-bytes", args.max_body_bytes, 1),
        ("--port", args.port, 0),
        ("--threads", args.threads or 1, 1),
    ]:
        if value < least:
            raise ValueError(f"{flag} must be at least {least}; got {value}")
    if not 0 <= args.max_delay_ms <= 1000:
        raise ValueError(f"--max-delay-ms must be within 0..1000; got {args.max_delay_ms}")
    run(
        args.model,
        args.name,
        args.host,
        args.port,
        max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms,
        max_queue=args.max_queue,
        n_threads=args.threads,
        batching=not args.no_batching,
        max_body_bytes=args.max_body_bytes,
    )


def build_parser():
    parser = _Parser(
        prog="fastdnn", description="Train and run the course's deep network on fast CPU kernels."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train an L-layer network on HDF5 data and save the model")
    p.add_argument(
        "data",
        help="folder with train_catvnoncat.h5 (course layout) or an HDF5 file with *_x and *_y datasets",
    )
    p.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=[20, 7, 5],
        metavar="N",
        help="hidden layer sizes (default: 20 7 5)",
    )
    p.add_argument("--learning-rate", type=float, default=0.0075, help="default: 0.0075")
    p.add_argument("--iterations", type=int, default=2500, help="default: 2500")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--out", default="model.h5", help="model file to write (default: model.h5)")
    p.add_argument(
        "--plot", metavar="PNG", help="also write the cost curve to this PNG (needs matplotlib)"
    )
    p.add_argument(
        "--print-cost",
        action="store_true",
        help="print the cost every 100 iterations, as the course",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="probabilities and labels of a saved model on HDF5 data")
    p.add_argument("model", help="model file written by 'fastdnn train' or save_model")
    p.add_argument("data", help="HDF5 file with a *_x dataset (or a course-layout folder)")
    p.add_argument("--output", "-o", help="CSV file to write (default: stdout)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "serve", help="serve a model over HTTP (Open Inference Protocol; needs fastdnn[serve])"
    )
    p.add_argument("model", help="model file written by 'fastdnn train' or save_model")
    p.add_argument("--name", help="the model's name in the URLs (default: the file's stem)")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="default: 8000")
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
        "--no-batching", action="store_true", help="one predict_proba per request (for comparison)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("info", help="versions, threads, threading layer, cache location")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="train on the embedded dataset; report accuracy and speed-up")
    p.add_argument(
        "--out", default=".", help="folder for fastdnn_model.h5 and fastdnn_costs.png (default: .)"
    )
    p.add_argument("--iterations", type=int, default=1000, help="default: 1000")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "warmup", help="compile every kernel for this CPU now, on all cores (once per install)"
    )
    p.add_argument(
        "--dtype",
        nargs="+",
        choices=["float64", "float32"],
        default=["float64", "float32"],
        help="default: both",
    )
    p.set_defaults(func=cmd_warmup)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        # One line, whatever the message: a script can log it or grep it.
        prefix = f"fastdnn {args.command}: "
        message = " ".join(str(exc).split())
        message = message[len(prefix) :] if message.startswith(prefix) else message
        print(f"{prefix}error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastdnn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
