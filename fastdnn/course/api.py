"""The step-by-step assignment's public functions, listed once: the package root and the
application's helper module (``fastdnn.app.notebook``) both re-export this list."""

from .backward import L_model_backward, linear_activation_backward, linear_backward
from .cost import compute_cost
from .dnn_utils import relu, relu_backward, sigmoid, sigmoid_backward
from .forward import L_model_forward, linear_activation_forward, linear_forward
from .init import initialize_parameters, initialize_parameters_deep
from .update import update_parameters

__all__ = [
    "L_model_backward",
    "L_model_forward",
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
    "update_parameters",
]
