"""Deferred import of the kernels, so ``import fastdnn`` does not import numba.

``kernels.<name>`` imports ``fastdnn.kernels`` on first use and then binds
each looked-up attribute on the proxy itself, so later look-ups are plain
attribute reads (no import machinery on the hot path).
"""

import importlib


class _LazyModule:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)
        return value


kernels = _LazyModule("fastdnn.kernels")
