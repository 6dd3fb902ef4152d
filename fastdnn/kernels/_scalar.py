"""Scalar building blocks of the array kernels (LLVM inlines them).

numba 0.62+ has no SVML, so ``math.exp`` in a loop is a scalar libm call and
the loop does not vectorize. ``exp_nonpos`` below is plain arithmetic (a
Cody-Waite range reduction and fdlibm's rational approximation of exp on
[-ln2/2, ln2/2]), which LLVM turns into AVX2/AVX-512 code. The scale 2**k is
built from exponent bits through a bit-cast intrinsic. Accuracy: at most 1 ulp
from ``np.exp`` on [-746, 0], denormal results included (tested).
"""

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic, overload

from .._internal.config import SCALAR

# log2(e), ln(2) split into a high part with trailing zero bits and the rest,
# and the coefficients of fdlibm's exp (public domain, Sun Microsystems).
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08

if config.DISABLE_JIT:
    # Pure-Python run (coverage of kernel logic): same bits, no LLVM.
    def _bits_to_float64(bits):
        return np.int64(bits).view(np.float64)

    def _float64_to_bits(x):
        return int(np.float64(x).view(np.int64))

    def _bits_to_float32(bits):
        return np.int32(bits).view(np.float32)
else:  # pragma: no cover - LLVM intrinsics exist only when compiling (not in the no-JIT run)

    @intrinsic
    def _bits_to_float32(typingctx, bits):
        """Reinterpret an int32's bits as a float32 (LLVM ``bitcast``)."""

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())

        return types.float32(types.int32), codegen

    @intrinsic
    def _float64_to_bits(typingctx, x):
        """Reinterpret a float64's bits as an int64 (LLVM ``bitcast``)."""

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))

        return types.int64(types.float64), codegen

    @intrinsic
    def _bits_to_float64(typingctx, bits):
        """Reinterpret an int64's bits as a float64 (LLVM ``bitcast``)."""

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen


@njit(**SCALAR)
def exp_nonpos(x):
    """exp(x) for float64 ``x <= 0``; 0.0 below -746 (exp underflows there)."""
    x = max(x, -746.0)
    kf = np.floor(x * _LOG2E + 0.5)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    r2 = r * r
    c = r - r2 * (_P1 + r2 * (_P2 + r2 * (_P3 + r2 * (_P4 + r2 * _P5))))
    y = 1.0 + (r + (r * c) / (2.0 - c))
    # 2**k in two halves, so that k down to -1075 (denormal results) never
    # needs an exponent field below the smallest normal number.
    k = np.int64(kf)
    k_half = k >> 1
    return y * _bits_to_float64((k_half + 1023) << 52) * _bits_to_float64((k - k_half + 1023) << 52)


# fdlibm's log: ln(2) split in two, and the coefficients of its approximation
# of log(1 + f) on [sqrt(2)/2 - 1, sqrt(2) - 1] (public domain, Sun Microsystems).
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951
_TWO54 = 18014398509481984.0


@njit(**SCALAR)
def log_pos(x):
    """log(x) for float64 ``x > 0`` (denormals included), without branches.

    Plain arithmetic, so a loop of it vectorizes (numba's ``math.log`` is a
    scalar libm call). x = 2**k * m with m in [sqrt(2)/2, sqrt(2)), then
    fdlibm's rational approximation of log(m). At most 1 ulp from ``np.log``
    (tested on a dense grid from 5e-324 to 1e308).
    """
    denormal = x < 2.2250738585072014e-308
    x = x * _TWO54 if denormal else x
    bits = _float64_to_bits(x)
    k = ((bits >> 52) & 0x7FF) - 1023 - (54 if denormal else 0)
    m = _bits_to_float64((bits & 0x000FFFFFFFFFFFFF) | (1023 << 52))  # in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    kf = np.float64(k + (1 if big else 0))
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    hfsq = 0.5 * f * f
    return kf * _LN2_HI - ((hfsq - (s * (hfsq + R) + kf * _LN2_LO)) - f)


@njit(**SCALAR)
def _sigmoid64(z):
    """1 / (1 + exp(-z)) without overflow: exp is only taken of -|z|."""
    z = np.float64(z)
    e = exp_nonpos(-abs(z))
    inv = 1.0 / (1.0 + e)
    return inv if z >= 0.0 else e * inv


@njit(**SCALAR)
def _sigmoid_slope64(z):
    """s * (1 - s) for s = sigmoid(z), as e / (1 + e)**2 with e = exp(-|z|).

    The same value as the course's ``s * (1 - s)`` to rounding, but it stays
    positive where ``1 - s`` would round to 0 (z > 37 in float64).
    """
    e = exp_nonpos(-abs(np.float64(z)))
    inv = 1.0 / (1.0 + e)
    return e * inv * inv


# float32: Cephes' expf (Cody-Waite reduction with ln 2 in two float32 parts,
# degree-5 polynomial; public domain, Stephen L. Moshier). Computing a float32
# sigmoid in float32 puts 8 lanes in a 256-bit vector instead of 4.
_F32 = np.float32
_LOG2E_F = _F32(1.44269504088896341)
_LN2_HI_F = _F32(0.693359375)
_LN2_LO_F = _F32(-2.12194440e-4)
_Q0, _Q1, _Q2 = _F32(1.9875691500e-4), _F32(1.3981999507e-3), _F32(8.3334519073e-3)
_Q3, _Q4, _Q5 = _F32(4.1665795894e-2), _F32(1.6666665459e-1), _F32(5.0000001201e-1)
_ONE_F, _HALF_F, _ZERO_F = _F32(1.0), _F32(0.5), _F32(0.0)


@njit(**SCALAR)
def exp_nonpos32(x):
    """exp(x) for float32 ``x <= 0``, in float32; 0 below -104 (it underflows there)."""
    x = max(x, _F32(-104.0))
    kf = np.floor(x * _LOG2E_F + _HALF_F)
    r = (x - kf * _LN2_HI_F) - kf * _LN2_LO_F
    p = ((((_Q0 * r + _Q1) * r + _Q2) * r + _Q3) * r + _Q4) * r + _Q5
    y = p * (r * r) + r + _ONE_F
    # 2**k in two halves (k down to -150: denormal results), as in exp_nonpos.
    k = np.int32(kf)
    k_half = k >> 1
    return y * _bits_to_float32((k_half + 127) << 23) * _bits_to_float32((k - k_half + 127) << 23)


@njit(**SCALAR)
def _sigmoid32(z):
    e = exp_nonpos32(-abs(z))
    inv = _ONE_F / (_ONE_F + e)
    return inv if z >= _ZERO_F else e * inv


@njit(**SCALAR)
def _sigmoid_slope32(z):
    e = exp_nonpos32(-abs(z))
    inv = _ONE_F / (_ONE_F + e)
    return e * inv * inv


def sigmoid(z):
    """The sigmoid in ``z``'s own precision: float32 arithmetic for float32,
    float64 otherwise (the kernels call this; numba picks the implementation
    at compile time through the overload below)."""
    return _sigmoid32(z) if isinstance(z, np.float32) else _sigmoid64(z)


def sigmoid_slope(z):
    """s * (1 - s) for s = sigmoid(z), in ``z``'s own precision (see ``sigmoid``)."""
    return _sigmoid_slope32(z) if isinstance(z, np.float32) else _sigmoid_slope64(z)


if not config.DISABLE_JIT:  # pragma: no cover - compile-time dispatch (not in the no-JIT run)

    @overload(sigmoid)
    def _sigmoid_overload(z):
        if z == types.float32:
            return lambda z: _sigmoid32(z)
        return lambda z: _sigmoid64(z)

    @overload(sigmoid_slope)
    def _sigmoid_slope_overload(z):
        if z == types.float32:
            return lambda z: _sigmoid_slope32(z)
        return lambda z: _sigmoid_slope64(z)


@njit(**SCALAR)
def relu(z):
    """max(z, 0), with ReLU(0) = 0 as in the course.

    ``z - z`` is a +0.0 of z's own type (for finite z), so a float32 loop
    stays float32 and negative inputs give +0.0, never -0.0.
    """
    return z if z > 0 else z - z


@njit(**SCALAR)
def nonfinite(x):
    """True if x is NaN or +-inf (x - x is NaN exactly for those).

    Kernels OR these flags together (``bad |= nonfinite(x)``) rather than
    counting them: see ``elementwise.py``.
    """
    return (x - x) != 0
