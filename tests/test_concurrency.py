"""Many Python threads calling fastdnn at once (see fastdnn._internal.dispatch)."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent(
    """
    import sys, threading, numpy as np, numba
    import fastdnn
    from fastdnn.serving.model import Model
    from fastdnn._internal.lazy import kernels as K
    from fastdnn._internal.activations import SIGMOID

    raw = sys.argv[1] == "raw"
    Z = np.linspace(-5, 5, 1 << 21).reshape(1024, -1)
    ref = fastdnn.sigmoid(Z)[0]
    rng = np.random.default_rng(0)
    p = {"W1": rng.standard_normal((20, 1024)) / 32, "b1": np.zeros((20, 1)),
         "W2": rng.standard_normal((1, 20)), "b2": np.zeros((1, 1))}
    model = Model.from_parameters(p)
    X = np.asfortranarray(rng.random((1024, 1100)))
    P_ref = model.predict_proba(X, n_threads=1)
    errors = []

    def work():
        for _ in range(20):
            if raw:  # the parallel kernel itself, without fastdnn's dispatch
                A = np.empty_like(Z)
                K._activation_parallel(Z.ravel(), A.ravel(), SIGMOID)
            else:
                A = fastdnn.sigmoid(Z)[0]
                if not np.array_equal(model.predict_proba(X), P_ref):
                    errors.append("predict")
            if not np.array_equal(A, ref):
                errors.append("sigmoid")

    threads = [threading.Thread(target=work) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(numba.threading_layer(), len(errors))
    """
)


def run(mode):
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_workqueue_layer_survives_concurrent_calls():
    """numba's workqueue layer aborts on concurrent parallel regions (shown by
    the raw kernel); through fastdnn's API eight threads run without a crash
    and with results identical to serial calls."""
    raw = run("raw")
    assert raw.returncode != 0 and "Concurrent access" in raw.stderr
    api = run("api")
    assert api.returncode == 0, api.stderr[-2000:]
    assert api.stdout.split() == ["workqueue", "0"]


def test_dispatch_falls_back_to_serial_when_region_busy():
    from fastdnn._internal import dispatch

    calls = []
    with dispatch._REGION:  # another thread is in a parallel region
        dispatch.run(
            lambda *a: calls.append("parallel"), lambda *a: calls.append(a), (1,), (0, 5), 1 << 30
        )
    dispatch.run(
        lambda *a: calls.append("parallel"), lambda *a: calls.append(a), (1,), (0, 5), 1 << 30
    )
    dispatch.run(lambda *a: calls.append("parallel"), lambda *a: calls.append(a), (1,), (0, 5), 10)
    assert calls == [(1, 0, 5), "parallel", (1, 0, 5)]
    assert not dispatch._REGION.locked()
