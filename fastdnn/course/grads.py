"""``L_model_backward``'s grads: a dict whose ``dA0`` is computed when it is first read.

``grads["dA0"]``, the gradient with respect to the input X, is as large as X (20.5 MB
per iteration for the cat network) and a third of the first layer's backward work,
and the notebook's loop never reads it: ``update_parameters`` reads ``dW``/``db``.
As autograd frameworks skip gradients nobody asked for, ``Gradients`` holds what
``dA0`` needs (a copy of ``W1`` as it was at the call, and ``dZ1``) and computes it on
first read, once; the value is what the call would have returned then, whatever
happens to ``W1`` or the caches afterwards.

Everything else is a plain dict: ``isinstance(grads, dict)``, the same keys in the
course's order, ``len``, ``in``, iteration, ``get``, ``items``/``values``,
``dict(grads)``, ``{**grads}``, ``|``, ``copy``, ``copy.deepcopy``, pickle, ``==`` and
``repr`` (each of these that can see values computes ``dA0`` first). A copy or an
unpickled one is a ``Gradients`` with nothing pending.
"""

_PENDING = object()
"""Stands in the dict's own storage for a value not computed yet."""


class Gradients(dict):
    """A dict with at most one value computed on first read (module docstring).

    ``Gradients(items, pending=(key, compute))``: ``items`` as for ``dict``, with
    ``key`` among them in its place; ``compute()`` returns its value.
    """

    _pending = None  # (key, compute) until the value is computed

    def __init__(self, items=(), pending=None):
        super().__init__(items)
        if pending is not None:
            key, compute = pending
            dict.__setitem__(self, key, _PENDING)
            self._pending = (key, compute)

    def _resolve(self):
        """Compute the pending value, if any, and keep it as a plain entry."""
        pending = self._pending
        if pending is not None:
            key, compute = pending
            dict.__setitem__(self, key, compute())
            self._pending = None

    # reads that can see the pending value
    def __getitem__(self, key):
        if self._pending is not None and key == self._pending[0]:
            self._resolve()
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        if self._pending is not None and key == self._pending[0]:
            self._resolve()
        return dict.get(self, key, default)

    def __iter__(self):
        # Defined so that dict(grads), {**grads} and f(**grads) read through
        # __getitem__ instead of copying the storage (CPython's fast path for a
        # mapping whose iterator is dict's own).
        return dict.__iter__(self)

    def values(self):
        self._resolve()
        return dict.values(self)

    def items(self):
        self._resolve()
        return dict.items(self)

    def copy(self):
        self._resolve()
        return Gradients(dict.items(self))

    def __copy__(self):
        return self.copy()

    def __reduce__(self):
        self._resolve()
        return (Gradients, (dict(dict.items(self)),))

    def __eq__(self, other):
        self._resolve()
        if isinstance(other, Gradients):
            other._resolve()
        return dict.__eq__(self, other)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None

    def __repr__(self):
        self._resolve()
        return dict.__repr__(self)

    def __or__(self, other):
        self._resolve()
        return dict.__or__(dict(dict.items(self)), other)

    def __ror__(self, other):
        self._resolve()
        return dict.__ror__(dict(dict.items(self)), other)

    # writes: the pending value is computed (or dropped, when replaced) first
    def __setitem__(self, key, value):
        if self._pending is not None and key == self._pending[0]:
            self._pending = None
        dict.__setitem__(self, key, value)

    def __delitem__(self, key):
        if self._pending is not None and key == self._pending[0]:
            self._pending = None
        dict.__delitem__(self, key)

    def __ior__(self, other):
        self._resolve()
        return dict.__ior__(self, other)

    def update(self, *args, **kwargs):
        self._resolve()
        dict.update(self, *args, **kwargs)

    def setdefault(self, key, default=None):
        self._resolve()
        return dict.setdefault(self, key, default)

    def pop(self, key, *default):
        self._resolve()
        return dict.pop(self, key, *default)

    def popitem(self):
        self._resolve()
        return dict.popitem(self)

    def clear(self):
        self._pending = None
        dict.clear(self)
