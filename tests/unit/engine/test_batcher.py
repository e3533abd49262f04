"""The batcher on a real worker pool: grouping, flushing, the bounded queue, deadlines, priority.

A gated job holds the model's only instance busy for as long as a test needs, so what queues
behind it does not depend on timing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from saliency_service.config import ServerConfig
from saliency_service.engine import regather
from saliency_service.engine.batcher import Batcher
from saliency_service.engine.pool import WorkerPool
from saliency_service.engine.work import BatchKey, Job
from saliency_service.errors import DeadlineExceeded, ShuttingDown
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel

from tests.unit.engine.support import CPU, GiB
from tests.unit.engine.support import settings as run_settings


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
        batcher = Batcher(pool, config, metrics, run_settings())
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
            *(batcher.run(gate.job(), [i], deadline=None) for i in range(4))
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
                batcher.run(gate.job(key), [f"{key}{i}"], deadline=None)
                for i in range(3)
                for key in ("a", "b")
            )
        )
        assert sorted(map(sorted, gate.batches)) == [["a0", "a1", "a2"], ["b0", "b1", "b2"]]

    run_scenario(repository, model, scenario, max_batch_size=8, max_queue_delay_ms=50)


def test_a_newcomer_goes_ahead_of_another_tenants_backlog(
    repository: Path, model: LoadedModel
) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], deadline=None))
        await gate.wait_started()
        backlog = [
            asyncio.create_task(
                batcher.run(gate.job(), [f"flood{i}"], deadline=None, tenant="flood", costs=[1.0])
            )
            for i in range(6)
        ]
        await asyncio.sleep(0.01)
        newcomer = asyncio.create_task(
            batcher.run(gate.job(), ["polite"], deadline=None, tenant="polite", costs=[1.0])
        )
        await asyncio.sleep(0.01)
        gate.open.set()
        await asyncio.gather(busy, newcomer, *backlog)
        # The flood's first image went first (it came first), then the newcomer at once.
        assert gate.batches[1] == ["flood0", "polite"]
        rest = [x for batch in gate.batches[2:] for x in batch]
        assert rest == [f"flood{i}" for i in range(1, 6)]

    run_scenario(repository, model, scenario, max_batch_size=2, max_queue_delay_ms=0)


def test_an_item_whose_deadline_passes_in_the_queue_is_dropped(
    repository: Path, model: LoadedModel
) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], deadline=None))
        await gate.wait_started()
        with pytest.raises(DeadlineExceeded):
            await batcher.run(gate.job(), ["late"], deadline=time.monotonic() + 0.05)
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
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], deadline=None))
        await gate.wait_started()
        waiting = asyncio.create_task(batcher.run(gate.job(), ["gone"], deadline=None))
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
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], deadline=None))
        await gate.wait_started()
        low = asyncio.create_task(batcher.run(gate.job("low"), ["low"], deadline=None))
        high = asyncio.create_task(
            batcher.run(gate.job("high"), ["high"], deadline=None, priority=5)
        )
        await asyncio.sleep(0.01)
        gate.open.set()
        await asyncio.gather(busy, low, high)
        assert gate.batches == [["busy"], ["high"], ["low"]]

    run_scenario(repository, model, scenario, max_queue_delay_ms=0)


def test_closing_answers_queued_work_and_refuses_more(repository: Path, model: LoadedModel) -> None:
    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        busy = asyncio.create_task(batcher.run(gate.job(), ["busy"], deadline=None))
        await gate.wait_started()
        queued = asyncio.create_task(batcher.run(gate.job(), ["queued"], deadline=None))
        await asyncio.sleep(0.01)
        closing = asyncio.create_task(batcher.close())
        with pytest.raises(ShuttingDown):
            await queued
        gate.open.set()
        await closing
        assert await busy == ["done busy"]
        with pytest.raises(ShuttingDown):
            await batcher.run(gate.job(), ["late"], deadline=None)

    run_scenario(repository, model, scenario, max_queue_delay_ms=0)


@pytest.mark.parametrize(
    ("window_s", "comes_back", "expected"),
    [
        # The client answered first comes back within the window (far beyond the test): it
        # joins 1-3, which without regathering would have left as a batch of three the moment
        # the device was free (the queue delay is zero).
        (600.0, True, [[0], [1, 2, 3, 4]]),
        # Nobody comes back: once the window has passed, the queue flushes as it always would.
        (0.2, False, [[0], [1, 2, 3]]),
    ],
    ids=["comes-back", "never-comes-back"],
)
def test_the_batch_after_an_answer_waits_for_its_clients_a_bounded_time(
    repository: Path,
    model: LoadedModel,
    monkeypatch: pytest.MonkeyPatch,
    window_s: float,
    comes_back: bool,
    expected: list[list[int]],
) -> None:
    monkeypatch.setattr(regather, "REGATHER_SHARE", 1e9)
    monkeypatch.setattr(regather, "REGATHER_CAP_S", window_s)

    async def scenario(batcher: Batcher, metrics: Metrics, gate: Gate) -> None:
        first = asyncio.create_task(batcher.run(gate.job(), [0], deadline=None))
        await gate.wait_started()
        queued = [
            asyncio.create_task(batcher.run(gate.job(), [i], deadline=None)) for i in (1, 2, 3)
        ]
        await asyncio.sleep(0.01)
        gate.open.set()
        await first
        if comes_back:
            assert await batcher.run(gate.job(), [4], deadline=None) == ["done 4"]
        await asyncio.gather(*queued)
        assert gate.batches == expected

    run_scenario(repository, model, scenario, max_batch_size=8, max_queue_delay_ms=0)
