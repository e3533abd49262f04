"""The engine as the server holds it: admission, the batcher, the worker pool, pass times."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import torch

from saliency_service.config import ServerConfig
from saliency_service.engine.admission import Admission
from saliency_service.engine.batcher import Batcher
from saliency_service.engine.memory import memory_readings
from saliency_service.engine.pool import Instance, WorkerPool
from saliency_service.engine.precision import Precision
from saliency_service.engine.runner import RunSettings
from saliency_service.engine.timing import PassTimes, measure_row_seconds
from saliency_service.errors import SaliencyError
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel

MiB = 1 << 20


@dataclass
class Engine:
    """Where validated work goes: `admission` prices it in, `batcher.run(...)` queues it, the
    pool's threads compute it, `times` says how long a row takes."""

    pool: WorkerPool
    batcher: Batcher
    admission: Admission
    times: PassTimes

    @classmethod
    async def start(
        cls,
        config: ServerConfig,
        models: list[LoadedModel],
        devices: list[torch.device],
        metrics: Metrics,
    ) -> Engine:
        """Replicate the models onto `devices`, warm every instance up (measuring its pass
        time and memory per row), start scheduling, and export memory gauges."""
        pool = await asyncio.to_thread(
            WorkerPool,
            devices,
            models,
            channels_last=config.channels_last,
            budget_bytes=config.memory_budget_mb * MiB,
        )
        for device in devices:
            name = str(device)
            metrics.device_memory.labels(name, "budget").set(pool.memory[name].budget_bytes)
            for kind, read in memory_readings(device).items():
                metrics.device_memory.labels(name, kind).set_function(read)
        times = PassTimes()
        for model in models:
            for instance in pool.instances(model.key):
                seconds = await pool.compute(instance.plain.device, _warm_up, pool, instance)
                times.set(model.key, instance.plain.device, seconds)
        settings = RunSettings(
            precision=Precision.named(config.autocast),
            times=times,
            slice_seconds=config.slice_ms / 1000,
            min_pass_rows=config.min_pass_rows,
            on_pass=lambda model, method: metrics.passes.labels(model, method).inc(),
            observers=pool.observers,
        )
        batcher = Batcher(pool, config, metrics, settings)
        batcher.start()
        admission = Admission(
            config.max_queue_size, config.max_queued_seconds * len(devices), config.tenant_share
        )
        return cls(pool, batcher, admission, times)

    async def add_model(self, model: LoadedModel) -> None:
        """Replicate a model loaded while serving onto the devices and warm every instance up
        (on the device threads, beside the batches running there), then put it in service.
        Until this returns the engine runs nothing on it, so a request never meets it cold."""
        instances = await asyncio.to_thread(self.pool.build, model)
        for instance in (i for built in instances.values() for i in built):
            device = instance.plain.device
            seconds = await self.pool.compute(device, _warm_up, self.pool, instance)
            self.times.set(model.key, device, seconds)
        self.pool.publish(model, instances)

    def remove_model(self, key: str) -> None:
        """Drop the model with `key` (no request uses it any more)."""
        self.pool.remove(key)
        self.times.forget(key)

    def abort(self, error: SaliencyError) -> None:
        """Answer every queued and running image with `error` (the end of a grace period)."""
        self.batcher.abort(error)

    async def stop(self) -> None:
        """Answer what is still queued, finish running batches, stop the threads."""
        await self.batcher.close()
        self.pool.shutdown()


def _warm_up(pool: WorkerPool, instance: Instance) -> float:
    """Run both replicas of `instance` once (first-call costs leave the first request) and
    return the measured seconds per forward+backward row; prime the memory probe too."""
    model = instance.plain
    config, device = model.config, model.device
    shape = (config.channels, config.height, config.width)
    gradients = not model.forward_only
    memory = pool.memory[str(device)]
    memory.rows_per_pass(model.key, model.classifier, shape, gradients=gradients)
    measure_row_seconds(instance.folded.classifier, shape, device, gradients=gradients)
    return measure_row_seconds(model.classifier, shape, device, gradients=gradients)
