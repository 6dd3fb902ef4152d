"""Every expected output printed in ../shared/seeds/, reproduced from the course's inputs.

Values are compared to the printed 8 decimals (|diff| <= 5e-9 plus print
rounding); the cost, printed in full, to the last printed digit.
"""

import numpy as np
import pytest

import course_cases as C
import fastdnn as F


def assert_printed(actual, printed):
    assert isinstance(actual, np.ndarray)
    printed = np.array(printed, dtype=float)
    assert actual.shape == printed.shape
    np.testing.assert_allclose(actual, printed, rtol=0, atol=1e-8)


def test_initialize_parameters():
    p = F.initialize_parameters(3, 2, 1)
    assert_printed(
        p["W1"], [[0.01624345, -0.00611756, -0.00528172], [-0.01072969, 0.00865408, -0.02301539]]
    )
    assert_printed(p["b1"], [[0.0], [0.0]])
    assert_printed(p["W2"], [[0.01744812, -0.00761207]])
    assert_printed(p["b2"], [[0.0]])


def test_initialize_parameters_deep():
    p = F.initialize_parameters_deep([5, 4, 3])
    assert_printed(
        p["W1"],
        [
            [0.01788628, 0.0043651, 0.00096497, -0.01863493, -0.00277388],
            [-0.00354759, -0.00082741, -0.00627001, -0.00043818, -0.00477218],
            [-0.01313865, 0.00884622, 0.00881318, 0.01709573, 0.00050034],
            [-0.00404677, -0.0054536, -0.01546477, 0.00982367, -0.01101068],
        ],
    )
    assert_printed(p["b1"], np.zeros((4, 1)))
    assert_printed(
        p["W2"],
        [
            [-0.01185047, -0.0020565, 0.01486148, 0.00236716],
            [-0.01023785, -0.00712993, 0.00625245, -0.00160513],
            [-0.00768836, -0.00230031, 0.00745056, 0.01976111],
        ],
    )
    assert_printed(p["b2"], np.zeros((3, 1)))
    assert list(p) == ["W1", "b1", "W2", "b2"]


def test_linear_forward():
    A, W, b = C.linear_forward()
    Z, cache = F.linear_forward(A, W, b)
    assert_printed(Z, [[3.26295337, -1.23429987]])
    assert str(Z) == "[[ 3.26295337 -1.23429987]]"
    for got, want in zip(cache, (A, W, b), strict=True):
        np.testing.assert_array_equal(got, want)


def test_linear_activation_forward():
    A_prev, W, b = C.linear_activation_forward()
    A, _ = F.linear_activation_forward(A_prev, W, b, activation="sigmoid")
    assert_printed(A, [[0.96890023, 0.11013289]])
    A, _ = F.linear_activation_forward(A_prev, W, b, activation="relu")
    assert_printed(A, [[3.43896131, 0.0]])
    assert str(A) == "[[3.43896131 0.        ]]"


def test_L_model_forward_2hidden():
    X, parameters = C.L_model_forward_2hidden()
    AL, caches = F.L_model_forward(X, parameters)
    assert_printed(AL, [[0.03921668, 0.70498921, 0.19734387, 0.04728177]])
    assert len(caches) == 3


def test_L_model_forward_1hidden():
    # Printed by the older notebook (not in seeds/); also checked against the twin.
    X, parameters = C.L_model_forward_1hidden()
    AL, caches = F.L_model_forward(X, parameters)
    assert_printed(AL, [[0.17007265, 0.2524272]])
    assert len(caches) == 2


@pytest.mark.parametrize(
    "old, printed", [(False, "0.2797765635793422"), (True, "0.41493159961539694")]
)
def test_compute_cost(old, printed):
    Y, AL = C.compute_cost(old)
    cost = F.compute_cost(AL, Y)
    assert isinstance(cost, np.ndarray) and cost.shape == ()
    assert str(cost) == printed


def test_linear_backward():
    dA_prev, dW, db = F.linear_backward(*C.linear_backward())
    assert_printed(
        dA_prev,
        [
            [-1.15171336, 0.06718465, -0.3204696, 2.09812712],
            [0.60345879, -3.72508701, 5.81700741, -3.84326836],
            [-0.4319552, -1.30987417, 1.72354705, 0.05070578],
            [-0.38981415, 0.60811244, -1.25938424, 1.47191593],
            [-2.52214926, 2.67882552, -0.67947465, 1.48119548],
        ],
    )
    assert_printed(
        dW,
        [
            [0.07313866, -0.0976715, -0.87585828, 0.73763362, 0.00785716],
            [0.85508818, 0.37530413, -0.59912655, 0.71278189, -0.58931808],
            [0.97913304, -0.24376494, -0.08839671, 0.55151192, -0.10290907],
        ],
    )
    assert_printed(db, [[-0.14713786], [-0.11313155], [-0.13209101]])


def test_linear_backward_old_case():
    dA_prev, dW, db = F.linear_backward(*C.linear_backward(old=True))
    assert_printed(
        dA_prev, [[0.51822968, -0.19517421], [-0.40506361, 0.15255393], [2.37496825, -0.89445391]]
    )
    assert_printed(dW, [[-0.10076895, 1.40685096, 1.64992505]])
    assert_printed(db, [[0.50629448]])


def test_linear_activation_backward():
    dA, cache = C.linear_activation_backward()
    dA_prev, dW, db = F.linear_activation_backward(dA, cache, activation="sigmoid")
    assert_printed(
        dA_prev, [[0.11017994, 0.01105339], [0.09466817, 0.00949723], [-0.05743092, -0.00576154]]
    )
    assert_printed(dW, [[0.10266786, 0.09778551, -0.01968084]])
    assert_printed(db, [[-0.05729622]])
    dA_prev, dW, db = F.linear_activation_backward(dA, cache, activation="relu")
    assert_printed(dA_prev, [[0.44090989, 0.0], [0.37883606, 0.0], [-0.2298228, 0.0]])
    assert_printed(dW, [[0.44513824, 0.37371418, -0.10478989]])
    assert_printed(db, [[-0.20837892]])
    # +0.0, never -0.0: the course prints "0." here.
    assert not np.signbit(dA_prev[:, 1]).any()


def test_L_model_backward():
    grads = F.L_model_backward(*C.L_model_backward())
    assert_printed(
        grads["dA0"], [[0.0, 0.52257901], [0.0, -0.3269206], [0.0, -0.32070404], [0.0, -0.74079187]]
    )
    assert_printed(
        grads["dA1"],
        [[0.12913162, -0.44014127], [-0.14175655, 0.48317296], [0.01663708, -0.05670698]],
    )
    assert_printed(
        grads["dW1"],
        [
            [0.41010002, 0.07807203, 0.13798444, 0.10502167],
            [0.0, 0.0, 0.0, 0.0],
            [0.05283652, 0.01005865, 0.01777766, 0.0135308],
        ],
    )
    assert_printed(grads["dW2"], [[-0.39202432, -0.13325855, -0.04601089]])
    assert_printed(grads["db1"], [[-0.22007063], [0.0], [-0.02835349]])
    assert_printed(grads["db2"], [[0.15187861]])
    assert sorted(grads) == ["dA0", "dA1", "dW1", "dW2", "db1", "db2"]


def test_update_parameters():
    parameters = F.update_parameters(*C.update_parameters())
    assert_printed(
        parameters["W1"],
        [
            [-0.59562069, -0.09991781, -2.14584584, 1.82662008],
            [-1.76569676, -0.80627147, 0.51115557, -1.18258802],
            [-1.0535704, -0.86128581, 0.68284052, 2.20374577],
        ],
    )
    assert_printed(parameters["b1"], [[-0.04659241], [-1.28888275], [0.53405496]])
    assert_printed(parameters["W2"], [[-0.55569196, 0.0354055, 1.32964895]])
    assert_printed(parameters["b2"], [[-0.84610769]])


def _course_initializers():
    """The course's three initialisations, written as the course writes them."""

    def two_layer(n_x, n_h, n_y):
        np.random.seed(1)
        W1 = np.random.randn(n_h, n_x) * 0.01
        b1 = np.zeros((n_h, 1))
        W2 = np.random.randn(n_y, n_h) * 0.01
        b2 = np.zeros((n_y, 1))
        return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}

    def deep(layer_dims, seed, app):
        np.random.seed(seed)
        parameters = {}
        for l in range(1, len(layer_dims)):
            draw = np.random.randn(layer_dims[l], layer_dims[l - 1])
            parameters["W" + str(l)] = draw / np.sqrt(layer_dims[l - 1]) if app else draw * 0.01
            parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
        return parameters

    return two_layer, deep


@pytest.mark.parametrize("dims", [[12288, 20, 7, 5, 1], [5, 4, 3], (12288, 7, 1), [3, 1]])
def test_initializers_are_bit_identical_to_the_course(dims):
    """Every initializer equals the course's formula exactly (np.array_equal), the
    application flavour's ``/ np.sqrt(n_prev)`` included."""
    import fastdnn.app as app

    two_layer, deep = _course_initializers()
    pairs = [
        (F.initialize_parameters_deep(dims), deep(dims, 3, app=False)),
        (app.initialize_parameters_deep(dims), deep(dims, 1, app=True)),
    ]
    if len(dims) == 3:
        pairs.append((F.initialize_parameters(*dims), two_layer(*dims)))
        pairs.append((app.initialize_parameters(*dims), two_layer(*dims)))
    for got, want in pairs:
        assert list(got) == list(want)
        for key in want:
            assert np.array_equal(got[key], want[key]), key
