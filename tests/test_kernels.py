"""Kernels and public functions against their NumPy twins (tests/naive.py).

Shapes from 1x1 through odd sizes to arrays above the parallel threshold,
float32 and float64, C order, Fortran order and strided views. The raw
kernels are tested too: serial span and parallel driver must agree.
"""

import numpy as np
import pytest

import fastdnn as F
import naive as N
from conftest import JIT_DISABLED, TOL, layouts
from fastdnn import kernels as K
from fastdnn._internal.activations import ACTIVATIONS, IDENTITY, RELU, SIGMOID
from fastdnn._internal.config import PARALLEL_MIN_ELEMENTS, TINY_MAX_ELEMENTS

SHAPES = [(1, 1), (3, 2), (7, 13), (1, 4099), (1031, 1030)]  # tiny, serial and parallel paths
DTYPES = [np.float64, np.float32]


def randn(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def close(actual, expected, dtype):
    """Within the dtype's tolerance; atol scales with the largest expected value
    because products and sums cancel (a small entry carries the rounding error
    of its large terms)."""
    assert actual.dtype == np.dtype(dtype)
    tol = TOL[np.dtype(dtype)]
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(
        actual, expected.astype(np.float64), rtol=tol["rtol"], atol=tol["atol"] * scale
    )


def test_thresholds_are_exercised():
    """SHAPES reach each of the three paths: tiny, serial and parallel kernels."""
    sizes = [r * c for r, c in SHAPES]
    assert min(sizes) < TINY_MAX_ELEMENTS
    assert any(TINY_MAX_ELEMENTS <= s < PARALLEL_MIN_ELEMENTS for s in sizes)
    assert max(sizes) >= PARALLEL_MIN_ELEMENTS


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sigmoid", "relu"])
def test_activation_forward(name, shape, dtype, rng):
    Z = randn(rng, shape, dtype)
    for layout, Zl in layouts(Z).items():
        A, cache = getattr(F, name)(Zl)
        expected, _ = getattr(N, name)(Z.astype(np.float64))
        close(A, expected, dtype)
        np.testing.assert_array_equal(cache, Z, err_msg=layout)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sigmoid_backward", "relu_backward"])
def test_activation_backward(name, shape, dtype, rng):
    dA, Z = randn(rng, shape, dtype), randn(rng, shape, dtype)
    Z[0, 0] = 0  # ReLU's kink: the course takes dZ = 0 at Z == 0
    expected = getattr(N, name)(dA.astype(np.float64), Z.astype(np.float64))
    for dAl, Zl in zip(layouts(dA).values(), layouts(Z).values(), strict=True):
        close(getattr(F, name)(dAl, Zl), expected, dtype)


@pytest.mark.parametrize("n", [1, 5, 100_003])
def test_elementwise_span_and_parallel_agree(n, rng):
    Z, dA = rng.standard_normal(n) * 10, rng.standard_normal(n)
    tiny = {
        RELU: (K._relu_tiny, K._relu_backward_tiny),
        SIGMOID: (K._sigmoid_tiny, K._sigmoid_backward_tiny),
    }
    for code, (forward_tiny, backward_tiny) in tiny.items():
        a1, a2, a3, a4 = (np.empty(n) for _ in range(4))
        assert K._activation_span(Z, a1, code, 0, n) == 0
        assert K._activation_parallel(Z, a2, code) == 0
        assert K._activation_into(Z, a3, code) == 0 and forward_tiny(Z, a4) == 0
        for a in (a2, a3, a4):
            np.testing.assert_array_equal(a, a1)
        d1, d2, d3, d4 = (np.empty(n) for _ in range(4))
        assert K._activation_backward_span(dA, Z, d1, code, 0, n) == 0
        assert K._activation_backward_parallel(dA, Z, d2, code) == 0
        assert K._activation_backward_into(dA, Z, d3, code) == 0 and backward_tiny(dA, Z, d4) == 0
        for d in (d2, d3, d4):
            np.testing.assert_array_equal(d, d1)
    # Each code computes its own operation (a swapped branch would pass the above).
    a = np.empty(n)
    K._activation_into(Z, a, RELU)
    np.testing.assert_array_equal(a, np.maximum(Z, 0))
    K._activation_into(Z, a, SIGMOID)
    np.testing.assert_allclose(a, 1 / (1 + np.exp(-Z)), rtol=1e-14)
    p1, p2 = np.empty(n), Z.copy()
    assert K._sgd_span(Z, dA, 0.5, p1, 0, n) == 0 and K._sgd_parallel(p2, dA, 0.5, p2) == 0
    np.testing.assert_array_equal(p1, Z - 0.5 * dA)
    np.testing.assert_array_equal(p2, p1)  # in place (the training loop's use) too


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", [None, 0, 2, 4])
def test_kernels_flag_nonfinite(dtype, where):
    """Every elementwise kernel flags a NaN/inf wherever it sits (first, middle,
    last element; in Z or in dA), and finite input is never flagged."""
    values = [np.nan, np.inf, -np.inf]
    for bad_value in values if where is not None else [None]:
        for bad_in in ("Z", "dA"):
            Z = np.array([0.0, -1.5, 2.0, 3.0, 1.0], dtype)
            dA = np.array([1.0, 1.0, 2.0, 3.0, -4.0], dtype)
            if where is not None:
                (Z if bad_in == "Z" else dA)[where] = bad_value
            out = np.empty_like(Z)
            expect = where is not None
            tiny = {
                RELU: (K._relu_tiny, K._relu_backward_tiny),
                SIGMOID: (K._sigmoid_tiny, K._sigmoid_backward_tiny),
            }
            for code, (forward_tiny, backward_tiny) in tiny.items():
                if bad_in == "Z":
                    assert bool(K._activation_span(Z, out, code, 0, 5)) is expect
                    assert bool(K._activation_parallel(Z, out, code)) is expect
                    Z2, out2 = Z.reshape(5, 1), out.reshape(5, 1)
                    assert bool(K._activation_into(Z2, out2, code)) is expect
                    assert bool(forward_tiny(Z2, out2)) is expect
                assert bool(K._activation_backward_span(dA, Z, out, code, 0, 5)) is expect
                assert bool(K._activation_backward_parallel(dA, Z, out, code)) is expect
                dA2, Z2, out2 = dA.reshape(1, 5), Z.reshape(1, 5), out.reshape(1, 5)
                assert bool(K._activation_backward_into(dA2, Z2, out2, code)) is expect
                assert bool(backward_tiny(dA2, Z2, out2)) is expect
            if bad_in == "Z":
                assert bool(K._sgd_span(Z, Z, 0.1, out, 0, 5)) is expect


@pytest.mark.parametrize("dtype", DTYPES)
def test_lean_path_matches_general_path(dtype, rng):
    """Exact C-contiguous float arrays take dnn_utils' lean path, other layouts
    the general one: same numbers, bit for bit, and the same cache object."""
    Z, dA = randn(rng, (7, 13), dtype), randn(rng, (7, 13), dtype)
    ZF, dAF = np.asfortranarray(Z), np.asfortranarray(dA)
    for name in ("sigmoid", "relu"):
        A, cache = getattr(F, name)(Z)
        assert cache is Z and A.flags.c_contiguous
        np.testing.assert_array_equal(A, getattr(F, name)(ZF)[0])
        backward = getattr(F, name + "_backward")
        np.testing.assert_array_equal(backward(dA, Z), backward(dAF, ZF))
        # dtypes differ: the general path converts (float64 wins)
        assert backward(dA.astype(np.float64), Z).dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 2, 1), (20, 209, 7)])
def test_layer_lean_path_matches_general_path(shape, dtype, rng, monkeypatch):
    """The layer functions' lean check (exact C-ordered arrays of one dtype)
    against the general path (Fortran-ordered dA/Z, which checked_backward
    converts; an ndarray subclass, which fails the exact-type check): same
    numbers bit for bit."""

    class Sub(np.ndarray):
        pass

    n_prev, m, n = shape
    A_prev, W, b = (
        randn(rng, (n_prev, m), dtype),
        randn(rng, (n, n_prev), dtype),
        randn(rng, (n, 1), dtype),
    )
    dA, Z = randn(rng, (n, m), dtype), randn(rng, (n, m), dtype)
    lean = F.linear_forward(A_prev, W, b)[0]
    np.testing.assert_array_equal(lean, F.linear_forward(A_prev.view(Sub), W, b)[0])
    lean = F.linear_backward(dA, (A_prev, W, b))
    for general in (
        F.linear_backward(np.asfortranarray(dA), (A_prev, W, b)),
        F.linear_backward(dA, (A_prev, W.view(Sub), b)),
    ):
        for x, y in zip(lean, general, strict=True):
            np.testing.assert_array_equal(x, y)
    for activation in ACTIVATIONS:
        with monkeypatch.context() as patch:  # the lean call must not validate again
            patch.setattr("fastdnn.course.backward.checked_backward", None)
            lean = F.linear_activation_backward(dA, ((A_prev, W, b), Z), activation)
        general = F.linear_activation_backward(
            dA, ((A_prev, W, b), np.asfortranarray(Z)), activation
        )
        for x, y in zip(lean, general, strict=True):
            assert x.dtype == np.dtype(dtype) and x.flags.c_contiguous
            np.testing.assert_array_equal(x, y)


def test_sigmoid_extremes_finite_and_exact_limits():
    Z = np.array([[-1e308, -1e3, -745.2, -700.0, -40.0, 0.0, 40.0, 700.0, 1e3, 1e308]])
    A, _ = F.sigmoid(Z)
    assert np.isfinite(A).all() and (A >= 0).all() and (A <= 1).all()
    assert A[0, 0] == 0.0 and A[0, -1] == 1.0 and A[0, 5] == 0.5
    np.testing.assert_allclose(A[0, 3], np.exp(-700.0), rtol=1e-14)
    dZ = F.sigmoid_backward(np.ones_like(Z), Z)
    assert np.isfinite(dZ).all() and (dZ >= 0).all() and dZ[0, 5] == 0.25


def test_exp_accuracy_one_ulp():
    from numba import njit

    # sigmoid(z) for z <= 0 is e / (1 + e) with e = exp(z); check exp itself
    # through the kernel's building block on a dense grid, denormals included.
    from fastdnn.kernels._scalar import (
        exp_nonpos,  # noqa: F401  (inlined below)
        sigmoid,
    )

    @njit
    def exp_all(x, out):
        for i in range(x.size):
            out[i] = exp_nonpos(x[i])

    x = -np.concatenate(
        [
            np.linspace(0, 746, 200_001),
            np.abs(np.random.default_rng(1).standard_normal(10_000)) * 100,
        ]
    )
    out = np.empty_like(x)
    exp_all(x, out)
    ref = np.exp(x)
    normal = ref >= np.finfo(np.float64).tiny
    ulps = np.abs(out - ref)[normal] / np.spacing(ref[normal])
    assert ulps.max() <= 1.0
    assert np.abs(out - ref)[~normal].max() <= 5e-324
    assert sigmoid(-800.0) == 0.0


def test_float32_sigmoid_within_a_few_ulp():
    """float32 sigmoid and slope are computed in float32 (Cephes expf): within
    3 float32 ulp (sigmoid) and 5 ulp (slope: three roundings more) of the
    exact value, denormal outputs included, never NaN. Measured: 2.4 and 4.2."""
    z = np.concatenate([np.linspace(-110, 110, 400_001), [-1e30, -104.5, -88.7, 0.0, 88.7, 1e30]])
    Z = z.astype(np.float32).reshape(1, -1)
    A, _ = F.sigmoid(Z)
    with np.errstate(over="ignore"):  # exp(1e30) = inf gives the right limit, 0
        exact = 1 / (1 + np.exp(-Z.astype(np.float64)))
    assert A.dtype == np.float32
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert (np.abs(A - exact) / ulp).max() <= 3
    e = np.exp(-np.abs(Z.astype(np.float64)))
    slope = e / (1 + e) ** 2
    dZ = F.sigmoid_backward(np.ones_like(Z), Z)
    ulp = np.spacing(slope.astype(np.float32)).astype(np.float64)
    assert np.isfinite(dZ).all() and (np.abs(dZ - slope) / ulp).max() <= 5


def test_log_within_one_ulp_denormals_included():
    """The cost's log (vectorizable fdlibm log) against np.log, 5e-324 to 1.7e308."""
    from numba import njit

    from fastdnn.kernels._scalar import log_pos  # noqa: F401  (inlined below)

    @njit
    def log_all(x, out):
        for i in range(x.size):
            out[i] = log_pos(x[i])

    rng = np.random.default_rng(2)
    x = np.concatenate(
        [
            np.geomspace(5e-324, 1.7e308, 20_001 if JIT_DISABLED else 400_001),
            np.linspace(0.5, 2.0, 10_001),
            rng.random(10_000),
            [5e-324, 2.2250738585072014e-308, np.nextafter(1.0, 0.0), 1.0, np.nextafter(1.0, 2.0)],
        ]
    )
    out = np.empty_like(x)
    log_all(x, out)
    ref = np.log(x)
    assert np.all(out[ref == 0] == 0)
    ulps = np.abs(out - ref)[ref != 0] / np.spacing(np.abs(ref[ref != 0]))
    assert ulps.max() <= 1.0


@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (3, 2, 1), (5, 4, 3), (257, 300, 263), (16, 1030, 1031)]
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_forward_and_backward(shape, dtype, rng):
    n_prev, m, n = shape
    A, W, b = (
        randn(rng, (n_prev, m), dtype),
        randn(rng, (n, n_prev), dtype),
        randn(rng, (n, 1), dtype),
    )
    Z_ref, _ = N.linear_forward(*(x.astype(np.float64) for x in (A, W, b)))
    for (la, Al), Wl in zip(layouts(A).items(), layouts(W).values(), strict=True):
        Z, cache = F.linear_forward(Al, Wl, b)
        close(Z, Z_ref, dtype)
        assert Z.flags.c_contiguous, la
    dZ = randn(rng, (n, m), dtype)
    ref = N.linear_backward(dZ.astype(np.float64), (A.astype(np.float64), W.astype(np.float64), b))
    for dZl, Al in zip(layouts(dZ).values(), layouts(A).values(), strict=True):
        for got, want in zip(F.linear_backward(dZl, (Al, W, b)), ref, strict=True):
            close(got, want, dtype)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (3, 2, 1), (6, 9, 4), (300, 263, 257), (16, 1030, 1031)]
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_activation_forward_and_backward(activation, shape, dtype, rng):
    n_prev, m, n = shape
    A_prev, W, b = (
        randn(rng, (n_prev, m), dtype, 1),
        randn(rng, (n, n_prev), dtype, 0.3),
        randn(rng, (n, 1), dtype),
    )
    as64 = [x.astype(np.float64) for x in (A_prev, W, b)]
    A_ref, cache_ref = N.linear_activation_forward(*as64, activation)
    A, cache = F.linear_activation_forward(A_prev, W, b, activation)
    close(A, A_ref, dtype)
    close(cache[1], cache_ref[1], dtype)
    assert all(c is x for c, x in zip(cache[0], (A_prev, W, b), strict=True))
    dA = randn(rng, (n, m), dtype)
    # Backward from the same (float64) cache, so both see identical Z.
    Z = cache_ref[1].astype(dtype)
    ref = N.linear_activation_backward(
        dA.astype(np.float64), (tuple(as64), Z.astype(np.float64)), activation
    )
    got = F.linear_activation_backward(dA, ((A_prev, W, b), Z), activation)
    for g, r in zip(got, ref, strict=True):
        close(g, r, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_parallel_branch_matches_serial(dtype, rng, monkeypatch):
    """Layers go parallel only from LAYER_PARALLEL_MIN_ELEMENTS (2^24); with
    the threshold lowered, a 1030x1031 layer takes the API's parallel branch
    (run() and the prange drivers): the same numbers, bit for bit."""
    A_prev, W, b = (
        randn(rng, (16, 1031), dtype),
        randn(rng, (1030, 16), dtype),
        randn(rng, (1030, 1), dtype),
    )
    dA = randn(rng, (1030, 1031), dtype)

    def layer():
        A, cache = F.linear_activation_forward(A_prev, W, b, "relu")
        Z, _ = F.linear_forward(A_prev, W, b)
        return (
            A,
            cache[1],
            Z,
            *F.linear_activation_backward(dA, cache, "sigmoid"),
            *F.linear_backward(dA, cache[0]),
        )

    serial = layer()
    for module in ("fastdnn.course.forward", "fastdnn.course.backward"):
        monkeypatch.setattr(f"{module}.LAYER_PARALLEL_MIN_ELEMENTS", PARALLEL_MIN_ELEMENTS)
    assert A_prev.shape[1] * W.shape[0] >= PARALLEL_MIN_ELEMENTS
    for x, y in zip(serial, layer(), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("rows, m", [(1, 1), (3, 5), (40, 4099), (1, 70_001)])
@pytest.mark.parametrize("code", [IDENTITY, *ACTIVATIONS.values()])
def test_layer_kernels_span_and_parallel(rows, m, code, rng):
    Z0, b, dA = (
        rng.standard_normal((rows, m)),
        rng.standard_normal(rows),
        rng.standard_normal((rows, m)),
    )
    outs = []
    for parallel in (False, True):
        Z = Z0.copy().ravel()
        A = Z if code == IDENTITY else np.empty(rows * m)  # identity: A is Z, as in the API
        if parallel:
            K._bias_activation_parallel(Z, b, A, m, code)
        else:
            K._bias_activation_span(Z, b, A, m, code, 0, Z.size)
        dZ, db = np.empty(rows * m), np.empty(rows)
        if parallel:
            K._activation_backward_db_parallel(dA.ravel(), Z, dZ, db, m, code)
        else:
            K._activation_backward_db_rows(dA.ravel(), Z, dZ, db, m, code, 0, rows)
        outs.append((Z, A, dZ, db))
    for x, y in zip(*outs, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(outs[0][0].reshape(rows, m), Z0 + b[:, None], rtol=1e-15)
    np.testing.assert_allclose(
        outs[0][3], outs[0][2].reshape(rows, m).mean(axis=1), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("m", [1, 3, 1_100_001])
@pytest.mark.parametrize("dtype", DTYPES)
def test_compute_cost(m, dtype, rng):
    AL = rng.uniform(0.01, 0.99, (1, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(np.int64)
    cost = F.compute_cost(AL, Y)
    assert cost.shape == () and cost.dtype == np.dtype(dtype)
    close(cost, N.compute_cost(AL.astype(np.float64), Y), dtype)


def test_compute_cost_real_valued_labels_and_saturated_AL():
    AL = np.array([[0.3, 0.6, 0.9]])
    Y = np.array([[0.2, 0.5, 1.0]])
    np.testing.assert_allclose(F.compute_cost(AL, Y), N.compute_cost(AL, Y), rtol=1e-15)
    # AL exactly 0 or 1: the course gives inf or nan, fastdnn stays finite.
    assert F.compute_cost(np.array([[1.0, 0.0]]), np.array([[1, 0]])) == 0.0
    cost = F.compute_cost(np.array([[0.0, 1.0]]), np.array([[1, 0]]))
    assert np.isfinite(cost) and 744 < cost < 745  # -log(5e-324), the clamp


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_model_forward_backward_update(depth, dtype, rng):
    dims = [7] + [5] * (depth - 1) + [1]
    m = 11
    params = {}
    for l in range(1, depth + 1):
        params[f"W{l}"] = randn(rng, (dims[l], dims[l - 1]), dtype, 0.5)
        params[f"b{l}"] = randn(rng, (dims[l], 1), dtype, 0.1)
    X = randn(rng, (dims[0], m), dtype, 1)
    Y = (rng.random((1, m)) > 0.5).astype(np.int64)
    AL, caches = F.L_model_forward(X, params)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    AL_ref, caches_ref = N.L_model_forward(X.astype(np.float64), p64)
    close(AL, AL_ref, dtype)
    assert len(caches) == depth
    for c, r in zip(caches, caches_ref, strict=True):
        for got, want in zip((*c[0], c[1]), (*r[0], r[1]), strict=True):
            close(got, want, dtype)
    grads = F.L_model_backward(AL, Y, caches)
    grads_ref = N.L_model_backward(AL_ref, Y, caches_ref)
    assert list(grads) == list(grads_ref)
    for key in grads_ref:
        close(grads[key], grads_ref[key], dtype)
    new = F.update_parameters(params, grads, 0.05)
    new_ref = N.update_parameters(p64, grads_ref, 0.05)
    for key in new_ref:
        close(new[key], new_ref[key], dtype)
