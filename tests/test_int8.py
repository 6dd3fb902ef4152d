"""int8 inference (``Model.quantize``, ``fastdnn.kernels.int8``) against NumPy twins.

Both paths of the first layer's integer sums run on any CPU: the fixture
``sums_path`` forces the register tiles (``vpdpbusd`` on a CPU with AVX-512
VNNI, widening multiply-adds elsewhere: each code path is compiled for a CPU
without VNNI in ``test_tiles_without_vnni``) and the portable loop. The integer
sums are exact, so the two agree bit for bit, and with NumPy's int64 products.
"""

import os
import pickle
import platform
import subprocess
import sys

import h5py
import numpy as np
import pytest

import naive
from conftest import JIT_DISABLED
from fastdnn.kernels import int8 as K8
from fastdnn.serving.model import Model
from fastdnn.serving.modelfile import FORMAT_VERSION, ModelFileError

# n_x: under, at and past a multiple of the 64-byte vector and of the 2048-byte block;
# n_1: a multiple of the tile's 5 units and not (zero rows padded).
DIMS = [[7, 5, 1], [130, 6, 2], [300, 20, 7, 5, 1], [2100, 11, 3, 1]]
# Fewer sizes in the plain-Python run (NUMBA_DISABLE_JIT=1): the same branches, in seconds.
SIZES = [1, 5, 9] if JIT_DISABLED else [1, 3, 4, 5, 9, 65, 131]


@pytest.fixture(params=[True, False], ids=["tiles", "portable"])
def sums_path(request):
    """The int8 sums a test's quantized model runs (``Model._int8_tiles``, set on it)."""
    return request.param


def network(rng, dims):
    p = {}
    for l in range(1, len(dims)):
        p[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])
        p[f"b{l}"] = 0.1 * rng.standard_normal((dims[l], 1))
    return p


# ------------------------------------------------------------------ NumPy twins


def quantize_rows_twin(XT):
    """``kernels.int8._quantize_rows`` in NumPy: (uint8 rows, scales, zero points)."""
    XT = XT.astype(np.float32)
    low = np.minimum(XT.min(axis=1), 0).astype(np.float32)
    high = np.maximum(XT.max(axis=1), 0).astype(np.float32)
    scale = ((high - low) / np.float32(255)).astype(np.float32)
    scale[scale == 0] = 1
    zero = np.clip(np.rint(-low / scale), 0, 255).astype(np.float32)
    inverse = (np.float32(1) / scale).astype(np.float32)
    q = np.rint(XT * inverse[:, None]) + zero[:, None]
    return np.clip(q, 0, 255).astype(np.uint8), scale, zero.astype(np.int32)


def proba_twin(model, X, scale=None):
    """An int8 model's probabilities in NumPy: int64 sums, float32 scaling, float32 head."""
    W1q, unit_scale = model.int8_weights()
    if X.dtype == np.uint8:
        XQ = X.T
        x_scale = np.full(X.shape[1], scale or 1.0, dtype=np.float32)
        x_zero = np.zeros(X.shape[1], dtype=np.int64)
    else:
        XQ, x_scale, x_zero = quantize_rows_twin(X.T)
    S = XQ.astype(np.int64) @ W1q.T.astype(np.int64)
    exact = S - x_zero[:, None].astype(np.int64) * W1q.sum(axis=1, dtype=np.int64)
    Z1 = exact.astype(np.float32) * (unit_scale[None, :] * x_scale[:, None])
    p = model.parameters()
    A = np.maximum(Z1.T + p["b1"], 0) if len(model.layer_dims) > 2 else Z1.T + p["b1"]
    L = len(model.layer_dims) - 1
    for l in range(2, L + 1):
        Z = p[f"W{l}"] @ A + p[f"b{l}"]
        A = np.maximum(Z, 0) if l < L else Z
    return 1 / (1 + np.exp(-A))


# ------------------------------------------------------------------ the kernels


@pytest.mark.parametrize("tiles", [True, False], ids=["tiles", "portable"])
def test_int8_sums_are_exact(rng, tiles):
    for n1, n_x in ((5, 64), (10, 200), (15, 2049), (5, 4161)):
        W1q = rng.integers(-127, 128, size=(n1, n_x), dtype=np.int8)
        W1q[0] = 127  # the largest products: 255 * 127 on every byte
        XQ = rng.integers(0, 256, size=(9, n_x), dtype=np.uint8)
        XQ[0] = 255
        S = np.full((9, n1), 7, dtype=np.int32)  # stale values: the kernel starts from zero
        K8._int8_sums(XQ, W1q, S, 0, 9, tiles)
        np.testing.assert_array_equal(S, XQ.astype(np.int64) @ W1q.T.astype(np.int64))
        part = np.zeros((4, n1), dtype=np.int32)
        K8._int8_sums(XQ, W1q, part, 3, 7, tiles)  # rows 3..6 only
        np.testing.assert_array_equal(part, S[3:7])


def test_quantize_rows_equals_twin(rng):
    XT = rng.standard_normal((6, 150)).astype(np.float32)
    XT[1] = np.abs(XT[1])  # all positive: zero point 0
    XT[2] = -np.abs(XT[2])  # all negative: zero point 255
    XT[3] = 0  # a constant row: scale 1
    XT[4, :] = 3.0
    XQ = np.empty((6, 150), dtype=np.uint8)
    x_scale, x_zero = np.empty(6, np.float32), np.empty(6, np.int32)
    assert not K8._quantize_rows(XT, XQ, x_scale, x_zero, 0, 6)
    want_q, want_scale, want_zero = quantize_rows_twin(XT)
    np.testing.assert_array_equal(XQ, want_q)
    np.testing.assert_array_equal(x_scale, want_scale)
    np.testing.assert_array_equal(x_zero, want_zero)
    assert x_zero[1] == 0 and x_zero[2] == 255 and x_scale[3] == 1
    # x ~ (q - zero) * scale, within half a step
    back = (XQ.astype(np.float32) - x_zero[:, None]) * x_scale[:, None]
    assert np.all(np.abs(back - XT) <= 0.5 * x_scale[:, None] * (1 + 1e-5))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_quantize_rows_reports_nonfinite(rng, bad):
    XT = rng.standard_normal((3, 100)).astype(np.float32)
    XT[1, 50] = bad
    XQ = np.empty((3, 100), dtype=np.uint8)
    x_scale, x_zero = np.empty(3, np.float32), np.empty(3, np.int32)
    assert K8._quantize_rows(XT, XQ, x_scale, x_zero, 0, 3)
    assert np.isnan(x_scale[1]) and np.isfinite(x_scale[[0, 2]]).all()


# ------------------------------------------------------------------ the model


@pytest.mark.parametrize("dims", DIMS, ids=str)
def test_int8_model_equals_numpy_twin(rng, dims, sums_path):
    q = Model.from_parameters(network(rng, dims)).quantize()
    q._int8_tiles = sums_path
    assert q.precision == "int8" and q.dtype == np.float32
    for m in SIZES:
        pixels = rng.integers(0, 256, size=(m, dims[0]), dtype=np.uint8)
        X8 = pixels.T  # Fortran order: what flatten_images and reshape(m, -1).T give
        P = q.predict_proba(X8, scale=1 / 255)
        assert P.shape == (dims[-1], m) and P.dtype == np.float32
        np.testing.assert_allclose(P, proba_twin(q, X8, 1 / 255), rtol=2e-5, atol=2e-6)
        # C order (copied per chunk) and the serial kernel: the same numbers
        np.testing.assert_array_equal(q.predict_proba(np.ascontiguousarray(X8), scale=1 / 255), P)
        np.testing.assert_array_equal(q.predict_proba(X8, scale=1 / 255, n_threads=1), P)
        Xf = np.asfortranarray(rng.standard_normal((dims[0], m)).astype(np.float32))
        Pf = q.predict_proba(Xf)
        np.testing.assert_allclose(Pf, proba_twin(q, Xf), rtol=2e-5, atol=2e-6)
        np.testing.assert_array_equal(q.predict_proba(Xf, n_threads=1), Pf)
        # float64 and C order: converted to float32 in Fortran order, chunk by chunk
        np.testing.assert_array_equal(q.predict_proba(Xf.astype(np.float64)), Pf)


def test_paths_agree_bit_for_bit(rng):
    q = Model.from_parameters(network(rng, [700, 20, 7, 1])).quantize()
    X8 = rng.integers(0, 256, size=(300, 700), dtype=np.uint8).T
    Xf = np.asfortranarray(rng.standard_normal((700, 300)).astype(np.float32))
    results = []
    for tiles in (True, False):
        q._int8_tiles = tiles
        results.append((q.predict_proba(X8, scale=0.5), q.predict_proba(Xf)))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_int8_close_to_float(rng):
    """What quantization costs: probabilities within 1e-2 of the float32 model's."""
    model = Model.from_parameters(network(rng, [1200, 20, 7, 5, 1]), dtype="float32")
    q = model.quantize()
    X8 = rng.integers(0, 256, size=(400, 1200), dtype=np.uint8).T
    P32 = model.predict_proba(X8 / np.float32(255))
    assert np.abs(q.predict_proba(X8, scale=1 / 255) - P32).max() < 1e-2
    Xf = np.asfortranarray(rng.standard_normal((1200, 400)).astype(np.float32))
    assert np.abs(q.predict_proba(Xf) - model.predict_proba(Xf)).max() < 1e-2


def test_quantized_weights(rng):
    p = network(rng, [50, 7, 1])
    p["W1"][3] = 0  # an all-zero unit
    model = Model.from_parameters(p)
    q = model.quantize()
    assert q.quantize() is q
    W1q, scale = q.int8_weights()
    assert W1q.dtype == np.int8 and W1q.shape == (7, 50) and scale.shape == (7,)
    assert np.abs(W1q).max() == 127 and (W1q[3] == 0).all()
    # dequantized weights within half a step of the originals
    assert np.all(np.abs(W1q * scale[:, None] - p["W1"]) <= 0.5 * scale[:, None] * (1 + 1e-6))
    np.testing.assert_allclose(q.parameters()["W1"], W1q * scale[:, None], rtol=1e-7)
    np.testing.assert_array_equal(q.parameters()["W2"], p["W2"].astype(np.float32))
    assert repr(q) == "Model(layer_dims=[50, 7, 1], precision=int8)"
    assert q != model and q == model.quantize()
    assert pickle.loads(pickle.dumps(q)) == q
    with pytest.raises(ValueError, match="precision is float64"):
        model.int8_weights()


def test_int8_errors(rng):
    q = Model.from_parameters(network(rng, [30, 5, 1])).quantize()
    X = rng.standard_normal((30, 8)).astype(np.float32)
    X[4, 6] = np.nan
    with pytest.raises(ValueError, match="NaN or inf in example 6"):
        q.predict_proba(X)
    with pytest.raises(ValueError, match="features"):
        q.predict_proba(np.zeros((31, 2), np.uint8))
    with pytest.raises(TypeError, match="scale must be a number"):
        q.predict_proba(np.zeros((30, 2), np.uint8), scale="1/255")
    with pytest.raises(ValueError, match="scale must be finite"):
        q.predict_proba(np.zeros((30, 2), np.uint8), scale=np.inf)
    wide = {"W1": np.ones((1, K8.MAX_INT8_INPUTS + 1)), "b1": np.zeros((1, 1))}
    with pytest.raises(ValueError, match="int8 sums stay exact up to 66311"):
        Model.from_parameters(wide).quantize()


def test_scale_on_float_models(rng):
    model = Model.from_parameters(network(rng, [40, 5, 1]))
    X8 = rng.integers(0, 256, size=(40, 6), dtype=np.uint8)
    np.testing.assert_allclose(
        model.predict_proba(X8, scale=1 / 255), model.predict_proba(X8 / 255), rtol=1e-14
    )
    AL, _ = naive.L_model_forward(X8 / 255, model.parameters())
    np.testing.assert_allclose(model.predict(X8, scale=1 / 255), AL > 0.5)


def test_int8_model_file(rng, tmp_path):
    model = Model.from_parameters(network(rng, [90, 7, 3, 1]))
    q = model.quantize()
    path = tmp_path / "q.h5"
    q.save(path)
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == 2 == FORMAT_VERSION
        assert f.attrs["precision"] == "int8"
        assert f["W1"].dtype == np.int8 and f["W1_scale"].shape == (7,)
    loaded = Model.load(path)
    assert loaded == q and loaded.precision == "int8"
    X8 = rng.integers(0, 256, size=(90, 5), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.predict_proba(X8), q.predict_proba(X8))
    with pytest.raises(ValueError, match="int8 model, which computes in float32"):
        Model.load(path, dtype="float64")
    # float models keep format version 1, which every fastdnn release reads
    model.save(tmp_path / "f.h5")
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert f.attrs["format_version"] == 1 and "precision" not in f.attrs
    assert Model.load(tmp_path / "f.h5") == model


def test_int8_model_file_hostile(rng, tmp_path):
    q = Model.from_parameters(network(rng, [20, 5, 1])).quantize()
    path = tmp_path / "q.h5"

    def broken(edit):
        q.save(path)
        with h5py.File(path, "r+") as f:
            edit(f)
        with pytest.raises(ModelFileError) as info:
            Model.load(path)
        return str(info.value)

    def set_version(f):
        f.attrs["format_version"] = 3

    assert "format version 3 is not supported (this fastdnn reads 1, 2)" in broken(set_version)

    def float_w1(f):
        del f["W1"]
        f["W1"] = np.zeros((5, 20), np.float32)

    assert "W1 must be a int8 dataset" in broken(float_w1)

    def bad_scale(f):
        f["W1_scale"][0] = -1.0

    assert "W1_scale must hold finite scales > 0" in broken(bad_scale)

    def no_scale(f):
        del f["W1_scale"]

    assert "datasets" in broken(no_scale)

    def wrong_precision(f):
        f.attrs["precision"] = "int4"

    assert "precision" in broken(wrong_precision)


WITHOUT_VNNI = r"""
import sys
import numba
import numpy as np
from fastdnn._internal import simd
from fastdnn.kernels import int8 as K8
assert not simd.vnni()
rng = np.random.default_rng(0)
W = rng.integers(-127, 128, size=(10, 300), dtype=np.int8)
W[0] = 127
X = rng.integers(0, 256, size=(7, 300), dtype=np.uint8)
X[0] = 255
S = np.zeros((7, 10), np.int32)
if sys.argv[1] == "run":  # only where this CPU can run the target's instructions
    K8._int8_sums(X, W, S, 0, 7, True)
    assert (S == X.astype(np.int64) @ W.T.astype(np.int64)).all()
else:
    K8._int8_sums.compile(numba.typeof((X, W, S, 0, 7, True)).types)
asm = "".join(K8._sums_tile_4x5.inspect_asm().values())
print("vpmaddwd" in asm, "vpdpbusd" in asm)
"""

# (numba's target CPU, its features as numba is told them, whether pmaddwd must appear)
TARGETS = [
    ("skylake-avx512", "+avx512f,+avx512bw,+avx512vl,+avx512dq,+avx2,+fma,+avx", True),
    ("haswell", "+avx2,+fma,+avx", True),
    ("x86-64", "", False),  # plain IR: LLVM lowers it as it can
]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 targets")
@pytest.mark.parametrize("cpu, features, pmaddwd", TARGETS, ids=[t[0] for t in TARGETS])
def test_tiles_without_vnni(tmp_path, cpu, features, pmaddwd):
    """On a CPU without VNNI the tiles' ``vdpbusd`` compiles to widening multiply-adds
    (AVX-512BW, AVX2) or plain IR: the same exact sums. numba compiles for that CPU
    into a fresh cache."""
    if JIT_DISABLED:
        pytest.skip("compiles for another CPU: JIT only")
    env = dict(
        os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=str(tmp_path)
    )
    import llvmlite.binding as ll

    host = {name for name, on in ll.get_host_cpu_features().items() if on}
    runs = {f[1:] for f in features.split(",") if f} <= host
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_VNNI, "run" if runs else "compile"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(pmaddwd), "False"]


def test_cli_quantize_and_predict_int8(rng, tmp_path):
    from fastdnn.app.data import write_course_layout

    data = write_course_layout(tmp_path / "data", m_train=8, m_test=30)
    model = Model.from_parameters(network(rng, [64 * 64 * 3, 7, 1]), dtype="float32")
    model.save(tmp_path / "f32.h5")

    def cli(*args):
        done = subprocess.run(
            [sys.executable, "-m", "fastdnn", *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "int8 model" in cli("quantize", str(tmp_path / "f32.h5"), str(tmp_path / "q.h5"))
    q = Model.load(tmp_path / "q.h5")
    assert q == model.quantize()
    with h5py.File(data / "test_catvnoncat.h5", "r") as f:
        X8 = np.asfortranarray(f["test_set_x"][()].reshape(30, -1).T)
    want = q.predict_proba(X8, scale=1 / 255)[0]
    test_file = str(data / "test_catvnoncat.h5")
    for out in (
        cli("predict", str(tmp_path / "f32.h5"), test_file, "--int8"),  # quantized on the fly
        cli("predict", str(tmp_path / "q.h5"), test_file),  # an int8 model file
    ):
        rows = out.splitlines()[1:]
        got = np.array([float(r.split(",")[0]) for r in rows])
        np.testing.assert_allclose(got, want, rtol=1e-7)
