"""``python -m benchmarks --only int8``: the int8 model (``Model.quantize``) against float32
and ONNX Runtime, with its accuracy.

Accuracy first: the course's L-layer model ([12288, 20, 7, 5, 1], 2500 iterations
on the cat data) in float32 and quantized; labels of every train and test image
(int8 from the uint8 pixels as stored, float32 from ``X / 255``), then 8192
random images: the largest |p_int8 - p_f32| and the share of equal labels.

Then timings, contenders alternating in blocks with a pause (``harness.measure``),
all on the same examples (rows in memory: ``X`` of shape (n_x, m) in Fortran order
for fastdnn, its transpose for ONNX Runtime, the same bytes):

- batch of 8192 from uint8 pixels: fastdnn int8 on the pixels as stored, against
  ONNX Runtime float32 and fastdnn float32 on the float32 form (``X / 255``);
- batch of 8192 from float32 X: fastdnn int8 (quantizing per example as it reads)
  against ONNX Runtime's own int8 model (``quantize_dynamic`` of fastdnn's ONNX export);
- one example from uint8 pixels: fastdnn int8, against fastdnn float32 and ONNX Runtime;
- the float32 batch path: fastdnn float32 against ONNX Runtime float32.
"""

import os
import tempfile

import numpy as np

from . import harness

M = 8192


def _course_sets():
    """(train, test, source): the course's uint8 images (m, 64, 64, 3) and labels (1, m),
    from ../shared/data/catvnoncat, else fastdnn's embedded synthetic set."""
    from fastdnn.app.data import load_data, synthetic_catvnoncat

    from .notebook import SHARED_DATA

    if os.path.exists(os.path.join(SHARED_DATA, "train_catvnoncat.h5")):
        train_x, train_y, test_x, test_y, _ = load_data(SHARED_DATA)
        return (train_x, train_y), (test_x, test_y), "the course's catvnoncat files"
    (train_x, train_y), (test_x, test_y) = (
        synthetic_catvnoncat(m, seed=s) for m, s in ((209, 0), (50, 1))
    )
    return (
        (train_x, train_y.reshape(1, -1)),
        (test_x, test_y.reshape(1, -1)),
        "fastdnn's embedded synthetic set (../shared/data/catvnoncat absent)",
    )


def _trained_model(iterations):
    """(float32 Model, [train pixels, test pixels] (n_x, m) uint8 in Fortran order, source)."""
    from fastdnn import Model
    from fastdnn.app import L_layer_model

    train, test, source = _course_sets()
    pixels = [np.asfortranarray(x.reshape(x.shape[0], -1).T) for x, _ in (train, test)]
    parameters, _ = L_layer_model(
        pixels[0] / 255.0, train[1], [12288, 20, 7, 5, 1], num_iterations=iterations
    )
    return Model.from_parameters(parameters, dtype="float32"), pixels, source


def _onnx_sessions(model):
    """(float32 session, int8 session) of ONNX Runtime, or (None, None) without it."""
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return None, None
    options = onnxruntime.SessionOptions()
    providers = ["CPUExecutionProvider"]
    f32 = onnxruntime.InferenceSession(
        model.to_onnx().SerializeToString(), options, providers=providers
    )
    with tempfile.TemporaryDirectory() as folder:
        plain, quantized = os.path.join(folder, "f32.onnx"), os.path.join(folder, "int8.onnx")
        model.to_onnx(plain)
        quantize_dynamic(plain, quantized, weight_type=QuantType.QInt8)
        i8 = onnxruntime.InferenceSession(quantized, options, providers=providers)
    return f32, i8


def run(iterations, repeats, min_time, out=print, examples=M):
    model, pixels, source = _trained_model(iterations)
    int8 = model.quantize()
    rows = []
    out(
        f"# int8: the course's L-layer model, {iterations} iterations on {source}, float32 and quantized"
    )
    for name, X in zip(("train", "test"), pixels, strict=True):
        p8, p32 = int8.predict_proba(X, scale=1 / 255), model.predict_proba(X / np.float32(255))
        differ = int(np.sum((p8 > 0.5) != (p32 > 0.5)))
        gap = float(np.abs(p8 - p32).max())
        margin = float(np.abs(p32 - 0.5).min())
        out(f"labels, {name} images ({X.shape[1]}): {differ} differ between int8 and float32; "
            f"largest |p_int8 - p_f32| {gap:.2e}; closest float32 p to 0.5: 0.5 +- {margin:.2e}")  # fmt: skip
        rows.append(dict(row=f"labels {name}", differ=differ, max_gap=gap, margin=margin))
    rng = np.random.default_rng(0)
    pixels_rows = rng.integers(0, 256, size=(examples, model.layer_dims[0]), dtype=np.uint8)
    X8 = pixels_rows.T  # (n_x, m), Fortran order: the examples are rows in memory
    X32 = (pixels_rows / np.float32(255)).astype(np.float32).T
    p8, p32 = int8.predict_proba(X8, scale=1 / 255), model.predict_proba(X32)
    pf = int8.predict_proba(X32)
    for name, p in (("uint8 input", p8), ("float32 input", pf)):
        gap = float(np.abs(p - p32).max())
        share = float(np.mean((p > 0.5) == (p32 > 0.5)))
        out(
            f"{examples} random images, {name}: largest |p_int8 - p_f32| {gap:.2e}, equal labels {share:.2%}"
        )
        rows.append(dict(row=f"random {name}", max_gap=gap, equal_labels=share))

    f32_session, i8_session = _onnx_sessions(model)
    rows_f32 = np.ascontiguousarray(X32.T)
    one8, one32 = np.asfortranarray(X8[:, :1]), np.asfortranarray(X32[:, :1])
    cases = {
        f"batch {examples}, uint8 pixels in": {
            "fastdnn int8 (uint8 X)": lambda: int8.predict_proba(X8, scale=1 / 255),
            "fastdnn float32 (float32 X)": lambda: model.predict_proba(X32),
        },
        f"batch {examples}, float32 X in": {
            "fastdnn int8 (float32 X)": lambda: int8.predict_proba(X32),
        },
        "one example, uint8 pixels in": {
            "fastdnn int8 (uint8 X)": lambda: int8.predict_proba(one8, scale=1 / 255),
            "fastdnn float32 (float32 X)": lambda: model.predict_proba(one32),
        },
    }
    if f32_session is not None:
        cases[f"batch {examples}, uint8 pixels in"]["onnxruntime float32 (float32 X)"] = lambda: (
            f32_session.run(None, {"X": rows_f32})
        )
        cases[f"batch {examples}, float32 X in"]["onnxruntime int8 (float32 X)"] = lambda: (
            i8_session.run(None, {"X": rows_f32})
        )
        one_row = np.ascontiguousarray(one32.T)
        cases["one example, uint8 pixels in"]["onnxruntime float32 (float32 X)"] = lambda: (
            f32_session.run(None, {"X": one_row})
        )
    else:
        out("# onnxruntime not installed: its rows are skipped (pip install fastdnn[onnx])")
    for title, impls in cases.items():
        timing = harness.measure(impls, repeats, min_time, pause=0.3)
        first = next(iter(impls))
        base = timing[first][0]
        parts = []
        for name, (median, low, high) in timing.items():
            unit, factor = ("us", 1e6) if median < 1e-3 else ("ms", 1e3)
            ratio = "" if name == first else f" ({median / base:.2f}x)"
            parts.append(
                f"{name} {median * factor:.2f} {unit} [{low * factor:.2f}, {high * factor:.2f}]{ratio}"
            )
        out(f"{title}: " + "; ".join(parts))
        rows.append(dict(row=title, seconds={k: list(v) for k, v in timing.items()}))
    out("# ratios: the contender's time over the first one's (above 1: the first is faster)")
    return rows
