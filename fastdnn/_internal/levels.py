"""CPU levels: the instruction sets fastdnn's installed kernels are compiled for.

A level is what LLVM compiles for (a CPU name and an explicit feature list) and
what a CPU must have to run the result. The generic levels are the x86-64
psABI's (``x86-64-v3``: AVX2, FMA, BMI; ``x86-64-v4``: AVX-512 F/BW/CD/DQ/VL),
plus v4 with AVX-512 VNNI, whose ``vpdpbusd`` the int8 kernels use (about twice
the speed of their ``pmaddwd`` form). The build adds the building machine's own
CPU as a level of its own, chosen only by a machine whose CPU and features are
exactly the same (``pip install .`` on one's own machine).

Everything here is plain data and pure functions of a feature set, so the
choice can be tested for any CPU on any CPU.
"""

_V2 = ("cmov", "cx8", "fxsr", "mmx", "sse", "sse2")
_V2 += ("cx16", "sahf", "popcnt", "crc32", "sse3", "ssse3", "sse4.1", "sse4.2")
_V3 = _V2 + ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
_V4 = _V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")


class Level:
    """A CPU level: ``name``, the LLVM ``cpu`` name and ``features`` (LLVM names)
    it compiles for; a CPU runs its code when it has every one of ``features``."""

    def __init__(self, name, cpu, features):
        self.name = name
        self.cpu = cpu
        self.features = frozenset(features)

    @property
    def feature_string(self):
        """``NUMBA_CPU_FEATURES`` for this level: every feature spelled out, so that
        the code generators (``_internal.simd``) see them as LLVM does."""
        return ",".join("+" + f for f in sorted(self.features))


GENERIC = (
    Level("x86-64-v4-vnni", "x86-64-v4", _V4 + ("avx512vnni",)),
    Level("x86-64-v4", "x86-64-v4", _V4),
    Level("x86-64-v3", "x86-64-v3", _V3),
)
"""The generic levels, best first."""

HOST = "host"
"""The name the build uses for the building machine's own CPU."""

BASELINE = "x86-64-v3"
"""The level that alone carries the ``baseline_only`` kernels."""


def baseline_only(kernel):
    """Whether kernel ``kernel`` (a name) ships compiled for ``BASELINE`` only, and runs
    from there on every CPU that can run that level, whichever level the others load.

    Course 2's kernels (``kernels.net3``, ``kernels.net3_loops``: ``_net3_*``) work on
    networks of 2-20 units and 64-300 examples, where wider vectors buy little, and
    they take as long to compile as the rest together: one level instead of four keeps
    ``pip install .`` within its time (docs/compiled.md)."""
    return kernel.startswith("_net3_")


def by_name(name):
    """The generic level called ``name`` (KeyError for another name)."""
    for level in GENERIC:
        if level.name == name:
            return level
    raise KeyError(name)


def parse_features(feature_string):
    """The enabled features of an LLVM feature string ("+avx2,-avx512f,...") as a set."""
    return frozenset(f[1:] for f in feature_string.split(",") if f.startswith("+"))


def choose(shipped, host_tuple, host_features):
    """The best of the ``shipped`` levels for this CPU, or None.

    ``shipped``: the manifest's levels, each a dict with ``name`` and ``magic``
    (numba's ``(triple, cpu, features)`` for it), best first. ``host_tuple``: this
    process's own ``magic_tuple`` (what numba compiles for here); ``host_features``:
    the features this CPU has. A level compiled for the build machine's own CPU
    counts only when its tuple is this process's exactly; a generic one when this
    CPU has all its features."""
    for entry in shipped:
        if tuple(entry["magic"]) == tuple(host_tuple):
            return entry
    for entry in shipped:
        if entry["name"] == HOST or entry["magic"][0] != host_tuple[0]:
            continue
        if parse_features(entry["magic"][2]) <= set(host_features):
            return entry
    return None
