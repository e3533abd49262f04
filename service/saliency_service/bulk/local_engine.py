"""The server's engine without gRPC: one model on this process's device, for a bulk actor.

Bulk actors run the very code a server runs for a request's images (operations' plans and
batch functions, the engine's batcher, memory budget, out-of-memory splitting, folded replicas),
so a bulk map equals the server's for the same image and parameters. Only admission is left
out: an actor's work is paced by Ray Data, not by other tenants.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from saliency_service.config import ServerConfig
from saliency_service.engine.engine import Engine
from saliency_service.engine.pool import visible_devices
from saliency_service.engine.work import Job
from saliency_service.metrics import Metrics
from saliency_service.models.config import ModelConfig
from saliency_service.models.loading import LoadedModel, load_model
from saliency_service.operations.calls import Caller
from saliency_service.operations.runner import RequestRunner

T = TypeVar("T")
# Seconds one call into the engine may take before the actor gives up on it (a whole batch).
CALL_TIMEOUT_S = 3600.0


class LocalEngine:
    """One model loaded on the first visible device, and a started engine on a loop thread.

    Args:
        model: the model's config (from the repository).
        repository: the repository folder (the server's setting of the same name).
        memory_budget_mb: MiB for passes (0: the server's automatic budget).
        threads: torch intra-op threads (0: torch's default, every core).
    """

    def __init__(
        self, model: ModelConfig, repository: Path, memory_budget_mb: int = 0, threads: int = 0
    ) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.config = ServerConfig(repository=repository, memory_budget_mb=memory_budget_mb)
        device = visible_devices(self.config.devices)[0]
        self.model: LoadedModel = load_model(model, device)
        self.metrics = Metrics()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engine", daemon=True)
        self._thread.start()
        self.engine = self.call(Engine.start(self.config, [self.model], [device], self.metrics))
        self.runner = RequestRunner(self.engine, self.config, self.metrics)

    @property
    def row_seconds(self) -> float:
        """The measured seconds per forward+backward row (what plans price with)."""
        return self.engine.times.row_seconds(self.model.config.name)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the engine's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT_S)

    def batch(self, job: Job, payloads: Sequence[Any]) -> list[Any]:
        """Each payload's output or its own SaliencyError, computed as the server would.

        Raises:
            SaliencyError: one that concerns the whole job (the method cannot apply).
        """
        return self.call(self.runner.batch(job, payloads, [0.0] * len(payloads), Caller()))

    def close(self) -> None:
        """Stop the engine and its loop."""
        self.call(self.engine.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
