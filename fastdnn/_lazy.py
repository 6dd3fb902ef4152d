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


class KernelSet:
    """The kernels of one operation, by role: ``KernelSet(into="_relu_into", ...)``.

    Looked up in ``fastdnn.kernels`` on first use and then bound on the
    instance, like ``kernels`` above. An API function passes its one record
    down instead of three ``kernels.<name>`` reads per call (a measurable part
    of a 3x2 ReLU), and only the kernel the call takes is read.
    """

    def __init__(self, **roles):
        self._roles = roles

    def __getattr__(self, role):
        value = getattr(kernels, self._roles[role])
        setattr(self, role, value)
        return value
