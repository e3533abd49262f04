"""Mixed precision (autocast) for the methods whose results it does not change beyond tolerance.

Off by default. When the server turns it on, it applies only to methods that read gradients
coarsely: the CAM family (spatially averaged or ReLU'd gradients, normalised maps) and the L∞
attacks that keep only the gradient's sign. Pixel-level attributions (vanilla gradient, IG,
SmoothGrad, DeepLIFT) stay in float32: IG's completeness check, for one, would not survive
bfloat16's 8-bit mantissa.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

AUTOCAST_METHODS = frozenset(
    {
        "cam",
        "grad_cam",
        "grad_cam_plus_plus",
        "layer_cam",
        "hires_cam",
        "xgrad_cam",
        "eigen_cam",
        "score_cam",
        "fgsm",
        "bim",
        "pgd",
        "mi_fgsm",
    }
)
DTYPES = {"off": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """Autocast to `dtype` for `methods`; `dtype` None means float32 everywhere."""

    dtype: torch.dtype | None = None
    methods: frozenset[str] = AUTOCAST_METHODS

    @classmethod
    def named(cls, name: str) -> Precision:
        """From the server setting: "off", "bfloat16" or "float16"."""
        return cls(DTYPES[name])

    def context(self, device: torch.device, method: str) -> contextlib.AbstractContextManager[Any]:
        """Autocast for `method` on `device`, or nothing."""
        if self.dtype is None or method not in self.methods:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)
