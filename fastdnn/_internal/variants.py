"""Kernel variants chosen by measurement, once per CPU model.

A *family* is a set of interchangeable ways to run one hot product
(``FAMILIES``): the same compiled kernels given other block sizes, chunk
depths, prefetch distances or work splits, or the other compiled form
(register tiles or the axpy loops). Every variant computes the same values to
rounding (the tests check each against the NumPy twins), so a choice changes
speed, never results beyond rounding. No single setting is best everywhere: a
double-pumped AVX-512 core with 1 MB of L2 and a two-port one with 2 MB want
other tiles and chunks, as OpenBLAS (a kernel per core type) and FFTW (plans
measured once and kept) know.

Which variant runs is decided per *key* (family, dtype, shape class, threads),
on the key's first call, in this order:

1. ``FASTDNN_VARIANTS`` pins it: ``"dW=tiles,forward=split2"`` names variants
   per family; ``"default"`` pins today's rule (``DEFAULTS``) everywhere, with
   no calibration and no file (the tests' setting).
2. The choices file of this CPU model (``path()``), if the choice is there.
3. A calibration: each of the family's variants runs on arrays of the call's
   shape (synthetic, the shape capped so that a call takes milliseconds), in
   alternating rounds for at most about ``BUDGET_SECONDS``; a variant that beats
   the default by more than ``NOISE`` is timed against it once more and chosen
   only if it wins again, so no CPU gets slower than the default rule. The choice
   is saved to the file (atomically).
4. The default rule, when a calibration cannot run now (another thread holds
   the parallel region or is calibrating): the next call asks again.

Nothing is measured at import, and a key's later calls cost one dict look-up.
A missing file is normal (the first use on a CPU); a corrupt or foreign one
(another CPU model, kernel level or fastdnn version) is ignored with a one-line
reason on the ``fastdnn`` logger and replaced at the next save; a file that
cannot be written leaves the choices in this process's memory.
"""

import functools
import hashlib
import json
import logging
import os
import platform
import re
import threading
import time
from typing import NamedTuple

from .config import (
    GRAD_BLOCK,
    TILE_AHEAD_BYTES,
    TILE_CHUNK_BYTES,
    TILE_MIN_EXAMPLES_FLOAT64,
    TILE_ROW_BYTES,
)

ENV = "FASTDNN_VARIANTS"
FILE_ENV = "FASTDNN_VARIANTS_FILE"
FORMAT = 1

BUDGET_SECONDS = 0.08
"""Wall time a key's calibration may take beyond its warm-up round and three timed rounds."""

ROUNDS = 5
"""Timed rounds at most per calibration (each runs every variant once)."""

NOISE = 0.05
"""A variant must beat the default by more than this fraction to replace it."""

_log = logging.getLogger("fastdnn")


class Variant(NamedTuple):
    """One way to run a family's kernels.

    ``tiles``: the register tiles (``kernels.tiles``), else the axpy loops
    (``kernels.products``); ``block``: features per work item (axpy) or bytes of
    a row of C per work item (tiles), 0 for a whole row; ``rows``: rows of C per
    work item (a multiple of 4); ``depth_bytes``: bytes of B per chunk of the tiles'
    reduction; ``ahead_bytes``: the tiles' prefetch distance (0: none); ``items``:
    parallel work items per thread (the dot-product kernels' split).
    """

    name: str
    tiles: bool = False
    block: int = 0
    rows: int = 0
    depth_bytes: int = 0
    ahead_bytes: int = 0
    items: int = 4


_TILES = dict(tiles=True, depth_bytes=TILE_CHUNK_BYTES, ahead_bytes=TILE_AHEAD_BYTES)

FAMILIES = {
    # dW = dZ @ A_prev.T / m of a skinny layer (course.products.weight_gradient and
    # the trainer's fused weight step).
    "dW": (
        Variant("axpy", block=GRAD_BLOCK),
        Variant("axpy-256", block=256),
        Variant("axpy-1024", block=1024),
        Variant("tiles", block=TILE_ROW_BYTES, **_TILES),
        # twice the row block and chunk: for 2 MB of L2 per core
        Variant("tiles-wide", **dict(_TILES, block=2 * TILE_ROW_BYTES, depth_bytes=1 << 20)),
        Variant("tiles-nofetch", block=TILE_ROW_BYTES, **dict(_TILES, ahead_bytes=0)),
    ),
    # dA_prev = W.T @ dZ of a skinny layer (course.products.input_gradient).
    "dA_prev": (
        Variant("axpy", block=GRAD_BLOCK, rows=64),
        Variant("axpy-rows32", block=GRAD_BLOCK, rows=32),
        Variant("axpy-256", block=256, rows=64),
        Variant("tiles", block=0, rows=64, **_TILES),
        Variant("tiles-rows32", block=0, rows=32, **_TILES),
        Variant("tiles-rows128", block=0, rows=128, **_TILES),
    ),
    # Z = W @ A_prev of a skinny layer in parallel (the inference tile's split).
    "forward": tuple(Variant(f"split{k}", items=k) for k in (4, 1, 2, 8)),
    # Model.predict_proba's first layer in parallel (the same split).
    "predict": tuple(Variant(f"split{k}", items=k) for k in (4, 1, 2, 8)),
}


def default(family, dtype, n, m, wide):
    """Today's rule, the variant every calibration must beat: ``wide`` is whether
    the kernels run on AVX-512 (``_internal.simd.wide_vectors``)."""
    if family == "dW":
        # A layer of 7 units would run 4-, 2- and 1-row tiles, and the last two
        # re-read X.T for too little arithmetic (docs/performance.md, "Register tiles").
        return "tiles" if wide and n % 4 == 0 else "axpy"
    if family == "dA_prev":
        small = dtype.itemsize == 8 and m < TILE_MIN_EXAMPLES_FLOAT64
        return "tiles" if wide and not small else "axpy"
    return "split4"


def usable(family, wide):
    """The variants of ``family`` a calibration tries where the kernels run on AVX-512
    (``wide``) or not: the register tiles only with AVX-512. Their 4 x 4 tile of sums
    needs 21 vector registers, and AVX2 has 16: on an AVX2 CPU they spill, and ran
    slower than the axpy form in every shape measured (docs/performance.md, "Kernel
    variants"), so they are neither shipped for ``x86-64-v3`` nor tried there (a pin
    still runs them, compiled on first use)."""
    return tuple(v for v in FAMILIES[family] if wide or not v.tiles)


def by_name(family, name):
    for variant in FAMILIES[family]:
        if variant.name == name:
            return variant
    raise KeyError(name)


def key(family, dtype, n, n_prev, m, threads):
    """The key of a call: exact units, inputs and examples by powers of two, and the
    threads of a parallel call (0 for a serial one)."""
    return (family, dtype.char, n, n_prev.bit_length(), m.bit_length(), threads)


def key_text(k):
    family, char, n, n_prev_bits, m_bits, threads = k
    n_prev = f"{1 << max(n_prev_bits - 1, 0)}+"
    m = f"{1 << max(m_bits - 1, 0)}+"
    return f"{family} {'float64' if char == 'd' else 'float32'} n={n} n_prev={n_prev} m={m} threads={threads}"


_memo = {}
"""{key: Variant} decided in this process."""
_lock = threading.Lock()
_store = None
"""This CPU's choices file as read: {"choices": {key text: record}}, or None until read."""
_store_reason = None


def choose(k, default_name, trial, wide=False):
    """The variant to run for key ``k``.

    ``default_name``: the default rule's variant; ``wide``: the kernels run on
    AVX-512 (``usable``); ``trial(variant)``: runs the
    family's kernels once on synthetic arrays of the call's shape (for a
    calibration; it must not take the parallel region itself: the caller of
    ``choose`` must not hold it, and the calibration holds it for the trials
    of a parallel key)."""
    variant = _memo.get(k)
    if variant is None:
        variant = _decide(k, default_name, trial, wide)
    return variant


def candidates(k, default_name, wide=False):
    """The variants that a call of key ``k`` may run from now on (a plan's forms):
    the decided one, or every one the calibration would try."""
    variant = _memo.get(k) or _known_choice(k, default_name)
    return [variant] if variant is not None else list(usable(k[0], wide))


def _known_choice(k, default_name):
    """The variant for ``k`` that needs no measuring: pinned, or in the choices file
    (None: a calibration decides)."""
    pinned = _pinned(k[0], default_name)
    if pinned is not None:
        return pinned
    record = _stored().get(key_text(k))
    if record is not None and _known(k[0], record.get("variant")):
        return by_name(k[0], record["variant"])
    return None


def _pinned(family, default_name):
    """The variant ``FASTDNN_VARIANTS`` pins for ``family``, or None."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    if text == "default":
        return by_name(family, default_name)
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in FAMILIES:
            raise ValueError(
                f"{ENV}={text!r}: expected 'default' or family=variant pairs separated by "
                f"commas, families {', '.join(FAMILIES)}; got {item.strip()!r}"
            )
        if name.strip() == family:
            value = value.strip()
            if not _known(family, value):
                names = ", ".join(v.name for v in FAMILIES[family])
                raise ValueError(f"{ENV}: {family} has no variant {value!r} (it has {names})")
            return by_name(family, value)
    return None


def _known(family, name):
    return any(v.name == name for v in FAMILIES[family])


def _decide(k, default_name, trial, wide):
    variant = _known_choice(k, default_name)
    if variant is not None:
        _memo[k] = variant
        return variant
    if not _lock.acquire(blocking=False):  # another thread calibrates: today's rule for now
        return by_name(k[0], default_name)
    try:
        try:
            record = calibrate(k, default_name, trial, usable(k[0], wide))
        except Exception as exc:  # never the user's call's failure: today's rule, kept
            _log.warning(
                "fastdnn: calibrating %s failed (%s); the default rule runs", key_text(k), exc
            )
            variant = _memo[k] = by_name(k[0], default_name)
            return variant
        if record is None:  # the parallel region was busy
            return by_name(k[0], default_name)
        _memo[k] = by_name(k[0], record["variant"])
        _stored()[key_text(k)] = record
        _save()
    finally:
        _lock.release()
    return _memo[k]


def calibrate(k, default_name, trial, variants=None, budget=BUDGET_SECONDS):
    """Time ``variants`` (default: every one of ``k``'s family) by ``trial``; the record
    kept for it (``variant``, ``default``, ``gain``: the default's time over the chosen
    one's, ``seconds``: each variant's best time), or None when the parallel region is
    busy.

    Each variant's time is its best round: another thread pool spinning down (BLAS
    after a NumPy call) only ever slows a round, and it taxes whichever variants run
    while it lasts. A variant that beats the default is timed against it once more,
    in rounds of their own, and chosen only if it wins by ``NOISE`` again: a choice is
    kept for good, so one disturbed measurement must not make it."""
    from . import dispatch

    variants = FAMILIES[k[0]] if variants is None else variants
    default = by_name(k[0], default_name)
    with dispatch.region(1, threshold=0 if k[5] else 2) as held:
        if k[5] and not held:
            return None
        for variant in variants:  # warm-up: loads each kernel, touches the arrays
            trial(variant)
        best = _rounds(variants, trial, budget)
        winner = min(best, key=best.get)
        if best[default_name] > best[winner] * (1 + NOISE):
            again = _rounds((default, by_name(k[0], winner)), trial, budget)
            if again[default_name] <= again[winner] * (1 + NOISE):
                winner = default_name
        else:
            winner = default_name
    return {
        "variant": winner,
        "default": default_name,
        "gain": round(best[default_name] / best[winner], 3),
        "seconds": {name: float(f"{t:.3g}") for name, t in best.items()},
    }


def _rounds(variants, trial, budget):
    """{name: best time} over 3 to ``ROUNDS`` rounds of ``variants``, the first variant
    rotating, while the rounds after the third fit ``budget`` seconds."""
    samples = {variant.name: [] for variant in variants}
    start = time.perf_counter()
    for r in range(ROUNDS):
        if r >= 3 and time.perf_counter() - start > budget:
            break
        shift = r % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            t0 = time.perf_counter()
            trial(variant)
            samples[variant.name].append(time.perf_counter() - t0)
    return {name: min(times) for name, times in samples.items()}


def forget():
    """Drop every choice of this process and of this CPU's file (``fastdnn tune``)."""
    global _store
    with _lock:
        _memo.clear()
        _store = {}
        _save()


def decided():
    """{key text: record} of the choices this process knows (its file's and its own)."""
    return dict(_stored())


def summary():
    """{key text: "variant (default: name, gain x)"} of ``decided()``, for ``fastdnn
    info`` and the benchmarks' result files."""
    out = {}
    for text, record in sorted(decided().items()):
        line = str(record.get("variant"))
        if record.get("variant") != record.get("default"):
            line += f" ({record.get('gain')}x the default {record.get('default')})"
        out[text] = line
    return out


# -- the choices file ------------------------------------------------------------


@functools.cache
def cpu_model():
    """This CPU's model name and, where the name may not tell them apart (a virtual
    machine's "AMD EPYC"), its family and model numbers (``/proc/cpuinfo``; elsewhere
    what the platform says)."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, sep, value = line.partition(":")
                if not line.strip():
                    break  # the first processor's block is enough
                if sep:
                    fields.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']} model {fields['model']})"
    return name


def _kernels_label():
    from . import installed

    level = installed.choice().level
    return level["name"] if level is not None else "compiled here"


@functools.cache
def _identity():
    """What a file must match to be this machine's: CPU model, kernels, fastdnn."""
    from .version import __version__

    return {"cpu": cpu_model(), "kernels": _kernels_label(), "fastdnn": __version__}


def path():
    """This CPU's choices file: ``FASTDNN_VARIANTS_FILE``, else one per CPU model and
    kernel level in the user's cache folder (``$XDG_CACHE_HOME/fastdnn``,
    ``~/.cache/fastdnn``): a process told to run another level
    (``FASTDNN_KERNELS``) keeps its choices beside, not over, the usual ones."""
    explicit = os.environ.get(FILE_ENV, "").strip()
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    model, kernels = cpu_model(), _kernels_label()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{model} {kernels}").strip("-")[:64]
    digest = hashlib.sha256(f"{model}\0{kernels}".encode()).hexdigest()[:8]
    return os.path.join(base, "fastdnn", f"variants-{slug}-{digest}.json")


def status():
    """One line: where the choices come from (``fastdnn info``)."""
    pin = os.environ.get(ENV, "").strip()
    if pin:
        return f"pinned by {ENV}={pin}"
    _stored()
    where = path()
    if _store_reason:
        return f"{where}: {_store_reason}"
    return f"{where}: {len(_store)} choices"


def _stored():
    """The choices read from this CPU's file (once per process), {} when there is none."""
    global _store, _store_reason
    if _store is None:
        _store, _store_reason = _read(path(), _identity())
        if _store_reason and not _store_reason.startswith("none yet"):
            _log.warning("fastdnn: kernel variants file %s ignored: %s", path(), _store_reason)
    return _store


def _read(file, identity):
    """({key text: record}, why it was not read or None)."""
    try:
        with open(file, "rb") as f:
            data = f.read(1 << 20)
    except FileNotFoundError:
        return {}, "none yet (calibrated on first use)"
    except OSError as exc:
        return {}, f"unreadable ({exc.strerror or exc})"
    try:
        payload = json.loads(data)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError("not a fastdnn variants file of format 1")
        choices = payload["choices"]
        if not isinstance(choices, dict) or not all(isinstance(r, dict) for r in choices.values()):
            raise ValueError("its choices are not a mapping of records")
    except (ValueError, KeyError, TypeError) as exc:
        return {}, f"corrupt ({exc})"
    for what in ("cpu", "kernels", "fastdnn"):
        if payload.get(what) != identity[what]:
            return {}, f"it is for {what} {payload.get(what)!r}, this is {identity[what]!r}"
    return dict(choices), None


def _save():
    global _store_reason
    from .atomic import open_output

    file = path()
    payload = {"format": FORMAT, **_identity(), "choices": _store}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
        with open_output(file) as f:
            json.dump(payload, f, indent=1, sort_keys=True)
        _store_reason = None
    except (OSError, ValueError) as exc:  # a read-only home: the choices stay in memory
        _store_reason = f"not saved ({exc}); choices kept in this process only"


def _reset():
    """Forget this process's state (tests)."""
    global _store, _store_reason
    _memo.clear()
    _store = None
    _store_reason = None
