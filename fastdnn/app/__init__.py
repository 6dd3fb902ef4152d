"""The application ("Deep Neural Network - Application", cat vs non-cat) and its tools.

``from fastdnn.app import *`` replaces the notebook's helper import (``notebook``). Around it:
the trainer's loop (``train``), datasets (``data``), the progress bar and cost plot
(``progress``, ``plot``), a scikit-learn estimator (``estimator``) and ``fastdnn demo``
(``demo``).
"""

from .notebook import *  # noqa: F403
from .notebook import __all__  # noqa: F401
