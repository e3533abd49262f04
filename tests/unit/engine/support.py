"""Helpers to feed the engine: images, explanation inputs, slots and work items."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import torch
from saliency_service.engine.memory import DeviceMemory
from saliency_service.engine.pool import Instance, Slot
from saliency_service.engine.work import WorkItem
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.explain import ExplainInput

SIZE = 32
CPU = torch.device("cpu")
GiB = 1 << 30


def pixels(count: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return list(torch.rand(count, 3, SIZE, SIZE, generator=generator))


def explain_inputs(count: int, seed: int = 0, top_k: int = 1) -> list[ExplainInput]:
    return [ExplainInput(p, (SIZE, SIZE), (), top_k) for p in pixels(count, seed)]


def slot_for(model: LoadedModel, budget: int = GiB, *, channels_last: bool = False) -> Slot:
    """A private instance of `model` with its own memory budget, as the pool checks one out."""
    instance = Instance.of(model, CPU, channels_last)
    return Slot(CPU, instance, DeviceMemory(CPU, budget, 1), channels_last)


def work_items(
    loop: asyncio.AbstractEventLoop, payloads: Sequence[Any], deadline: float | None = None
) -> list[WorkItem]:
    return [WorkItem(p, loop.create_future(), deadline, 0) for p in payloads]
