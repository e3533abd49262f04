"""Run one batch on one model instance, on a worker thread; one result per item, always.

The batch holds a lane of its device's gate (gate.py) from its first pass to its end, and gives
it up between passes when more urgent work waits. Passes are sized to the memory budget and to
the slice time: rows per pass = min(budget rows, slice seconds / seconds per row).

Failures are contained to the items they belong to:
- out of memory: the pass is split (a smaller chunk, or half the items) and retried; an item
  that cannot fit even alone, one row per pass, fails alone with RESOURCE_EXHAUSTED;
- a SaliencyError or an unexpected error over several items: each item is retried alone, so
  only the offender fails (an unexpected error also asks for the replica to be rebuilt);
- deterministic jobs compute each item alone, in passes of DETERMINISTIC_ROWS rows;
- dead items (deadline passed, caller gone) are dropped before compute, and the batch stops
  between passes, or while it waits for its turn, once all of its items are dead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from saliency_service.engine.deadlines import Abandoned, Checkpoint, split_live, why_dead
from saliency_service.engine.guard import pass_guard
from saliency_service.engine.memory import is_out_of_memory
from saliency_service.engine.pool import Slot
from saliency_service.engine.precision import Precision
from saliency_service.engine.timing import PassTimes
from saliency_service.engine.work import Job, WorkItem
from saliency_service.errors import Overloaded, SaliencyError

log = logging.getLogger(__name__)
# Rows per pass of deterministic jobs: small enough for any model this server hosts on a CPU,
# large enough that batched kernels still pay (an out-of-memory split still halves it).
DETERMINISTIC_ROWS = 16


@dataclass(frozen=True)
class RunSettings:
    """What every batch of the engine runs with.

    `on_pass(model, method)` counts each pass as it starts; `observers(rows)` run before each
    gradient pass and may raise (tests inject out-of-memory faults with them). A pass lasts
    about `slice_seconds` but holds at least `min_pass_rows` rows where memory allows.
    """

    precision: Precision
    times: PassTimes
    slice_seconds: float
    min_pass_rows: int = 1
    on_pass: Callable[[str, str], None] = lambda _model, _method: None
    observers: Sequence[Callable[[int], None]] = ()


@dataclass
class BatchOutcome:
    """Per item (in the batch's order) its output or its error, and what the batch cost."""

    results: list[Any]
    computed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    passes: int = 0
    oom_splits: int = 0
    rows_per_pass: int | None = None
    rebuild: bool = False


def run_batch(
    slot: Slot, job: Job, items: Sequence[WorkItem], settings: RunSettings
) -> BatchOutcome:
    """Compute `items` with `job` on `slot`'s instance (called on the device's worker thread)."""
    outcome = BatchOutcome(results=[])
    computed: dict[int, Any] = {}
    alive = _alive(items)
    try:
        slot.gate.enter(slot.turn, alive)
        started = time.perf_counter()
        live, dead = split_live(items, time.monotonic())
        _drop(outcome, dead)
        run = _Run(slot, job, outcome, settings)
        if live:
            computed = run.run(live)
        settings.times.observe(
            slot.model.key, slot.device, run.weighted_rows, time.perf_counter() - started
        )
    except Abandoned:
        _drop(outcome, items)
    finally:
        slot.gate.leave(slot.turn)
    now = time.monotonic()
    outcome.results = [
        computed[id(item)] if id(item) in computed else why_dead(item, now) for item in items
    ]
    return outcome


def _alive(items: Sequence[WorkItem]) -> Callable[[], bool]:
    return lambda: any(not item.dead(time.monotonic()) for item in items)


def _drop(outcome: BatchOutcome, dead: Sequence[WorkItem]) -> None:
    now = time.monotonic()
    for item in dead:
        reason = "deadline" if item.expired(now) else "cancelled"
        outcome.dropped[reason] = outcome.dropped.get(reason, 0) + 1


class _Run:
    """The split-and-retry recursion over one batch's live items."""

    def __init__(self, slot: Slot, job: Job, outcome: BatchOutcome, settings: RunSettings) -> None:
        self.slot, self.job, self.outcome, self.settings = slot, job, outcome, settings
        # The model's name labels metrics; its key (this load of this version) keys estimates.
        self.name, self.key = slot.model.config.name, slot.model.key
        self.results: dict[int, Any] = {}
        self.weighted_rows = 0.0

    def run(self, items: Sequence[WorkItem]) -> dict[int, Any]:
        """Each item's output or error, by `id(item)`."""
        if self.job.deterministic:
            # Alone, in passes of a size that depends on nothing measured: the same kernels on
            # the same shapes give the same bits whatever else was queued.
            rows = None if self.job.chunking == "none" else DETERMINISTIC_ROWS
            self.outcome.rows_per_pass = rows
            for item in items:
                self._solve([item], rows)
            return self.results
        self.outcome.rows_per_pass = rows = self._rows_per_pass()
        self._solve(list(items), rows)
        return self.results

    def _rows_per_pass(self) -> int | None:
        if self.job.chunking == "none":
            return None
        slot, config = self.slot, self.slot.model.config
        shape = (config.channels, config.height, config.width)
        rows = slot.memory.rows_per_pass(
            self.key, slot.model.classifier, shape, gradients=not slot.model.forward_only
        )
        by_time = self.settings.times.rows_per_slice(
            self.key, slot.device, self.settings.slice_seconds
        )
        if by_time is None:
            return rows
        # Slices bound how long urgent work waits, but a pass of a few rows runs far below the
        # device's batched rate (a resnet50 pass of 4 rows ~10 % slower per row on a CPU than
        # one of 19): the floor trades a longer wait for throughput.
        return min(rows, max(by_time, self.settings.min_pass_rows))

    def _solve(self, items: list[WorkItem], rows: int | None) -> None:
        if self.job.chunking != "passes" or rows is None:
            self._attempt(items, rows)
            return
        for part in _passes(items, rows, self.job):
            self._attempt(part, rows)

    def _attempt(self, items: list[WorkItem], rows: int | None) -> None:
        try:
            outputs = self._compute(items, rows)
        except Abandoned:
            _drop(self.outcome, items)
            for item in items:
                self.results[id(item)] = why_dead(item, time.monotonic())
            return
        except Exception as error:  # noqa: BLE001 - every failure is answered per item
            self._recover(items, rows, error)
            return
        for item, output in zip(items, outputs, strict=True):
            self.results[id(item)] = output
        self.outcome.computed += len(items)

    def _compute(self, items: list[WorkItem], rows: int | None) -> list[Any]:
        instance = self.slot.instance
        model = instance.folded if self.job.foldable else instance.plain
        checkpoint = Checkpoint(items)
        checkpoint()
        # The request's choice, else the model's own [precision] autocast, else the server's.
        chosen = self.job.precision or model.config.autocast
        precision = self.settings.precision if chosen is None else Precision.named(chosen)
        with (
            pass_guard(
                [model.classifier] if model.forward is None else [model.classifier, model.forward],
                self.key,
                self.slot.memory,
                self._before_pass(checkpoint),
                channels_last=self.slot.channels_last,
            ) as stats,
            precision.context(self.slot.device, self.job.autocast),
        ):
            try:
                outputs = self.job.run(model, [item.payload for item in items], rows)
            finally:
                self.outcome.passes += stats.passes
                self.weighted_rows += stats.weighted_rows
        if len(outputs) != len(items):
            raise RuntimeError(f"{self.job.key}: {len(outputs)} results for {len(items)} items")
        return outputs

    def _before_pass(self, checkpoint: Checkpoint) -> Callable[[int, bool], None]:
        slot, settings = self.slot, self.settings
        method = self.job.key.method or self.job.key.kind
        alive = checkpoint.alive

        def before_pass(rows: int, gradients: bool) -> None:
            checkpoint()
            slot.gate.between_passes(slot.turn, alive)
            settings.on_pass(self.name, method)
            if gradients:
                for observe in settings.observers:
                    observe(rows)

        return before_pass

    def _recover(self, items: list[WorkItem], rows: int | None, error: Exception) -> None:
        if is_out_of_memory(error):
            self.outcome.oom_splits += 1
            if self.slot.device.type == "cuda":
                torch.cuda.empty_cache()
            tried = rows if rows is not None else sum(self.job.rows(i.payload) for i in items)
            if self.job.chunking == "none":
                # Forward-only rows cost far less than the budget's gradient rows: split this
                # batch, but teach the budget nothing.
                smaller = max(1, tried // 2)
            else:
                smaller = self.slot.memory.out_of_memory(self.key, tried)
                self.outcome.rows_per_pass = smaller
            if self.job.chunking == "inside" and rows is not None and rows > 1:
                self._solve(items, smaller)
            elif len(items) > 1:
                half = len(items) // 2
                self._solve(items[:half], smaller)
                self._solve(items[half:], smaller)
            else:
                self.results[id(items[0])] = Overloaded(
                    f"the image does not fit in {self.slot.device} memory for "
                    f"{self.job.key.method or self.job.key.kind} on model {self.name!r}"
                )
            return
        if len(items) > 1:
            # One bad member must not fail the batch: find it by running each alone.
            for item in items:
                self._attempt([item], rows)
            return
        if not isinstance(error, SaliencyError):
            log.error("%s failed on %s", self.job.key, self.slot.device, exc_info=error)
            self.outcome.rebuild = True
        self.results[id(items[0])] = error


def _passes(items: list[WorkItem], rows: int, job: Job) -> Iterator[list[WorkItem]]:
    """Consecutive groups of items holding at most `rows` rows (an item never splits)."""
    group: list[WorkItem] = []
    used = 0
    for item in items:
        size = job.rows(item.payload)
        if group and used + size > rows:
            yield group
            group, used = [], 0
        group.append(item)
        used += size
    if group:
        yield group
