"""numba kernels: the hot path of fastdnn.

Arrays in, arrays out, no validation: the API modules (``fastdnn.course.dnn_utils``,
``fastdnn.course.forward``, ``fastdnn.course.backward``, ...) check and convert inputs and
call these. Importing this package imports numba but compiles nothing;
each kernel compiles (or loads from the on-disk cache) on its first call.
"""

from .._internal import installed as _installed
from .._internal.numba_internals import is_kernel as _is_kernel
from .elementwise import (
    _activation_backward_into,
    _activation_backward_parallel,
    _activation_backward_span,
    _activation_into,
    _activation_parallel,
    _activation_span,
    _relu_backward_tiny,
    _relu_tiny,
    _sigmoid_backward_tiny,
    _sigmoid_tiny,
)
from .inference import (
    _first_layer_parallel,
    _first_layer_rows,
    _head_rows,
    _predict_parallel,
    _predict_rows,
)
from .int8 import (
    _int8_float_parallel,
    _int8_float_rows,
    _int8_u8_parallel,
    _int8_u8_rows,
)
from .layer import (
    _activation_backward_db_into,
    _activation_backward_db_parallel,
    _activation_backward_db_rows,
    _bias_activation_into,
    _bias_activation_parallel,
    _bias_activation_span,
    _bias_activation_tiny,
    _bias_add_tiny,
    _row_means_into,
    _row_means_parallel,
    _row_means_rows,
)
from .loss import _cross_entropy_dAL, _cross_entropy_parallel, _cross_entropy_span
from .net3 import (
    _net3_adam,
    _net3_adam_all,
    _net3_backward,
    _net3_cost,
    _net3_forward,
    _net3_l2,
    _net3_momentum,
    _net3_momentum_all,
    _net3_sgd,
    _net3_step,
)
from .net3_loops import _net3_train, _net3_train_batches
from .products import _axpy_parallel, _axpy_rows
from .sgd import _sgd_parallel, _sgd_span
from .tiles import _tiles_parallel, _tiles_rows


def _dispatchers():
    """Every numba kernel of this package (scalar helpers too)."""
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith(__name__ + "."):
            yield from (v for v in vars(module).values() if _is_kernel(v))


# The kernels installed compiled (a wheel) load before numba's cache and compiler.
_installed.attach(_dispatchers())

__all__ = [
    "_activation_backward_db_into",
    "_activation_backward_db_parallel",
    "_activation_backward_db_rows",
    "_activation_backward_into",
    "_activation_backward_parallel",
    "_activation_backward_span",
    "_activation_into",
    "_activation_parallel",
    "_activation_span",
    "_axpy_parallel",
    "_axpy_rows",
    "_bias_activation_into",
    "_bias_activation_parallel",
    "_bias_activation_span",
    "_bias_activation_tiny",
    "_bias_add_tiny",
    "_cross_entropy_dAL",
    "_cross_entropy_parallel",
    "_cross_entropy_span",
    "_first_layer_parallel",
    "_first_layer_rows",
    "_head_rows",
    "_int8_float_parallel",
    "_int8_float_rows",
    "_int8_u8_parallel",
    "_int8_u8_rows",
    "_net3_adam",
    "_net3_adam_all",
    "_net3_backward",
    "_net3_cost",
    "_net3_forward",
    "_net3_l2",
    "_net3_momentum",
    "_net3_momentum_all",
    "_net3_sgd",
    "_net3_step",
    "_net3_train",
    "_net3_train_batches",
    "_predict_parallel",
    "_predict_rows",
    "_relu_backward_tiny",
    "_relu_tiny",
    "_row_means_into",
    "_row_means_parallel",
    "_row_means_rows",
    "_sgd_parallel",
    "_sgd_span",
    "_sigmoid_backward_tiny",
    "_sigmoid_tiny",
    "_tiles_parallel",
    "_tiles_rows",
]
