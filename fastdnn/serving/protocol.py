"""What ``fastdnn serve`` reads from a request: the Open Inference Protocol's tensors and images.

Everything here runs on the event loop or its thread pool before a request is
queued, and refuses what it cannot serve with ``BadRequest`` (a 400 with a
one-line reason) or ``BodyTooLarge`` (413): a malformed body is the client's,
never a 500.

- ``decode_infer``: the body of ``POST /v2/models/{name}/infer``: JSON
  tensors (``data`` holds numbers, nothing else: no strings, no booleans), the
  binary tensor extension, or an ``application/x-npy`` array. ``UINT8``
  tensors are pixels: the model sees them times ``UINT8_SCALE`` (1/255, the
  course's preparation), a quarter of FP32's bytes on the wire; an int8
  model reads them as they are.
- ``decode_image``: one PNG/JPEG upload as the course's "your own image" cell
  reads it. Its declared size is read before anything is decoded, and an image
  over ``max_pixels`` is refused: a 17 KB PNG can declare 12000 x 12000
  pixels, 432 MB once decoded. JPEGs larger than needed are decoded at a
  fraction of their size (the decoder's draft mode).
"""

import io
import json
import math

import numpy as np

try:  # the serve extra's JSON library: parses a request body several times faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard library, slower
    _orjson = None

DATATYPES = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"), "UINT8": np.dtype("u1")}
NAMES = {np.dtype("float32"): "FP32", np.dtype("float64"): "FP64"}
INPUT, OUTPUT = "input", "probability"
BINARY_HEADER = "Inference-Header-Content-Length"
NPY = "application/x-npy"

PIXEL_MAX = 255
UINT8_SCALE = 1 / PIXEL_MAX
"""What a UINT8 tensor's values (and an uploaded image's pixels) are multiplied by: a
float model gets ``pixels / PIXEL_MAX`` in float64 cast to its dtype, the course's line."""

MAX_IMAGE_PIXELS = 50_000_000
"""Default largest image accepted (``--max-image-pixels``): a photo from a phone's
50-megapixel camera (8160 x 6120) passes. A PNG at the limit costs up to 7 bytes per
pixel while decoded (Pillow's RGBA and RGB copies), 350 MB; a JPEG is decoded at a
fraction of its size."""

_DRAFT = 4
"""A large JPEG is decoded at the smallest of its decoder's scales (1/2 .. 1/8) that
still gives at least ``_DRAFT`` times the model's side: the resize to 64 x 64 then
reads enough pixels for the course's result (BICUBIC) within a few levels of 255."""


def loads(body):
    """A JSON body (bytes) as Python objects; BadRequest for malformed JSON or JSON
    nested too deeply.

    orjson reads valid JSON; what it refuses is read again by the standard library,
    so that a body is refused (or accepted) exactly as before, with the same reason:
    ``NaN`` and ``Infinity``, which Python's own ``json.dumps`` writes, are read and
    then refused as values ("example 0 holds nan"), not as malformed JSON."""
    if _orjson is not None:
        try:
            return _orjson.loads(body)
        except ValueError:  # orjson.JSONDecodeError: the slow path decides, and says why
            pass
    try:
        return json.loads(body)
    except RecursionError:
        raise BadRequest("body: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body: malformed JSON ({exc})") from None


def dumps(obj):
    """``obj`` as JSON bytes (orjson where installed)."""
    if _orjson is not None:
        return _orjson.dumps(obj)
    return json.dumps(obj, separators=(",", ":")).encode()


class BadRequest(ValueError):
    """A request that cannot be served as sent: answered 400 with its message."""


class AnswerTooLarge(BadRequest):
    """A request whose answer would be larger than the body limit: answered 400
    (gRPC: INVALID_ARGUMENT) before anything is computed."""


class BodyTooLarge(ValueError):
    """A request body, or an image's declared size, over its limit: answered 413."""


class UnknownModel(LookupError):
    """A model name this server does not serve: answered 404 (gRPC: NOT_FOUND)."""


SHOWN_CHARACTERS = 64
"""The most characters of a client's string (a model, tensor or file name) quoted back
in a reason; the rest is counted, not echoed."""

REASON_CHARACTERS = 1024
"""The longest reason an error answer carries (gRPC sends it in a header, whose whole
block is limited to 16 KiB by default: a longer one would reach the client as a
"Stream removed" RESOURCE_EXHAUSTED, which the protocol means as "busy")."""


def shown(value):
    """A client's ``value`` quoted for a reason: its ``repr``, a long string cut to
    ``SHOWN_CHARACTERS`` with its length said, anything but a string by its type."""
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    if len(value) <= SHOWN_CHARACTERS:
        return repr(value)
    return f"{value[:SHOWN_CHARACTERS]!r}... ({len(value):,} characters)"


def reason(message):
    """``message`` on one line and at most ``REASON_CHARACTERS`` long."""
    text = " ".join(str(message).split())
    if len(text) > REASON_CHARACTERS:
        text = text[: REASON_CHARACTERS - 30] + f"... ({len(text):,} characters)"
    return text


JSON_VALUE_BYTES = 24
"""The most bytes one float takes in a JSON answer ("-1.2345678901234567e-300,")."""


def check_answer(m, n_L, itemsize, limit, json_values=False):
    """Refuse (``AnswerTooLarge``) a request whose answer, ``m`` examples of ``n_L``
    probabilities, would take more than ``limit`` bytes (the body limit: answers are
    bounded as requests are). ``json_values``: written as JSON text, else as binary
    values of ``itemsize`` bytes."""
    per_value = JSON_VALUE_BYTES if json_values else itemsize
    size = m * n_L * per_value
    if size > limit:
        raise AnswerTooLarge(
            f"the answer would hold {m} x {n_L} probabilities, up to {size:,} bytes, over the "
            f"{limit:,}-byte limit (--max-body-bytes); send fewer examples per request"
        )


def scaled_pixels(pixels, dtype):
    """UINT8 ``pixels`` as a float model reads them, ``pixels / PIXEL_MAX`` in float64
    then cast to ``dtype`` (the course's line), computed by a 256-entry table: the
    same values, without the float64 array (8 bytes per pixel) in between."""
    table = (np.arange(PIXEL_MAX + 1) / PIXEL_MAX).astype(dtype)
    return table[pixels]  # not np.take: it would convert the pixels to 8-byte indices first


def tensor_bytes(P):
    """The bytes of the array ``P`` in the protocol's byte order (little-endian), for the
    binary tensor extension's answer and gRPC's ``raw_output_contents``."""
    return P.astype(P.dtype.newbyteorder("<"), copy=False).tobytes()


def check_shape(value, n_x, where):
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        raise BadRequest(
            f"{where}: shape must be [m, {n_x}] (one example per row); got {reason(repr(value))[:200]}"
        )
    m, n = value
    if n != n_x:
        raise BadRequest(f"{where}: the model takes {n_x} values per example; shape is {value}")
    if m < 1:
        raise BadRequest(f"{where}: no examples (shape {value})")
    return m, n


def checked_rows(rows, dtype, where):
    """``rows`` as a C-contiguous array of ``dtype``; BadRequest naming the first NaN/inf."""
    rows = np.ascontiguousarray(rows, dtype=dtype)
    if not np.isfinite(rows).all():
        i, j = np.argwhere(~np.isfinite(rows))[0]
        raise BadRequest(
            f"{where}: example {i} holds {rows[i, j]} at index {j}; values must be finite"
        )
    return rows


def _numbers(data, where):
    """The JSON tensor's ``data`` (a flat list, or lists of lists, of numbers) as a flat
    float64 array. Strings and booleans are refused: NumPy would read "0.5" and true."""
    flat = data
    while isinstance(flat, list) and flat and isinstance(flat[0], list):
        if not all(isinstance(row, list) for row in flat):
            raise BadRequest(f"{where}: data mixes lists and numbers")
        flat = [v for row in flat for v in row]
    if not isinstance(flat, list):
        raise BadRequest(f"{where}: data must be a list of numbers; got {type(flat).__name__}")
    kinds = set(map(type, flat))
    if not kinds <= {int, float}:
        odd = next(v for v in flat if type(v) not in (int, float))
        raise BadRequest(
            f"{where}: data must be numbers, as the datatype says; found {json.dumps(odd)[:40]}"
        )
    try:
        return np.asarray(flat, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise BadRequest(f"{where}: data holds a number beyond float64") from None


def _pixels(values, where):
    """A UINT8 tensor's values as uint8: whole numbers 0..255 (JSON gives them as float64)."""
    if values.dtype == np.uint8:
        return values
    fits = (values >= 0) & (values <= 255) & (values == np.floor(values))
    if not fits.all():
        bad = values[~fits][0]
        raise BadRequest(f"{where}: UINT8 data must be whole numbers 0..255; found {bad:g}")
    return values.astype(np.uint8)


def check_datatype(datatype, where):
    """``datatype`` if fastdnn serves it (FP32, FP64, UINT8), else BadRequest."""
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise BadRequest(f"{where}: datatype must be FP32, FP64 or UINT8; got {shown(datatype)}")
    return datatype


def check_binary(data, datatype, m, n_x, where, declared=None):
    """``data`` (the tensor's bytes) as an array of ``datatype``'s values, if it holds
    exactly the (m, n_x) tensor's bytes (and ``declared`` says so, where given)."""
    expected = m * n_x * DATATYPES[datatype].itemsize
    if len(data) != expected or (declared is not None and declared != expected):
        said = "" if declared is None else f"binary_data_size is {declared!r}, "
        raise BadRequest(
            f"{where}: shape [{m}, {n_x}] {datatype} needs {expected} bytes of binary data; "
            f"{said}the body holds {len(data)}"
        )
    return np.frombuffer(data, dtype=DATATYPES[datatype])


def tensor_rows(values, datatype, m, n_x, dtype, where):
    """The tensor's flat ``values`` as rows (m, n_x): uint8 pixels for UINT8 (to be
    scaled by ``UINT8_SCALE``), else finite values in ``dtype``; BadRequest otherwise."""
    if values.size != m * n_x:
        raise BadRequest(
            f"{where}: shape [{m}, {n_x}] needs {m * n_x} values; data holds {values.size}"
        )
    if datatype == "UINT8":
        return _pixels(values, where).reshape(m, n_x)
    return checked_rows(values.reshape(m, n_x), dtype, where)


def decode_infer(body, headers, n_x, dtype):
    """(rows (m, n_x), header dict, answer kind) from an infer request body: rows in
    ``dtype``, or uint8 pixels for a UINT8 tensor (to be scaled by ``UINT8_SCALE``)."""
    content_type = headers.get("content-type", "").split(";")[0].strip()
    if content_type == NPY:
        try:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable .npy is the client's
            raise BadRequest(f"body: not a readable .npy array ({exc})") from None
        if array.ndim != 2 or array.dtype.kind not in "fiu":
            raise BadRequest(
                f"body: a .npy array of shape (m, {n_x}) of numbers; got {array.dtype} {array.shape}"
            )
        check_shape(list(array.shape), n_x, "body")
        return checked_rows(array, dtype, "body"), {}, "npy"
    split = headers.get(BINARY_HEADER.lower())
    if split is not None:
        try:
            split = int(split)
        except ValueError:
            raise BadRequest(f"{BINARY_HEADER} must be an integer; got {shown(split)}") from None
        if not 0 <= split <= len(body):
            raise BadRequest(f"{BINARY_HEADER} {split} is outside the body ({len(body)} bytes)")
        header, binary = body[:split], body[split:]
    else:
        header, binary = body, b""
    request = loads(header)
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise BadRequest('body: a JSON object with "inputs": [one tensor]')
    if len(request["inputs"]) != 1 or not isinstance(request["inputs"][0], dict):
        raise BadRequest(f"body: the model takes one input tensor; got {len(request['inputs'])}")
    tensor = request["inputs"][0]
    name = tensor.get("name", INPUT)
    if not isinstance(name, str):
        name = INPUT
    where = "input " + (repr(name) if len(name) <= SHOWN_CHARACTERS else shown(name))
    m, _ = check_shape(tensor.get("shape"), n_x, where)
    datatype = check_datatype(tensor.get("datatype"), where)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequest(f"{where}: parameters must be an object")
    size = parameters.get("binary_data_size")
    if size is not None:
        values = check_binary(binary, datatype, m, n_x, where, declared=size)
    else:
        if "data" not in tensor:
            raise BadRequest(f'{where}: no "data" (and no binary_data_size)')
        values = _numbers(tensor["data"], where)
    rows = tensor_rows(values, datatype, m, n_x, dtype, where)
    outputs = request.get("outputs") or []
    options = request.get("parameters") or {}
    if not isinstance(outputs, list) or not isinstance(options, dict):
        raise BadRequest('body: "outputs" must be a list and "parameters" an object')
    binary_out = bool(options.get("binary_data_output")) or any(
        isinstance(o, dict)
        and isinstance(o.get("parameters") or {}, dict)
        and (o.get("parameters") or {}).get("binary_data")
        for o in outputs
    )
    return rows, request, "binary" if binary_out else "json"


def decode_image(data, n_x, filename, max_pixels=MAX_IMAGE_PIXELS):
    """One uploaded PNG/JPEG as a (1, n_x) row of uint8 pixels, as the course's "your own
    image" cell reads it before its ``/ 255``:
    ``np.array(Image.open(f).resize((num_px, num_px))).reshape(1, -1)``.

    The image's declared width and height are read first (nothing is decoded
    yet); over ``max_pixels`` it is refused (``BodyTooLarge``). A JPEG at least
    twice ``_DRAFT`` times the model's side is decoded at a reduced scale."""
    from PIL import Image

    num_px = math.isqrt(n_x // 3)
    if num_px * num_px * 3 != n_x:
        raise BadRequest(f"the model takes {n_x} values per example, not a square RGB image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise BodyTooLarge(
                    f"{shown(filename)} declares {width} x {height} pixels; the limit is "
                    f"{max_pixels:,} (--max-image-pixels)"
                )
            side = _DRAFT * num_px
            if image.format == "JPEG" and min(width, height) >= 2 * side:
                image.draft("RGB", (side, side))
            image = image.convert("RGB").resize((num_px, num_px))
    except BodyTooLarge:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for bad files
        raise BadRequest(f"{shown(filename)} is not a readable PNG or JPEG image ({exc})") from None
    return np.asarray(image, dtype=np.uint8).reshape(1, n_x)
