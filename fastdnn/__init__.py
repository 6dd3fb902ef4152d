"""fastdnn: the course's deep network ("Building your Deep Neural Network: Step
by Step") with the same names and results, on parallel numba kernels.

``from fastdnn import ...`` replaces the course's own functions and its
``dnn_utils`` import. ``fastdnn.Model`` serves a trained network (a cache-free
inference path). Importing fastdnn imports NumPy only; numba is imported
and the kernels are compiled (or loaded from the on-disk cache) on first use.
"""

from ._internal.threads import threads
from ._internal.version import __version__ as __version__
from .course import api as _course
from .course.api import *  # noqa: F403 (the course's functions, listed in course/api.py)
from .serving.model import Model

__all__ = [*_course.__all__, "Model", "threads", "warmup"]


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from numba's disk cache) every kernel now, for the given dtypes.

    The missing kernels compile in parallel, one worker process per core
    (``FASTDNN_COMPILE_PROCESSES`` limits them). Servers and benchmarks call this
    to pay compile time up front; ``fastdnn warmup`` does it from the shell.
    """
    from ._warmup import run

    run(dtypes)
