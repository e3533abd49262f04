"""The engine as the server holds it: the worker pool and the batcher that feeds it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saliency_service.config import ServerConfig
from saliency_service.engine.batcher import Batcher
from saliency_service.engine.memory import memory_readings
from saliency_service.engine.pool import WorkerPool
from saliency_service.engine.precision import Precision
from saliency_service.metrics import Metrics
from saliency_service.models.repository import ModelRepository

MiB = 1 << 20


@dataclass
class Engine:
    """Where validated work goes: `batcher.run(...)` queues it, the pool's threads compute it."""

    pool: WorkerPool
    batcher: Batcher

    @classmethod
    def start(
        cls,
        config: ServerConfig,
        repository: ModelRepository,
        devices: list[torch.device],
        metrics: Metrics,
    ) -> Engine:
        """Replicate the models onto `devices`, start scheduling, and export memory gauges."""
        models = [repository.get(name) for name in repository.names()]
        pool = WorkerPool(
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
        batcher = Batcher(pool, config, metrics, Precision.named(config.autocast))
        batcher.start()
        return cls(pool, batcher)

    async def stop(self) -> None:
        """Answer what is still queued, finish running batches, stop the threads."""
        await self.batcher.close()
        self.pool.shutdown()
