"""``fastdnn info``, ``warmup`` and ``demo``: this machine, its kernels, and a first run."""

import json
import os
import sys
import time

import numpy as np


def environment():
    """Versions, thread counts, threading layer, cache folder, BLAS and the int8 path, as a dict.

    Starts numba's threading layer (one tiny parallel call) so that it can be named.
    """
    import h5py
    import llvmlite
    import numba

    from .. import kernels as K
    from .._internal import dispatch, installed, precompile, variants
    from .._internal.activations import RELU
    from .._internal.version import __version__

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
        "numba_cache_dir": precompile.cache_folder("_activation_span")
        or "none writable: kernels compiled here are kept in memory only",
        "blas": _blas_name(),
        "kernels": installed.choice().describe(),
        "int8_sums": _int8_sums(),
        "cpu_model": variants.cpu_model(),
        "kernel_variants": variants.status(),
        "variant_choices": variants.summary(),
    }


def _int8_sums():
    """How an int8 model's first layer multiplies on this CPU (``_internal.simd.vdpbusd``)."""
    from .._internal.simd import dpbusd_form

    return {
        "vnni": "vpdpbusd (AVX-512 VNNI)",
        "avx512bw": "pmaddwd (AVX-512BW, no VNNI)",
        "avx2": "pmaddwd (AVX2, no VNNI)",
        "generic": "plain integer vectors (no AVX2)",
    }[dpbusd_form()]


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
    from ..app.demo import run

    run(out=args.out, iterations=args.iterations, progress=False if args.no_progress else None)


def cmd_warmup(args):
    from .. import _warmup
    from .._internal import precompile

    t = time.perf_counter()
    plan = _warmup.plan(args.dtype)
    compiled = len(precompile.missing(plan))
    _warmup.run(args.dtype)
    print(
        f"fastdnn warmup: {len(plan)} kernels ready for {' and '.join(args.dtype)} in "
        f"{time.perf_counter() - t:.1f} s ({compiled} compiled, the rest loaded from "
        f"{precompile.cache_folder()})"
    )


TUNE_SHAPES = ((20, 12288, 209), (7, 12288, 209), (20, 12288, 1024))
"""(units, inputs, examples) of the skinny layers ``fastdnn tune`` calibrates: the
application notebook's two first layers on its training set, and a larger batch."""

TUNE_NETWORK = (12288, 20, 7, 5, 1)
TUNE_BATCHES = (256, 8192)


def cmd_tune(args):
    """Calibrate the kernel variants for the shapes that matter, afresh, and print them."""
    from .._internal import variants
    from ..course import products
    from ..serving.model import Model

    pin = os.environ.pop(variants.ENV, "").strip()  # this command measures whatever is pinned
    if pin:
        print(f"fastdnn tune: {variants.ENV}={pin} still pins the variants where it is set")
    variants.forget()
    if args.reset:
        print(f"fastdnn tune: choices dropped ({variants.path()}); calibrated on first use")
        return
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    for dtype in map(np.dtype, args.dtype):
        for n, n_x, m in TUNE_SHAPES:
            products.forward_variant(n, n_x, m, dtype)
            products.dW_variant(n, n_x, m, dtype)
            products.dA_prev_variant(n, n_x, m, dtype)
        dims = TUNE_NETWORK
        parameters = {}
        for l in range(1, len(dims)):
            parameters[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * 0.01
            parameters[f"b{l}"] = np.zeros((dims[l], 1))
        model = Model.from_parameters(parameters, dtype=dtype.name)
        for m in TUNE_BATCHES:
            model.predict_proba(np.asfortranarray(np.full((dims[0], m), 0.5, dtype)))
    print(f"fastdnn tune: {variants.cpu_model()}, in {time.perf_counter() - t:.1f} s")
    print(variants.status())
    for text, record in sorted(variants.decided().items()):
        print(f"  {text:58} {record['variant']:14} {record['gain']:.2f}x {record['default']}")


def _dtype_argument(p):
    """``--dtype``: the dtypes ``warmup`` and ``tune`` cover (default: both)."""
    p.add_argument(
        "--dtype",
        nargs="+",
        choices=["float64", "float32"],
        default=["float64", "float32"],
        help="default: both",
    )


def register(sub):
    """Add this module's commands to the ``fastdnn`` parser's subcommands."""
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
    _dtype_argument(p)
    p.set_defaults(func=cmd_warmup)

    p = sub.add_parser(
        "tune",
        help="measure the kernel variants on this CPU afresh and keep the fastest "
        "(otherwise done on first use)",
    )
    _dtype_argument(p)
    p.add_argument("--reset", action="store_true", help="only drop this CPU's choices")
    p.set_defaults(func=cmd_tune)
