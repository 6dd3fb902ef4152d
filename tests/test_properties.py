"""Property tests (hypothesis): random shapes, dtypes and values against the NumPy twins.

Tolerances, per dtype, with eps = 2**-24 (float32) or 2**-53 (float64):

* sigmoid: relative 4 eps in float64 (one rounding, plus the 1-ulp exp), 8 eps in
  float32 (computed in float32: expf within 1 ulp, a division and a product;
  measured at most 2.5 ulp of the result). relu, relu_backward: exact.
* sigmoid_backward: absolute 4 eps * max|dA| + d (8 eps in float32; d: the smallest
  denormal). The course's ``s * (1 - s)`` cancels for |z| > ~17 (float64), so
  only an absolute bound is meaningful.
* products: |fast - exact| <= 2 (n_prev + 2) (eps (|W| @ |A| + |b|) + d), the
  textbook bound of a dot product of n_prev terms summed in any order, with
  d the smallest denormal (the absolute spacing of results near 0; found by
  hypothesis: 1.5 * 2.8e-43 in float32).
* compute_cost: relative 8 eps * m, plus 1e-300 absolute for costs near 0.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastdnn as F
import naive as N
from fastdnn.serving.model import Model

EPS = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
SETTINGS = settings(
    max_examples=int(os.environ.get("FASTDNN_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

dtypes = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])
dims = st.integers(1, 12)


def finite(dtype, shape, bound=None):
    """Any finite values of the dtype (bound: a magnitude cap)."""
    limit = bound if bound is not None else float(np.finfo(dtype).max)
    return arrays(
        dtype,
        shape,
        elements=st.floats(-limit, limit, allow_nan=False, width=8 * dtype.itemsize),
    )


@st.composite
def matrix(draw, bound=None):
    dtype = draw(dtypes)
    return draw(finite(dtype, (draw(dims), draw(dims)), bound))


@SETTINGS
@given(matrix())
def test_sigmoid_and_relu_any_finite_input(Z):
    eps = EPS[Z.dtype]
    with np.errstate(all="ignore"):  # the twin's exp overflows for large -Z (to the right limit)
        expected = N.sigmoid(Z.astype(np.float64))[0]
    A, cache = F.sigmoid(Z)
    assert A.dtype == Z.dtype and cache is not None
    assert np.all((A >= 0) & (A <= 1))
    rtol = (8 if Z.dtype == np.float32 else 4) * eps
    np.testing.assert_allclose(
        A, expected, rtol=rtol, atol=float(np.finfo(Z.dtype).smallest_subnormal)
    )
    R, _ = F.relu(Z)
    np.testing.assert_array_equal(R, np.maximum(Z, 0))


@SETTINGS
@given(st.data())
def test_backward_any_finite_input(data):
    Z = data.draw(matrix(bound=1e3))
    dA = data.draw(finite(Z.dtype, Z.shape, bound=1e3))
    eps = EPS[Z.dtype]
    np.testing.assert_array_equal(F.relu_backward(dA, Z), np.where(Z > 0, dA, 0).astype(Z.dtype))
    with np.errstate(all="ignore"):
        expected = N.sigmoid_backward(dA.astype(np.float64), Z.astype(np.float64))
    dZ = F.sigmoid_backward(dA, Z)
    assert dZ.dtype == Z.dtype
    denormal = float(np.finfo(Z.dtype).smallest_subnormal)  # 0.25 * 1e-45 rounds to 0 in float32
    k = 8 if Z.dtype == np.float32 else 4
    np.testing.assert_allclose(dZ, expected, rtol=0, atol=k * eps * np.abs(dA).max() + denormal)


@SETTINGS
@given(st.data())
def test_linear_activation_forward_and_backward(data):
    dtype = data.draw(dtypes)
    n, n_prev, m = data.draw(dims), data.draw(st.integers(1, 40)), data.draw(dims)
    A_prev = data.draw(finite(dtype, (n_prev, m), 1e3))
    W = data.draw(finite(dtype, (n, n_prev), 1e3))
    b = data.draw(finite(dtype, (n, 1), 1e3))
    activation = data.draw(st.sampled_from(["relu", "sigmoid"]))
    eps = EPS[np.dtype(dtype)]
    f64 = [x.astype(np.float64) for x in (A_prev, W, b)]
    denormal = float(np.finfo(dtype).smallest_subnormal)  # absolute spacing near 0
    bound = 2 * (n_prev + 2) * (eps * (np.abs(f64[1]) @ np.abs(f64[0]) + np.abs(f64[2])) + denormal)
    A, ((_, _, _), Z) = F.linear_activation_forward(A_prev, W, b, activation)
    assert A.dtype == Z.dtype == dtype
    Z_exact = f64[1] @ f64[0] + f64[2]
    assert np.all(np.abs(Z - Z_exact) <= bound)
    # The activation is 1-Lipschitz (relu) or 1/4-Lipschitz (sigmoid) in Z.
    with np.errstate(all="ignore"):
        A_exact = N.sigmoid(Z_exact)[0] if activation == "sigmoid" else np.maximum(Z_exact, 0)
    assert np.all(np.abs(A - A_exact) <= bound + 4 * eps * np.abs(A_exact))
    dA = data.draw(finite(dtype, (n, m), 1e3))
    dA_prev, dW, db = F.linear_activation_backward(dA, ((A_prev, W, b), Z), activation)
    assert dA_prev.shape == A_prev.shape and dW.shape == W.shape and db.shape == b.shape
    assert dA_prev.dtype == dW.dtype == db.dtype == dtype


@SETTINGS
@given(st.data())
def test_compute_cost_finite_and_close(data):
    dtype = data.draw(dtypes)
    m = data.draw(st.integers(1, 300))
    AL = data.draw(
        arrays(dtype, (1, m), elements=st.floats(0, 1, width=8 * np.dtype(dtype).itemsize))
    )
    Y = data.draw(arrays(np.int64, (1, m), elements=st.integers(0, 1))).astype(dtype)
    cost = F.compute_cost(AL, Y)
    assert cost.dtype == dtype and np.isfinite(cost)
    inside = (AL > 0) & (AL < 1)
    if inside.all():  # where the course's formula is finite, it is the same number
        expected = N.compute_cost(AL.astype(np.float64), Y.astype(np.float64))
        eps = EPS[np.dtype(dtype)]
        np.testing.assert_allclose(cost, expected, rtol=8 * eps * m + 4 * eps, atol=1e-300)


@SETTINGS
@given(st.data())
def test_model_predict_proba_matches_forward(data):
    dtype = data.draw(dtypes)
    layer_dims = data.draw(st.lists(st.integers(1, 23), min_size=2, max_size=5))
    m = data.draw(st.integers(1, 70))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    p = {}
    for l in range(1, len(layer_dims)):
        p[f"W{l}"] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) / np.sqrt(
            layer_dims[l - 1]
        )
        p[f"b{l}"] = rng.standard_normal((layer_dims[l], 1))
    X = rng.standard_normal((layer_dims[0], m)).astype(dtype)
    order = data.draw(st.sampled_from("CF"))
    P = Model.from_parameters(p, dtype=dtype).predict_proba(np.asarray(X, order=order))
    expected = N.L_model_forward(X.astype(np.float64), p)[0]
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert P.dtype == dtype and P.shape == expected.shape
    np.testing.assert_allclose(P, expected, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_documented(dtype):
    """The named extremes: sigmoid at +-1e3 and the dtype's max, ReLU at 0,
    denormals, the cost at AL exactly 0 and 1."""
    big = np.finfo(dtype).max
    tiny = np.finfo(dtype).smallest_subnormal
    Z = np.array([[-big, -1e3, -tiny, 0.0, tiny, 1e3, big]], dtype=dtype)
    A, _ = F.sigmoid(Z)
    np.testing.assert_array_equal(A[0, [0, 1]], 0)
    np.testing.assert_array_equal(A[0, [5, 6]], 1)
    np.testing.assert_array_equal(A[0, 2:5], 0.5)
    dZ = F.sigmoid_backward(np.ones_like(Z), Z)
    assert np.all(np.isfinite(dZ)) and np.all(dZ >= 0) and dZ[0, 3] == 0.25
    R, _ = F.relu(Z)
    np.testing.assert_array_equal(R, [[0, 0, 0, 0, tiny, 1e3, big]])
    assert not np.signbit(R).any()  # ReLU gives +0.0, never -0.0
    np.testing.assert_array_equal(F.relu_backward(np.ones_like(Z), Z), [[0, 0, 0, 0, 1, 1, 1]])
    for AL, Y in (([[0.0, 1.0]], [[0, 1]]), ([[0.0, 1.0]], [[1, 0]])):
        cost = F.compute_cost(np.array(AL, dtype), np.array(Y, dtype))
        assert np.isfinite(cost) and cost >= 0
    assert F.compute_cost(np.array([[0.0, 1.0]], dtype), np.array([[0, 1]], dtype)) == 0
