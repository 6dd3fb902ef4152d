"""A one-line progress bar for long runs: training, ``fastdnn predict`` (stderr, terminals only)."""

import sys
import time


class Progress:
    """``[#####.....] 1200/2500  cost 0.3412  850 it/s`` redrawn in place (``unit``: "it").

    Parameters
    ----------
    total : int
        Number of iterations.
    enabled : bool or None
        None (the default) shows the bar only when ``stream`` is a terminal.
    stream : file, optional
        stderr by default, so that stdout (the course's ``print_cost`` lines,
        or predictions piped to a file) stays clean.
    """

    def __init__(self, total, enabled=None, stream=None, width=30, unit="it"):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled, self.total, self.width, self.unit = enabled, total, width, unit
        self.start = self.last = time.perf_counter()
        self.cost = None
        self.done = 0

    def update(self, done, cost=None, force=False):
        self.done = done
        if cost is not None:
            self.cost = float(cost)
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.1 and done < self.total and not force):
            return
        self.last = now
        filled = int(self.width * done / max(self.total, 1))
        rate = done / max(now - self.start, 1e-9)
        cost = "" if self.cost is None else f"  cost {self.cost:.4f}"
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total}{cost}  {rate:,.0f} {self.unit}/s")
        self.stream.flush()

    def close(self):
        """Redraw the last state and end the line: after the last iteration, or
        when training stops early (Ctrl-C, divergence), so what follows on the
        stream starts on a line of its own."""
        if self.enabled:
            self.update(self.done, force=True)
            self.stream.write("\n")
            self.stream.flush()
