"""Kernels compile before the first call waits on them, in parallel, once per machine.

Plans (``fastdnn.course.plans``) must list exactly what their paths call:
after ``precompile.ensure(plan)`` the path compiles nothing (numba's compile
events are counted, not times). The disk cache must keep working: a second
process loads, it does not compile. A process that compiles says so once; one
that finds everything cached says nothing.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastdnn as F
from conftest import JIT_DISABLED
from fastdnn._internal import installed, precompile
from fastdnn.app.train import train
from fastdnn.course import plans, sizes

pytestmark = pytest.mark.skipif(JIT_DISABLED, reason="numba compiles nothing without its JIT")

ROOT = os.path.join(os.path.dirname(__file__), "..")


def Compiles():
    """``with Compiles() as c:`` the top-level numba compilations inside, ``c.names``."""
    from fastdnn._internal.numba_internals import compilations

    return compilations()


def _network(dims, m, dtype, rng):
    X = np.asfortranarray(rng.random((dims[0], m)), dtype=dtype)  # the notebook's layout
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    params = {k: v.astype(dtype) for k, v in F.initialize_parameters_deep(list(dims)).items()}
    return X, Y, params


def _course_step(X, Y, params):
    AL, caches = F.L_model_forward(X, params)
    F.compute_cost(AL, Y)
    F.update_parameters(params, F.L_model_backward(AL, Y, caches), 0.01)


# (dims, m): serial skinny products; the cat network (parallel); X too small to be skinny.
CASES = [((1030, 6, 3, 1), 12), ((12288, 20, 7, 5, 1), 209), ((40, 5, 1), 30)]


@pytest.mark.parametrize("dims, m", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_course_step_plan_lists_what_the_step_compiles(dims, m, dtype, rng):
    X, Y, params = _network(dims, m, dtype, rng)
    precompile.ensure(plans.course_step(dtype, dims, m, fortran=True))
    with Compiles() as c:
        _course_step(X, Y, params)
        F.L_model_forward(X[:, : max(2, m // 4)], params)  # predict on fewer examples
    assert c.names == [], c.names


@pytest.mark.parametrize("dims, m", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_trainer_plan_lists_what_training_compiles(dims, m, dtype, rng):
    X, Y, params = _network(dims, m, dtype, rng)
    fused = sizes.skinny(dims[1], dims[0], m, True)
    precompile.ensure(plans.trainer_step(dtype, dims, m, fused))
    with Compiles() as c:
        train(X, Y, params, 0.01, 2)
    assert c.names == [], c.names


TRAINER_ALONE = r"""
import json, sys
import numpy as np
from fastdnn._internal import precompile
from fastdnn.app.train import train
if sys.argv[1] == "unplanned":  # numba compiles exactly what the trainer calls, as it calls it
    precompile.ensure = lambda plan: None
rng = np.random.default_rng(0)
X = np.asfortranarray(rng.random((1030, 12)))  # a skinny first layer: the fused weight step
Y = (rng.random((1, 12)) > 0.5).astype(float)
params = {"W1": rng.standard_normal((6, 1030)) * 0.01, "b1": np.zeros((6, 1)),
          "W2": rng.standard_normal((1, 6)) * 0.01, "b2": np.zeros((1, 1))}
train(X, Y, params, 0.01, 3)
from fastdnn import kernels  # every kernel's specialisations: compiled here (the cache was empty)
print(json.dumps(sorted(f"{d.py_func.__name__}{s}" for d in kernels._dispatchers() for s in d.signatures)))
"""


def test_the_trainer_alone_compiles_only_what_it_calls(tmp_path):
    """A fresh process with an empty cache, training only: the kernels its plan compiles
    are the ones numba compiles when nothing is planned (what the trainer calls), not
    the course step's too (the course API's forward planned its own step as well, and
    compiled _cross_entropy_dAL and the course's dA_prev products for the trainer)."""
    found = {}
    for how in ("unplanned", "planned"):
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / how), FASTDNN_COMPILE_PROCESSES="1")
        env.pop("NUMBA_DISABLE_JIT", None)
        r = subprocess.run(
            [sys.executable, "-c", TRAINER_ALONE, how],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert r.returncode == 0, r.stderr
        found[how] = json.loads(r.stdout.strip().splitlines()[-1])
    assert any(s.startswith("_axpy_rows(") for s in found["unplanned"])  # the fused step ran
    # Nothing the trainer does not call; unplanned, numba may compile a second
    # specialisation where a call's types convert to a planned one.
    assert set(found["planned"]) <= set(found["unplanned"])
    names = {s.split("(")[0] for s in found["planned"]}
    assert names == {s.split("(")[0] for s in found["unplanned"]}


def test_the_notebooks_two_loops_compile_nothing_after_the_prefetched_plan(rng):
    """``load_data``'s plan covers the notebook's two networks, through the course API
    (the two-layer loop calls the step-by-step functions layer by layer) and the trainer."""
    m = 209
    precompile.ensure(plans.notebook(12288, m, 50))
    with Compiles() as c:
        for dims in ((12288, 7, 1), (12288, 20, 7, 5, 1)):
            X, Y, params = _network(dims, m, np.float64, rng)
            _course_step(X, Y, params)
            A1, cache1 = F.linear_activation_forward(X, params["W1"], params["b1"], "relu")
            F.linear_activation_backward(A1, cache1, "relu")
            train(X, Y, params, 0.01, 1)
            F.L_model_forward(X[:, :50], params)
    assert c.names == [], c.names


def test_warmup_plan_lists_every_kernel_the_warmup_calls():
    from fastdnn import _warmup

    precompile.ensure(_warmup.plan(("float64", "float32")))
    with Compiles() as c:
        _warmup.exercise(("float64", "float32"))
    assert c.names == [], c.names


def test_workers_share_the_plan_by_weight():
    weights = {"a": 7.0, "b": 3.5, "c": 1.0, "d": 1.0, "e": 0.3}
    entries = [precompile.entry(name, weight=w) for name, w in weights.items()]
    shares = precompile._balance(entries, 2)
    assert [sum(e.weight for e in s) for s in shares] == [7.0, 5.8]
    assert sorted(e for s in shares for e in s) == sorted(entries)
    assert precompile._balance(entries[:1], 4) == [entries[:1]]


# ------------------------------------------------------------ fresh processes

PROBE = r"""
import json, sys
import numpy as np
from fastdnn._internal.numba_internals import compilations

with compilations() as found:
    import fastdnn as F
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.random((1030, 9)))
    Y = (rng.random((1, 9)) > 0.5).astype(float)
    params = F.initialize_parameters_deep([1030, 4, 1])
    AL, caches = F.L_model_forward(X, params)
    F.compute_cost(AL, Y)
    grads = F.L_model_backward(AL, Y, caches)
    F.update_parameters(params, grads, 0.01)
print(json.dumps({"compiled": len(found.names), "dA0": float(np.abs(grads["dA0"]).sum())}))
"""


def _probe(cache, **env):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), **env)
    env.pop("NUMBA_DISABLE_JIT", None)
    r = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_a_cold_process_says_once_why_it_waits_and_a_warm_one_loads_silently(tmp_path):
    first, err = _probe(tmp_path)
    assert first["compiled"] > 0
    assert err.count("fastdnn: compiling") == 1, err
    assert "This happens once" in err and str(tmp_path) in err
    assert "because no compiled kernels were installed with fastdnn (no folder " in err
    assert "_compiled: a source checkout or an editable install)" in err
    second, err = _probe(tmp_path)
    assert second["compiled"] == 0, "the second process compiled instead of loading"
    assert "compiling" not in err, err
    assert second["dA0"] == first["dA0"]


def test_without_workers_this_process_compiles_the_same_kernels(tmp_path):
    """``FASTDNN_COMPILE_PROCESSES=1``, or workers that cannot start: numba's own path."""
    alone, err = _probe(tmp_path / "alone", FASTDNN_COMPILE_PROCESSES="1")
    assert alone["compiled"] > 0 and "(1 process)" in err
    with_workers, _ = _probe(tmp_path / "workers")
    assert with_workers["dA0"] == alone["dA0"]


def test_a_worker_that_cannot_start_leaves_its_kernels_to_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", "")
    share = [("_sgd_span", (), 0.3)]
    assert precompile._spawn(share) == (None, share)
    monkeypatch.setattr(sys, "executable", os.path.join(str(tmp_path), "no-such-python"))
    assert precompile._spawn(share) == (None, share)


EXIT_EARLY = r"""
import json, numpy as np
from fastdnn._internal import precompile
from fastdnn.course import plans, sizes
precompile.prefetch(plans.course_step(np.float64, (12288, 20, 1), 209, fortran=True))
print(json.dumps([worker.process.pid for worker in precompile._running]))
"""


def test_prefetch_workers_do_not_outlive_the_process(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), FASTDNN_COMPILE_PROCESSES="2")
    env.pop("NUMBA_DISABLE_JIT", None)
    r = subprocess.run(
        [sys.executable, "-c", EXIT_EARLY], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    pids = json.loads(r.stdout.strip().splitlines()[-1])
    assert pids, "a cold cache should have started workers"
    assert "in the background" in r.stderr
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_every_kernel_sets_its_own_fastmath_flags():
    """numba compiles a kernel that leaves ``fastmath`` unset with the flags of the first
    (fast-math) caller that compiles it, and caches that copy for every later caller:
    NaN checks then stopped seeing NaN. Every dispatcher must set it explicitly."""
    import fastdnn.kernels as K
    from fastdnn._internal.numba_internals import is_kernel
    from fastdnn.kernels import _scalar, int8, layer, loss, products, sgd, tiles

    dispatchers = {
        f"{module.__name__}.{name}": d
        for module in (K, _scalar, int8, layer, loss, products, sgd, tiles)
        for name, d in vars(module).items()
        if is_kernel(d)
    }
    assert len(dispatchers) > 40
    unset = [name for name, d in dispatchers.items() if "fastmath" not in d.targetoptions]
    assert not unset, unset


POISON = r"""
import numpy as np
from fastdnn import kernels as K
from fastdnn._internal import precompile
from fastdnn.course import plans, sizes
T = plans._Types(np.float64)
precompile.ensure(plans.skinny_products(T, 4, 1030, 4, dW=False, dA_prev=False, weight_step=True))
K._axpy_rows(np.ones(4), (1, 1), np.ones((1, 4)), np.ones((4, 4)), 1.0, 4, 4, np.ones((4, 4)), 0.1)
"""

CHECK = r"""
import numpy as np
from fastdnn import kernels as K
Z = np.array([[np.nan, 1.0]])
AL, Y, dAL = np.array([1.0, 0.5]), np.array([0.0, 1.0]), np.empty(2)
print(bool(K._bias_add_tiny(Z, np.zeros((1, 1)))), bool(K._cross_entropy_dAL(AL, Y, dAL)))
"""


def test_nan_checks_hold_whichever_kernel_compiled_the_helpers_first(tmp_path):
    """The weight step (fast-math) compiles ``nonfinite`` and ``_sgd_span`` first and
    caches them; a later process's non-fast-math kernels still see NaN and inf."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), FASTDNN_COMPILE_PROCESSES="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    for code in (POISON, CHECK):
        r = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
        )
        assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True"], r.stdout


def test_prefetch_leaves_what_running_workers_compile_to_them(monkeypatch):
    """Two prefetches of overlapping plans (load_data called twice, cold): the second
    starts workers only for what the first does not already compile."""

    class Running:
        def wait(self):
            pass

    a, b = precompile.entry("_sgd_span", "a"), precompile.entry("_sgd_parallel", "b")
    spawned = []
    monkeypatch.setattr(precompile, "_load", lambda e: False)
    monkeypatch.setattr(
        precompile, "_spawn", lambda share: spawned.append(share) or precompile.Worker(None, share)
    )
    monkeypatch.setattr(precompile, "_cores", lambda: 2)
    monkeypatch.setattr(installed, "_told", True)
    monkeypatch.setattr(precompile, "_running", [precompile.Worker(Running(), [a])])
    precompile.prefetch([a, b])
    assert spawned == [[b]]
    precompile.prefetch([a])
    assert spawned == [[b]]
