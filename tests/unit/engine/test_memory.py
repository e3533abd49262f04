"""Memory budgets: the per-row estimate, rows per pass, out-of-memory learning, fault injection."""

from __future__ import annotations

import pytest
import torch
from saliency_service.engine.memory import DeviceMemory, is_out_of_memory, measure_row_bytes
from saliency_service.models.loading import LoadedModel
from torchvision.models import resnet18

from tests.unit.engine.support import CPU, GiB

MiB = 1 << 20


def test_row_cost_grows_with_the_activations_not_the_weights() -> None:
    torch.manual_seed(0)
    network = resnet18(num_classes=10).eval().requires_grad_(False)
    small = measure_row_bytes(network, (3, 64, 64), CPU)
    large = measure_row_bytes(network, (3, 128, 128), CPU)
    # Activations scale with the pixels (4x); the 45 MB of weights must not be counted per row.
    assert 3.5 < large / small < 4.5
    # resnet18 saves ~21 MiB per 224-px row; at 128 px that is ~6.9 MiB, plus headroom.
    assert 6 * MiB < large < 12 * MiB


def test_rows_per_pass_fill_the_budget_shared_by_the_device_threads(model: LoadedModel) -> None:
    shape = (3, model.config.height, model.config.width)
    row = measure_row_bytes(model.classifier, shape, CPU)
    alone = DeviceMemory(CPU, 100 * row, concurrency=1)
    shared = DeviceMemory(CPU, 100 * row, concurrency=4)
    assert alone.rows_per_pass("tiny", model.classifier, shape) == 100
    assert shared.rows_per_pass("tiny", model.classifier, shape) == 25
    assert alone.row_bytes("tiny") == row


def test_out_of_memory_caps_the_model_at_half_what_failed(model: LoadedModel) -> None:
    shape = (3, model.config.height, model.config.width)
    memory = DeviceMemory(CPU, GiB, concurrency=1)
    assert memory.rows_per_pass("tiny", model.classifier, shape) > 64
    assert memory.out_of_memory("tiny", 64) == 32
    assert memory.out_of_memory("tiny", 100) == 32  # a later, larger failure never raises it
    assert memory.rows_per_pass("tiny", model.classifier, shape) == 32
    assert memory.out_of_memory("tiny", 1) == 1


def test_measured_peaks_only_raise_the_estimate(model: LoadedModel) -> None:
    shape = (3, model.config.height, model.config.width)
    memory = DeviceMemory(CPU, GiB, concurrency=1)
    before = memory.rows_per_pass("tiny", model.classifier, shape)
    estimate = memory.row_bytes("tiny")
    assert estimate is not None
    memory.observe("tiny", rows=10, peak_bytes=5 * estimate)  # lower: ignored
    assert memory.row_bytes("tiny") == estimate
    memory.observe("tiny", rows=10, peak_bytes=20 * estimate)  # twice as high: taken
    assert memory.row_bytes("tiny") == 2 * estimate
    assert memory.rows_per_pass("tiny", model.classifier, shape) == pytest.approx(before / 2, abs=1)


def test_a_real_allocation_failure_is_recognised() -> None:
    with pytest.raises(RuntimeError) as caught:
        torch.empty(1 << 60, dtype=torch.uint8)
    assert is_out_of_memory(caught.value)
    assert not is_out_of_memory(RuntimeError("shapes do not match"))
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
