"""Kernel variants chosen by measurement (fastdnn._internal.variants): every variant
against the NumPy twins, the calibration's choice and bounds, the choices file
(missing, corrupt, foreign, unwritable), the pin, and `fastdnn tune` / `fastdnn info`."""

import json
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastdnn as F
import naive as N
from conftest import TOL, jit_only
from fastdnn._internal import dispatch, variants
from fastdnn._internal.config import PARALLEL_MIN_ELEMENTS, PREDICT_PARALLEL_MIN_MACS
from fastdnn.course import products

DTYPES = [np.float64, np.float32]
# (n, n_prev, m): one serial call, one parallel call of every product.
SERIAL = (5, 1030, 7)
PARALLEL = (8, 1100, 130)
assert np.prod(SERIAL) < PARALLEL_MIN_ELEMENTS <= np.prod(PARALLEL)

ALL = [
    (family, v.name) for family in ("dW", "dA_prev", "forward") for v in variants.FAMILIES[family]
]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """Calibration on (no pin), with a choices file of this test's own."""
    monkeypatch.setenv("FASTDNN_VARIANTS", "")
    monkeypatch.setenv("FASTDNN_VARIANTS_FILE", str(tmp_path / "variants.json"))
    variants._reset()
    yield tmp_path / "variants.json"
    monkeypatch.setenv("FASTDNN_VARIANTS", "default")
    variants._reset()


def tolerance(dtype, scale):
    tol = TOL[np.dtype(dtype)]
    return dict(rtol=tol["rtol"], atol=tol["atol"] * scale)


@pytest.mark.parametrize("family, name", ALL)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [SERIAL, PARALLEL], ids=["serial", "parallel"])
def test_every_variant_matches_numpy(family, name, dtype, shape, pin_variants, rng):
    pin_variants(f"{family}={name}")
    n, n_prev, m = shape
    W = rng.standard_normal((n, n_prev)).astype(dtype)
    A_prev = np.asfortranarray(rng.standard_normal((n_prev, m)).astype(dtype))
    dZ = rng.standard_normal((n, m)).astype(dtype)
    assert products.skinny(W, A_prev)
    W64, A64, dZ64 = (a.astype(np.float64) for a in (W, A_prev, dZ))
    np.testing.assert_allclose(products.forward(W, A_prev), W64 @ A64, **tolerance(dtype, 100))
    dW = products.weight_gradient(dZ, A_prev)
    np.testing.assert_allclose(dW, dZ64 @ A64.T / m, **tolerance(dtype, 10))
    np.testing.assert_allclose(products.input_gradient(W, dZ), W64.T @ dZ64, **tolerance(dtype, 10))
    W1, dW1 = W.copy(), np.empty_like(W)
    assert not products.weight_step(dZ, A_prev, W1, 0.5, dW1)
    np.testing.assert_array_equal(dW1, dW)  # the same variant, the same sums
    np.testing.assert_allclose(W1, W64 - 0.5 * (dZ64 @ A64.T / m), **tolerance(dtype, 10))


@pytest.mark.parametrize("name", [v.name for v in variants.FAMILIES["predict"]])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_predict_variant_matches_numpy(name, dtype, pin_variants, rng):
    pin_variants(f"predict={name}")
    dims = [1024, 16, 3, 1]
    m = PREDICT_PARALLEL_MIN_MACS // (dims[0] * dims[1]) + 5  # a parallel call
    parameters = F.initialize_parameters_deep(dims)
    X = np.asfortranarray(rng.random((dims[0], m)))
    expected = N.L_model_forward(X, parameters)[0]
    model = F.Model.from_parameters(parameters, dtype=np.dtype(dtype).name)
    got = model.predict_proba(np.asfortranarray(X, dtype=dtype))
    np.testing.assert_allclose(got, expected, **tolerance(dtype, 10))


def _fake(durations):
    """A trial whose variant ``name`` 'takes' ``durations[name]``: the calibration's
    clock is patched to advance by it (no sleeping, no noise)."""
    clock = [0.0]
    calls = []

    def trial(variant):
        calls.append(variant.name)
        clock[0] += durations[variant.name]

    return trial, calls, clock


@pytest.fixture
def fake_clock(monkeypatch):
    def install(clock):
        monkeypatch.setattr(variants.time, "perf_counter", lambda: clock[0])

    return install


KEY = ("dW", "d", 20, 14, 8, 0)


def test_the_fastest_variant_wins_and_the_default_within_noise_stays(fake_clock):
    durations = {v.name: 1.0 for v in variants.FAMILIES["dW"]}
    durations["tiles-wide"] = 0.8
    trial, calls, clock = _fake(durations)
    fake_clock(clock)
    record = variants.calibrate(KEY, "axpy", trial)
    assert record["variant"] == "tiles-wide" and record["gain"] == 1.25
    assert record["seconds"]["axpy"] == 1.0
    assert calls.count("tiles-wide") == 1 + 3 + 3  # warm-up, 3 rounds (over budget), again
    durations["tiles-wide"] = 0.97  # within NOISE of the default: not worth a change
    trial, calls, clock = _fake(durations)
    fake_clock(clock)
    assert variants.calibrate(KEY, "axpy", trial)["variant"] == "axpy"


def test_a_win_that_does_not_hold_a_second_time_keeps_the_default(fake_clock):
    """One disturbed measurement (the default's rounds slowed by a pool spinning down)
    must not make a choice that is kept for good."""
    durations = {v.name: 1.0 for v in variants.FAMILIES["dW"]}
    clock, calls = [0.0], []

    def trial(variant):
        calls.append(variant.name)
        slow = variant.name == "axpy" and calls.count("axpy") <= 1 + 3  # the first rounds
        clock[0] += (
            durations[variant.name] * (3 if slow else 1) - (variant.name == "axpy-256") * 0.02
        )

    fake_clock(clock)
    record = variants.calibrate(KEY, "axpy", trial)
    assert record["variant"] == "axpy", record


def test_a_calibration_is_bounded(fake_clock):
    """A warm-up round and three timed rounds, then rounds only while within the budget."""
    names = [v.name for v in variants.FAMILIES["dW"]]
    trial, calls, clock = _fake(dict.fromkeys(names, 1.0))  # far over the budget
    fake_clock(clock)
    variants.calibrate(KEY, "axpy", trial)
    assert len(calls) == 4 * len(names)
    trial, calls, clock = _fake(dict.fromkeys(names, 1e-6))  # well under it
    fake_clock(clock)
    variants.calibrate(KEY, "axpy", trial)
    assert len(calls) == (1 + variants.ROUNDS) * len(names)


def test_first_use_calibrates_once_and_saves(fresh, rng):
    n, n_prev, m = PARALLEL
    dZ = rng.standard_normal((n, m))
    A_prev = np.asfortranarray(rng.standard_normal((n_prev, m)))
    products.weight_gradient(dZ, A_prev)
    saved = json.loads(fresh.read_text())
    assert saved["cpu"] == variants.cpu_model() and saved["format"] == variants.FORMAT
    ((text, record),) = saved["choices"].items()
    assert text.startswith("dW float64 n=8 n_prev=1024+ m=128+ threads=")
    assert set(record["seconds"]) == {v.name for v in variants.usable("dW", products._wide())}
    # The next process reads the choice: no calibration (a trial would fail here).
    variants._reset()
    k = products._key("dW", np.dtype(np.float64), n, n_prev, m)
    assert variants.choose(k, "axpy", None).name == record["variant"]
    assert "1 choices" in variants.status()
    assert variants.summary()[text].startswith(record["variant"])


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"{not json", "corrupt"),
        (b'{"format": 1, "choices": []}', "corrupt"),
        (b"[]", "corrupt"),
        (None, "it is for cpu 'Another CPU'"),
    ],
)
def test_a_corrupt_or_foreign_file_is_ignored_with_a_reason(fresh, content, reason, caplog):
    if content is None:  # foreign: another CPU model's choices
        payload = dict(variants._identity(), format=1, cpu="Another CPU")
        payload["choices"] = {variants.key_text(KEY): {"variant": "tiles", "default": "axpy"}}
        content = json.dumps(payload).encode()
    fresh.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="fastdnn"):
        assert variants.decided() == {}
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"fastdnn: kernel variants file {fresh} ignored: {reason}")
    assert "\n" not in message
    trial, _, _ = _fake(dict.fromkeys((v.name for v in variants.FAMILIES["dW"]), 1e-6))
    variants.choose(KEY, "axpy", trial)
    assert json.loads(fresh.read_text())["cpu"] == variants.cpu_model()


def test_a_missing_file_is_no_warning(fresh, caplog):
    with caplog.at_level(logging.WARNING, logger="fastdnn"):
        assert variants.decided() == {}
    assert caplog.records == []
    assert "none yet" in variants.status()


def test_an_unwritable_file_keeps_the_choices_in_memory(tmp_path, monkeypatch, fresh):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("FASTDNN_VARIANTS_FILE", str(blocker / "variants.json"))
    variants._reset()
    trial, calls, _ = _fake(dict.fromkeys((v.name for v in variants.FAMILIES["dW"]), 1e-6))
    chosen = variants.choose(KEY, "axpy", trial)
    assert "not saved" in variants.status()
    count = len(calls)
    assert variants.choose(KEY, "axpy", trial) is chosen and len(calls) == count


def test_a_busy_parallel_region_defers_the_calibration(fresh):
    """Another thread in a parallel region: today's rule for now, calibrated later."""
    parallel_key = KEY[:5] + (2,)
    trial, calls, _ = _fake(dict.fromkeys((v.name for v in variants.FAMILIES["dW"]), 1e-6))
    entered, leave = threading.Event(), threading.Event()

    def hold():
        with dispatch.region(1, threshold=0):
            entered.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(10)
    try:
        assert variants.choose(parallel_key, "axpy", trial).name == "axpy"
        assert calls == [] and variants.decided() == {}
    finally:
        leave.set()
        holder.join()
    variants.choose(parallel_key, "axpy", trial)
    assert calls and len(variants.decided()) == 1


@pytest.mark.parametrize(
    "pin, message",
    [
        ("dW", "expected 'default' or family=variant pairs"),
        ("conv=fast", "families dW, dA_prev, forward, predict"),
        ("dW=fastest", "dW has no variant 'fastest' (it has axpy, "),
    ],
)
def test_a_bad_pin_is_a_clear_error(pin, message, pin_variants):
    pin_variants(pin)
    with pytest.raises(ValueError, match="FASTDNN_VARIANTS") as info:
        variants.choose(KEY, "axpy", None)
    assert message in str(info.value)


def test_a_pin_decides_without_measuring(pin_variants):
    pin_variants("dA_prev=tiles-rows32")
    trial, calls, _ = _fake(dict.fromkeys((v.name for v in variants.FAMILIES["dW"]), 1e-6))
    variants.choose(KEY, "axpy", trial)
    assert calls  # dW is not pinned: calibrated
    dA_key = ("dA_prev",) + KEY[1:]
    assert variants.choose(dA_key, "axpy", None).name == "tiles-rows32"
    assert variants.candidates(dA_key, "axpy") == [variants.by_name("dA_prev", "tiles-rows32")]


def test_plans_list_every_form_a_calibration_may_try(fresh, monkeypatch):
    dtype = np.dtype(np.float64)
    monkeypatch.setattr(products, "_wide_vectors", False)  # AVX2: no register tiles
    assert products.forms("dW", 20, 12288, 209, dtype) == [False]
    assert all(not v.tiles for v in variants.usable("dA_prev", wide=False))
    monkeypatch.setattr(products, "_wide_vectors", True)  # AVX-512: both forms
    assert products.forms("dW", 20, 12288, 209, dtype) == [False, True]
    variants._memo[products._key("dW", dtype, 20, 12288, 209)] = variants.by_name("dW", "axpy")
    assert products.forms("dW", 20, 12288, 209, dtype) == [False]


def _cli(*args, **env):
    environ = dict(os.environ, **env)
    return subprocess.run(
        [sys.executable, "-m", "fastdnn", *args], capture_output=True, text=True, env=environ
    )


@jit_only
def test_tune_and_info_name_the_cpu_and_the_choices(tmp_path):
    file = str(tmp_path / "choices.json")
    done = _cli("tune", "--dtype", "float32", FASTDNN_VARIANTS="", FASTDNN_VARIANTS_FILE=file)
    assert done.returncode == 0, done.stderr
    assert variants.cpu_model() in done.stdout
    for family in variants.FAMILIES:
        assert f"  {family} float32 " in done.stdout, done.stdout
    info = json.loads(
        _cli("info", "--json", FASTDNN_VARIANTS="", FASTDNN_VARIANTS_FILE=file).stdout
    )
    assert info["cpu_model"] == variants.cpu_model()
    assert info["kernel_variants"].startswith(file)
    assert any(k.startswith("dW float32 n=20 n_prev=8192+ m=128+") for k in info["variant_choices"])
    reset = _cli("tune", "--reset", FASTDNN_VARIANTS="", FASTDNN_VARIANTS_FILE=file)
    assert reset.returncode == 0 and json.loads(open(file).read())["choices"] == {}
    pinned = _cli(
        "tune", "--dtype", "float32", FASTDNN_VARIANTS="default", FASTDNN_VARIANTS_FILE=file
    )
    assert pinned.returncode == 0, pinned.stderr
    assert "FASTDNN_VARIANTS=default still pins the variants where it is set" in pinned.stdout
    assert json.loads(open(file).read())["choices"]


def test_a_failing_calibration_runs_the_default_and_says_so(fresh, caplog):
    def trial(variant):
        raise MemoryError("no room for the trial arrays")

    with caplog.at_level(logging.WARNING, logger="fastdnn"):
        assert variants.choose(KEY, "axpy", trial).name == "axpy"
    (message,) = [r.getMessage() for r in caplog.records]
    assert "calibrating dW float64 n=20" in message and "no room" in message
    assert variants.choose(KEY, "axpy", None).name == "axpy"  # kept: not retried per call
