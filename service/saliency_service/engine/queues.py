"""The items waiting under one batching key: highest priority first, then first come."""

from __future__ import annotations

import heapq

from saliency_service.engine.work import Job, WorkItem


class KeyQueue:
    """Waiting items of one key, and the job that computes them (the first request's)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._heap: list[tuple[int, int, WorkItem]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, item: WorkItem) -> None:
        heapq.heappush(self._heap, (-item.priority, item.sequence, item))

    def priority(self) -> int:
        """The highest priority waiting (the queue must not be empty)."""
        return -self._heap[0][0]

    def oldest(self) -> float:
        """When the longest-waiting item arrived (the queue must not be empty)."""
        return min(item.enqueued for _, _, item in self._heap)

    def earliest_deadline(self) -> float | None:
        deadlines = [item.deadline for _, _, item in self._heap if item.deadline is not None]
        return min(deadlines, default=None)

    def take(self, count: int) -> list[WorkItem]:
        """Up to `count` items, highest priority first, then in arrival order."""
        return [heapq.heappop(self._heap)[2] for _ in range(min(count, len(self._heap)))]

    def remove_dead(self, now: float) -> list[WorkItem]:
        """Take out and return the items whose deadline passed or whose caller went away."""
        dead = [entry[2] for entry in self._heap if entry[2].dead(now)]
        if dead:
            self._heap = [entry for entry in self._heap if not entry[2].dead(now)]
            heapq.heapify(self._heap)
        return dead
