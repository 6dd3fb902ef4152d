"""The activation registry: names the API accepts and the kernel codes they map to.

The fused layer kernels (``fastdnn.kernels.layer``) branch on these codes once
per row, outside the inner loop, so each branch vectorizes on its own.

Adding an activation: give it a code here and a name in ``ACTIVATIONS``, write
its scalar forward and slope in ``kernels/_scalar.py``, add one branch to each
kernel in ``kernels/layer.py``, and a NumPy twin in ``tests/naive.py``. The
tests parametrize over ``ACTIVATIONS``.
"""

IDENTITY = 0
RELU = 1
SIGMOID = 2

ACTIVATIONS = {"relu": RELU, "sigmoid": SIGMOID}
"""Names accepted by ``activation=``, as in the course."""


def activation_code(activation, where):
    """Kernel code for an activation name; ValueError naming ``where`` if unknown."""
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"{where}: unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None


NET3_LOWER = 0
"""Course 2's three-layer backward (``kernels.net3``) as ``init_utils`` and ``opt_utils_v1a``
write it: ``dz3 = 1/m (a3 - Y)``, then plain products and sums."""
NET3_UPPER = 1
"""... as ``reg_utils`` writes it: ``dZ3 = A3 - Y``, ``1/m`` on each ``dW`` and ``db``."""

NET3_GD = 0
NET3_MOMENTUM = 1
NET3_ADAM = 2
"""The optimizers of the Optimization notebook's compiled loop (``kernels.net3_loops``)."""
