"""Internals shared by every layer: numba options and thresholds (``config``), the one way
into a parallel region (``dispatch``), input checks (``validation``), activation codes
(``activations``), the deferred kernel import (``lazy``), atomic file writes (``atomic``)
and the ``threads`` context manager. Imports nothing from the layers above it.
"""
