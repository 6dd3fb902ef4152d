"""``fastdnn train``, ``predict`` and ``quantize``: model files in and out."""

import contextlib
import sys
import time

import numpy as np

from .._internal.atomic import check_not_input, open_output
from .data import data_file, open_data, read_xy, shape_text


def cmd_train(args):
    from ..serving.modelfile import save_model

    data = {"data": data_file(args.data, "train")}
    check_not_input(_path(args.out), data, "--out")
    if args.plot:
        check_not_input(args.plot, data, "--plot")
    X, Y, _ = read_xy(args.data, "train", args.dtype)
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
        from ..app.plot import plot_costs

        print(f"cost curve written to {plot_costs(costs, args.learning_rate, args.plot)}")


def _train(X, Y, dims, args):
    from ..app.notebook import initialize_parameters_deep
    from ..app.train import train

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
    from ..serving.model import Model

    return Model.from_parameters(parameters).predict(X)


def cmd_predict(args):
    from ..app.progress import Progress
    from ..serving.model import Model

    if args.output:
        inputs = {"model": args.model, "data": data_file(args.data, "test")}
        check_not_input(_path(args.output), inputs, "--output")
    model = Model.load(args.model)
    if args.int8:
        model = model.quantize()  # an int8 model file is already int8
    if model.layer_dims[-1] != 1:
        raise ValueError(
            f"predict writes one probability per example; the model has {model.layer_dims[-1]} outputs"
        )
    with open_data(args.data, "test") as (x, Y, example):
        n_x = int(np.prod(example))
        if n_x != model.layer_dims[0]:
            raise ValueError(
                f"the model takes {model.layer_dims[0]} values per example; {args.data!r} holds "
                f"examples of shape {shape_text(example)} ({n_x} values)"
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


def cmd_quantize(args):
    from ..serving.model import Model

    check_not_input(_path(args.output), {"model": args.model}, "output")
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


def register(sub):
    """Add this module's commands to the ``fastdnn`` parser's subcommands."""
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
