"""The application notebook's own training loops, with the course's functions or fastdnn's.

The learner writes ``two_layer_model`` and ``L_layer_model`` in the notebook;
only the helpers are imported. These are those loops as the notebook writes
them (forward, ``compute_cost`` every iteration, backward, ``update_parameters``),
run once with the course's plain NumPy helpers (``fastdnn.course.reference``) and once
with ``fastdnn.app``'s: the same code on both sides, the path a drop-in user runs. The
printed costs must agree. Nothing in either loop reads ``dA0``: the two-layer loop gets
it from ``linear_activation_backward`` on both sides (a tuple: computed, then dropped),
while in the L-layer loop NumPy's ``L_model_backward`` computes it and fastdnn's does
not (it computes ``dA0`` only when read: ``fastdnn.course.grads``); the per-call
``L_model_backward`` rows (``--only backward``) show both.

Usage::

    python -m benchmarks --only notebook           # 2500 iterations, 3 repeats
    python -m benchmarks.notebook --iterations 300 # a shorter look

Data: the course's ``train_catvnoncat.h5`` from ``../shared/data/catvnoncat``
when present, else fastdnn's embedded synthetic set (the output says which).
"""

import argparse
import os
import sys
import time

import numpy as np

from fastdnn.course import reference as R

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "catvnoncat")
TWO_LAYER = (12288, 7, 1)
L_LAYER = [12288, 20, 7, 5, 1]
LEARNING_RATE = 0.0075
UNREAD_DA0 = "dA0 unread: NumPy's L_model_backward computes it, fastdnn's does not"
"""The L-layer row is not the same work on both sides (the module docstring): named so."""
PAUSE = 0.3
"""Seconds between contenders: OpenBLAS's and numba's idle workers spin for up
to ~0.3 s after a call and would tax whoever runs next."""


def two_layer_model(F, X, Y, parameters, learning_rate, num_iterations):
    """The notebook's two_layer_model loop, calling the helpers in namespace ``F``."""
    costs = []
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    grads = {}
    for i in range(0, num_iterations):
        A1, cache1 = F.linear_activation_forward(X, W1, b1, "relu")
        A2, cache2 = F.linear_activation_forward(A1, W2, b2, "sigmoid")
        cost = F.compute_cost(A2, Y)
        dA2 = -(np.divide(Y, A2) - np.divide(1 - Y, 1 - A2))
        dA1, dW2, db2 = F.linear_activation_backward(dA2, cache2, "sigmoid")
        dA0, dW1, db1 = F.linear_activation_backward(dA1, cache1, "relu")
        grads["dW1"], grads["db1"], grads["dW2"], grads["db2"] = dW1, db1, dW2, db2
        parameters = F.update_parameters(parameters, grads, learning_rate)
        W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    return parameters, costs


def L_layer_model(F, X, Y, parameters, learning_rate, num_iterations):
    """The notebook's L_layer_model loop, calling the helpers in namespace ``F``."""
    costs = []
    for i in range(0, num_iterations):
        AL, caches = F.L_model_forward(X, parameters)
        cost = F.compute_cost(AL, Y)
        grads = F.L_model_backward(AL, Y, caches)
        parameters = F.update_parameters(parameters, grads, learning_rate)
        if i % 100 == 0 or i == num_iterations:
            costs.append(cost)
    return parameters, costs


def contenders():
    import fastdnn.app as app

    return {"fastdnn": app, "numpy": R}


def course_data():
    """(X, Y, description): the course's training set in the notebook's layout."""
    path = os.path.join(SHARED_DATA, "train_catvnoncat.h5")
    if os.path.exists(path):
        import h5py

        with h5py.File(path, "r") as f:
            x, y = np.array(f["train_set_x"]), np.array(f["train_set_y"])
        source = "the course's train_catvnoncat.h5"
    else:
        from fastdnn.app.data import synthetic_catvnoncat

        x, y = synthetic_catvnoncat(209, seed=0)
        source = "fastdnn's embedded synthetic set (../shared/data/catvnoncat absent)"
    X = x.reshape(x.shape[0], -1).T / 255.0  # the notebook's line: Fortran order
    return X, y.reshape(1, -1), source


def initial_parameters(loop):
    from fastdnn.app import initialize_parameters, initialize_parameters_deep

    if loop is two_layer_model:
        return initialize_parameters(*TWO_LAYER)
    return initialize_parameters_deep(L_LAYER)


def run(iterations=2500, repeats=3, dtypes=(np.float64, np.float32), out=print):
    """Time both loops with each contender; returns a list of result dicts."""
    X64, Y64, source = course_data()
    out(f"# notebook loops: {iterations} iterations, learning rate {LEARNING_RATE}, {source}")
    out("# each timing is one whole loop; contenders alternate, first one rotating, 0.3 s apart")
    results = []
    impls = contenders()
    curve64 = {}  # the NumPy float64 costs per loop: the curve float32 runs are held to
    for dtype in dtypes:
        # float32: X, Y and the initial parameters cast on both sides (an int64 Y
        # would turn the notebook's dA2 into float64 and upcast the NumPy side).
        X = X64.astype(dtype, order="F")
        Y = Y64 if dtype == np.float64 else Y64.astype(dtype)
        for loop in (two_layer_model, L_layer_model):
            params = {k: v.astype(dtype) for k, v in initial_parameters(loop).items()}
            for F in impls.values():  # compile / load kernels, allocate
                loop(F, X, Y, params, LEARNING_RATE, 2)
            times = {name: [] for name in impls}
            costs = {}
            names = list(impls)
            for r in range(repeats):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    time.sleep(PAUSE)
                    t = time.perf_counter()
                    _, c = loop(impls[name], X, Y, params, LEARNING_RATE, iterations)
                    times[name].append(time.perf_counter() - t)
                    costs[name] = np.array([float(x) for x in c])
            ref = costs["numpy"]
            rel = float(np.max(np.abs(costs["fastdnn"] - ref) / np.abs(ref)))
            drift = ""
            if dtype == np.float64:
                curve64[loop.__name__] = ref
            elif loop.__name__ in curve64:
                # float32 rounding alone moves a curve: say how far each side is
                # from the float64 one (the course's float32 dA2 and dAL lose digits).
                c64 = curve64[loop.__name__]
                drift = {k: float(np.max(np.abs(v - c64) / np.abs(c64))) for k, v in costs.items()}
            fast, numpy = (float(np.median(times[k])) for k in ("fastdnn", "numpy"))
            row = dict(
                loop=loop.__name__,
                dtype=np.dtype(dtype).name,
                iterations=iterations,
                data=source,
                seconds={k: sorted(v) for k, v in times.items()},
                ratio_vs_numpy=numpy / fast,
                max_relative_cost_difference=rel,
                final_cost=float(ref[-1]),
                **({"relative_drift_from_float64_costs": drift} if drift else {}),
                **({"work": UNREAD_DA0} if loop is L_layer_model else {}),
            )
            label = f"{loop.__name__} ({UNREAD_DA0})" if "work" in row else loop.__name__
            out(
                f"{label:16} {row['dtype']:7} fastdnn {fast:7.2f} s  numpy {numpy:7.2f} s  "
                f"{numpy / fast:5.2f}x  ({fast / iterations * 1e3:.2f} vs "
                f"{numpy / iterations * 1e3:.2f} ms/iteration; costs agree to {rel:.1e} relative)"
                + (
                    f"; from the float64 costs: fastdnn {drift['fastdnn']:.1e}, "
                    f"numpy {drift['numpy']:.1e}"
                    if drift
                    else ""
                )
            )
            results.append(row)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notebook")
    parser.add_argument("--iterations", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    args = parser.parse_args(argv)
    dtypes = (np.float64, np.float32) if args.dtype == "both" else (np.dtype(args.dtype).type,)
    import fastdnn

    fastdnn.warmup()
    run(args.iterations, args.repeats, dtypes, out=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
