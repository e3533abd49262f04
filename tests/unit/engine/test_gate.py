"""The device gate: one pass at a time, preemption between passes, abandoned waits."""

from __future__ import annotations

import threading

import pytest
from saliency_service.engine.deadlines import Abandoned
from saliency_service.engine.gate import Gate, Turn


def alive() -> bool:
    return True


def test_a_waiting_batch_of_equal_priority_gets_the_lane_after_one_more_pass() -> None:
    gate = Gate(1)
    long, cheap = Turn(0, long=True), Turn(0)
    gate.register(long)
    gate.enter(long, alive)
    gate.between_passes(long, alive)  # the first pass starts: nobody waits
    assert gate.may_preempt(0)
    gate.register(cheap)
    assert not gate.may_preempt(0)  # one preemptor at a time
    order: list[str] = []

    def cheap_batch() -> None:
        gate.enter(cheap, alive)
        order.append("cheap")
        gate.leave(cheap)

    thread = threading.Thread(target=cheap_batch)
    thread.start()
    gate.between_passes(long, alive)  # before pass 2: hands over, waits, resumes
    order.append("long resumes")
    thread.join(timeout=10)
    assert order == ["cheap", "long resumes"]
    assert long.passes == 2


def test_lower_priority_work_never_preempts() -> None:
    gate = Gate(1)
    urgent, low = Turn(5, long=True), Turn(0)
    gate.register(urgent)
    gate.enter(urgent, alive)
    gate.between_passes(urgent, alive)
    assert not gate.may_preempt(0)
    gate.register(low)
    gate.between_passes(urgent, alive)  # does not wait for the lower-priority batch
    gate.leave(urgent)
    gate.enter(low, alive)
    gate.leave(low)


def test_a_short_batch_is_not_preempted_and_a_free_lane_needs_no_preemption() -> None:
    gate = Gate(1)
    assert gate.has_free_lane()
    short = Turn(0, long=False)
    gate.register(short)
    assert not gate.has_free_lane()
    gate.enter(short, alive)
    assert not gate.may_preempt(10)
    gate.leave(short)
    assert gate.has_free_lane()


def test_a_waiting_batch_whose_items_died_stops_waiting() -> None:
    gate = Gate(1)
    holder, waiter = Turn(0, long=True), Turn(0)
    gate.register(holder)
    gate.enter(holder, alive)
    gate.register(waiter)
    with pytest.raises(Abandoned):
        gate.enter(waiter, lambda: False)
    assert gate.may_preempt(0)  # its place in line is gone
    gate.leave(holder)
