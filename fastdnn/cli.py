"""The ``fastdnn`` command: train, predict, quantize, serve, info, demo, warmup.

Exit codes: 0 on success; 2 for bad usage, bad input or a file that cannot be
read or written (one line on stderr); 130 on Ctrl-C; 1 for anything unexpected.
"""

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np

from ._internal.atomic import open_output

COURSE_FILES = {"train": "train_catvnoncat.h5", "test": "test_catvnoncat.h5"}


@contextlib.contextmanager
def _data(path, split):
    """Open HDF5 data: yields (x, Y, one example's shape), ``x`` the *_x dataset itself
    (nothing read yet: it may be larger than memory), ``Y`` of shape (1, m) or None.

    A folder in the course's layout gives its ``split`` file (``train`` for
    training, ``test`` for predicting); a file must hold a dataset whose name
    ends in ``_x`` (samples first: images (m, h, w, c) or rows (m, n)) and
    optionally one ending in ``_y``, of 0/1 labels.
    """
    import h5py

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
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path!r} is not a readable HDF5 file ({exc})") from None
    with f:
        xs = [k for k in f if k.lower().endswith("_x") or k == "X"]
        ys = [k for k in f if k.lower().endswith("_y") or k == "Y"]
        if len(xs) != 1 or not isinstance(f[xs[0]], h5py.Dataset):
            raise ValueError(f"{path!r} must hold one dataset named *_x; found {sorted(f)}")
        x = f[xs[0]]
        if x.dtype.kind not in "fiub" or x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(
                f"{path!r}: {xs[0]} must hold numbers, samples first (m, ...) with m >= 1; "
                f"got dtype {x.dtype}, shape {x.shape}"
            )
        Y = None
        if len(ys) == 1:
            y = np.asarray(f[ys[0]][()])
            if y.size != x.shape[0]:
                raise ValueError(f"{path!r}: {x.shape[0]} samples but {y.size} labels in {ys[0]}")
            Y = y.reshape(1, -1)
            bad = np.flatnonzero((Y != 0) & (Y != 1))
            if bad.size:
                raise ValueError(
                    f"{path!r}: labels in {ys[0]} must be 0 or 1; example {bad[0]} has "
                    f"{Y[0, bad[0]].item()!r} ({bad.size} such)"
                )
        yield x, Y, x.shape[1:]


def _read_xy(path, split, dtype=np.float64):
    """(X of shape (n_x, m) in ``dtype``, Y of shape (1, m) or None, one example's shape),
    all in memory (training needs it there); a clear error when it cannot fit."""
    from .app.data import flatten_images

    with _data(path, split) as (x, Y, example):
        m, n_x = x.shape[0], int(np.prod(example))
        # The data as stored, its float64 form (uint8 images: / 255), and the dtype's.
        dtype = np.dtype(dtype)
        need = m * n_x * (x.dtype.itemsize + 8 + (dtype.itemsize if dtype != np.float64 else 0))
        room = available_memory()
        if room is not None and need > room:
            raise ValueError(_too_large(path, m, n_x, need, room))
        try:
            raw = x[()]
            if raw.dtype == np.uint8:
                X = flatten_images(raw, dtype)
            else:
                X = raw.reshape(m, -1).T.astype(dtype)
        except MemoryError:
            raise ValueError(_too_large(path, m, n_x, need, room)) from None
    return X, Y, example


def _too_large(path, m, n_x, need, room):
    have = "" if room is None else f", and this process can use about {room / 2**30:.1f} GiB"
    return (
        f"{path!r} holds {m} examples of {n_x} values: training keeps them in memory, "
        f"{need / 2**30:.1f} GiB{have}; train on fewer examples, or on a machine with more memory"
    )


def available_memory():
    """Bytes this process can still allocate, about (None if unknown): the memory the
    OS reports available, less if an address-space limit (``ulimit -v``) is nearer."""
    limits = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limits.append(max(0, soft - used))
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) if limits else None


def _shape(example_shape):
    return "x".join(map(str, example_shape))


def cmd_train(args):
    from .serving.modelfile import save_model

    X, Y, _ = _read_xy(args.data, "train", args.dtype)
    if Y is None:
        raise ValueError(f"{args.data!r} has no labels (*_y dataset) to train on")
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
    save_model(_path(args.out), parameters, training=settings)
    acc = float(np.mean(_labels(X, parameters) == Y))
    print(
        f"trained {dims} for {args.iterations} iterations in {seconds:.2f} s; training accuracy {acc:.4f}; model written to {args.out}",
        file=_status(args.out),
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
    from .app.progress import Progress
    from .serving.model import Model

    model = Model.load(args.model)
    if args.int8:
        model = model.quantize()  # an int8 model file is already int8
    if model.layer_dims[-1] != 1:
        raise ValueError(
            f"predict writes one probability per example; the model has {model.layer_dims[-1]} outputs"
        )
    with _data(args.data, "test") as (x, Y, example):
        n_x = int(np.prod(example))
        if n_x != model.layer_dims[0]:
            raise ValueError(
                f"the model takes {model.layer_dims[0]} values per example; {args.data!r} holds "
                f"examples of shape {_shape(example)} ({n_x} values)"
            )
        # Chunk by chunk, each converted to the model's dtype: memory stays bounded by
        # a chunk whatever the file's size; the CSV is written as the chunks come.
        chunks = model.predict_proba_chunks(x, scale=1 / 255 if x.dtype == np.uint8 else None)
        bar = Progress(x.shape[0], unit="rows")
        correct = 0
        try:
            with _csv(args.output) as out:
                out.write("probability,label\n")
                for lo, P in chunks:
                    p = P[0]
                    labels = (p > 0.5).astype(int)
                    out.writelines(f"{q:.8g},{k}\n" for q, k in zip(p, labels, strict=True))
                    if Y is not None:
                        correct += int(np.sum(labels == Y[0, lo : lo + p.size]))
                    bar.update(lo + p.size)
        finally:
            bar.close()
    if Y is not None:
        print(f"accuracy {correct / Y.size:.4f} on {Y.size} examples", file=sys.stderr)


@contextlib.contextmanager
def _csv(output):
    """The CSV's stream: ``output`` as ``open_output`` writes it (a file atomically: an
    interrupted or failed run never leaves a half-written one), or stdout (none, or "-")."""
    if not output or output == "-":
        yield sys.stdout
        return
    with open_output(output, "w", ".csv.tmp") as out:
        yield out


def environment():
    """Versions, thread counts, threading layer, cache folder, BLAS and the int8 path, as a dict.

    Starts numba's threading layer (one tiny parallel call) so that it can be named.
    """
    import h5py
    import llvmlite
    import numba

    from . import __version__
    from . import kernels as K
    from ._internal import dispatch, installed
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
        "kernels": installed.choice().describe(),
        "int8_sums": _int8_sums(),
    }


def _int8_sums():
    """How an int8 model's first layer multiplies on this CPU (``_internal.simd.vdpbusd``)."""
    from ._internal.simd import dpbusd_form

    return {
        "vnni": "vpdpbusd (AVX-512 VNNI)",
        "avx512bw": "pmaddwd (AVX-512BW, no VNNI)",
        "avx2": "pmaddwd (AVX2, no VNNI)",
        "generic": "plain integer vectors (no AVX2)",
    }[dpbusd_form()]


def cmd_quantize(args):
    from .serving.model import Model

    model = Model.load(args.model)
    if model.precision == "int8":
        raise ValueError(f"{args.model!r} is already an int8 model")
    model.quantize().save(_path(args.output))
    print(
        f"int8 model of {list(model.layer_dims)} written to {args.output}",
        file=_status(args.output),
    )


def _path(output):
    """An output path as given; "-" is standard output (written through, in place)."""
    return "/dev/stdout" if output == "-" else output


def _status(output):
    """Where a command's closing line goes: stderr when its output is on stdout."""
    return sys.stderr if output == "-" else sys.stdout


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
        ("--max-image-pixels", args.max_image_pixels, 1),
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
        max_image_pixels=args.max_image_pixels,
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
    p.add_argument(
        "--out", default="model.h5", help="model file to write (default: model.h5; - for stdout)"
    )
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
    p.add_argument("--output", "-o", help="CSV file to write (default, or -: stdout)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="quantize the model's first layer to int8 first (uint8 images are read as they are)",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("quantize", help="write the int8 form of a model file (Model.quantize)")
    p.add_argument("model", help="model file written by 'fastdnn train' or save_model")
    p.add_argument("output", help="int8 model file to write (format version 2; - for stdout)")
    p.set_defaults(func=cmd_quantize)

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
        "--max-image-pixels",
        type=int,
        default=50_000_000,
        help="larger uploaded images (declared width x height) get 413 (default: 50 million)",
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
