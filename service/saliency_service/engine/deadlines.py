"""Deadlines and cancellation: dead items are dropped before compute and between passes.

An item is dead when its request's deadline has passed or its caller stopped waiting. Before a
batch computes, dead items are taken out of it. Between passes (before every forward pass of the
model) the batch stops as soon as no item of it is still wanted; while some are, the batch goes
on, since its rows cannot leave a half-computed pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from saliency_service.engine.work import WorkItem
from saliency_service.errors import Cancelled, DeadlineExceeded, SaliencyError


class Abandoned(Exception):  # noqa: N818 - a control-flow signal, not an error to report
    """Every item of the running batch died; the batch stops at the next pass."""


def deadline_after(time_remaining: float | None) -> float | None:
    """The monotonic time at which a request with `time_remaining` seconds left expires."""
    return None if time_remaining is None else time.monotonic() + time_remaining


def why_dead(item: WorkItem, now: float) -> SaliencyError:
    """The error a dead item is answered with (its caller may no longer be listening)."""
    if item.expired(now):
        return DeadlineExceeded("the request's deadline passed before its images were computed")
    return Cancelled("the request was cancelled")


def split_live(items: Sequence[WorkItem], now: float) -> tuple[list[WorkItem], list[WorkItem]]:
    """(live, dead) items, each in their original order."""
    live = [item for item in items if not item.dead(now)]
    dead = [item for item in items if item.dead(now)]
    return live, dead


class Checkpoint:
    """Called before each pass: raises `Abandoned` once none of the batch's items is wanted."""

    def __init__(self, items: Sequence[WorkItem]) -> None:
        self._items = items

    def alive(self) -> bool:
        """Whether some item of the batch is still wanted."""
        now = time.monotonic()
        return not all(item.dead(now) for item in self._items)

    def __call__(self) -> None:
        if not self.alive():
            raise Abandoned
