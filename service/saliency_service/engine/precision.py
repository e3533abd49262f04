"""Mixed precision (autocast) for the methods whose results it does not change beyond tolerance.

Off by default. When the server turns it on, it applies only to the methods whose registry
record says they tolerate it (`autocast=True`): those that read gradients coarsely, like the
CAM family (spatially averaged or ReLU'd gradients) and the L∞ attacks that keep only the
gradient's sign. Pixel-level attributions (vanilla gradient, IG, SmoothGrad, DeepLIFT) stay in
float32: IG's completeness check, for one, would not survive bfloat16's 8-bit mantissa.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

DTYPES = {"off": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """Autocast to `dtype` for jobs that tolerate it; `dtype` None means float32 everywhere."""

    dtype: torch.dtype | None = None

    @classmethod
    def named(cls, name: str) -> Precision:
        """From the server setting: "off", "bfloat16" or "float16"."""
        return cls(DTYPES[name])

    def context(
        self, device: torch.device, tolerated: bool
    ) -> contextlib.AbstractContextManager[Any]:
        """Autocast on `device` for a job that tolerates it, or nothing."""
        if self.dtype is None or not tolerated:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)
