"""The names every Course 2 helper module gives its notebook (``from ... import *``):
``fastdnn.initialization``, ``regularization`` and ``optimization`` each list their own
and these (``*helpers.__all__``)."""

from .common import predict, predict_dec, relu, sigmoid
from .plot import plot_decision_boundary

__all__ = ["plot_decision_boundary", "predict", "predict_dec", "relu", "sigmoid"]
