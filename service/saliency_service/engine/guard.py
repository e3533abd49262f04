"""What runs before every forward pass of a batch, from outside the explainers and attacks.

Explainers and attacks chunk their own loops; the engine sees each pass as a call of the model.
A forward pre-hook on the model instance, installed for the duration of one batch, is the seam:
- the runner's `before_pass` (deadline/cancellation checkpoint, the gate's preemption point,
  the pass counter), between chunks without the methods knowing;
- channels-last input for a channels-last model, with the input's gradient handed back in the
  input's own layout, so methods that `view` gradients keep working;
- on CUDA, each gradient pass's allocator peak, which refines the memory estimate.
Nothing here synchronises with the device: deadlines are host time and allocator statistics are
kept on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from saliency_service.engine.memory import DeviceMemory
from saliency_service.engine.timing import FORWARD_ONLY_SHARE


@dataclass
class PassStats:
    """What the guard saw of one batch: gradient passes, the most rows in one, and the rows of
    every pass in forward+backward equivalents (timing.py)."""

    passes: int = 0
    max_rows: int = 0
    weighted_rows: float = 0.0


class _ToChannelsLast(torch.autograd.Function):
    """Channels-last forward; the gradient goes back contiguous, as the input was."""

    @staticmethod
    def forward(ctx: Any, images: Tensor) -> Tensor:
        return images.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> Tensor:
        return gradient.contiguous()


class _PeakTracker:
    """The CUDA allocator's peak over each gradient pass, reported to the device's budget."""

    def __init__(self, memory: DeviceMemory, name: str) -> None:
        self._memory, self._name = memory, name
        self._device = memory.device
        self._rows = 0
        self._base = 0

    def start_pass(self, rows: int) -> None:
        self.finish_pass()
        torch.cuda.reset_peak_memory_stats(self._device)
        self._base = torch.cuda.memory_allocated(self._device)
        self._rows = rows

    def finish_pass(self) -> None:
        if self._rows:
            peak = torch.cuda.max_memory_allocated(self._device) - self._base
            self._memory.observe(self._name, self._rows, peak)
            self._rows = 0


@contextmanager
def pass_guard(
    models: Sequence[nn.Module],
    name: str,
    memory: DeviceMemory,
    before_pass: Callable[[int, bool], None],
    *,
    channels_last: bool,
) -> Iterator[PassStats]:
    """Install the pre-forward hook on `models` (model `name`'s torch classifier, and its ONNX
    Runtime one where black-box attacks use it) for the `with` block.

    `before_pass(rows, with_gradients)` runs before every pass and may raise to stop it.
    """
    stats = PassStats()
    tracker = _PeakTracker(memory, name) if memory.device.type == "cuda" else None

    def before_forward(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        images = args[0]
        rows = len(images)
        gradients = torch.is_grad_enabled()
        before_pass(rows, gradients)
        stats.weighted_rows += rows if gradients else rows * FORWARD_ONLY_SHARE
        if gradients:
            stats.passes += 1
            stats.max_rows = max(stats.max_rows, rows)
            if tracker is not None:
                tracker.start_pass(rows)
        if channels_last and isinstance(images, Tensor) and images.dim() == 4:
            return (_ToChannelsLast.apply(images), *args[1:])
        return None

    handles = [model.register_forward_pre_hook(before_forward) for model in models]
    try:
        yield stats
    finally:
        for handle in handles:
            handle.remove()
        if tracker is not None:
            tracker.finish_pass()
