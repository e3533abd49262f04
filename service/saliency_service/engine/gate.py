"""One device's passes: who computes now, and preemption between passes.

Batches run on worker threads, but a device computes at most `lanes` passes at once (on the CPU,
one: torch's kernels already use every core). A batch takes a lane before its first pass and
keeps it to its end, except between passes: there, once it has run a pass, if another batch of
at least its priority is waiting it hands the lane over and waits for its turn again. So a
cheap request let in beside a long one waits at most one pass of it — a slice, whose length the
engine bounds by time as well as memory — and batches of equal priority take turns slice by
slice. The batcher lets a batch wait here beside running ones only when it may preempt one
(`may_preempt`): under ordinary load, batches queue in the batcher and grow instead.

A waiting batch whose items all died (deadline, cancellation) stops waiting at once.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from saliency_service.engine.deadlines import Abandoned

# How often a waiting batch re-checks whether its items are still wanted, in seconds.
POLL_SECONDS = 0.05
_order = itertools.count()


@dataclass(eq=False)
class Turn:
    """A batch's place at the gate. `long`: its estimated compute exceeds one slice.

    `passes` counts the batch's own passes; `waited_passes` the passes other batches ran on
    the device between its dispatch and its first pass (what preemption bounds).
    """

    priority: int
    long: bool = False
    order: int = field(default_factory=lambda: next(_order))
    passes: int = 0
    waited_passes: int | None = None
    registered_at: int = 0
    ran_since_grant: bool = False


class Gate:
    """Lanes of one device, shared by its worker threads."""

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self._condition = threading.Condition()
        self._holders: list[Turn] = []
        self._waiting: list[Turn] = []
        self.passes = 0

    def resize(self, lanes: int) -> None:
        """Allow `lanes` passes at once from now on (a model needing more instances arrived)."""
        with self._condition:
            self.lanes = lanes
            self._condition.notify_all()

    def has_free_lane(self) -> bool:
        """No batch would have to wait for a lane if one more were dispatched now."""
        with self._condition:
            return len(self._holders) + len(self._waiting) < self.lanes

    def may_preempt(self, priority: int) -> bool:
        """Whether a batch of `priority` may be dispatched to wait beside the running ones:
        none waits yet, and a running batch is long and of no higher priority."""
        with self._condition:
            if self._waiting:
                return False
            return any(h.long and h.priority <= priority for h in self._holders)

    def register(self, turn: Turn) -> None:
        """Count a dispatched batch as waiting (on the event loop, before its thread starts)."""
        with self._condition:
            turn.registered_at = self.passes
            self._waiting.append(turn)

    def enter(self, turn: Turn, alive: Callable[[], bool]) -> None:
        """Block until `turn` holds a lane.

        Raises:
            Abandoned: every item of the batch died while it waited.
        """
        with self._condition:
            while not self._next_is(turn):
                if not alive():
                    self._waiting.remove(turn)
                    self._condition.notify_all()
                    raise Abandoned
                self._condition.wait(POLL_SECONDS)
            self._waiting.remove(turn)
            self._holders.append(turn)
            turn.ran_since_grant = False
            if turn.waited_passes is None:
                turn.waited_passes = self.passes - turn.registered_at

    def between_passes(self, turn: Turn, alive: Callable[[], bool]) -> None:
        """Before each pass: after one pass at least, give way to a waiting batch of at least
        `turn`'s priority and queue again behind it.

        Raises:
            Abandoned: every item of the batch died while it waited.
        """
        with self._condition:
            urgent = any(w.priority >= turn.priority for w in self._waiting)
            if not (turn.ran_since_grant and urgent):
                self._start_pass(turn)
                return
            self._holders.remove(turn)
            turn.order = next(_order)
            self._waiting.append(turn)
            self._condition.notify_all()
        self.enter(turn, alive)
        with self._condition:
            self._start_pass(turn)

    def _start_pass(self, turn: Turn) -> None:
        turn.ran_since_grant = True
        turn.passes += 1
        self.passes += 1

    def leave(self, turn: Turn) -> None:
        """`turn`'s batch is done (or abandoned): free its lane or its place in line."""
        with self._condition:
            if turn in self._holders:
                self._holders.remove(turn)
            elif turn in self._waiting:
                self._waiting.remove(turn)
            self._condition.notify_all()

    def _next_is(self, turn: Turn) -> bool:
        free = self.lanes - len(self._holders)
        ranked = sorted(self._waiting, key=lambda w: (-w.priority, w.order))
        return turn in ranked[: max(free, 0)]
