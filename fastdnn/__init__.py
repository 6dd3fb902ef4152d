"""fastdnn: the course's deep network ("Building your Deep Neural Network: Step
by Step") with the same names and results, on parallel numba kernels.

``from fastdnn import ...`` replaces the course's own functions and its
``dnn_utils`` import. ``fastdnn.Model`` serves a trained network (a cache-free
inference path). Importing fastdnn imports NumPy only; numba is imported
and the kernels are compiled (or loaded from the on-disk cache) on first use.
"""

from ._internal.threads import threads
from .course.backward import L_model_backward, linear_activation_backward, linear_backward
from .course.cost import compute_cost
from .course.dnn_utils import relu, relu_backward, sigmoid, sigmoid_backward
from .course.forward import L_model_forward, linear_activation_forward, linear_forward
from .course.init import initialize_parameters, initialize_parameters_deep
from .course.update import update_parameters
from .serving.model import Model

__version__ = "0.1.0"

__all__ = [
    "L_model_backward",
    "L_model_forward",
    "Model",
    "compute_cost",
    "initialize_parameters",
    "initialize_parameters_deep",
    "linear_activation_backward",
    "linear_activation_forward",
    "linear_backward",
    "linear_forward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "threads",
    "update_parameters",
    "warmup",
]


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from numba's disk cache) every kernel now, for the given dtypes.

    The missing kernels compile in parallel, one worker process per core
    (``FASTDNN_COMPILE_PROCESSES`` limits them). Servers and benchmarks call this
    to pay compile time up front; ``fastdnn warmup`` does it from the shell.
    """
    from ._warmup import run

    run(dtypes)
