"""The items waiting under one batching key: by priority, then fairly across tenants."""

from __future__ import annotations

from collections import defaultdict

from saliency_service.engine.fairness import FairShare
from saliency_service.engine.work import Job, WorkItem


class KeyQueue:
    """Waiting items of one key, and the job that computes them (the first request's).

    Queues hold at most the admission limit of images, so linear scans stay cheap.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self._items: list[WorkItem] = []

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: WorkItem) -> None:
        self._items.append(item)

    def priority(self) -> int:
        """The highest priority waiting (the queue must not be empty)."""
        return max(item.priority for item in self._items)

    def oldest(self) -> float:
        """When the longest-waiting item arrived (the queue must not be empty)."""
        return min(item.enqueued for item in self._items)

    def least_served(self, fair: FairShare) -> float:
        """The smallest service count among the tenants waiting at the top priority."""
        top = self.priority()
        return min(fair.served(i.tenant) for i in self._items if i.priority == top)

    def earliest_deadline(self) -> float | None:
        deadlines = [item.deadline for item in self._items if item.deadline is not None]
        return min(deadlines, default=None)

    def take(self, count: int, fair: FairShare) -> list[WorkItem]:
        """Up to `count` items: highest priority first; within it, the least-served tenant's
        oldest item, counting what this batch already takes for each tenant."""
        taken: list[WorkItem] = []
        charged: defaultdict[str, float] = defaultdict(float)
        while self._items and len(taken) < count:
            top = self.priority()
            best = min(
                (i for i in self._items if i.priority == top),
                key=lambda i: (fair.served(i.tenant) + charged[i.tenant], i.sequence),
            )
            charged[best.tenant] += best.cost
            self._items.remove(best)
            taken.append(best)
        return taken

    def remove_dead(self, now: float) -> list[WorkItem]:
        """Take out and return the items whose deadline passed or whose caller went away."""
        dead = [item for item in self._items if item.dead(now)]
        if dead:
            self._items = [item for item in self._items if not item.dead(now)]
        return dead
