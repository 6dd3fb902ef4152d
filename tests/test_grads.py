"""``L_model_backward``'s grads compute ``dA0`` only when it is read (issue #38, part 2),
and stay a dict in every way the course and users touch one."""

import copy
import pickle

import numpy as np
import pytest

import fastdnn as F
from conftest import TOL
from fastdnn.course import reference as R
from fastdnn.course.grads import Gradients


def _case(rng, dims=(12, 5, 3, 1), m=7, dtype=np.float64, fortran=False):
    X = rng.random((dims[0], m)).astype(dtype)
    if fortran:
        X = np.asfortranarray(X)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    p = {k: v.astype(dtype) for k, v in F.initialize_parameters_deep(list(dims)).items()}
    return X, Y, p


def _expected(X, Y, p):
    AL, caches = R.L_model_forward(X, p)
    return R.L_model_backward(AL, Y, caches)


# The course's own test helpers (its public test_utils), as a learner's notebook runs them.
def datatype_check(expected_output, target_output, error):
    success = 0
    if isinstance(target_output, dict):
        for key in target_output.keys():
            try:
                success += datatype_check(expected_output[key], target_output[key], error)
            except Exception:
                print(f"Error: {error} in variable {key}")
        return 1 if success == len(target_output.keys()) else 0
    if isinstance(target_output, (tuple, list)):
        for i in range(len(target_output)):
            try:
                success += datatype_check(expected_output[i], target_output[i], error)
            except Exception:
                print(f"Error: {error} in variable {i}")
        return 1 if success == len(target_output) else 0
    assert isinstance(target_output, type(expected_output))
    return 1


def equation_output_check(expected_output, target_output, error):
    success = 0
    if isinstance(target_output, dict):
        for key in target_output.keys():
            try:
                success += equation_output_check(expected_output[key], target_output[key], error)
            except Exception:
                print(f"Error: {error} for variable {key}")
        return 1 if success == len(target_output.keys()) else 0
    if hasattr(target_output, "shape"):
        np.testing.assert_array_almost_equal(target_output, expected_output)
    else:
        assert target_output == expected_output
    return 1


def shape_check(expected_output, target_output, error):
    success = 0
    if isinstance(target_output, dict):
        for key in target_output.keys():
            try:
                success += shape_check(expected_output[key], target_output[key], error)
            except Exception:
                print(f"Error: {error} for variable {key}")
        return 1 if success == len(target_output.keys()) else 0
    if hasattr(target_output, "shape"):
        assert target_output.shape == expected_output.shape
    return 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dims, m, fortran", [((12, 5, 3, 1), 7, False), ((1030, 6, 1), 12, True)])
def test_dA0_read_later_is_the_value_of_the_call(rng, dtype, dims, m, fortran):
    X, Y, p = _case(rng, dims, m, dtype, fortran)
    expected = _expected(X.astype(np.float64), Y.astype(np.float64), p)
    AL, caches = F.L_model_forward(X, p)
    grads = F.L_model_backward(AL, Y, caches)
    assert isinstance(grads, dict) and type(grads) is Gradients
    assert list(grads) == list(expected)  # the course's keys in its order
    # Everything the caller could change after the call: W1 in place (an older course
    # update_parameters), the caches, X.
    p["W1"] *= -3.0
    caches[0][0][1][...] = 7.0
    X[...] = 0.0
    dA0 = grads["dA0"]
    assert dA0.dtype == dtype and isinstance(dA0, np.ndarray)
    np.testing.assert_allclose(dA0, expected["dA0"], **TOL[np.dtype(dtype)])
    assert grads["dA0"] is dA0  # computed once
    for key, value in expected.items():
        np.testing.assert_allclose(grads[key], value, **TOL[np.dtype(dtype)], err_msg=key)


def test_every_way_a_dict_is_read_sees_dA0(rng):
    X, Y, p = _case(rng)
    expected = _expected(X, Y, p)
    AL, caches = F.L_model_forward(X, p)

    def fresh():
        return F.L_model_backward(AL, Y, caches)

    def same(mapping):
        assert set(mapping) == set(expected)
        for key, value in mapping.items():
            assert isinstance(value, np.ndarray), key
            np.testing.assert_allclose(value, expected[key], rtol=1e-12, atol=1e-13)

    g = fresh()
    assert len(g) == len(expected) and "dA0" in g and set(g.keys()) == set(expected)
    assert g.get("missing") is None and g._pending is not None  # nothing computed yet
    readers = [
        lambda g: dict(g),
        lambda g: {**g},
        lambda g: dict(g.items()),
        lambda g: dict(zip(g.keys(), g.values(), strict=True)),
        lambda g: {k: g[k] for k in g},
        lambda g: {k: g.get(k) for k in g},
        lambda g: g.copy(),
        lambda g: copy.copy(g),
        lambda g: copy.deepcopy(g),
        lambda g: pickle.loads(pickle.dumps(g)),
        lambda g: g | {},
        lambda g: {} | g,
        lambda g: (lambda **kw: kw)(**g),
        lambda g: dict(sorted(g.items())),
    ]
    for read in readers:
        same(read(fresh()))
    assert type(pickle.loads(pickle.dumps(fresh()))) is Gradients
    g = fresh()
    assert "dA0" in repr(g) and "<object" not in repr(g)
    g, h = fresh(), fresh()
    both = [g[k] for k in g]  # the same arrays, read through both
    assert [type(v) for v in both] == [np.ndarray] * len(g)
    assert g.keys() == h.keys()
    # == with a plain dict holding the very same arrays
    g = fresh()
    plain = {k: g[k] for k in g}
    assert g == plain and plain == g and not (g != plain)
    # writes
    g = fresh()
    g["dA0"] = "mine"
    assert g["dA0"] == "mine"
    g = fresh()
    g.update(dA0=1)
    assert g["dA0"] == 1
    g = fresh()
    assert isinstance(g.pop("dA0"), np.ndarray) and "dA0" not in g
    g = fresh()
    del g["dA0"]
    assert "dA0" not in g and len(g) == len(expected) - 1


def test_the_course_test_helpers_pass(rng):
    """``L_model_backward``'s graded test case, through the course's three helpers."""
    np.random.seed(3)
    AL = np.random.randn(1, 2)
    Y = np.array([[1, 0]])
    A1, W1, b1, Z1 = (np.random.randn(*s) for s in ((4, 2), (3, 4), (3, 1), (3, 2)))
    A2, W2, b2, Z2 = (np.random.randn(*s) for s in ((3, 2), (1, 3), (1, 1), (1, 2)))
    caches = (((A1, W1, b1), Z1), ((A2, W2, b2), Z2))
    expected = R.L_model_backward(AL, Y, caches)
    for check in (datatype_check, equation_output_check, shape_check):
        assert check(expected, F.L_model_backward(AL, Y, caches), "Wrong output") == 1
    np.testing.assert_allclose(
        F.L_model_backward(AL, Y, caches)["dA0"],
        [[0.0, 0.52257901], [0.0, -0.3269206], [0.0, -0.32070404], [0.0, -0.74079187]],
        atol=1e-8,
    )


def test_the_notebook_loop_never_computes_dA0(rng, monkeypatch):
    """The application notebook's loop (forward, cost, backward, update) reads dW/db only:
    no dA0 product runs, and the results are the course's."""
    from fastdnn.course import backward

    made = []
    original = backward._input_gradient

    def counted(W, dZ, skinny):
        made.append(W.shape)
        return original(W, dZ, skinny)

    monkeypatch.setattr(backward, "_input_gradient", counted)
    X, Y, p = _case(rng, (1030, 6, 3, 1), 12, fortran=True)
    reference = dict(p)
    for _ in range(3):
        AL, caches = F.L_model_forward(X, p)
        grads = F.L_model_backward(AL, Y, caches)
        p = F.update_parameters(p, grads, 0.01)
        AL_r, caches_r = R.L_model_forward(X, reference)
        reference = R.update_parameters(reference, R.L_model_backward(AL_r, Y, caches_r), 0.01)
    assert (6, 1030) not in made  # dA1 and dA2 were computed, dA0 never
    assert (3, 6) in made and (1, 3) in made
    for key, value in reference.items():
        np.testing.assert_allclose(p[key], value, rtol=1e-12, atol=1e-13)
