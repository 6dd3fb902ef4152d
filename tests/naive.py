"""The tests' oracles: the course's plain NumPy formulas (see fastdnn/reference.py)."""

from fastdnn.reference import *  # noqa: F403
from fastdnn.reference import ACTIVATIONS  # noqa: F401
