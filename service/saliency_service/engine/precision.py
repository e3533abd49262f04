"""Mixed precision (autocast): bfloat16 or float16 passes for the jobs that may take them.

Off by default. A request's `autocast` parameter chooses, else its model's `[precision]
autocast`, else the server's `--autocast`. Jobs say whether they may run under it at all
(`Job.autocast`): every explanation method with gradients may, and the explanation itself
checks its maps against float32 on the first batch of each method and parameters, falling back
to float32 where they differ (operations/fidelity.py); attacks may when their record says so
(the L∞ attacks, which keep only the gradient's sign and project in float32).
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
        """From a setting: "off", "bfloat16" or "float16"."""
        return cls(DTYPES[name])

    def context(
        self, device: torch.device, tolerated: bool
    ) -> contextlib.AbstractContextManager[Any]:
        """Autocast on `device` for a job that tolerates it, or nothing."""
        if self.dtype is None or not tolerated:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)
