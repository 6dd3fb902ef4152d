"""The tests' oracles: the course's plain NumPy formulas (see fastdnn/course/reference.py)."""

from fastdnn.course.reference import *  # noqa: F403
from fastdnn.course.reference import ACTIVATIONS  # noqa: F401
