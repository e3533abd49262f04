"""Moving a batch's images to its device: through pinned host memory when that is a GPU."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def stack_on(device: torch.device, images: Sequence[Tensor]) -> Tensor:
    """`torch.stack(images)` on `device`.

    For a GPU the stack is made in pinned (page-locked) host memory, so the copy is one DMA
    transfer that does not block the host (`non_blocking`); the kernels queued after it wait
    for it on the device's stream, so no host synchronisation is needed.
    """
    if device.type != "cuda":
        return torch.stack(list(images)).to(device)
    return torch.stack(list(images)).pin_memory().to(device, non_blocking=True)
