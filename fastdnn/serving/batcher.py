"""Dynamic batching for ``fastdnn serve``: concurrent requests, one ``predict_proba`` call.

Requests that arrive together are coalesced into one ``Model.predict_proba``
on a worker thread, so the event loop never waits on a kernel and the
parallel batch kernel sees many examples at once. Each request gets exactly
its own rows back.
"""

import asyncio
import collections
import threading
import time

import numpy as np


class QueueFull(RuntimeError):
    """More examples are waiting than ``max_queue``: answered 503 with Retry-After."""


class _Request:
    """A queued request: its ``rows`` (m, n_x) for ``model`` (uint8 pixels standing for
    ``rows * scale`` where ``scale`` is given), and the ``future`` of ``loop`` it is
    answered through."""

    __slots__ = ("model", "rows", "future", "loop", "scale")

    def __init__(self, model, rows, future, loop, scale):
        self.model, self.rows, self.future, self.loop, self.scale = model, rows, future, loop, scale


class Batcher:
    """Coalesce concurrent requests into one ``predict_proba`` call on a worker thread.

    Parameters
    ----------
    max_batch : int
        Most examples per call (a single larger request runs alone, whole).
    max_delay_ms : float
        How long a batch may wait to fill while requests keep arriving (to the
        size of the last batch). A request that finds the worker idle after a
        quiet spell runs at once: batching must not tax the single client.
    max_queue : int
        Most examples waiting; a request that would exceed it is refused
        (``QueueFull``), unless nothing waits.
    n_threads : int, optional
        Passed to ``predict_proba``.
    on_batch : callable, optional
        ``on_batch(examples, waiting)`` after each call (metrics).
    """

    def __init__(
        self, max_batch=256, max_delay_ms=2.0, max_queue=8192, n_threads=None, on_batch=None
    ):
        self.max_batch, self.max_queue, self.n_threads = max_batch, max_queue, n_threads
        self.max_delay = max_delay_ms / 1000
        self.on_batch = on_batch
        self._cond = threading.Condition()
        self._pending = collections.deque()  # _Request, oldest first
        self._waiting = 0  # examples in _pending
        self._closed = False
        self._buffer = None  # the worker's; see _gather
        self._thread = threading.Thread(target=self._work, name="fastdnn-batcher", daemon=True)
        self._thread.start()

    @property
    def waiting(self):
        return self._waiting

    async def predict(self, model, rows, scale=None):
        """Probabilities of shape (m, n_L) for ``rows`` (m, n_x) in ``model.dtype`` (or uint8
        pixels for an int8 model, with their ``scale``), by ``model``."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._waiting and self._waiting + len(rows) > self.max_queue:
                raise QueueFull(
                    f"{self._waiting} examples are waiting (max_queue {self.max_queue})"
                )
            self._pending.append(_Request(model, rows, future, loop, scale))
            self._waiting += len(rows)
            self._cond.notify()
        try:
            return await future
        except asyncio.CancelledError:  # the client went away: its rows go now, if still queued
            self._drop(future)
            raise

    def _drop(self, future):
        with self._cond:
            for k, request in enumerate(self._pending):
                if request.future is future:
                    del self._pending[k]
                    self._waiting -= len(request.rows)
                    return

    def close(self):
        """Answer what is queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _take(self, expected):
        """The next batch: requests for one model, up to ``max_batch`` examples (at least one request).

        Waits (at most ``max_delay``) for ``expected`` examples: as many as the
        last batch held when it held several requests, since the clients it
        answered are likely to send again. Waiting for a full ``max_batch``
        would cost 8 clients the whole delay on every batch.
        """
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            if expected > 1 and self.max_delay > 0:
                deadline = time.monotonic() + self.max_delay
                target = min(expected, self.max_batch)
                while self._waiting < target and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            first = self._pending[0]
            batch, examples = [], 0
            while (
                self._pending
                and (head := self._pending[0]).model is first.model
                and head.rows.dtype == first.rows.dtype  # pixels and floats apart
                and head.scale == first.scale
            ):
                m = len(head.rows)
                if batch and examples + m > self.max_batch:
                    break
                batch.append(self._pending.popleft())
                examples += m
            self._waiting -= examples
            return batch

    def _gather(self, model, batch):
        """The batch's rows, stacked into a buffer kept between calls: a fresh
        array each time would cost the OS's zeroing of its pages, every call."""
        m = sum(len(request.rows) for request in batch)
        shape = (max(m, self.max_batch), model.layer_dims[0])
        if (
            self._buffer is None
            or self._buffer.shape[0] < m
            or self._buffer.shape[1:] != shape[1:]
            or self._buffer.dtype != batch[0].rows.dtype
        ):
            self._buffer = np.empty(shape, dtype=batch[0].rows.dtype)
        lo = 0
        for request in batch:
            self._buffer[lo : lo + len(request.rows)] = request.rows
            lo += len(request.rows)
        return self._buffer[:m]

    def _work(self):
        expected = 0
        while True:
            batch = self._take(expected)
            if batch is None:
                return
            # Several requests queued while the last call ran: more are coming.
            expected = sum(len(request.rows) for request in batch) if len(batch) > 1 else 0
            model = batch[0].model
            try:
                if len(batch) == 1:
                    rows = batch[0].rows
                else:
                    rows = self._gather(model, batch)
                # rows.T is Fortran-ordered: the tiled kernel (an example's result
                # depends on its place in a 4-example tile only in the last bits).
                scale = batch[0].scale
                options = {} if scale is None else {"scale": scale}
                P = model.predict_proba(rows.T, n_threads=self.n_threads, **options).T
                results, lo = [], 0
                for request in batch:
                    hi = lo + len(request.rows)
                    results.append((P[lo:hi].copy(), None))
                    lo = hi
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                results = [(None, exc)] * len(batch)
            # One wake-up of each event loop per batch, not one per request.
            answers = {}
            for request, (value, exc) in zip(batch, results, strict=True):
                answers.setdefault(request.loop, []).append((request.future, value, exc))
            for loop, group in answers.items():
                try:
                    loop.call_soon_threadsafe(_resolve_all, group)
                except RuntimeError:  # that loop has closed (a protocol shut down): nobody waits
                    pass
            if self.on_batch is not None:
                self.on_batch(sum(len(request.rows) for request in batch), self._waiting)


def _resolve_all(answers):
    for future, value, exc in answers:
        if future.cancelled():  # the client went away
            continue
        if exc is None:
            future.set_result(value)
        else:
            future.set_exception(exc)
