"""Backpropagation against central finite differences of the cost."""

import numpy as np
import pytest

import fastdnn as F
from fastdnn._internal.activations import ACTIVATIONS


def network(rng, dims, m):
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * 0.8
        params[f"b{l}"] = rng.standard_normal((dims[l], 1)) * 0.3
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    return X, Y, params


def cost_of(X, Y, params):
    return float(F.compute_cost(F.L_model_forward(X, params)[0], Y))


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = f()
        x[idx] = old - eps
        down = f()
        x[idx] = old
        g[idx] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_L_model_backward_matches_finite_differences(depth):
    rng = np.random.default_rng(depth)
    dims = [4] + [int(n) for n in rng.integers(2, 6, depth - 1)] + [1]
    X, Y, params = network(rng, dims, m=6)
    AL, caches = F.L_model_forward(X, params)
    grads = F.L_model_backward(AL, Y, caches)
    for l in range(1, depth + 1):
        for p in "Wb":
            numeric = numeric_grad(lambda: cost_of(X, Y, params), params[f"{p}{l}"])
            np.testing.assert_allclose(grads[f"d{p}{l}"], numeric, rtol=1e-5, atol=1e-8)
    # dA0 is the gradient of the summed loss (not the mean) with respect to X,
    # as in the course: dA_prev = W.T @ dZ, with dZ carrying no 1/m.
    numeric = numeric_grad(lambda: cost_of(X, Y, params) * X.shape[1], X)
    np.testing.assert_allclose(grads["dA0"], numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_linear_activation_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(7)
    A_prev, W, b = (
        rng.standard_normal((4, 5)),
        rng.standard_normal((3, 4)),
        rng.standard_normal((3, 1)),
    )
    G = rng.standard_normal((3, 5))  # objective sum(G * A) has dA = G

    def objective():
        return float(np.sum(G * F.linear_activation_forward(A_prev, W, b, activation)[0]))

    _, cache = F.linear_activation_forward(A_prev, W, b, activation)
    dA_prev, dW, db = F.linear_activation_backward(G, cache, activation)
    m = A_prev.shape[1]
    # The course's dW and db carry 1/m; dA_prev does not.
    np.testing.assert_allclose(dW * m, numeric_grad(objective, W), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(db * m, numeric_grad(objective, b), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dA_prev, numeric_grad(objective, A_prev), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["sigmoid", "relu"])
def test_activation_derivatives_match_finite_differences(name):
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((3, 7)) * 4
    Z[np.abs(Z) < 1e-3] = 0.5  # keep away from ReLU's kink
    dA = rng.standard_normal(Z.shape)
    forward, backward = getattr(F, name), getattr(F, name + "_backward")
    numeric = numeric_grad(lambda: float(np.sum(dA * forward(Z)[0])), Z)
    np.testing.assert_allclose(backward(dA, Z), numeric, rtol=1e-6, atol=1e-9)
