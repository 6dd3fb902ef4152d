"""The training step's own first-layer kernels (fastdnn.first_layer) against NumPy.

``train`` takes this path for X in Fortran order with a skinny first layer
(at most FIRST_LAYER_MAX_UNITS units, at least FIRST_LAYER_MIN_INPUTS
inputs); every other case keeps the BLAS path, so both are checked against
the course's plain NumPy loop and against each other.
"""

import numpy as np
import pytest

import fastdnn as F
import naive as N
from conftest import JIT_DISABLED, TOL
from fastdnn import first_layer
from fastdnn import kernels as K
from fastdnn._config import FIRST_LAYER_MIN_INPUTS, GRAD_BLOCK, GRAD_EXAMPLES
from fastdnn.activations import RELU, SIGMOID
from fastdnn.train import TrainingDiverged, train

DTYPES = [np.float64, np.float32]
# (n, m, n_x): rows not a multiple of the 4-row pass, examples not a multiple
# of the 6-example pass and above GRAD_EXAMPLES, features over several blocks
# with a ragged last one; and the degenerate single row / example / feature.
SHAPES = [
    *([] if JIT_DISABLED else [(20, 209, 12288)]),  # the cat network; minutes as plain Python
    (7, GRAD_EXAMPLES + 13, 2 * GRAD_BLOCK + 5),
    (3, 5, 7),
    (1, 1, 1),
    (5, 6, 4),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_step_matches_numpy(shape, dtype, rng):
    n, m, n_x = shape
    dZ = rng.standard_normal((n, m)).astype(dtype)
    XT = rng.standard_normal((m, n_x)).astype(dtype)
    W = rng.standard_normal((n, n_x)).astype(dtype)
    learning_rate = 0.3
    dW_ref = (dZ.astype(np.float64) @ XT.astype(np.float64)) / m
    W_ref = W.astype(np.float64) - learning_rate * dW_ref
    scale = dtype(1 / m)
    results = []
    for parallel in (False, True):
        dW, W_new = np.full((n, n_x), np.nan, dtype), W.copy()
        if parallel:
            bad = K._weight_step_parallel(dZ, XT, dW, scale, W_new, learning_rate)
        else:
            bad = K._weight_step_rows(dZ, XT, dW, scale, W_new, learning_rate, 0, n_x)
        assert not bad
        tol = TOL[np.dtype(dtype)]
        # Sums of m products: allow m roundings relative to the largest term.
        atol = m * np.finfo(dtype).eps * (np.abs(dZ).max() * np.abs(XT).max())
        np.testing.assert_allclose(dW, dW_ref, rtol=tol["rtol"], atol=atol)
        np.testing.assert_allclose(W_new, W_ref, rtol=tol["rtol"], atol=atol)
        assert dW.dtype == W_new.dtype == dtype
        results.append((dW, W_new))
    # Work items split features only: every sum runs in the same order.
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_weight_step_flags_nonfinite(dtype, value, rng):
    n, m, n_x = 6, 9, 2 * GRAD_BLOCK + 3
    dZ = rng.standard_normal((n, m)).astype(dtype)
    XT = rng.standard_normal((m, n_x)).astype(dtype)
    W = np.zeros((n, n_x), dtype)
    assert not first_layer.weight_step(dZ, XT, W, 0.1, np.empty_like(W))
    XT[m - 1, n_x - 1] = value  # the last feature of the last block
    assert first_layer.weight_step(dZ, XT, W, 0.1, np.empty_like(W))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", [RELU, SIGMOID])
def test_layer_forward_matches_numpy(dtype, code, rng):
    n1, n_x, m = 7, FIRST_LAYER_MIN_INPUTS + 3, 11
    X = np.asfortranarray(rng.standard_normal((n_x, m)).astype(dtype))
    W1 = rng.standard_normal((n1, n_x)).astype(dtype) * 0.05
    b1 = rng.standard_normal((n1, 1)).astype(dtype)
    XT = first_layer.examples_as_rows(X, W1)
    assert XT is not None and XT.flags.c_contiguous
    A1, Z1 = first_layer.layer_forward(XT, W1, b1, code, "test")
    Z_ref = W1.astype(np.float64) @ X.astype(np.float64) + b1
    A_ref = N.relu(Z_ref)[0] if code == RELU else N.sigmoid(Z_ref)[0]
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(Z1, Z_ref, rtol=tol["rtol"] * 100, atol=tol["atol"] * 100)
    np.testing.assert_allclose(A1, A_ref, rtol=tol["rtol"] * 100, atol=tol["atol"] * 100)
    assert Z1.flags.c_contiguous and Z1.dtype == A1.dtype == dtype
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="X"):
        first_layer.layer_forward(XT, W1, b1, code, "test")


def test_path_is_taken_only_where_it_applies(rng):
    W1 = np.zeros((20, FIRST_LAYER_MIN_INPUTS))
    X = np.zeros((FIRST_LAYER_MIN_INPUTS, 9))
    assert first_layer.examples_as_rows(np.asfortranarray(X), W1) is not None
    assert first_layer.examples_as_rows(X, W1) is None  # C order: BLAS
    assert first_layer.examples_as_rows(np.asfortranarray(X[:, :1]), W1) is None  # one example
    assert first_layer.examples_as_rows(np.asfortranarray(X[:-1]), W1[:, :-1]) is None  # few inputs
    assert first_layer.examples_as_rows(np.asfortranarray(X), np.zeros((65, X.shape[0]))) is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [[1100, 9, 5, 1], [1030, 1]])
def test_training_on_the_first_layer_path_follows_the_reference(dims, dtype, rng):
    m = 37
    steps = 3 if JIT_DISABLED else 101  # plain Python: a few steps suffice for the logic
    X64 = rng.random((dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    params = {k: v.astype(dtype) for k, v in F.initialize_parameters_deep(dims).items()}
    X_fortran = np.asfortranarray(X64.astype(dtype))
    assert first_layer.examples_as_rows(X_fortran, params["W1"]) is not None
    out, costs = train(X_fortran, Y.astype(dtype), params, 0.05, steps)
    blas_out, blas_costs = train(
        np.ascontiguousarray(X_fortran), Y.astype(dtype), params, 0.05, steps
    )
    ref = {k: v.astype(np.float64) for k, v in params.items()}
    ref_costs = []
    for i in range(steps):
        ref, cost = N.training_step(X_fortran.astype(np.float64), Y, ref, 0.05)
        if i % 100 == 0:
            ref_costs.append(cost)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(np.array(costs, float), np.array(ref_costs, float), rtol=rtol)
    np.testing.assert_allclose(np.array(costs, float), np.array(blas_costs, float), rtol=rtol)
    for key in ref:
        assert out[key].dtype == dtype
        scale = np.abs(ref[key]).max()
        np.testing.assert_allclose(out[key], ref[key], rtol=rtol, atol=rtol * scale)
        np.testing.assert_allclose(out[key], blas_out[key], rtol=rtol, atol=rtol * scale)


def test_training_diverges_cleanly_on_the_first_layer_path(rng):
    X = np.asfortranarray(rng.random((FIRST_LAYER_MIN_INPUTS, 8)))
    Y = (rng.random((1, 8)) > 0.5).astype(np.float64)
    params = F.initialize_parameters_deep([X.shape[0], 4, 1])
    with pytest.raises(TrainingDiverged, match=r"diverged at iteration \d+"):
        train(X, Y, params, 1e300, 50)
