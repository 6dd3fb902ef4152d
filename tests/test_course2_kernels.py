"""Course 2's kernels (``kernels.net3``, ``kernels.net3_loops``) against the course's NumPy.

Small shapes, so that the ``NUMBA_DISABLE_JIT`` run (kernel logic as plain Python) covers
every branch: each helper module's conventions, dropout, L2, the three optimizers, the
pairwise sums. The oracle is ``fastdnn.improving.reference``: the course's own code.
"""

import numpy as np
import pytest

from fastdnn import gradient_checking as FG
from fastdnn import initialization as FI
from fastdnn import optimization as FO
from fastdnn import regularization as FR
from fastdnn.improving.reference import gc_utils as G
from fastdnn.improving.reference import init_utils as I
from fastdnn.improving.reference import notebooks as N
from fastdnn.improving.reference import opt_utils as O
from fastdnn.improving.reference import reg_utils as R
from fastdnn.kernels import net3

RTOL = 1e-12


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    assert np.max(np.abs(a - b), initial=0.0) <= rtol * scale, (a, b)


def _network(dims, m, seed=0, labels=np.int64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(labels)
    p = {}
    for l in range(1, len(dims)):
        p[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])
        p[f"b{l}"] = rng.standard_normal((dims[l], 1)) * 0.1
    return X, Y, p


def same_prints(got, want, rtol=1e-9):
    """The same lines, the numbers in them equal to ``rtol`` (the sums' order differs from
    OpenBLAS's, so the last of the 17 digits the course prints may too)."""
    got, want = got.splitlines(), want.splitlines()
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        head_g, _, value_g = g.rpartition(" ")
        head_w, _, value_w = w.rpartition(" ")
        assert head_g == head_w, (g, w)
        if value_g != value_w:
            assert float(value_g) == pytest.approx(float(value_w), rel=rtol), (g, w)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 211, 300, 1000, 2047, 5000])
def test_pairwise_sums_are_numpys_to_the_bit(n):
    a = np.random.default_rng(n).standard_normal(n) * 1e3
    assert net3._pairwise(a, 0, n) == np.sum(a)
    assert net3._pairwise_stack(np.concatenate([[7.0], a]), 1, n) == np.sum(a)


@pytest.mark.parametrize(
    "module, reference, keys",
    [(FI, I, ("dz3", "da2")), (FR, R, ("dZ3", "dA2")), (FO, O, ("dz3", "da2"))],
)
@pytest.mark.parametrize("dims, m", [((2, 5, 3, 1), 11), ((3, 4, 6, 1), 20)])
def test_a_step_matches_the_helper_module(module, reference, keys, dims, m):
    X, Y, p = _network(dims, m)
    a3, cache = module.forward_propagation(X, p)
    a3_r, cache_r = reference.forward_propagation(X, p)
    assert len(cache) == 12
    for got, want in zip(cache, cache_r, strict=True):
        _close(got, want)
    assert cache[2] is p["W1"] and cache[11] is p["b3"]  # the caller's own arrays
    grads = module.backward_propagation(X, Y, cache)
    grads_r = reference.backward_propagation(X, Y, cache_r)
    assert list(grads) == list(grads_r) and keys[0] in grads and keys[1] in grads
    for k in grads_r:
        assert type(grads[k]) is np.ndarray
        _close(grads[k], grads_r[k])
    cost = getattr(module, "compute_loss", None) or module.compute_cost
    cost_r = getattr(reference, "compute_loss", None) or reference.compute_cost
    _close(cost(a3, Y), cost_r(a3_r, Y))
    update = getattr(module, "update_parameters", None) or module.update_parameters_with_gd
    update_r = getattr(reference, "update_parameters", None) or reference.update_parameters_with_gd
    mine, theirs = dict(p), dict(p)
    assert update(mine, grads, 0.1) is mine  # the helpers write into the dict given
    update_r(theirs, grads_r, 0.1)
    for k in theirs:
        _close(mine[k], theirs[k])
        assert mine[k] is not p[k]


@pytest.mark.parametrize("lambd", [0.0, 0.7])
def test_l2_cost_and_gradients_match_the_notebook(lambd):
    X, Y, p = _network((2, 5, 3, 1), 13, labels=np.uint8)
    a3, cache = FR.forward_propagation(X, p)
    _close(
        FR.compute_cost_with_regularization(a3, Y, p, lambd),
        R.compute_cost_with_regularization(a3, Y, p, lambd),
    )
    got = FR.backward_propagation_with_regularization(X, Y, cache, lambd)
    want = R.backward_propagation_with_regularization(X, Y, cache, lambd)
    assert list(got) == list(want)
    for k in want:
        _close(got[k], want[k])


def test_dropout_draws_the_courses_masks_and_leaves_its_stream():
    X, Y, p = _network((2, 6, 4, 1), 17, labels=np.uint8)
    a3, cache = FR.forward_propagation_with_dropout(X, p, 0.7)
    after = np.random.rand()
    a3_r, cache_r = R.forward_propagation_with_dropout(X, p, 0.7)
    assert np.random.rand() == after  # the global stream left where the course leaves it
    assert len(cache) == 14
    for got, want in zip(cache, cache_r, strict=True):
        if want.dtype == bool:
            assert got.dtype == bool and np.array_equal(got, want)
        else:
            _close(got, want)
    got = FR.backward_propagation_with_dropout(X, Y, cache, 0.7)
    want = R.backward_propagation_with_dropout(X, Y, cache_r, 0.7)
    for k in want:
        _close(got[k], want[k])


def test_momentum_and_adam_match_the_graded_functions():
    W1, b1, W2, b2, dW1, db1, dW2, db2 = FO.load_params_and_grads()
    assert np.array_equal(W1, O.load_params_and_grads()[0])
    p = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    g = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
    v, v_r = FO.initialize_velocity(p), O.initialize_velocity(p)
    mine, theirs = dict(p), dict(p)
    for _ in range(3):
        mine, v = FO.update_parameters_with_momentum(mine, g, v, 0.9, 0.01)
        theirs, v_r = O.update_parameters_with_momentum(theirs, g, v_r, 0.9, 0.01)
    for k in theirs:
        _close(mine[k], theirs[k])
    (v, s), (v_r, s_r) = FO.initialize_adam(p), O.initialize_adam(p)
    mine, theirs = dict(p), dict(p)
    for t in (1, 2, 3):
        out = FO.update_parameters_with_adam(mine, g, v, s, t, 0.01, 0.9, 0.999, 1e-8)
        out_r = O.update_parameters_with_adam(theirs, g, v_r, s_r, t, 0.01, 0.9, 0.999, 1e-8)
        assert len(out) == 5 and out[0] is mine and out[1] is v and out[2] is s
        for got, want in zip(out, out_r, strict=True):
            assert list(got) == list(want)
            for k in want:
                assert type(got[k]) is np.ndarray
                _close(got[k], want[k])


def test_gradient_checking_through_the_kernels():
    x, y, p = G.gradient_check_n_test_case()
    cost, cache = FG.forward_propagation_n(x, y, p)
    cost_r, cache_r = G.forward_propagation_n(x, y, p)
    _close(cost, cost_r)
    grads = FG.backward_propagation_n(x, y, cache)
    assert FG.gradient_check_n(p, grads, x, y) < 2e-7
    buggy = G.backward_propagation_n(x, y, cache_r, bugs=True)
    assert FG.gradient_check_n(p, buggy, x, y) > 0.2


@pytest.mark.parametrize(
    "model, reference, kwargs",
    [
        (FI.model, N.initialization_model, {"initialization": "he"}),
        (FR.model, N.regularization_model, {}),
        (FR.model, N.regularization_model, {"lambd": 0.7}),
        (FR.model, N.regularization_model, {"keep_prob": 0.86}),
    ],
)
def test_the_compiled_full_batch_loops_print_and_return_the_notebooks(
    model, reference, kwargs, capsys
):
    X, Y, _ = _network((2, 1), 30, seed=3, labels=np.uint8)
    namespace = I if model is FI.model else R
    want, _ = reference(namespace, X, Y, num_iterations=1001, **kwargs)
    printed = capsys.readouterr().out
    got = model(X, Y, num_iterations=1001, plot_costs=False, **kwargs)
    same_prints(capsys.readouterr().out, printed)
    for k in want:
        _close(got[k], want[k], 1e-9)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_the_compiled_minibatch_loop_prints_and_returns_the_notebooks(optimizer, capsys):
    X, Y, _ = _network((2, 1), 30, seed=4)
    kwargs = dict(mini_batch_size=8, num_epochs=101, learning_rate=0.01)
    if optimizer == "adam":
        kwargs["decay"], kwargs["decay_rate"] = "schedule", 0.5
    decay_r = O.schedule_lr_decay if "decay" in kwargs else None
    decay = FO.schedule_lr_decay if "decay" in kwargs else None
    kwargs.pop("decay", None)
    want, _ = N.optimization_model(O, X, Y, [2, 3, 2, 1], optimizer, decay=decay_r, **kwargs)
    after = np.random.rand()
    printed = capsys.readouterr().out
    got = FO.model(X, Y, [2, 3, 2, 1], optimizer, decay=decay, plot_costs=False, **kwargs)
    assert np.random.rand() == after  # the same draws from NumPy's global stream
    same_prints(capsys.readouterr().out, printed)
    for k in want:
        _close(got[k], want[k], 1e-9)


@pytest.mark.parametrize("dims", [(2, 5, 3, 1), (3, 7, 6, 1)])
def test_three_layer_momentum_and_adam_in_one_call(dims):
    """The notebooks' own case: three layers, one kernel call for all six parameters."""
    X, Y, p = _network(dims, 12)
    _, cache = FO.forward_propagation(X, p)
    g = FO.backward_propagation(X, Y, cache)
    mine, theirs = dict(p), dict(p)
    v, v_r = FO.initialize_velocity(p), O.initialize_velocity(p)
    for _ in range(2):
        mine, v = FO.update_parameters_with_momentum(mine, g, v, 0.9, 0.05)
        theirs, v_r = O.update_parameters_with_momentum(theirs, g, v_r, 0.9, 0.05)
    for k in theirs:
        _close(mine[k], theirs[k])
        _close(v["d" + k], v_r["d" + k])
    (v, s), (v_r, s_r) = FO.initialize_adam(p), O.initialize_adam(p)
    mine, theirs = dict(p), dict(p)
    for t in (1, 2):
        out = FO.update_parameters_with_adam(mine, g, v, s, t)
        out_r = O.update_parameters_with_adam(theirs, g, v_r, s_r, t)
        for got, want in zip(out, out_r, strict=True):
            assert list(got) == list(want)
            for k in want:
                _close(got[k], want[k])
