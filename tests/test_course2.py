"""Course 2's four notebooks as drop-ins: the facts of ``../shared/COURSE2_FACTS.md``, the
course's data, each notebook's loop with only the imports swapped, and bad input.

The oracle is ``fastdnn.improving.reference`` (the helper modules and graded functions
as the course writes them); the loops are ``reference.notebooks``' (the notebooks' own
``model`` code) run on the course's modules and on fastdnn's.
"""

import contextlib
import io
import os

import numpy as np
import pytest
from test_course2_kernels import _close, _network, same_prints

from conftest import SHARED
from fastdnn import gradient_checking as FG
from fastdnn import initialization as FI
from fastdnn import optimization as FO
from fastdnn import regularization as FR
from fastdnn.improving import data
from fastdnn.improving.reference import gc_utils as G
from fastdnn.improving.reference import init_utils as I
from fastdnn.improving.reference import notebooks as N
from fastdnn.improving.reference import opt_utils as O
from fastdnn.improving.reference import reg_utils as R

DATA_MAT = os.path.join(SHARED, "data", "course2", "data.mat")
needs_data = pytest.mark.skipif(
    not os.path.exists(DATA_MAT),
    reason=f"the course's data.mat is not at {DATA_MAT} (../shared is absent)",
)


def printed(f, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()) as out, np.errstate(all="ignore"):
        result = f(*args, **kwargs)  # (the course's NumPy warns at log(0); it prints inf)
    return result, out.getvalue()


# ----------------------------------------------------------------- the facts' examples


def test_he_initialisation_draws_the_courses_numbers():
    p = FI.initialize_parameters_he([2, 4, 1])
    assert list(p) == ["W1", "b1", "W2", "b2"]
    np.testing.assert_allclose(p["W1"][0], [1.78862847, 0.43650985], rtol=1e-8)
    for f, g in (
        (FI.initialize_parameters_he, I.initialize_parameters_he),
        (FI.initialize_parameters_random, I.initialize_parameters_random),
        (FI.initialize_parameters_zeros, I.initialize_parameters_zeros),
        (FR.initialize_parameters, R.initialize_parameters),
        (FO.initialize_parameters, O.initialize_parameters),
    ):
        got, want = f([2, 10, 5, 1]), g([2, 10, 5, 1])
        assert list(got) == list(want)
        assert all(np.array_equal(got[k], want[k]) for k in want)  # bit for bit


def test_l2_cost_of_the_courses_test_case():
    a3, Y, p = R.compute_cost_with_regularization_test_case()
    assert FR.compute_cost_with_regularization(a3, Y, p, 0.1) == pytest.approx(
        1.7864859451590758, rel=1e-15
    )


def test_learning_rate_decays():
    assert FO.update_lr(0.5, 2, 1) == 0.16666666666666666
    assert FO.schedule_lr_decay(0.5, 100, 1, 100) == 0.25
    assert FO.schedule_lr_decay(0.5, 10, 1, 100) == 0.5


def test_gradient_check_of_the_1d_example(capsys):
    assert FG.gradient_check(2, 4) == pytest.approx(2.9e-10, rel=0.05)
    FG.gradient_check(2, 4, print_msg=True)
    G.gradient_check(2, 4, print_msg=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[1] and "works perfectly fine" in out[0]


def test_gradient_check_n_finds_the_notebooks_planted_bugs(capsys):
    x, y, p = G.gradient_check_n_test_case()  # Y is 1-D here, as in the notebook
    _, cache = G.forward_propagation_n(x, y, p)
    buggy = G.backward_propagation_n(x, y, cache, bugs=True)
    assert FG.gradient_check_n(p, buggy, x, y, 1e-7, True) > 0.2
    assert "There is a mistake" in capsys.readouterr().out
    fixed = FG.backward_propagation_n(x, y, FG.forward_propagation_n(x, y, p)[1])
    assert FG.gradient_check_n(p, fixed, x, y, print_msg=True) < 2e-7
    assert "works perfectly fine" in capsys.readouterr().out
    # the learner's own forward_propagation_n, as the notebook's global
    calls = []

    def mine(X, Y, parameters):
        calls.append(1)
        return G.forward_propagation_n(X, Y, parameters)

    assert FG.gradient_check_n(p, fixed, x, y, forward_propagation_n=mine) < 2e-7
    assert len(calls) == 2 * 47


def test_vector_helpers_match_gc_utils():
    _, _, p = G.gradient_check_n_test_case()
    theta, keys = FG.dictionary_to_vector(p)
    theta_r, keys_r = G.dictionary_to_vector(p)
    assert np.array_equal(theta, theta_r) and keys == keys_r and theta.shape == (47, 1)
    back = FG.vector_to_dictionary(theta)
    assert all(np.array_equal(back[k], p[k]) for k in p) and list(back) == list(p)
    g = {"d" + k: v for k, v in p.items()}
    assert np.array_equal(FG.gradients_to_vector(g), G.gradients_to_vector(g))


def test_mini_batches_are_the_courses():
    X, Y = FO.load_dataset(plot_data=False)
    got = FO.random_mini_batches(X, Y, 64, seed=11)
    want = O.random_mini_batches(X, Y, 64, seed=11)
    assert [b[0].shape[1] for b in got] == [64, 64, 64, 64, 44]
    for (gx, gy), (wx, wy) in zip(got, want, strict=True):
        assert np.array_equal(gx, wx) and np.array_equal(gy, wy)


def test_zeros_initialisation_stays_at_log_2_and_predicts_half(capsys):
    X, Y, tX, tY = FI.load_dataset(plot_data=False)
    p = FI.model(X, Y, num_iterations=2001, initialization="zeros", plot_costs=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Cost after iteration 0: 0.6931471805599453"
    assert all(line.endswith("0.6931471805599453") for line in lines)
    FI.predict(X, Y, p)
    FI.predict(tX, tY, p)
    assert capsys.readouterr().out.splitlines() == ["Accuracy: 0.5", "Accuracy: 0.5"]


@needs_data
def test_regularization_first_cost_is_the_courses(capsys):
    X, Y, _, _ = FR.load_2D_dataset(DATA_MAT, plot_data=False)
    FR.model(X, Y, num_iterations=1, plot_costs=False)
    assert capsys.readouterr().out == "Cost after iteration 0: 0.6557412523481002\n"


# ----------------------------------------------------------------------------- data


def test_circles_and_moons_are_scikit_learns():
    sklearn = pytest.importorskip("sklearn.datasets")
    got = FI.load_dataset(plot_data=False)
    want = I.load_dataset()
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w) and g.dtype == w.dtype and g.shape == w.shape
    got, want = FO.load_dataset(plot_data=False), O.load_dataset()
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w) and g.dtype == w.dtype
    for n, noise, factor in ((7, None, 0.8), (1, 0.3, 0.5), (100, 0.05, 0.3)):
        np.random.seed(n)
        X, y = sklearn.make_circles(n_samples=n, noise=noise, factor=factor)
        np.random.seed(n)
        X2, y2 = data.make_circles(n_samples=n, noise=noise, factor=factor)
        assert np.array_equal(X, X2) and np.array_equal(y, y2)
        np.random.seed(n)
        X, y = sklearn.make_moons(n_samples=n, noise=noise)
        np.random.seed(n)
        X2, y2 = data.make_moons(n_samples=n, noise=noise)
        assert np.array_equal(X, X2) and np.array_equal(y, y2)


@needs_data
def test_the_mat_file_reads_as_scipy_reads_it():
    scipy_io = pytest.importorskip("scipy.io")
    got, want = data.read_mat(DATA_MAT), scipy_io.loadmat(DATA_MAT)
    for k in ("X", "y", "Xval", "yval"):
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k])
        assert got[k].flags.f_contiguous
    X, Y, tX, tY = FR.load_2D_dataset(DATA_MAT, plot_data=False)
    assert X.shape == (2, 211) and Y.dtype == np.uint8 and tX.shape == (2, 200)


@needs_data
@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:100], "not a MATLAB 5"),
        (lambda b: b"NOT A MAT" + b[9:], "not a MATLAB 5"),
        (lambda b: b[:400], "runs past the file's end"),
        (lambda b: b[:136] + bytes(200) + b[336:], "corrupt"),
    ],
)
def test_a_damaged_mat_file_is_a_clear_error(tmp_path, damage, message):
    path = tmp_path / "data.mat"
    path.write_bytes(damage(open(DATA_MAT, "rb").read()))
    with pytest.raises(data.MatFileError, match=message):
        FR.load_2D_dataset(str(path), plot_data=False)


def test_a_compression_bomb_is_refused_without_inflating_it(tmp_path, monkeypatch):
    import struct
    import zlib

    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in ~65 KB
    head = b"MATLAB 5.0 MAT-file".ljust(124, b" ") + b"\x00\x01IM"
    path = tmp_path / "bomb.mat"
    path.write_bytes(head + struct.pack("<II", 15, len(bomb)) + bomb)
    monkeypatch.setattr(data, "MAX_MAT_BYTES", 1 << 20)
    with pytest.raises(data.MatFileError, match="inflates past"):
        data.read_mat(str(path))


def test_a_missing_mat_file_says_where_it_looked():
    with pytest.raises(FileNotFoundError, match="datasets/data.mat"):
        FR.load_2D_dataset()


def test_plots_draw_with_matplotlib(monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda: None)
    X, Y = FO.load_dataset()  # scatters, as the course's
    p = FO.initialize_parameters([2, 5, 2, 1])
    FO.plot_decision_boundary(lambda x: FO.predict_dec(p, x.T), X, Y)
    FO.model(X, Y, [2, 5, 2, 1], "gd", num_epochs=2)
    assert plt.gcf().axes
    plt.close("all")


# ---------------------------------------------------- the notebooks, imports swapped


@pytest.mark.parametrize("initialization", ["zeros", "he"])
def test_initialization_notebook_with_the_imports_swapped(initialization):
    X, Y, tX, tY = I.load_dataset()
    (want, costs), out = printed(
        N.initialization_model, I, X, Y, num_iterations=2001, initialization=initialization
    )
    (got, got_costs), got_out = printed(
        N.initialization_model, FI, X, Y, num_iterations=2001, initialization=initialization
    )
    same_prints(got_out, out)
    model, model_out = printed(
        FI.model, X, Y, num_iterations=2001, initialization=initialization, plot_costs=False
    )
    same_prints(model_out, out)
    for k in want:
        _close(got[k], want[k], 1e-9)
        _close(model[k], want[k], 1e-9)
    for p in (got, model):
        assert printed(FI.predict, tX, tY, p)[1] == printed(I.predict, tX, tY, want)[1]
    assert np.array_equal(FI.predict_dec(got, tX), I.predict_dec(want, tX))


def test_random_initialisation_is_chaotic_but_starts_as_the_course():
    """``randn * 10`` saturates the output (cost inf) and training amplifies rounding:
    after a thousand steps NumPy on another BLAS prints other digits too. The first cost
    is the course's; the swapped loop and ``model`` stay close to it."""
    X, Y, _, _ = I.load_dataset()
    kwargs = dict(num_iterations=1001, initialization="random")
    with np.errstate(all="ignore"):
        (want, _), out = printed(N.initialization_model, I, X, Y, **kwargs)
    (got, _), got_out = printed(N.initialization_model, FI, X, Y, **kwargs)
    model, model_out = printed(FI.model, X, Y, plot_costs=False, **kwargs)
    assert out.splitlines()[0] == got_out.splitlines()[0] == "Cost after iteration 0: inf"
    assert model_out.splitlines()[0] == "Cost after iteration 0: inf"
    for p in (got, model):
        for k in want:
            _close(p[k], want[k], 1e-2)


@needs_data
@pytest.mark.parametrize("kwargs", [{}, {"lambd": 0.7}, {"keep_prob": 0.86}])
def test_regularization_notebook_with_the_imports_swapped(kwargs):
    X, Y, tX, tY = R.load_2D_dataset(DATA_MAT)
    (want, _), out = printed(N.regularization_model, R, X, Y, num_iterations=10001, **kwargs)
    (got, _), got_out = printed(N.regularization_model, FR, X, Y, num_iterations=10001, **kwargs)
    same_prints(got_out, out)
    model, model_out = printed(FR.model, X, Y, num_iterations=10001, plot_costs=False, **kwargs)
    same_prints(model_out, out)
    for k in want:
        _close(got[k], want[k], 1e-8)
        _close(model[k], want[k], 1e-8)
    for f, ref in ((FR.predict, R.predict),):
        assert printed(f, tX, tY, got)[1] == printed(ref, tX, tY, want)[1]


@pytest.mark.parametrize(
    "optimizer, kwargs",
    [
        ("gd", {}),
        ("momentum", {}),
        ("adam", {}),
        ("gd", {"learning_rate": 0.1, "decay": "update_lr"}),
        ("adam", {"learning_rate": 0.01, "decay": "schedule_lr_decay", "decay_rate": 0.3}),
    ],
)
def test_optimization_notebook_with_the_imports_swapped(optimizer, kwargs):
    X, Y = O.load_dataset()
    decay = kwargs.pop("decay", None)
    mine = dict(kwargs, decay=getattr(FO, decay) if decay else None)
    theirs = dict(kwargs, decay=getattr(O, decay) if decay else None)
    args = (X, Y, [2, 5, 2, 1], optimizer)
    (want, _), out = printed(N.optimization_model, O, *args, num_epochs=1001, **theirs)
    (got, _), got_out = printed(N.optimization_model, FO, *args, num_epochs=1001, **mine)
    assert got_out == out
    model, model_out = printed(FO.model, *args, num_epochs=1001, plot_costs=False, **mine)
    assert model_out == out
    for k in want:
        _close(got[k], want[k], 1e-9)
        _close(model[k], want[k], 1e-9)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("keep_prob", [0, -0.5, 1.5, float("nan")])
def test_keep_prob_outside_0_1(keep_prob):
    X, Y, p = _network((2, 3, 2, 1), 5)
    with pytest.raises(ValueError, match="keep_prob must be in"):
        FR.forward_propagation_with_dropout(X, p, keep_prob)
    with pytest.raises(ValueError, match="keep_prob"):
        FR.model(X, Y, num_iterations=1, keep_prob=keep_prob, plot_costs=False)


def test_negative_or_odd_lambd_and_both_regularisations():
    X, Y, p = _network((2, 3, 2, 1), 5)
    _, cache = FR.forward_propagation(X, p)
    with pytest.raises(ValueError, match="lambd must be"):
        FR.backward_propagation_with_regularization(X, Y, cache, -0.1)
    with pytest.raises(TypeError, match="lambd must be a real number"):
        FR.compute_cost_with_regularization(cache[9], Y, p, "0.1")
    with pytest.raises(ValueError, match="not both"):
        FR.model(X, Y, num_iterations=1, lambd=0.7, keep_prob=0.8, plot_costs=False)


def test_mini_batch_size_and_optimizer_checked():
    X, Y, _ = _network((2, 1), 10)
    with pytest.raises(ValueError, match="mini_batch_size must be at least 1"):
        FO.random_mini_batches(X, Y, 0)
    with pytest.raises(ValueError, match="mini_batch_size"):
        FO.model(X, Y, [2, 3, 2, 1], "adam", mini_batch_size=0, plot_costs=False)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        FO.model(X, Y, [2, 3, 2, 1], "rmsprop", plot_costs=False)
    with pytest.raises(ValueError, match="layers_dims must be"):
        FO.model(X, Y, [2, 3, 1], "gd", plot_costs=False)


def test_wrong_shapes_name_them():
    X, Y, p = _network((2, 3, 2, 1), 5)
    with pytest.raises(ValueError, match="do not chain"):
        FI.forward_propagation(X[:1], p)
    _, cache = FI.forward_propagation(X, p)
    with pytest.raises(ValueError, match="do not chain"):
        FI.backward_propagation(X, Y[:, :3], cache)
    with pytest.raises(ValueError, match="12-tuple"):
        FI.backward_propagation(X, Y, cache[:11])
    with pytest.raises(ValueError, match="Y must have a3's shape"):
        FI.compute_loss(cache[9], Y.T)
    grads = FI.backward_propagation(X, Y, cache)
    grads["dW2"] = grads["dW2"][:, :1]
    with pytest.raises(ValueError, match=r"grads\['dW2'\] must have W2's shape"):
        FI.update_parameters(dict(p), grads, 0.1)


def test_wrong_key_sets_name_them():
    X, Y, p = _network((2, 3, 2, 1), 5)
    q = dict(p)
    del q["b2"]
    with pytest.raises(ValueError, match="lacks \\['b2'\\]"):
        FR.forward_propagation(X, q)
    with pytest.raises(ValueError, match="exactly W1..WL"):
        FR.update_parameters(dict(p, extra=1), {}, 0.1)
    _, cache = FR.forward_propagation(X, p)
    grads = FR.backward_propagation(X, Y, cache)
    del grads["db3"]
    with pytest.raises(ValueError, match="lacks 'db3'"):
        FR.update_parameters(dict(p), grads, 0.1)
    with pytest.raises(ValueError, match="v lacks"):
        FO.update_parameters_with_momentum(
            dict(p), FR.backward_propagation(X, Y, cache), {}, 0.9, 0.1
        )
    with pytest.raises(TypeError, match="must be a dict"):
        FO.forward_propagation(X, [p])


def test_nan_is_refused_and_a_saturated_cost_is_inf():
    X, Y, p = _network((2, 3, 2, 1), 5)
    bad = X.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        FI.forward_propagation(bad, p)
    a3, cache = FI.forward_propagation(X, p)
    with pytest.raises(ValueError, match="NaN or inf"):
        FI.backward_propagation(X, np.where(Y > 0, np.nan, 0.0), cache)
    grads = FI.backward_propagation(X, Y, cache)
    grads["dW1"] = grads["dW1"] * np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        FI.update_parameters(dict(p), grads, 0.1)
    saturated = np.array([[1.0, 0.5, 0.0]])  # -log(1 - 1) with y = 0: inf, as NumPy's
    labels = np.array([[0, 1, 1]])
    with np.errstate(all="ignore"):
        want = I.compute_loss(saturated, labels)
    assert FI.compute_loss(saturated, labels) == want == np.inf
    assert np.isinf(FO.compute_cost(saturated, labels))
    with pytest.raises(ValueError, match="finite"):
        FR.model(bad, Y, num_iterations=1, plot_costs=False)


def test_read_only_inputs_are_read_not_copied_into_results():
    X, Y, p = _network((2, 3, 2, 1), 5)
    for a in (X, Y, *p.values()):
        a.flags.writeable = False
    a3, cache = FR.forward_propagation(X, p)
    assert cache[2] is p["W1"]
    grads = FR.backward_propagation(X, Y, cache)
    assert grads["dW1"].flags.writeable


# ---------------------------------------------------- finite differences


def _numeric_gradient(J, parameters, eps=1e-6):
    """Central differences of ``J(parameters)`` in each entry of each W and b."""
    out = {}
    for k, P in parameters.items():
        g = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            keep = P[idx]
            P[idx] = keep + eps
            plus = J(parameters)
            P[idx] = keep - eps
            minus = J(parameters)
            P[idx] = keep
            g[idx] = (plus - minus) / (2 * eps)
        out["d" + k] = g
    return out


@pytest.mark.parametrize("lambd", [0.0, 0.7])
def test_regularised_gradients_against_finite_differences(lambd):
    X, Y, p = _network((3, 5, 4, 1), 9, seed=7, labels=np.uint8)

    def J(params):
        A3, _ = FR.forward_propagation(X, params)
        return FR.compute_cost_with_regularization(A3, Y, params, lambd)

    _, cache = FR.forward_propagation(X, p)
    grads = FR.backward_propagation_with_regularization(X, Y, cache, lambd)
    numeric = _numeric_gradient(J, {k: v.copy() for k, v in p.items()})
    for k, g in numeric.items():
        np.testing.assert_allclose(grads[k], g, rtol=1e-5, atol=1e-8, err_msg=k)


def test_dropout_gradients_against_finite_differences():
    """The dropout forward reseeds, so its masks are the same at every evaluation: the cost
    is a function of the parameters, and its gradient is the dropout backward pass's."""
    X, Y, p = _network((3, 6, 5, 1), 11, seed=8, labels=np.uint8)

    def J(params):
        A3, _ = FR.forward_propagation_with_dropout(X, params, 0.7)
        return FR.compute_cost(A3, Y)

    _, cache = FR.forward_propagation_with_dropout(X, p, 0.7)
    grads = FR.backward_propagation_with_dropout(X, Y, cache, 0.7)
    numeric = _numeric_gradient(J, {k: v.copy() for k, v in p.items()})
    for k, g in numeric.items():
        np.testing.assert_allclose(grads[k], g, rtol=1e-5, atol=1e-8, err_msg=k)


@pytest.mark.parametrize("module", [FI, FO])
def test_lowercase_gradients_against_finite_differences(module):
    """init_utils and opt_utils_v1a fold 1/m into dz3: their gradients are those of the
    mean cost (compute_loss's; opt_utils' compute_cost is the sum, divided here)."""
    X, Y, p = _network((2, 4, 3, 1), 10, seed=9)
    cost = getattr(module, "compute_loss", None)

    def J(params):
        a3, _ = module.forward_propagation(X, params)
        return cost(a3, Y) if cost else module.compute_cost(a3, Y) / X.shape[1]

    _, cache = module.forward_propagation(X, p)
    grads = module.backward_propagation(X, Y, cache)
    numeric = _numeric_gradient(J, {k: v.copy() for k, v in p.items()})
    for k, g in numeric.items():
        np.testing.assert_allclose(grads[k], g, rtol=1e-5, atol=1e-8, err_msg=k)
