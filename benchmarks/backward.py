"""The cat network's backward pass per call: fastdnn against the course's NumPy code.

``L_model_backward`` on the cat network [12288, 20, 7, 5, 1] (m = 209, the course's
training set in the notebook's layout), its first layer's
``linear_activation_backward``, and that layer's two products alone: ``dW1 = dZ1 @ X.T / m``
(fastdnn's ``course.products.weight_gradient`` against the course's
``1 / m * np.dot(dZ, A_prev.T)``) and ``dA0 = W1.T @ dZ1`` (``input_gradient`` against
``np.dot(W.T, dZ)``), each with its arithmetic rate (2 x 20 x 12288 x 209 = 103 MFLOP).
Contenders alternate in rounds, 0.3 s apart; each round's figure is the median of
``calls`` calls; the row is the median round.

Usage::

    python -m benchmarks --only backward --full --out benchmarks/results
"""

import time

import numpy as np

from fastdnn.course import reference as R

from .notebook import L_LAYER, PAUSE, course_data


def _cases(dtype):
    """{row: (flops or None, {contender: call})} on the cat data in ``dtype``."""
    import fastdnn as F
    from fastdnn.course import products

    X64, Y64, _ = course_data()
    X = X64.astype(dtype, order="F")
    Y = Y64.astype(dtype)
    parameters = {k: v.astype(dtype) for k, v in F.initialize_parameters_deep(L_LAYER).items()}
    AL, caches = R.L_model_forward(X, parameters)
    grads = R.L_model_backward(AL, Y, caches)
    dA1, cache1 = grads["dA1"], caches[0]
    (_, W1, _), Z1 = cache1
    dZ1 = R.relu_backward(dA1, Z1)
    m = X.shape[1]
    flops = 2.0 * W1.size * m
    return {
        # dict(...) reads every gradient, dA0 included: the same work as NumPy's.
        "L_model_backward": (None, {
            "fastdnn": lambda: dict(F.L_model_backward(AL, Y, caches)),
            "numpy": lambda: R.L_model_backward(AL, Y, caches),
        }),
        # As the notebook's loop calls it: nobody reads dA0, so fastdnn never computes
        # it (course.grads); NumPy's computes it anyway. Not the same work: named so.
        "L_model_backward, dA0 unread (the notebook's loop)": (None, {
            "fastdnn": lambda: F.L_model_backward(AL, Y, caches),
            "numpy": lambda: R.L_model_backward(AL, Y, caches),
        }),
        "linear_activation_backward (layer 1)": (None, {
            "fastdnn": lambda: F.linear_activation_backward(dA1, cache1, "relu"),
            "numpy": lambda: R.linear_activation_backward(dA1, cache1, "relu"),
        }),
        "dW1 = dZ1 @ X.T / m": (flops, {
            "fastdnn": lambda: products.weight_gradient(dZ1, X),
            "numpy": lambda: 1 / m * np.dot(dZ1, X.T),
        }),
        "dA0 = W1.T @ dZ1": (flops, {
            "fastdnn": lambda: products.input_gradient(W1, dZ1),
            "numpy": lambda: np.dot(W1.T, dZ1),
        }),
    }  # fmt: skip


def _check(calls, dtype):
    """fastdnn's results against NumPy's before anything is timed."""
    tol = 1e-9 if dtype == np.float64 else 1e-3
    got, want = calls["fastdnn"](), calls["numpy"]()
    if isinstance(want, dict):
        got, want = [got[k] for k in sorted(want)], [want[k] for k in sorted(want)]
    elif not isinstance(want, tuple):
        got, want = [got], [want]
    for g, w in zip(got, want, strict=True):
        scale = max(1.0, float(np.abs(w).max()))
        if g.shape != w.shape or not np.allclose(g, w, rtol=tol, atol=tol * scale):
            raise AssertionError("fastdnn's backward pass differs from NumPy's")


def _median_call(fn, calls):
    fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run(rounds=7, calls=30, dtypes=(np.float64, np.float32), out=print):
    """Time every row's contenders; returns a list of result dicts."""
    out(f"# cat network backward pass, m = 209: medians of {calls} calls, {rounds} rounds")
    out("# alternating, 0.3 s apart; ms per call (spread over rounds); GFLOP/s for the products")
    results = []
    for dtype in dtypes:
        for name, (flops, contenders) in _cases(dtype).items():
            _check(contenders, dtype)
            times = {k: [] for k in contenders}
            names = list(contenders)
            for r in range(rounds):
                for k in names[r % 2 :] + names[: r % 2]:
                    time.sleep(PAUSE)
                    times[k].append(_median_call(contenders[k], calls))
            fast, numpy = (float(np.median(times[k])) for k in ("fastdnn", "numpy"))
            row = dict(
                row=name,
                dtype=np.dtype(dtype).name,
                seconds={k: sorted(v) for k, v in times.items()},
                ratio_vs_numpy=numpy / fast,
            )
            rate = ""
            if flops:
                row["gflops"] = {"fastdnn": flops / fast / 1e9, "numpy": flops / numpy / 1e9}
                rate = f"  ({row['gflops']['fastdnn']:.0f} vs {row['gflops']['numpy']:.0f} GFLOP/s)"
            spread = {k: f"{min(v) * 1e3:.2f}-{max(v) * 1e3:.2f}" for k, v in times.items()}
            out(
                f"{name:38} {row['dtype']:7} fastdnn {fast * 1e3:6.2f} ms [{spread['fastdnn']}]  "
                f"numpy {numpy * 1e3:6.2f} ms [{spread['numpy']}]  {numpy / fast:5.2f}x{rate}"
            )
            results.append(row)
    return results
