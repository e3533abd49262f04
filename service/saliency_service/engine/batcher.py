"""The dynamic batcher: images from all requests, grouped by key, run on the worker pool.

Flush policy. A key's queue is ready when it holds a full batch (the model's max_batch_size, else
the server's) or its oldest image has waited the max queue delay; right after a key's batch is
answered, its next batch waits briefly for the requests that come back (regather.py). Batches
are formed when a model instance can run them, not when a queue becomes ready: while every lane
is busy, a ready queue keeps growing up to a full batch, so load turns into bigger batches
rather than a backlog of small ones. Among ready queues the highest priority wins, then the
least-served tenant's (fairness.py), then the longest wait; within a queue, items are taken the
same way. A batch is let in beside a running one only to preempt it between passes, when that
one is long and of no higher priority (gate.py). Admission (admission.py) bounds what gets in,
before images are decoded. This runs on the event loop; compute on the pool's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from saliency_service.allocator import release_idle_memory
from saliency_service.config import ServerConfig
from saliency_service.engine.deadlines import why_dead
from saliency_service.engine.fairness import FairShare
from saliency_service.engine.pool import Slot, WorkerPool
from saliency_service.engine.queues import KeyQueue
from saliency_service.engine.regather import Regathering
from saliency_service.engine.runner import BatchOutcome, RunSettings, run_batch
from saliency_service.engine.work import BatchKey, Job, WorkItem
from saliency_service.errors import Cancelled, DeadlineExceeded, SaliencyError, ShuttingDown
from saliency_service.metrics import Metrics

# Errors that concern the whole request, not one image: the RPC fails with them.
REQUEST_ERRORS = (DeadlineExceeded, Cancelled, ShuttingDown)
# Memory goes back to the OS once the engine has been idle this long (allocator.py): not after
# every request, or a steady stream of them would page its working set in again each time.
IDLE_RELEASE_S = 1.0


class Batcher:
    """Queues work items, forms batches and hands them to the worker pool."""

    def __init__(
        self,
        pool: WorkerPool,
        config: ServerConfig,
        metrics: Metrics,
        settings: RunSettings,
    ) -> None:
        self.pool = pool
        self.config = config
        self.metrics = metrics
        self.settings = settings
        self.fair = FairShare()
        self.regather = Regathering()
        self._queues: dict[BatchKey, KeyQueue] = {}
        self._queued = 0
        self._running_items: dict[WorkItem, Slot] = {}
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._scheduler: asyncio.Task[None] | None = None
        self._closed = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._releasing: asyncio.Future[bool] | None = None

    def start(self) -> None:
        """Start scheduling (on the running event loop)."""
        self._scheduler = asyncio.get_running_loop().create_task(self._schedule())

    async def run(
        self,
        job: Job,
        payloads: Sequence[Any],
        *,
        deadline: float | None,
        priority: int = 0,
        tenant: str = "",
        costs: Sequence[float] | None = None,
    ) -> list[Any]:
        """Queue one request's images and wait for them: each one's output or its own error.

        `deadline` is a `time.monotonic()` time; `costs` each image's estimated device-seconds.

        Raises:
            DeadlineExceeded, Cancelled, ShuttingDown: the request as a whole ended.
        """
        if self._closed:
            raise ShuttingDown("the server is shutting down")
        loop = asyncio.get_running_loop()
        costs = costs if costs is not None else [0.0] * len(payloads)
        items = [
            WorkItem(p, loop.create_future(), deadline, priority, tenant, cost)
            for p, cost in zip(payloads, costs, strict=True)
        ]
        queue = self._queues.setdefault(job.key, KeyQueue(job))
        self.fair.arrive(tenant, len(items))
        for item in items:
            queue.push(item)
            item.future.add_done_callback(lambda _: self.metrics.inflight.dec())
        self._count(self.pool.model_name(job.key.model), len(items))
        self.metrics.inflight.inc(len(items))
        self._wake.set()
        try:
            results = await asyncio.gather(*(item.future for item in items))
        except asyncio.CancelledError:
            for item in items:
                slot = self._running_items.get(item)
                if slot is not None and item.cancelled_at_pass is None:
                    item.cancelled_at_pass = slot.turn.passes
                item.future.cancel()
            self._wake.set()  # so that the scheduler drops the cancelled items now
            raise
        for result in results:
            if isinstance(result, REQUEST_ERRORS):
                raise result
        return results

    def abort(self, error: SaliencyError) -> None:
        """Answer every queued and running item with `error` now; running batches then stop at
        their next pass (their items are dead)."""
        for key, queue in list(self._queues.items()):
            items = queue.take(len(queue), self.fair)
            self._leave(key, items)
            _answer(items, [error] * len(items))
        _answer(list(self._running_items), [error] * len(self._running_items))
        self._wake.set()

    async def close(self) -> None:
        """Refuse new work, answer what is still queued with UNAVAILABLE, finish running batches."""
        self._closed = True
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        for key, queue in list(self._queues.items()):
            items = queue.take(len(queue), self.fair)
            self._leave(key, items)
            _answer(items, [ShuttingDown("the server is shutting down")] * len(items))
        self._queues.clear()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._releasing is not None:
            await self._releasing

    # ---------------------------------------------------------------- scheduling

    async def _schedule(self) -> None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            self._remove_dead(now)
            while (choice := self._choose(now)) is not None:
                queue, slot = choice
                items = queue.take(self._limits(queue.job.key.model)[0], self.fair)
                self._leave(queue.job.key, items, dispatched=True)
                self.regather.forget(queue.job.key)
                slot.turn.long = sum(item.cost for item in items) > self.settings.slice_seconds
                task = asyncio.create_task(self._execute(slot, queue.job, items))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            self._queues = {key: queue for key, queue in self._queues.items() if len(queue)}
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_wake(now)):
                    await self._wake.wait()

    def _limits(self, key: str) -> tuple[int, float]:
        """(max batch size, max queue delay in seconds) for the model with `key`."""
        config = self.pool.model_config(key)
        size = config.max_batch_size or self.config.max_batch_size
        delay_ms = config.max_queue_delay_ms
        return size, (self.config.max_queue_delay_ms if delay_ms is None else delay_ms) / 1000

    def _ready(self, queue: KeyQueue, now: float) -> bool:
        size, delay = self._limits(queue.job.key.model)
        expecting = self.regather.expected(queue.job.key, now)
        if expecting is not None:
            return len(queue) >= min(size, expecting.count)
        return len(queue) >= size or now - queue.oldest() >= delay

    def _choose(self, now: float) -> tuple[KeyQueue, Slot] | None:
        ready = [q for q in self._queues.values() if len(q) and self._ready(q, now)]
        order = sorted(ready, key=lambda q: (-q.priority(), q.least_served(self.fair), q.oldest()))
        for queue in order:
            slot = self.pool.acquire(queue.job.key.model, queue.priority())
            if slot is not None:
                return queue, slot
        return None

    def _next_wake(self, now: float) -> float | None:
        """Seconds until a waiting queue becomes ready or an item expires; None: nothing waits."""
        times = []
        for queue in self._queues.values():
            if not self._ready(queue, now):
                expecting = self.regather.expected(queue.job.key, now)
                delay = self._limits(queue.job.key.model)[1]
                times.append(expecting.until if expecting else queue.oldest() + delay)
            deadline = queue.earliest_deadline()
            if deadline is not None:
                times.append(deadline)
        return max(0.0, min(times) - now) if times else None

    def _remove_dead(self, now: float) -> None:
        for key, queue in self._queues.items():
            dead = queue.remove_dead(now)
            if dead:
                self._leave(key, dead)
                for item in dead:
                    reason = "deadline" if item.expired(now) else "cancelled"
                    self.metrics.dropped.labels(self.pool.model_name(key.model), reason).inc()
                _answer(dead, [why_dead(item, now) for item in dead])

    def _leave(self, key: BatchKey, items: Sequence[WorkItem], dispatched: bool = False) -> None:
        self._count(self.pool.model_name(key.model), -len(items))
        for item in items:
            self.fair.depart(item.tenant, item.cost if dispatched else 0.0)

    def _count(self, name: str, change: int) -> None:
        self._queued += change
        self.metrics.queue_depth.labels(name).inc(change)

    # ---------------------------------------------------------------- execution

    async def _execute(self, slot: Slot, job: Job, items: list[WorkItem]) -> None:
        name, method = self.pool.model_name(job.key.model), job.key.method or job.key.kind
        started = time.monotonic()
        for item in items:
            self.metrics.queue_wait.labels(name, method).observe(started - item.enqueued)
        self.metrics.batch_size.labels(name, method).observe(len(items))
        self._running_items.update(dict.fromkeys(items, slot))
        rebuild = False
        try:
            outcome = await self.pool.compute(
                slot.device, run_batch, slot, job, items, self.settings
            )
            rebuild = outcome.rebuild
        except BaseException as error:
            # The engine itself failed (or the loop is closing): every item gets the error.
            rebuild = True
            _fail(items, error)
            raise
        finally:
            for item in items:
                self._running_items.pop(item, None)
            self.pool.release(slot, rebuild=rebuild)
            self._wake.set()
        now = time.monotonic()
        self.metrics.compute_time.labels(name, method).observe(now - started)
        self._record(outcome, slot, name, method)
        answered = sum(not item.future.done() for item in items)  # not cancelled meanwhile
        queued = len(self._queues.get(job.key) or ())
        self.regather.answered(job.key, answered, queued, now - started, now)
        cancelled = [item.cancelled_at_pass for item in items]
        if all(at is not None for at in cancelled):
            after = slot.turn.passes - max(at for at in cancelled if at is not None)
            self.metrics.passes_after_cancel.labels(name, method).observe(after)
        _answer(items, outcome.results)
        if self._queued == 0 and len(self._running) <= 1:  # this batch is the last one running
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            self._idle_timer = asyncio.get_running_loop().call_later(
                IDLE_RELEASE_S, self._release_if_idle
            )

    def _release_if_idle(self) -> None:
        self._idle_timer = None
        if self._queued == 0 and not self._running and not self._closed:
            self._releasing = asyncio.ensure_future(asyncio.to_thread(release_idle_memory))

    def _record(self, outcome: BatchOutcome, slot: Slot, name: str, method: str) -> None:
        device = str(slot.device)
        if slot.turn.waited_passes is not None:
            self.metrics.gate_wait_passes.labels(name, method).observe(slot.turn.waited_passes)
        for reason, count in outcome.dropped.items():
            self.metrics.dropped.labels(name, reason).inc(count)
        if outcome.oom_splits:
            self.metrics.oom_splits.labels(name, device).inc(outcome.oom_splits)
        if outcome.rows_per_pass is not None:
            self.metrics.rows_per_pass.labels(name, device).set(outcome.rows_per_pass)
        if outcome.rebuild:
            self.metrics.worker_restarts.labels(device).inc()


def _answer(items: Sequence[WorkItem], results: Sequence[Any | SaliencyError]) -> None:
    for item, result in zip(items, results, strict=True):
        if not item.future.done():
            item.future.set_result(result)


def _fail(items: Sequence[WorkItem], error: BaseException) -> None:
    for item in items:
        if item.future.done():
            continue
        if isinstance(error, Exception):
            item.future.set_exception(error)
        else:
            item.future.cancel()
