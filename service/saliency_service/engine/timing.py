"""How long a pass takes: seconds per row of each model on each device.

Measured once per model instance at start-up by a warm-up pass (which also takes the first-call
costs — allocator growth, kernel selection — out of the first request), then refined by every
batch: an exponential moving average of compute seconds per row. A forward-only row counts as a
third of a forward+backward row (the backward pass to the input costs about two forwards).

Two things follow from it: the cost of a request before it runs (operations/cost.py prices
admission in estimated device-seconds) and the rows per pass that keep a slice within the
server's slice time, so that preemption (gate.py) happens often enough.
"""

from __future__ import annotations

import threading
import time

import torch
from torch import nn

FORWARD_ONLY_SHARE = 1 / 3
# Weight of the newest batch in the moving average.
SMOOTHING = 0.2
WARM_UP_ROWS = 2


def measure_row_seconds(
    model: nn.Module, shape: tuple[int, ...], device: torch.device, *, gradients: bool = True
) -> float:
    """Seconds per row of a forward+backward-to-input pass: the second of two identical passes.

    Without `gradients` (a model that has none) a forward pass is timed and counted as
    `FORWARD_ONLY_SHARE` of a forward+backward one.

    Shape:
        shape: one input row, (C, H, W).
    """
    inputs = torch.rand(WARM_UP_ROWS, *shape, generator=torch.Generator().manual_seed(0))
    inputs = inputs.to(device)
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        if not gradients:
            with torch.no_grad():
                model(inputs)
        else:
            with torch.enable_grad():
                leaf = inputs.clone().requires_grad_(True)
                torch.autograd.grad(model(leaf)[:, 0].sum(), leaf)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
    return seconds / WARM_UP_ROWS / (1.0 if gradients else FORWARD_ONLY_SHARE)


class PassTimes:
    """Seconds per forward+backward row, by (model, device); shared by worker threads."""

    def __init__(self) -> None:
        self._seconds: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def set(self, name: str, device: torch.device, row_seconds: float) -> None:
        with self._lock:
            self._seconds[(name, str(device))] = max(row_seconds, 1e-9)

    def forget(self, name: str) -> None:
        """Drop the estimates of model `name` (it left the server)."""
        with self._lock:
            self._seconds = {k: v for k, v in self._seconds.items() if k[0] != name}

    def row_seconds(self, name: str, device: torch.device | None = None) -> float:
        """The estimate for `device`, or the fastest device's when None (0.0 if unmeasured)."""
        with self._lock:
            if device is not None:
                return self._seconds.get((name, str(device)), 0.0)
            known = [s for (model, _), s in self._seconds.items() if model == name]
        return min(known, default=0.0)

    def observe(self, name: str, device: torch.device, rows: float, seconds: float) -> None:
        """A batch computed `rows` forward+backward-equivalent rows in `seconds`."""
        if rows <= 0 or seconds <= 0:
            return
        key = (name, str(device))
        with self._lock:
            old = self._seconds.get(key)
            new = seconds / rows
            self._seconds[key] = new if old is None else (1 - SMOOTHING) * old + SMOOTHING * new

    def rows_per_slice(self, name: str, device: torch.device, slice_seconds: float) -> int | None:
        """The most rows a forward+backward pass may hold to last about a slice (None: unknown)."""
        row_seconds = self.row_seconds(name, device)
        if row_seconds <= 0:
            return None
        return max(1, int(slice_seconds / row_seconds))
