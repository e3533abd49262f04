"""Per-device memory budgets: how many rows one forward+backward pass of a model may hold.

A pass's memory grows with its rows (images, SmoothGrad's noisy copies, IG's path points): the
activations autograd saves for the backward pass. So each model's cost per row is measured once
per device, on the first batch, by a two-row probe pass that counts the bytes of every tensor
autograd saves (weights excluded), with headroom for the backward pass's transient buffers
(`TRANSIENT`); on CUDA the allocator's peak for the probe counts too, whichever is larger. The
estimate is then refined by measuring: on CUDA every pass's allocator peak raises it when higher,
and an out-of-memory error anywhere caps that model's rows at half of what failed.
"""

from __future__ import annotations

import itertools
import math
import os
import resource
import threading
from collections.abc import Callable

import torch
from torch import nn

GiB = 1 << 30
# Peak / saved-tensor bytes of a forward+backward-to-input pass, measured on CPU for resnet18
# and resnet50 at 224 px with 2 to 16 rows: 1.01 to 1.29 (bench/README.md).
TRANSIENT = 1.3
# Bytes per row / input bytes per row when autograd's saved tensors cannot be seen (TorchScript
# runs its own graph): resnet50 at 224 px saves 82 MiB per 0.6 MiB input row, about 140x.
FALLBACK_ROWS_FACTOR = 150
# The share of a GPU's free memory (at start-up) that passes may use; the rest is headroom for
# the allocator's fragmentation and for ONNX Runtime.
CUDA_SHARE = 0.7
# On the CPU, passes may use an eighth of physical memory, at most 2 GiB: with the model, ONNX
# Runtime and Python, the whole process then stays within 4 GiB for a resnet50.
CPU_SHARE, CPU_CAP = 1 / 8, 2 * GiB


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an allocation failure (CUDA's OutOfMemoryError or the CPU allocator's)."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def default_budget(device: torch.device) -> int:
    """Bytes that passes on `device` may use when the server sets no budget."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_SHARE)
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(min(physical * CPU_SHARE, CPU_CAP))


def measure_row_bytes(
    model: nn.Module, shape: tuple[int, ...], device: torch.device, *, gradients: bool = True
) -> int:
    """Bytes one row of a forward+backward-to-input pass of `model` needs, from a 2-row probe.

    Without `gradients` (a model that has none: ONNX Runtime runs it) nothing is saved, and the
    fallback factor of the input's bytes stands in.

    Shape:
        shape: one input row, (C, H, W).
    """
    if not gradients:
        return FALLBACK_ROWS_FACTOR * 4 * math.prod(shape)
    rows = 2
    weights = {
        t.untyped_storage().data_ptr() for t in itertools.chain(model.parameters(), model.buffers())
    }
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    inputs = torch.rand(rows, *shape, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        leaf = inputs.requires_grad_(True)
        torch.autograd.grad(model(leaf)[:, 0].sum(), leaf)
    measured = sum(saved.values()) * TRANSIENT
    if device.type == "cuda":
        measured = max(measured, torch.cuda.max_memory_allocated(device) - base)
    if not saved:
        measured = max(measured, FALLBACK_ROWS_FACTOR * inputs.nbytes)
    return math.ceil(measured / rows)


class DeviceMemory:
    """One device's budget, and each model's measured cost per row on it.

    Worker threads of the device share this object; a lock guards the per-model tables.
    `concurrency` passes may run at once (one per worker thread), so each gets that share.
    """

    def __init__(self, device: torch.device, budget_bytes: int, concurrency: int) -> None:
        self.device = device
        self.budget_bytes = budget_bytes
        self.pass_bytes = budget_bytes // max(1, concurrency)
        self._row_bytes: dict[str, int] = {}
        self._ceiling: dict[str, int] = {}
        self._lock = threading.Lock()

    def set_concurrency(self, concurrency: int) -> None:
        """`concurrency` passes may now run at once on this device."""
        self.pass_bytes = self.budget_bytes // max(1, concurrency)

    def forget(self, name: str) -> None:
        """Drop what is known of model `name` (it left the server)."""
        with self._lock:
            self._row_bytes.pop(name, None)
            self._ceiling.pop(name, None)

    def row_bytes(self, name: str) -> int | None:
        """The current per-row estimate for model `name`, None before its first batch."""
        with self._lock:
            return self._row_bytes.get(name)

    def rows_per_pass(
        self, name: str, model: nn.Module, shape: tuple[int, ...], *, gradients: bool = True
    ) -> int:
        """The most rows one pass of model `name` may hold on this device (at least 1).

        `gradients` False: the model runs forward passes only (an ONNX-only model).
        """
        with self._lock:
            known = self._row_bytes.get(name)
        if known is None:
            # Probed outside the lock: it runs the model, and other devices' models must not wait.
            known = measure_row_bytes(model, shape, self.device, gradients=gradients)
            with self._lock:
                known = self._row_bytes.setdefault(name, known)
        rows = max(1, self.pass_bytes // known)
        with self._lock:
            return min(rows, self._ceiling.get(name, rows))

    def observe(self, name: str, rows: int, peak_bytes: int) -> None:
        """A pass of `rows` rows peaked `peak_bytes` above its start; raise the estimate to it."""
        if rows <= 0 or peak_bytes <= 0:
            return
        with self._lock:
            measured = math.ceil(peak_bytes / rows)
            if measured > self._row_bytes.get(name, 0):
                self._row_bytes[name] = measured

    def out_of_memory(self, name: str, rows: int) -> int:
        """A pass of `rows` rows ran out of memory: cap the model at half, and return the cap."""
        cap = max(1, rows // 2)
        with self._lock:
            self._ceiling[name] = min(cap, self._ceiling.get(name, cap))
            return self._ceiling[name]


def memory_readings(device: torch.device) -> dict[str, Callable[[], float]]:
    """Functions reading `device`'s memory now, by kind, for gauges evaluated at scrape time.

    CUDA: the caching allocator's allocated and reserved bytes. CPU: the process's resident set
    size now and at its peak (the CPU has no per-device figure; everything the process holds).
    """
    if device.type == "cuda":
        return {
            "in_use": lambda: float(torch.cuda.memory_allocated(device)),
            "reserved": lambda: float(torch.cuda.memory_reserved(device)),
        }
    return {
        "in_use": lambda: float(_resident_bytes()),
        "peak": lambda: float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
    }


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
