"""Helpers to feed the engine: images, explanation inputs, jobs, slots and work items."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import torch
from saliency_service.attacks import ATTACKS
from saliency_service.engine.gate import Gate, Turn
from saliency_service.engine.memory import DeviceMemory
from saliency_service.engine.pool import Instance, Slot
from saliency_service.engine.precision import Precision
from saliency_service.engine.runner import BatchOutcome, RunSettings, run_batch
from saliency_service.engine.timing import PassTimes
from saliency_service.engine.work import Job, WorkItem
from saliency_service.explainers import EXPLAINERS
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.attack import COMMON_PARAMS as ATTACK_COMMON
from saliency_service.operations.attack import AttackPlan
from saliency_service.operations.explain import COMMON_PARAMS as EXPLAIN_COMMON
from saliency_service.operations.explain import ExplainPlan
from saliency_service.operations.explain_batch import ExplainInput
from saliency_service.params import ParamValue, resolve_params

SIZE = 32
CPU = torch.device("cpu")
GiB = 1 << 30


def pixels(count: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return list(torch.rand(count, 3, SIZE, SIZE, generator=generator))


def explain_inputs(count: int, seed: int = 0, top_k: int = 1) -> list[ExplainInput]:
    return [ExplainInput(p, (SIZE, SIZE), (), top_k) for p in pixels(count, seed)]


def explain_params(method: str, **given: ParamValue) -> dict[str, ParamValue]:
    spec = EXPLAINERS[method]
    params = resolve_params(method, (*spec.params, *EXPLAIN_COMMON), given)
    for p in spec.params:
        if p.kind == "layer" and not params[p.name]:
            params[p.name] = ""  # the model's default layer
    return params


def explain_job(model: LoadedModel, method: str, **given: ParamValue) -> Job:
    """The job an Explain request of `method` with `given` parameters batches under."""
    return ExplainPlan(model, EXPLAINERS[method], explain_params(method, **given), 0.0, 1).job


def attack_job(model: LoadedModel, method: str, **given: ParamValue) -> Job:
    spec = ATTACKS[method]
    params = resolve_params(method, (*spec.params, *ATTACK_COMMON), given)
    return AttackPlan(model, spec, params, 0.0, 1).job


def slot_for(model: LoadedModel, budget: int = GiB, *, channels_last: bool = False) -> Slot:
    """A private instance of `model` with its own memory budget and gate, as the pool gives."""
    instance = Instance.of(model, CPU, channels_last)
    return Slot(CPU, instance, DeviceMemory(CPU, budget, 1), channels_last, Gate(1), Turn(0))


def out_of_memory_above(rows: int) -> Callable[[int], None]:
    """A pass observer failing every gradient pass over `rows` rows, as a device with that
    little memory would."""

    def observe(pass_rows: int) -> None:
        if pass_rows > rows:
            raise torch.OutOfMemoryError(f"simulated: {pass_rows} rows, the limit is {rows}")

    return observe


def settings(
    precision: Precision | None = None, observers: Sequence[Callable[[int], None]] = ()
) -> RunSettings:
    return RunSettings(precision or Precision(), PassTimes(), 60.0, observers=observers)


def run(
    slot: Slot, job: Job, items: Sequence[WorkItem], with_settings: RunSettings | None = None
) -> BatchOutcome:
    """`run_batch` as the pool runs it: the batch's turn registered at the gate first."""
    slot.turn = Turn(0)
    slot.gate.register(slot.turn)
    return run_batch(slot, job, items, with_settings or settings())


def work_items(
    loop: asyncio.AbstractEventLoop, payloads: Sequence[Any], deadline: float | None = None
) -> list[WorkItem]:
    return [WorkItem(p, loop.create_future(), deadline, 0) for p in payloads]
