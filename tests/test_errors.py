"""Bad input raises a TypeError/ValueError that names the function, the argument and the shapes."""

import numpy as np
import pytest

import course_cases as C
import fastdnn as F

A, W, b = C.linear_forward()  # A (3, 2), W (1, 3), b (1, 1)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (
            lambda: F.linear_forward(A, np.ones((1, 4)), b),
            ValueError,
            r"linear_forward: W has shape \(1, 4\), so A needs 4 rows; got A of shape \(3, 2\)",
        ),
        (
            lambda: F.linear_forward(A, W, np.ones((2, 1))),
            ValueError,
            r"linear_forward: b must have shape \(1, 1\); got \(2, 1\)",
        ),
        (
            lambda: F.linear_forward(A, W, np.ones(1)),
            ValueError,
            r"b must be a 2-D array; got shape \(1,\)",
        ),
        (
            lambda: F.linear_forward(A[0], W, b),
            ValueError,
            r"A must be a 2-D array; got shape \(2,\)",
        ),
        (
            lambda: F.linear_forward(A, W.astype(complex), b),
            TypeError,
            r"W must hold real numbers.*complex128",
        ),
        (
            lambda: F.linear_forward(A.astype(object), W, b),
            TypeError,
            r"A must hold real numbers.*object",
        ),
        (
            lambda: F.linear_forward(np.array([["a", "b"]]), W, b),
            TypeError,
            r"A must hold real numbers",
        ),
        (
            lambda: F.linear_forward(None, W, b),
            TypeError,
            r"A must be a numeric array; got NoneType",
        ),
        (
            lambda: F.linear_forward(np.ones((3, 0)), W, b),
            ValueError,
            r"A is empty \(shape \(3, 0\)\)",
        ),
        (
            lambda: F.linear_activation_forward(A, W, b, "tanh"),
            ValueError,
            r"unknown activation 'tanh'; expected one of \['relu', 'sigmoid'\]",
        ),
        (
            lambda: F.linear_activation_forward(A, W, b, None),
            ValueError,
            r"unknown activation None",
        ),
        (
            lambda: F.linear_activation_backward(
                np.ones((1, 2)), ((A, W, b), np.ones((1, 2))), "Relu"
            ),
            ValueError,
            r"unknown activation 'Relu'",
        ),
        (
            lambda: F.L_model_forward(
                np.ones((5, 4)),
                {"W1": np.ones((4, 5)), "b1": np.ones((4, 1)), "W2": np.ones((1, 4))},
            ),
            ValueError,
            r"missing \['b2'\]",
        ),
        (
            lambda: F.L_model_forward(
                np.ones((5, 4)),
                {
                    "W1": np.ones((4, 5)),
                    "b1": np.ones((4, 1)),
                    "W3": np.ones((1, 4)),
                    "b3": np.ones((1, 1)),
                },
            ),
            ValueError,
            r"missing \['W2', 'b2'\], unexpected \[\]",
        ),
        (lambda: F.L_model_forward(np.ones((5, 4)), {}), ValueError, r"missing \['W1', 'b1'\]"),
        (
            lambda: F.L_model_forward(
                np.ones((5, 4)), {"W1": np.ones((4, 5)), "b1": np.ones((4, 1)), "lr": 0.1}
            ),
            ValueError,
            r"unexpected \['lr'\]",
        ),
        (
            lambda: F.L_model_forward(
                np.ones((5, 4)),
                {
                    "W1": np.ones((4, 5)),
                    "b1": np.ones((4, 1)),
                    "W2": np.ones((1, 3)),
                    "b2": np.ones((1, 1)),
                },
            ),
            ValueError,
            r"layer 2\): W2 has shape \(1, 3\), so A1 needs 3 rows; got A1 of shape \(4, 4\)",
        ),
        (
            lambda: F.L_model_forward(
                np.ones((6, 4)), {"W1": np.ones((4, 5)), "b1": np.ones((4, 1))}
            ),
            ValueError,
            r"layer 1\): W1 has shape \(4, 5\), so X needs 5 rows",
        ),
        (
            lambda: F.L_model_forward(np.ones((5, 4)), [np.ones((4, 5))]),
            TypeError,
            r"parameters must be a dict",
        ),
        (
            lambda: F.compute_cost(np.ones((1, 3)) * 0.5, np.ones((1, 4))),
            ValueError,
            r"compute_cost: Y must have the shape of AL \(1, 3\); got \(1, 4\)",
        ),
        (
            lambda: F.compute_cost(np.array([[0.5, np.nan]]), np.ones((1, 2))),
            ValueError,
            r"compute_cost: AL contains NaN or inf \(first at index \(0, 1\)",
        ),
        (
            lambda: F.linear_backward(np.ones((2, 2)), (A, W, b)),
            ValueError,
            r"linear_backward: dZ must have shape \(1, 2\)",
        ),
        (
            lambda: F.linear_backward(np.ones((1, 2)), (A, W)),
            TypeError,
            r"linear_backward: cache must be a tuple \(A_prev, W, b\)",
        ),
        (
            lambda: F.linear_activation_backward(np.ones((1, 2)), (A, W, b), "relu"),
            TypeError,
            r"cache must be a tuple \(\(A_prev, W, b\), Z\)",
        ),
        (
            lambda: F.linear_activation_backward(
                np.ones((1, 2)), ((A, W, b), np.ones((1, 3))), "relu"
            ),
            ValueError,
            r"Z \(cache\) must have shape \(1, 2\); got \(1, 3\)",
        ),
        (
            lambda: F.L_model_backward(np.ones((1, 2)) * 0.5, np.ones((1, 2)), []),
            TypeError,
            r"caches must be a non-empty list",
        ),
        (
            lambda: F.L_model_backward(
                np.array([[1.0, 0.5]]), np.array([[0, 1]]), [((A, W, b), np.ones((1, 2)))]
            ),
            ValueError,
            r"dAL = .* is not finite",
        ),
        (
            lambda: F.update_parameters({"W1": W, "b1": b}, {"dW1": W}, 0.1),
            ValueError,
            r"grads has no 'db1'",
        ),
        (
            lambda: F.update_parameters({"W1": W, "b1": b}, {"dW1": W.T, "db1": b}, 0.1),
            ValueError,
            r"grads\['dW1'\] has shape \(3, 1\) but params\['W1'\] has shape \(1, 3\)",
        ),
        (
            lambda: F.update_parameters({"W1": W, "b1": b}, {"dW1": W, "db1": b}, "0.1"),
            TypeError,
            r"learning_rate must be a real number",
        ),
        (
            lambda: F.update_parameters({"W1": W, "b1": b}, {"dW1": W, "db1": b}, float("nan")),
            ValueError,
            r"learning_rate must be finite",
        ),
        (
            lambda: F.update_parameters({"W1": W, "b1": b}, {"dW1": W * np.nan, "db1": b}, 0.1),
            ValueError,
            r"dW1 contains NaN",
        ),
        (
            lambda: F.sigmoid(np.array([[0.0, np.inf]])),
            ValueError,
            r"sigmoid: Z contains NaN or inf",
        ),
        (lambda: F.relu(np.array([[np.nan]])), ValueError, r"relu: Z contains NaN or inf"),
        (
            lambda: F.relu_backward(np.ones((2, 2)), np.ones((2, 3))),
            ValueError,
            r"relu_backward: dA has shape \(2, 2\) but cache \(Z\) has shape \(2, 3\)",
        ),
        (
            lambda: F.sigmoid_backward(np.array([[np.nan]]), np.ones((1, 1))),
            ValueError,
            r"sigmoid_backward: dA contains NaN",
        ),
        (
            lambda: F.linear_forward(A * np.inf, W, b),
            ValueError,
            r"linear_forward: A contains NaN or inf",
        ),
        (lambda: F.linear_forward(A * 1e300, W * 1e300, b), ValueError, r"result overflowed"),
        (
            lambda: F.initialize_parameters_deep([5, 0, 1]),
            ValueError,
            r"layer_dims\[1\] must be at least 1; got 0",
        ),
        (lambda: F.initialize_parameters_deep([5]), ValueError, r"needs at least 2 sizes"),
        (
            lambda: F.initialize_parameters_deep([5, 2.5, 1]),
            TypeError,
            r"layer_dims\[1\] must be an int",
        ),
        (lambda: F.initialize_parameters_deep(5), TypeError, r"layer_dims must be a list"),
        (lambda: F.initialize_parameters(3, -1, 1), ValueError, r"must be at least 1; got -1"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*encountered in matmul:RuntimeWarning")
def test_bad_input_raises_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_parallel_path_reports_nonfinite_too():
    Z = np.zeros((1025, 1024))
    Z[123, 45] = np.nan
    with pytest.raises(ValueError, match=r"Z contains NaN or inf \(first at index \(123, 45\)"):
        F.sigmoid(Z)
