"""The trainer's first-layer weight step: ``dW1`` and the ``W1`` update in one pass.

``train`` uses it when the first layer is skinny and ``X`` is in Fortran order
(``products.skinny``: the course's layout, the cat network's 20 x 12288), where
its forward product and the course API's products run on fastdnn's kernels
too (``fastdnn.products``). The trainer owns its parameters, so it can update
``W1`` in place while each block of ``dW1`` is still in L1, and it never
needs ``dA0``.
"""

from . import _dispatch
from ._lazy import kernels as K


def weight_step(dZ1, X, W1, learning_rate, dW1):
    """dW1 = dZ1 @ X.T / m into ``dW1``, and ``W1 -= learning_rate * dW1`` in place.

    ``X`` (n_x, m) in Fortran order, so ``X.T`` is C-contiguous. Returns a true
    value if dW1 holds NaN or inf.
    """
    XT = X.T
    m, n_x = XT.shape
    args = (dZ1, XT, dW1, dZ1.dtype.type(1 / m), W1, learning_rate)
    with _dispatch.region(dW1.size * m) as parallel:
        if parallel:
            return K._weight_step_parallel(*args)
        return K._weight_step_rows(*args, 0, n_x)
