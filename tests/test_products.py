"""The skinny layer's products on fastdnn's kernels (fastdnn.course.products, the trainer's
fused weight step) against NumPy, the course's functions and finite differences.

A layer with at most SKINNY_MAX_UNITS units and at least SKINNY_MIN_INPUTS
inputs, on A_prev in Fortran order, takes this path in the course API and in
``train``; every other case keeps BLAS, so both are checked against the
course's plain NumPy code and against each other. Both forms of the products
(the axpy form and the register tiles, ``kernels.tiles``) are checked on any
CPU: the tiles are only chosen on AVX-512, but they compute correctly anywhere.
"""

import itertools

import numpy as np
import pytest

import fastdnn as F
import naive as N
from conftest import JIT_DISABLED, TOL
from fastdnn import kernels as K
from fastdnn._internal import dispatch
from fastdnn._internal.config import (
    GRAD_BLOCK,
    GRAD_EXAMPLES,
    SKINNY_MIN_INPUTS,
    TILE_MIN_EXAMPLES_FLOAT64,
)
from fastdnn.app.train import TrainingDiverged, train
from fastdnn.course import products

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


@pytest.fixture(params=[False, True], ids=["axpy", "tiles"])
def tiles(request, pin_variants):
    """Both forms of the skinny products, whatever this CPU would choose."""
    form = "tiles" if request.param else "axpy"
    pin_variants(f"dW={form},dA_prev={form}")
    return request.param


FORMS = {"axpy": ("_axpy_rows", "_axpy_parallel"), "tiles": ("_tiles_rows", "_tiles_parallel")}


def run_form(
    form, parallel, A, B, C, scale, rows, cols, W=None, learning_rate=0.0, depth=32, ahead=0
):
    """``C = scale * A @ B`` (and ``W -= learning_rate * C``) by one driver, with ``A``
    passed flat with its strides, as ``course.products`` passes it; the tiles reduce
    ``depth`` rows of B at a time and prefetch ``ahead`` elements on."""
    a = A.ravel(order="K")
    strides = (A.strides[0] // A.itemsize, A.strides[1] // A.itemsize)
    W = np.empty((0, 0), C.dtype) if W is None else W
    kernel = getattr(K, FORMS[form][parallel])
    tiles_only = (depth, ahead) if form == "tiles" else ()
    return kernel(a, strides, B, C, scale, rows, cols, W, learning_rate, *tiles_only)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_step_matches_numpy(shape, dtype, tiles, rng):
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
        form = "tiles" if tiles else "axpy"
        bad = run_form(form, parallel, dZ, XT, dW, scale, n, GRAD_BLOCK, W_new, learning_rate)
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
def test_weight_step_flags_nonfinite(dtype, value, tiles, rng):
    n, m, n_x = 6, 9, 2 * GRAD_BLOCK + 3
    dZ = rng.standard_normal((n, m)).astype(dtype)
    XT = rng.standard_normal((m, n_x)).astype(dtype)
    W = np.zeros((n, n_x), dtype)
    assert not products.weight_step(dZ, XT.T, W, 0.1, np.empty_like(W))
    XT[m - 1, n_x - 1] = value  # the last feature of the last block
    assert products.weight_step(dZ, XT.T, W, 0.1, np.empty_like(W))


def test_register_tiles_are_the_default_where_they_measured_faster():
    from fastdnn._internal.variants import default

    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    assert default("dW", f32, 20, 209, wide=True) == "tiles"
    assert default("dW", f64, 20, 209, wide=True) == "tiles"
    assert default("dW", f32, 7, 209, wide=True) == "axpy"  # 4-row tiles only
    assert default("dW", f64, 7, 209, wide=True) == "axpy"
    assert default("dA_prev", f32, 20, 209, wide=True) == "tiles"
    assert default("dA_prev", f64, 20, 209, wide=True) == "axpy"  # as fast on the axpy form
    assert default("dA_prev", f64, 20, TILE_MIN_EXAMPLES_FLOAT64, wide=True) == "tiles"
    # a CPU without AVX-512
    assert default("dW", f32, 20, 209, wide=False) == "axpy"
    assert default("dA_prev", f32, 20, 4096, wide=False) == "axpy"


@pytest.mark.parametrize("dtype", DTYPES)
def test_partial_vectors_touch_only_their_lanes(dtype):
    """vload_part / vstore_part (a tile's last columns): the first n lanes are read and
    written, the others load as 0 and are left alone, at the very end of an array too
    (a masked lane past the end is never read: no fault); vprefetch is only a hint."""
    from numba import njit

    from fastdnn._internal.simd import VECTOR_BYTES, vload_part, vprefetch, vstore_part

    width = VECTOR_BYTES // np.dtype(dtype).itemsize

    @njit
    def copy_part(src, dst, i, n):
        vprefetch(src, i + 4 * width)  # past the end: a hint, no fault
        vstore_part(dst, i, vload_part(src, i, n), n)

    src = np.arange(1, 2 * width + 4, dtype=dtype)  # not a whole number of vectors
    for i, n in [(0, width), (2 * width, 3), (width + 1, 0), (2 * width + 3 - 1, 1)]:
        dst = np.full_like(src, -1)
        copy_part(src, dst, i, n)
        expected = np.full_like(src, -1)
        expected[i : i + n] = src[i : i + n]
        np.testing.assert_array_equal(dst, expected)


@pytest.mark.skipif(JIT_DISABLED, reason="typing of the vector intrinsics needs the JIT")
def test_vector_loads_refuse_strided_rows():
    """vload/vstore read unit-stride memory: a strided row must not compile (it
    would read the wrong elements), a contiguous one must."""
    from numba import njit
    from numba.core.errors import TypingError

    from fastdnn._internal.simd import vload, vstore

    @njit
    def copy_vector(src, dst):
        vstore(dst, 0, vload(src, 0))

    a = np.arange(64.0).reshape(4, 16)
    out = np.zeros(8)
    copy_vector(a[1], out)
    np.testing.assert_array_equal(out, a[1, :8])
    with pytest.raises(TypingError):
        copy_vector(a[:, 1], out)
    with pytest.raises(TypingError):
        copy_vector(a[1], np.zeros(16, np.float32))  # a vector of another dtype


def test_path_is_taken_only_where_it_applies():
    W1 = np.zeros((20, SKINNY_MIN_INPUTS))
    X = np.zeros((SKINNY_MIN_INPUTS, 9))
    assert products.skinny(W1, np.asfortranarray(X))
    assert not products.skinny(W1, X)  # C order: BLAS
    assert not products.skinny(W1, np.asfortranarray(X[:, :1]))  # one example: C order too
    assert not products.skinny(W1[:, :-1], np.asfortranarray(X[:-1]))  # few inputs
    assert not products.skinny(np.zeros((65, X.shape[0])), np.asfortranarray(X))  # many units
    assert not products.skinny(np.asfortranarray(W1), np.asfortranarray(X))  # W not C order
    assert not products.skinny(W1, np.asfortranarray(X, dtype=np.float32))  # mixed dtypes


AXPY_SHAPES = [
    # (rows of C, inner, cols of C): ragged against the 4-row and 6-deep passes,
    # GRAD_EXAMPLES, GRAD_BLOCK and the tiles' depth (several chunks); 4-, 2- and
    # 1-row tiles, then a partly masked tile (209 = 6 x 32 + 17 in float64,
    # 3 x 64 + 17 in float32: 3 vectors, the last with one lane) and one with a
    # whole masked vector (100 = 3 x 32 + 4); the degenerate ones, no inner dimension too.
    (7, GRAD_EXAMPLES + 13, 2 * GRAD_BLOCK + 5),
    (130, 20, 209),
    (6, 2 * 32 + 1, 100),
    (3, 5, 7),
    (1, 1, 1),
    (5, 6, 4),
    (3, 0, 5),
]


@pytest.mark.parametrize("shape", AXPY_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transposed", [False, True], ids=["A", "A=W.T"])
@pytest.mark.parametrize("form", FORMS)
def test_axpy_kernels_match_numpy(shape, dtype, transposed, form, rng):
    """C = scale * A @ B by either form, serial and parallel, row blocks of 4, 64
    and all rows: against float64 NumPy, and equal to each other bit for bit."""
    R, inner, N_ = shape
    A = rng.standard_normal((R, inner)).astype(dtype)
    if transposed:  # dA_prev = W.T @ dZ passes a Fortran-ordered view
        A = np.ascontiguousarray(A.T).T
    B = rng.standard_normal((inner, N_)).astype(dtype)
    scale = dtype(1 / 3)
    expected = (A.astype(np.float64) @ B.astype(np.float64)) * float(scale)
    bound = 2 * (inner + 2) * np.finfo(dtype).eps * (np.abs(A) @ np.abs(B)) + np.finfo(dtype).tiny
    results = []
    settings = itertools.product((4, 64, R), (GRAD_BLOCK, 8), (False, True))
    for k, (rows, cols, parallel) in enumerate(settings):
        # The tiles' reduction in one chunk, in chunks of 32 and of 7 rows of B, with
        # and without prefetching (past the arrays' ends too): the same sums.
        depth, ahead = (1000, 32, 7)[k % 3], (0, 64)[k % 2]
        C = np.full((R, N_), np.nan, dtype)
        assert run_form(form, parallel, A, B, C, scale, rows, cols, depth=depth, ahead=ahead) == 0
        assert np.all(np.abs(C - expected) <= bound)
        results.append(C)
    for C in results[1:]:
        np.testing.assert_array_equal(C, results[0])


SKINNY = [(7, SKINNY_MIN_INPUTS + 3, 11), *([] if JIT_DISABLED else [(20, 12288, 209)])]


def _skinny_layer(rng, dtype, n, n_x, m):
    X = np.asfortranarray(rng.random((n_x, m)), dtype=dtype)  # the notebook's layout
    W = (rng.standard_normal((n, n_x)) / np.sqrt(n_x)).astype(dtype)
    b = rng.standard_normal((n, 1)).astype(dtype)
    dA = rng.standard_normal((n, m)).astype(dtype)
    assert products.skinny(W, X)
    return X, W, b, dA


@pytest.mark.parametrize("shape", SKINNY)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_course_functions_on_skinny_layers_match_the_course(shape, dtype, activation, tiles, rng):
    """linear_(activation_)forward/backward on the skinny path: the course's values, the
    course's structures, C-contiguous results, the same values as the BLAS path (X in
    C order), and run to run / serial against parallel bit for bit."""
    X, W, b, dA = _skinny_layer(rng, dtype, *shape)
    tol = TOL[np.dtype(dtype)]
    rtol, atol = tol["rtol"] * 100, tol["atol"] * 100
    as64 = [a.astype(np.float64) for a in (X, W, b, dA)]

    A, cache = F.linear_activation_forward(X, W, b, activation)
    A_ref, cache_ref = N.linear_activation_forward(*as64[:3], activation)
    np.testing.assert_allclose(A, A_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(cache[1], cache_ref[1], rtol=rtol, atol=atol)
    assert cache[0][0] is X and A.dtype == dtype and A.flags.c_contiguous
    Z, _ = F.linear_forward(X, W, b)
    np.testing.assert_allclose(Z, cache_ref[1], rtol=rtol, atol=atol)

    grads = F.linear_activation_backward(dA, cache, activation)
    grads_ref = N.linear_activation_backward(as64[3], cache_ref, activation)
    for got, want in zip(grads, grads_ref, strict=True):
        assert got.dtype == dtype and got.flags.c_contiguous and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * np.abs(want).max())
    lin = F.linear_backward(dA, (X, W, b))
    for got, want in zip(lin, N.linear_backward(as64[3], as64[:3]), strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * np.abs(want).max())

    # The BLAS path (X in C order) gives the same values to rounding.
    Xc = np.ascontiguousarray(X)
    assert not products.skinny(W, Xc)
    blas = F.linear_activation_backward(
        dA, F.linear_activation_forward(Xc, W, b, activation)[1], activation
    )
    for got, want in zip(grads, blas, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * np.abs(want).max())

    # Run to run, and serial (another thread holds the parallel region) against parallel.
    again = F.linear_activation_backward(
        dA, F.linear_activation_forward(X, W, b, activation)[1], activation
    )
    with dispatch._REGION:
        A_serial, cache_serial = F.linear_activation_forward(X, W, b, activation)
        serial = F.linear_activation_backward(dA, cache_serial, activation)
    np.testing.assert_array_equal(A_serial, A)
    for got, run2, ser in zip(grads, again, serial, strict=True):
        np.testing.assert_array_equal(got, run2)
        np.testing.assert_array_equal(got, ser)


@pytest.mark.parametrize("dtype", DTYPES)
def test_skinny_products_flag_nonfinite_input(dtype, rng):
    X, W, b, dA = _skinny_layer(rng, dtype, *SKINNY[0])
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="A_prev"):
        F.linear_activation_forward(X, W, b, "relu")


def test_skinny_layer_gradients_match_finite_differences(rng):
    """dW1, db1 and dA0 of a network whose first layer is skinny (X in Fortran order)
    against central differences of the cost, on a sample of entries."""
    n_x, m = SKINNY_MIN_INPUTS + 6, 5
    X = np.asfortranarray(rng.standard_normal((n_x, m)))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    params = {
        "W1": rng.standard_normal((3, n_x)) * 0.05,
        "b1": rng.standard_normal((3, 1)) * 0.3,
        "W2": rng.standard_normal((1, 3)),
        "b2": rng.standard_normal((1, 1)) * 0.3,
    }
    assert products.skinny(params["W1"], X)
    AL, caches = F.L_model_forward(X, params)
    grads = F.L_model_backward(AL, Y, caches)

    def cost():
        return float(F.compute_cost(F.L_model_forward(X, params)[0], Y))

    def numeric(x, idx, eps=1e-6):
        old = x[idx]
        x[idx] = old + eps
        up = cost()
        x[idx] = old - eps
        down = cost()
        x[idx] = old
        return (up - down) / (2 * eps)

    picks = [
        (int(i), int(k))
        for i, k in zip(rng.integers(0, 3, 30), rng.integers(0, n_x, 30), strict=True)
    ]
    for idx in picks + [(2, n_x - 1)]:
        np.testing.assert_allclose(
            grads["dW1"][idx], numeric(params["W1"], idx), rtol=1e-5, atol=1e-9
        )
    for i in range(3):
        np.testing.assert_allclose(
            grads["db1"][i, 0], numeric(params["b1"], (i, 0)), rtol=1e-5, atol=1e-9
        )
    # dA0 is the gradient of the summed loss (the course's dA_prev carries no 1/m).
    for idx in [
        (int(k), int(j))
        for k, j in zip(rng.integers(0, n_x, 30), rng.integers(0, m, 30), strict=True)
    ]:
        np.testing.assert_allclose(grads["dA0"][idx], numeric(X, idx) * m, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [[1100, 9, 5, 1], [1030, 1]])
def test_training_on_the_first_layer_path_follows_the_reference(dims, dtype, tiles, rng):
    m = 37
    steps = 3 if JIT_DISABLED else 101  # plain Python: a few steps suffice for the logic
    X64 = rng.random((dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    params = {k: v.astype(dtype) for k, v in F.initialize_parameters_deep(dims).items()}
    X_fortran = np.asfortranarray(X64.astype(dtype))
    assert products.skinny(params["W1"].astype(dtype), X_fortran)
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
    X = np.asfortranarray(rng.random((SKINNY_MIN_INPUTS, 8)))
    Y = (rng.random((1, 8)) > 0.5).astype(np.float64)
    params = F.initialize_parameters_deep([X.shape[0], 4, 1])
    with pytest.raises(TrainingDiverged, match=r"diverged at iteration \d+"):
        train(X, Y, params, 1e300, 50)
