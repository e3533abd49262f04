"""The pool's model instances: private replicas, for every model format the repository loads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch
from saliency_service.engine.pool import WorkerPool
from saliency_service.models.config import read_model_config
from saliency_service.models.loading import load_model

from tests.unit.engine.support import CPU, GiB
from tests.unit.models.test_repository import write_model


@pytest.mark.parametrize("fmt", ["safetensors", "torchscript", "exported_program"])
def test_replicas_compute_what_the_loaded_model_computes(tmp_path: Path, fmt: str) -> None:
    config = read_model_config(write_model(tmp_path / fmt, fmt))
    model = load_model(config, CPU, trust_torchscript=fmt == "torchscript")
    pool = WorkerPool([CPU], [model], channels_last=True, budget_bytes=GiB)
    try:
        slot = pool.acquire(model.config.name, 0)
        assert slot is not None
        assert pool.acquire(model.config.name, 0) is None  # its lane is taken
        images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = model.classifier(images)
            for replica in (slot.instance.plain, slot.instance.folded):
                assert replica.classifier is not model.classifier
                got = replica.classifier(images.contiguous(memory_format=torch.channels_last))
                torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        pool.release(slot, rebuild=True)
        rebuilt = pool.acquire(model.config.name, 0)
        assert rebuilt is not None
        assert rebuilt.instance is not slot.instance
        assert {id(i) for i in pool.instances(model.config.name)}.isdisjoint({id(slot.instance)})
    finally:
        pool.shutdown()


def test_unbatched_work_runs_on_the_device_threads(tmp_path: Path) -> None:
    model = load_model(read_model_config(write_model(tmp_path / "m", "safetensors")), CPU)
    pool = WorkerPool([CPU], [model], channels_last=False, budget_bytes=GiB)
    try:
        import threading

        name = asyncio.run(pool.compute(CPU, lambda: threading.current_thread().name))
        assert name.startswith("compute-cpu")
    finally:
        pool.shutdown()
