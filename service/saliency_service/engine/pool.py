"""The worker pool: per device, worker threads and each model's instances (replicas) on it.

Threads, not processes (bench/README.md has the measurement): compute happens in torch's and
ONNX Runtime's C++ kernels, which release the GIL, so a compute thread costs the event loop
little, while a process per device would copy every image and result across a pipe and hold
another copy of every model. A device gets as many threads as the largest `instances` of its
models, each instance a private replica of the model (forward hooks of CAM methods make a
shared module unsafe to run twice at once). On the CPU, torch's intra-op threads already use
every core, so one instance is the default.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import torch

from saliency_service.engine.folding import fold_batch_norms
from saliency_service.engine.gate import Gate, Turn
from saliency_service.engine.memory import DeviceMemory, default_budget
from saliency_service.models.classifier import Classifier
from saliency_service.models.config import ModelConfig
from saliency_service.models.exported import load_exported_program
from saliency_service.models.loading import LoadedModel
from saliency_service.models.onnx_only import ort_classifier

P = ParamSpec("P")
R = TypeVar("R")
# Batches that may be open on a device beyond its lanes: paused ones and the one preempting them.
PREEMPTION_DEPTH = 2


def visible_devices(setting: str) -> list[torch.device]:
    """ "auto" → every visible GPU, else the CPU; otherwise a comma-separated list."""
    if setting == "auto":
        count = torch.cuda.device_count()
        return [torch.device("cuda", i) for i in range(count)] or [torch.device("cpu")]
    return [torch.device(name.strip()) for name in setting.split(",") if name.strip()]


def replicate(
    model: LoadedModel, device: torch.device, channels_last: bool, *, fold: bool = False
) -> LoadedModel:
    """A private copy of `model`'s torch classifier on `device` (ONNX Runtime's is shared).

    On a CPU, forward passes alone run faster on ONNX Runtime than on torch (bench/README.md,
    `ort_vs_torch.py` and `square_ort.py`), so there the copy's `forward` is the session.
    """
    classifier = _copy_classifier(model).to(device)
    if fold:
        fold_batch_norms(classifier)
    if channels_last:
        classifier = classifier.to(memory_format=torch.channels_last)
    forward = None
    if device.type == "cpu" and not model.forward_only:
        config = model.config
        forward = ort_classifier(model.onnx, config.channels, f"{config.name} (ONNX Runtime)")
    return dataclasses.replace(model, classifier=classifier, device=device, forward=forward)


def _copy_classifier(model: LoadedModel) -> Classifier:
    try:
        return copy.deepcopy(model.classifier)
    except RuntimeError:
        # An unflattened ExportedProgram keeps fake tensors in its graph's metadata, which
        # deepcopy refuses: load the program again instead.
        config = model.config
        if config.exported_program is None:
            raise
        network = load_exported_program(config.exported_program)
        return Classifier(network, config.mean, config.std).eval().requires_grad_(False)


@dataclass
class Instance:
    """One instance of a model on a device, in two replicas: as loaded, for the methods that
    hook layers, and with its batch norms folded (folding.py), for every other method."""

    plain: LoadedModel
    folded: LoadedModel

    @classmethod
    def of(cls, model: LoadedModel, device: torch.device, channels_last: bool) -> Instance:
        return cls(
            replicate(model, device, channels_last),
            replicate(model, device, channels_last, fold=True),
        )


@dataclass
class Slot:
    """One instance of one model on one device, checked out to run a batch, and its turn at
    the device's gate."""

    device: torch.device
    instance: Instance
    memory: DeviceMemory
    channels_last: bool
    gate: Gate
    turn: Turn

    @property
    def model(self) -> LoadedModel:
        """The replica as loaded (its config, and the memory probe's subject)."""
        return self.instance.plain


class WorkerPool:
    """Device threads, gates and model instances, and a few threads for decoding requests.

    Each device has `lanes` passes at once (the largest `instances` of its models) and two more
    threads and one more instance of each model than that, so that a batch may preempt a long
    one between its passes (gate.py) while that one waits, paused, on its own instance.

    Models come and go while serving (a new version, a reload): each is known by its key
    (`LoadedModel.key`), `build` makes its instances off the event loop, `publish` puts them in
    service (growing the lanes if it needs more), and `remove` drops them once nothing runs on
    them. Everything but `build` runs on the event loop.
    """

    def __init__(
        self,
        devices: Sequence[torch.device],
        models: Sequence[LoadedModel],
        *,
        channels_last: bool,
        budget_bytes: int = 0,
        decode_threads: int = 2,
    ) -> None:
        self.devices = list(devices)
        self.channels_last = channels_last
        self._masters: dict[str, LoadedModel] = {}
        self._names: dict[str, str] = {}
        self.lanes = max((model.config.instances for model in models), default=1)
        self.memory = {
            str(device): DeviceMemory(device, budget_bytes or default_budget(device), self.lanes)
            for device in self.devices
        }
        self.gates = {str(device): Gate(self.lanes) for device in self.devices}
        self._threads = {str(device): self._executor(device) for device in self.devices}
        self._open = {str(device): 0 for device in self.devices}
        self._free: dict[tuple[str, str], list[Instance]] = {}
        for model in models:
            self.publish(model, self.build(model))
        self._decode = ThreadPoolExecutor(decode_threads, thread_name_prefix="decode")
        self.observers: list[Callable[[int], None]] = []

    def _executor(self, device: torch.device) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.lanes + PREEMPTION_DEPTH, f"compute-{device}")

    def build(self, model: LoadedModel) -> dict[str, list[Instance]]:
        """`model`'s instances for every device, by device (slow: call it off the event loop)."""
        return {
            str(device): [
                Instance.of(model, device, self.channels_last)
                for _ in range(model.config.instances + 1)
            ]
            for device in self.devices
        }

    def publish(self, model: LoadedModel, instances: dict[str, list[Instance]]) -> None:
        """Put `model`'s instances (from `build`) in service."""
        self._grow(model.config.instances)
        self._masters[model.key] = model
        self._names[model.key] = model.config.name
        for device, built in instances.items():
            self._free[(model.key, device)] = built

    def remove(self, key: str) -> None:
        """Drop the model with `key` (every instance of it is free: nothing runs on it)."""
        self._masters.pop(key, None)
        for device in self.devices:
            self._free.pop((key, str(device)), None)
        for memory in self.memory.values():
            memory.forget(key)

    def _grow(self, lanes: int) -> None:
        if lanes <= self.lanes:
            return
        self.lanes = lanes
        for device in self.devices:
            name = str(device)
            self.gates[name].resize(lanes)
            self.memory[name].set_concurrency(lanes)
            # Running batches finish on the old threads; new ones start on the new pool.
            old, self._threads[name] = self._threads[name], self._executor(device)
            old.shutdown(wait=False)

    def model_config(self, key: str) -> ModelConfig:
        """The config of the model with `key` (its batching limits and input shape)."""
        return self._masters[key].config

    def model_name(self, key: str) -> str:
        """The name of the model with `key`, for metric labels (kept after it is removed)."""
        return self._names.get(key, key)

    def instances(self, key: str) -> list[Instance]:
        """Every free instance of the model with `key` (for warm-up before serving)."""
        return [i for device in self.devices for i in self._free[(key, str(device))]]

    def acquire(self, key: str, priority: int) -> Slot | None:
        """A free instance of the model with `key`, on a device with a free lane (the least
        busy), or else on one where a batch of `priority` may preempt a long one; None if
        neither."""
        open_threads = self._threads_free
        usable = [d for d in self.devices if self._free[(key, str(d))] and open_threads(d)]
        free = [d for d in usable if self.gates[str(d)].has_free_lane()]
        preempting = [d for d in usable if self.gates[str(d)].may_preempt(priority)]
        candidates = free or preempting
        if not candidates:
            return None
        device = min(candidates, key=lambda d: self._open[str(d)])
        self._open[str(device)] += 1
        instance = self._free[(key, str(device))].pop()
        gate = self.gates[str(device)]
        turn = Turn(priority)
        gate.register(turn)
        return Slot(device, instance, self.memory[str(device)], self.channels_last, gate, turn)

    def _threads_free(self, device: torch.device) -> bool:
        return self._open[str(device)] < self.gates[str(device)].lanes + PREEMPTION_DEPTH

    def release(self, slot: Slot, *, rebuild: bool = False) -> None:
        """Return `slot`; with `rebuild`, its replica is replaced by a fresh copy of the model.

        A rebuild is the worker restart: after an unexpected error, whatever state the failed
        call left on the replica (hooks, half-moved tensors) cannot reach the next batch.
        """
        slot.gate.leave(slot.turn)
        key = slot.model.key
        instance = slot.instance
        self._open[str(slot.device)] -= 1
        if key not in self._masters:
            return  # removed while this batch ran: nothing will run on it again
        if rebuild:
            instance = Instance.of(self._masters[key], slot.device, self.channels_last)
        self._free[(key, str(slot.device))].append(instance)

    async def compute(
        self, device: torch.device, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run `fn` on one of `device`'s threads (batches, on a checked-out slot; warm-up)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads[str(device)], functools.partial(fn, *args, **kwargs)
        )

    async def decode(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` (decoding, validation) on the decode threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decode, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        for executor in (*self._threads.values(), self._decode):
            executor.shutdown(wait=True, cancel_futures=True)
