"""The one way a request's images reach the engine: size, price, admit, decode, batch, merge.

1. Each image is sized from its header (or its array's shape) and its own fields are checked,
   on the decode threads; an image that fails here fails alone.
2. The request is priced (estimated device-seconds, reply bytes) and refused at once, before any
   decoding, when it exceeds a per-request cap or the server's admission (engine/admission.py).
3. Admitted images are decoded and converted to the model's input (the decode threads).
4. The valid ones are batched with compatible work of other requests (engine/batcher.py) under
   the caller's priority, deadline and tenant; each gets its output or its own error.
5. An error that concerns the whole request (the method cannot apply to this model) becomes the
   call's status, and the refusal is remembered so that the next such request is refused before
   it is queued.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from saliency_service.config import ServerConfig
from saliency_service.engine.admission import Ticket
from saliency_service.engine.engine import Engine
from saliency_service.engine.work import BatchKey, Job
from saliency_service.errors import Overloaded, SaliencyError
from saliency_service.images import header_size
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.calls import Caller, ImageInput

Item = TypeVar("Item", contravariant=True)
T = TypeVar("T")
MiB = 1 << 20
# Remembered refusals (method × model × parameters that cannot run), most recent kept.
REFUSALS_KEPT = 256


@dataclass(frozen=True)
class Price:
    """One image's estimated cost: device-seconds, and bytes of its part of the answer."""

    seconds: float
    reply_bytes: int


class Plan(Protocol[Item]):
    """A validated request's work: the job its images batch under, and per image its price
    (from its size, before decoding) and its preparation (decoding, after admission)."""

    @property
    def model(self) -> LoadedModel: ...

    @property
    def job(self) -> Job: ...

    def image(self, item: Item) -> ImageInput: ...

    def price(self, item: Item, size: tuple[int, int]) -> Price: ...

    def prepare(self, item: Item) -> Any: ...


@dataclass
class Outcome(Generic[T]):
    """Per image, in request order: its output or its own error."""

    results: list[T | SaliencyError]

    @property
    def outputs(self) -> list[T]:
        return [r for r in self.results if not isinstance(r, SaliencyError)]


class RequestRunner:
    """Runs plans through admission and the engine; shared by every operation."""

    def __init__(self, engine: Engine, config: ServerConfig, metrics: Metrics) -> None:
        self.engine = engine
        self.config = config
        self.metrics = metrics
        self._refusals: OrderedDict[BatchKey, SaliencyError] = OrderedDict()

    def check_known_refusal(self, key: BatchKey) -> None:
        """Raise the error this work already failed with as a whole, if it did."""
        refusal = self._refusals.get(key)
        if refusal is not None:
            raise refusal

    async def run(self, plan: Plan[Any], items: Sequence[Any], caller: Caller) -> Outcome[Any]:
        """Steps 1 to 5 above for one request's images."""
        self.check_known_refusal(plan.job.key)
        max_pixels = self.config.max_image_pixels
        results: list[Any] = await self.engine.pool.decode(_price_all, plan, items, max_pixels)
        priced = [(i, r) for i, r in enumerate(results) if isinstance(r, Price)]
        seconds = sum(price.seconds for _, price in priced)
        self.check_caps(plan.model.config.name, seconds, sum(p.reply_bytes for _, p in priced))
        if not priced:
            return Outcome(results)
        ticket = self.admit(plan.model.config.name, caller, len(priced), seconds)
        try:
            indices = [i for i, _ in priced]
            prepared = await self.engine.pool.decode(_prepare_all, plan, items, indices)
            ready = []
            for (i, price), payload in zip(priced, prepared, strict=True):
                results[i] = payload
                if isinstance(payload, SaliencyError):
                    self.engine.admission.release(ticket, 1, price.seconds)
                else:
                    ready.append((i, payload, price.seconds))
            outputs = await self.batch(
                plan.job, [p for _, p, _ in ready], [s for _, _, s in ready], caller
            )
        finally:
            self.engine.admission.release(ticket)
        for (i, _, _), output in zip(ready, outputs, strict=True):
            results[i] = output
        return Outcome(results)

    def check_caps(self, model: str, seconds: float, reply_bytes: int) -> None:
        """Refuse a request whose answer or estimated work exceeds the per-request caps (the
        answer's size first: it is exact, the cost an estimate).

        Raises:
            Overloaded: not busy — sending the same request again cannot succeed.
        """
        limit = self.config.max_message_bytes
        if reply_bytes > limit:
            self.metrics.rejected.labels(model, "reply").inc()
            raise Overloaded(
                f"the answer would be about {reply_bytes / MiB:.1f} MiB; the limit is "
                f"{limit / MiB:.0f} MiB: send fewer or smaller images, or fewer targets"
            )
        cap = self.config.max_request_seconds
        if seconds > cap:
            self.metrics.rejected.labels(model, "cost").inc()
            raise Overloaded(
                f"the request would cost about {_duration(seconds)} of device time; the limit "
                f"per request is {_duration(cap)}: send fewer images or lighter parameters"
            )

    def admit(self, model: str, caller: Caller, images: int, seconds: float) -> Ticket:
        """Reserve room for the work in the engine's admission, or refuse it as busy."""
        try:
            return self.engine.admission.admit(caller.tenant, images, seconds)
        except Overloaded:
            self.metrics.rejected.labels(model, "busy").inc()
            raise

    async def batch(
        self, job: Job, payloads: Sequence[Any], seconds: Sequence[float], caller: Caller
    ) -> list[Any]:
        """Batch admitted payloads; a whole-request error from a batch is raised (remembered)."""
        if not payloads:
            return []
        outputs = await self.engine.batcher.run(
            job,
            payloads,
            deadline=caller.deadline,
            priority=caller.priority,
            tenant=caller.tenant,
            costs=seconds,
        )
        for output in outputs:
            if isinstance(output, SaliencyError) and output.whole_request:
                self._refusals[job.key] = output
                while len(self._refusals) > REFUSALS_KEPT:
                    self._refusals.popitem(last=False)
                raise output
        return outputs


def merge(outcome: Outcome[Any], convert: Callable[[Any], T]) -> list[T | SaliencyError]:
    """Each image's output converted, or its error, in request order."""
    return [r if isinstance(r, SaliencyError) else convert(r) for r in outcome.results]


def computed(outputs: Sequence[Any]) -> list[Any]:
    """The outputs of a stage of a report (Evaluate, Assess), or its first image's error as the
    call's: a report over part of its images would mean something else."""
    for output in outputs:
        if isinstance(output, SaliencyError):
            raise output
    return list(outputs)


def _price_all(
    plan: Plan[Any], items: Sequence[Any], max_pixels: int
) -> list[Price | SaliencyError]:
    prices: list[Price | SaliencyError] = []
    for index, item in enumerate(items):
        try:
            size = header_size(plan.image(item), f"image {index}", max_pixels)
            prices.append(plan.price(item, size))
        except SaliencyError as error:
            prices.append(error)
    return prices


def _prepare_all(plan: Plan[Any], items: Sequence[Any], indices: Sequence[int]) -> list[Any]:
    prepared: list[Any] = []
    for index in indices:
        try:
            prepared.append(plan.prepare(items[index]))
        except SaliencyError as error:
            prepared.append(error)
    return prepared


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{math.ceil(seconds / 60)} min"
