"""Worker threads: one per device for model compute, a few for decoding requests."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")


def visible_devices(setting: str) -> list[torch.device]:
    """ "auto" → every visible GPU, else the CPU; otherwise a comma-separated list."""
    if setting == "auto":
        count = torch.cuda.device_count()
        return [torch.device("cuda", i) for i in range(count)] or [torch.device("cpu")]
    return [torch.device(name.strip()) for name in setting.split(",") if name.strip()]


class WorkerPool:
    """Runs blocking work off the event loop.

    Model compute for a device runs on that device's single thread: one stream of kernels per
    device keeps the GPU busy without contention, and on the CPU torch's own intra-op threads use
    every core. Decoding runs on a separate small pool so it never queues behind compute.
    """

    def __init__(self, devices: list[torch.device], decode_threads: int = 2) -> None:
        self.devices = devices
        self._compute = {
            str(device): ThreadPoolExecutor(1, thread_name_prefix=f"compute-{device}")
            for device in devices
        }
        self._decode = ThreadPoolExecutor(decode_threads, thread_name_prefix="decode")

    async def compute(
        self, device: torch.device, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run `fn` on `device`'s compute thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._compute[str(device)], functools.partial(fn, *args, **kwargs)
        )

    async def decode(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` (decoding, validation) on the decode threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decode, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        for executor in (*self._compute.values(), self._decode):
            executor.shutdown(wait=True, cancel_futures=True)
