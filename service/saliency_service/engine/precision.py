"""Mixed precision (autocast): bfloat16 or float16 passes for the jobs that may take them.

Off by default. A request's `autocast` parameter chooses, else its model's `[precision]
autocast`, else the server's `--autocast`. Jobs say whether they may run under it at all
(`Job.autocast`): every explanation method with gradients may, and the explanation itself
checks its maps against float32 on the first batch of each method and parameters, falling back
to float32 where they differ (operations/fidelity.py); attacks may when their record says so
(the L∞ attacks, which keep only the gradient's sign and project in float32).

Reduced precision only pays where the hardware computes it natively (CPUs with AVX512-BF16 or
AMX, CUDA GPUs); elsewhere oneDNN emulates it and the passes run several times slower than
float32 (measured 5-20x on an AVX2-only CPU). It still runs, since it was asked for, but the
first such pass on each device and dtype logs a warning saying so.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import torch

LOG = logging.getLogger(__name__)
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
        if (device.type, self.dtype) not in _CHECKED:  # once, not on every batch
            _CHECKED.add((device.type, self.dtype))
            if not native(device, self.dtype):
                LOG.warning("%s autocast on %s is emulated by this hardware and runs slower than "
                            "float32; set autocast to 'off' here", self.dtype, device.type)
        return torch.autocast(device.type, dtype=self.dtype)


_CHECKED: set[tuple[str, torch.dtype]] = set()


def native(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether `device` computes `dtype` matrix products natively rather than by emulation."""
    if device.type == "cuda":
        return dtype == torch.float16 or torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        if dtype == torch.bfloat16:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return True
