"""Batching keys and the per-key queue: what may share a batch, and in which order items leave."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from saliency_service.engine.fairness import FairShare
from saliency_service.engine.queues import KeyQueue
from saliency_service.engine.work import BatchKey, Job, WorkItem, params_key


def job() -> Job:
    return Job(BatchKey("m", "explain", "grad_cam"), lambda model, items, rows: items)


def item(
    loop: asyncio.AbstractEventLoop, name: str, priority: int = 0, deadline: float | None = None
) -> WorkItem:
    return WorkItem(name, loop.create_future(), deadline, priority)


def test_keys_differ_in_any_parameter_and_ignore_their_order() -> None:
    base = params_key({"samples": 50, "seed": 0, "noise": 0.15})
    assert base == params_key({"seed": 0, "noise": 0.15, "samples": 50})
    assert base != params_key({"samples": 50, "seed": 1, "noise": 0.15})
    hash(base)


def test_array_parameters_key_by_content() -> None:
    first = np.zeros((3, 4, 4), np.float32)
    same = np.zeros((3, 4, 4), np.float32)
    other = first.copy()
    other[0, 0, 0] = 1
    assert params_key({"baseline_image": first}) == params_key({"baseline_image": same})
    assert params_key({"baseline_image": first}) != params_key({"baseline_image": other})
    assert params_key({"baseline_image": first}) != params_key(
        {"baseline_image": first.reshape(3, 16)}
    )


def test_higher_priority_leaves_first_then_arrival_order(loop: asyncio.AbstractEventLoop) -> None:
    queue = KeyQueue(job())
    for name, priority in (("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 1)):
        queue.push(item(loop, name, priority))
    assert queue.priority() == 5
    assert [i.payload for i in queue.take(3, FairShare())] == ["b", "d", "e"]
    assert [i.payload for i in queue.take(10, FairShare())] == ["a", "c"]
    assert len(queue) == 0


def test_dead_items_are_taken_out(loop: asyncio.AbstractEventLoop) -> None:
    queue = KeyQueue(job())
    now = time.monotonic()
    live, expired, cancelled = (
        item(loop, "live", deadline=now + 60),
        item(loop, "expired", deadline=now - 1),
        item(loop, "cancelled"),
    )
    for entry in (live, expired, cancelled):
        queue.push(entry)
    cancelled.future.cancel()
    assert {i.payload for i in queue.remove_dead(now)} == {"expired", "cancelled"}
    assert [i.payload for i in queue.take(5, FairShare())] == ["live"]


def test_oldest_and_earliest_deadline(loop: asyncio.AbstractEventLoop) -> None:
    queue = KeyQueue(job())
    first = item(loop, "first", priority=0, deadline=None)
    second = item(loop, "second", priority=9, deadline=time.monotonic() + 5)
    queue.push(first)
    queue.push(second)
    assert queue.oldest() == first.enqueued
    assert queue.earliest_deadline() == second.deadline
