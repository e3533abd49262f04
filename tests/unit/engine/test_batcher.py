"""The batcher on a real worker pool: grouping, flushing, the bounded queue, deadlines, priority.

A gated job holds the model's only instance busy for as long as a test needs, so what queues
behind it does not depend on timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from saliency_service.config import ServerConfig
from saliency_service.engine.batcher import Batcher
from saliency_service.engine.pool import WorkerPool
from saliency_service.engine.precision import Precision
from saliency_service.engine.work import BatchKey, Job
from saliency_service.errors import DeadlineExceeded, Overloaded, ShuttingDown
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel

from tests.unit.engine.support import CPU, GiB


class Gate:
    """A job that records what it ran and, while closed, holds its worker thread."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.started = threading.Event()
        self.batches: list[list[Any]] = []

    def job(self, key: str = "a") -> Job:
        def run(model: LoadedModel, payloads: list[Any], rows: int | None) -> list[Any]:
            self.started.set()
            self.open.wait(timeout=60)
            self.batches.append(payloads)
            return [f"done {p}" for p in payloads]

        return Job(BatchKey("tiny", "test", key), run, chunking="none")

    async def wait_started(self) -> None:
        await asyncio.to_thread(self.started.wait, 60)


Scenario = Callable[[Batcher, Metrics, Gate], Awaitable[None]]


def run_scenario(repository: Path, model: LoadedModel, scenario: Scenario, **settings: Any) -> None:
    async def main() -> None:
        config = ServerConfig(repository=repository, **settings)
        pool = WorkerPool([CPU], [model], channels_last=False, budget_bytes=GiB)
        metrics = Metrics()
        batcher = Batcher(pool, config, metrics, Precision())
        batcher.start()
        gate = Gate()
        try:
            await scenario(batcher, metrics, gate)
        finally:
            gate.open.set()
            await batcher.close()
            pool.shutdown()

    asyncio.run(main())


def batches(metrics: Metrics, method: str) -> tuple[float, float]:
    labels = {"model": "tiny", "method": method}
    count = metrics.registry.get_sample_value("saliency_batch_size_count", labels) or 0.0
    total = metrics.registry.get_sample_value("saliency_batch_size_sum", labels) or 0.0
    return count, total


def test_compatible_requests_share_one_batch(repository: Path, model: LoadedModel) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        gate.open.set()
        results = await asyncio.gather(
            *(batcher.run(gate.job(), [i], time_remaining=None) for i in range(4))
        )
        assert results == [[f"done {i}"] for i in range(4)]
        assert gate.batches == [[0, 1, 2, 3]]
        assert batches(metrics, "a") == (1, 4)

    # A delay far beyond the test: only reaching the batch size can flush.
    run_scenario(repository, model, scenario, max_batch_size=4, max_queue_delay_ms=600_000)


def test_incompatible_requests_never_share_a_batch(repository: Path, model: LoadedModel) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        gate.open.set()
        await asyncio.gather(
            *(
                batcher.run(gate.job(key), [f"{key}{i}"], time_remaining=None)
                for i in range(3)
                for key in ("a", "b")
            )
        )
        assert sorted(map(sorted, gate.batches)) == [["a0", "a1", "a2"], ["b0", "b1", "b2"]]

    run_scenario(repository, model, scenario, max_batch_size=8, max_queue_delay_ms=50)


def test_a_full_queue_refuses_at_once_and_every_accepted_request_completes(
    repository: Path, model: LoadedModel
) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], time_remaining=None))
        await gate.wait_started()
        queued = [
            asyncio.create_task(batcher.run(gate.job(), [i, i], time_remaining=None))
            for i in range(2)
        ]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="limit is 4"):
            await batcher.run(gate.job(), ["one too many"], time_remaining=None)
        assert metrics.registry.get_sample_value("saliency_queue_depth", {"model": "tiny"}) == 4
        assert (
            metrics.registry.get_sample_value("saliency_rejected_items_total", {"model": "tiny"})
            == 1
        )
        gate.open.set()
        assert await busy == ["done busy"]
        assert [await task for task in queued] == [["done 0"] * 2, ["done 1"] * 2]

    run_scenario(repository, model, scenario, max_queue_size=4, max_queue_delay_ms=0)


def test_an_item_whose_deadline_passes_in_the_queue_is_dropped(
    repository: Path, model: LoadedModel
) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], time_remaining=None))
        await gate.wait_started()
        with pytest.raises(DeadlineExceeded):
            await batcher.run(gate.job(), ["late"], time_remaining=0.05)
        gate.open.set()
        await busy
        assert gate.batches == [["busy"]]
        assert (
            metrics.registry.get_sample_value(
                "saliency_dropped_items_total", {"model": "tiny", "reason": "deadline"}
            )
            == 1
        )

    run_scenario(repository, model, scenario, max_queue_delay_ms=0)


def test_a_cancelled_request_leaves_the_queue(repository: Path, model: LoadedModel) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], time_remaining=None))
        await gate.wait_started()
        waiting = asyncio.create_task(batcher.run(gate.job(), ["gone"], time_remaining=None))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.01)
        assert metrics.registry.get_sample_value("saliency_queue_depth", {"model": "tiny"}) == 0
        gate.open.set()
        await busy
        assert gate.batches == [["busy"]]

    run_scenario(repository, model, scenario, max_queue_delay_ms=0)


def test_higher_priority_runs_first(repository: Path, model: LoadedModel) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], time_remaining=None))
        await gate.wait_started()
        low = asyncio.create_task(batcher.run(gate.job("low"), ["low"], time_remaining=None))
        high = asyncio.create_task(
            batcher.run(gate.job("high"), ["high"], time_remaining=None, priority=5)
        )
        await asyncio.sleep(0.01)
        gate.open.set()
        await asyncio.gather(busy, low, high)
        assert gate.batches == [["busy"], ["high"], ["low"]]

    run_scenario(repository, model, scenario, max_queue_delay_ms=0)


def test_closing_answers_queued_work_and_refuses_more(repository: Path, model: LoadedModel) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], time_remaining=None))
        await gate.wait_started()
        queued = asyncio.create_task(batcher.run(gate.job(), ["queued"], time_remaining=None))
        await asyncio.sleep(0.01)
        closing = asyncio.create_task(batcher.close())
        with pytest.raises(ShuttingDown):
            await queued
        gate.open.set()
        await closing
        assert await busy == ["done busy"]
        with pytest.raises(ShuttingDown):
            await batcher.run(gate.job(), ["late"], time_remaining=None)

    run_scenario(repository, model, scenario, max_queue_delay_ms=0)
