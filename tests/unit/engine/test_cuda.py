"""The GPU path, on a GPU: same results as the CPU, allocator-measured budgets, a real OOM.

Skipped where torch sees no CUDA device; the CPU tests beside this file cover the same logic.
"""

from __future__ import annotations

import asyncio

import pytest
import torch
from saliency_service.engine.gate import Gate, Turn
from saliency_service.engine.memory import DeviceMemory, measure_row_bytes
from saliency_service.engine.pool import Instance, Slot, replicate
from saliency_service.engine.precision import Precision
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.explain_batch import ExplainInput
from saliency_service.params import ParamValue

from tests.unit.engine.support import (
    SIZE,
    GiB,
    explain_inputs,
    explain_job,
    run,
    settings,
    slot_for,
    work_items,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda", 0)


def cuda_slot(model: LoadedModel, budget: int = GiB) -> Slot:
    memory = DeviceMemory(CUDA, budget, 1)
    return Slot(CUDA, Instance.of(model, CUDA, True), memory, True, Gate(1), Turn(0))


@pytest.mark.parametrize(
    ("method", "given"),
    [("integrated_gradients", {"steps": 16}), ("grad_cam", {}), ("vanilla_gradient", {})],
)
def test_the_gpu_gives_the_cpu_results(
    model: LoadedModel, loop: asyncio.AbstractEventLoop, method: str, given: dict[str, ParamValue]
) -> None:
    job = explain_job(model, method, **given)
    inputs = explain_inputs(4)
    cpu = run(slot_for(model), job, work_items(loop, inputs)).results
    gpu = run(cuda_slot(model), job, work_items(loop, inputs)).results
    for a, b in zip(cpu, gpu, strict=True):
        torch.testing.assert_close(b.maps[0].heatmap, a.maps[0].heatmap, rtol=1e-3, atol=1e-4)


def test_the_allocator_peak_bounds_the_row_estimate(model: LoadedModel) -> None:
    shape = (3, SIZE, SIZE)
    row = measure_row_bytes(replicate(model, CUDA, True).classifier, shape, CUDA)
    assert row > 0
    memory = DeviceMemory(CUDA, 64 * row, 1)
    assert memory.rows_per_pass("tiny", replicate(model, CUDA, True).classifier, shape) <= 64


def test_float16_autocast_keeps_grad_cam_maps(
    model: LoadedModel, loop: asyncio.AbstractEventLoop
) -> None:
    job = explain_job(model, "grad_cam")
    inputs = explain_inputs(4)
    full = run(cuda_slot(model), job, work_items(loop, inputs)).results
    half = run(
        cuda_slot(model), job, work_items(loop, inputs), settings(Precision(torch.float16))
    ).results
    for a, b in zip(full, half, strict=True):
        pair = torch.stack([a.maps[0].heatmap.flatten(), b.maps[0].heatmap.float().flatten()])
        assert torch.corrcoef(pair)[0, 1] > 0.99


def test_a_real_out_of_memory_error_splits_and_succeeds(
    model: LoadedModel, loop: asyncio.AbstractEventLoop
) -> None:
    # The budget is ten times the device and the probe saw 32-px rows: the first chunk of
    # 512-px path points cannot fit, for real.
    total = torch.cuda.get_device_properties(CUDA).total_memory
    slot = cuda_slot(model, budget=10 * total)
    job = explain_job(model, "integrated_gradients", steps=512)
    big = torch.nn.functional.interpolate(
        torch.stack([x.pixels for x in explain_inputs(8)]), size=(512, 512), mode="bilinear"
    )
    inputs = [ExplainInput(image, (512, 512), (), 1) for image in big]
    outcome = run(slot, job, work_items(loop, inputs))
    assert outcome.oom_splits >= 1
    assert all(hasattr(r, "maps") for r in outcome.results)
