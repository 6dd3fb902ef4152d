import os
import sys
import tempfile

import numpy as np
import pytest

from fastdnn._internal.precompile import drop_stale_kernel_cache

sys.path.insert(0, os.path.dirname(__file__))

TOL = {
    # float64: the kernels differ from the course formulas only in rounding
    # (a 1-ulp exp, sums in another order).
    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-13),
    # float32: one float32 rounding per operation, sums of up to a few
    # hundred terms.
    np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6),
}


# A developer's test run always tests the sources (CI starts without a cache).
drop_stale_kernel_cache()

# The kernel variants: today's default rule, no calibration and no choices file, so
# that every test (and every process it starts) runs the same kernels; the tests of
# the calibration (tests/test_variants.py) unset the pin, with a file of their own.
os.environ["FASTDNN_VARIANTS"] = "default"
os.environ["FASTDNN_VARIANTS_FILE"] = os.path.join(
    tempfile.mkdtemp(prefix="fastdnn-variants-"), "variants.json"
)

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0")

jit_only = pytest.mark.skipif(
    JIT_DISABLED,
    reason="minutes of work as pure Python: runs in the compiled test run only "
    "(the NUMBA_DISABLE_JIT=1 run checks kernel logic on smaller inputs)",
)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def layouts(x):
    """The same values as C-ordered, Fortran-ordered and a strided view."""
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=x.dtype)
    wide[:, ::2] = x
    return {"C": np.ascontiguousarray(x), "F": np.asfortranarray(x), "view": wide[:, ::2]}


@pytest.fixture
def pin_variants(monkeypatch):
    """``pin_variants("dW=tiles,dA_prev=tiles")``: run the kernel variants named
    (``FASTDNN_VARIANTS``) for the rest of the test, then today's rule again."""
    from fastdnn._internal import variants

    def pin(text):
        monkeypatch.setenv("FASTDNN_VARIANTS", text)
        variants._reset()

    yield pin
    monkeypatch.setenv("FASTDNN_VARIANTS", "default")
    variants._reset()
