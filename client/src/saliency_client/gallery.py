"""Every method's map of one image in one go: one Explain per method, all in flight at once.

A method that cannot apply to the model (attention maps on a CNN, CAM on a network without
global average pooling) is answered UNIMPLEMENTED by the server, with the reason; it comes back
as `not_applicable`, not as an error, so a gallery shows it greyed out with that reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from saliency_client._requests import ImageInput, Params, Targets
from saliency_client.async_client import AsyncSaliencyClient
from saliency_client.errors import SaliencyError, Unimplemented
from saliency_client.results import ExplainResult, MethodInfo

DEFAULT_CONCURRENCY = 8
"""Explain calls in flight at once: enough to keep a server's batcher busy, few enough not to
fill its queue with one person's gallery."""


@dataclass(frozen=True, eq=False)
class MethodMap:
    """One method's answer for the gallery's image.

    Exactly one of `result`, `not_applicable` and `error` is set.
    """

    method: str
    params: dict[str, object] = field(default_factory=dict)
    """The parameters sent (the server's defaults fill the rest)."""
    seconds: float = 0.0
    """Wall-clock seconds of the call, as the caller saw it (queueing included)."""
    result: ExplainResult | None = None
    not_applicable: str | None = None
    """The server's reason why the method does not apply to the model."""
    error: SaliencyError | None = None


def explanation_methods(methods: Iterable[MethodInfo]) -> list[str]:
    """The names of the explanation methods among `methods` (ListMethods order)."""
    return [m.name for m in methods if m.kind == "explain"]


async def _one(
    client: AsyncSaliencyClient,
    image: ImageInput,
    model: str,
    method: str,
    targets: Targets,
    params: Params,
    slots: asyncio.Semaphore,
) -> MethodMap:
    sent = {name: value for name, value in params.items() if value is not None}
    async with slots:
        start = time.perf_counter()
        try:
            (result,) = await client.explain(
                image, model=model, method=method, targets=targets, **params
            )
        except Unimplemented as error:
            return MethodMap(method, sent, time.perf_counter() - start,
                             not_applicable=error.details)
        except SaliencyError as error:
            return MethodMap(method, sent, time.perf_counter() - start, error=error)
        seconds = time.perf_counter() - start
    if result.error is not None:  # the image failed alone (e.g. a target class out of range)
        return MethodMap(method, sent, seconds, error=result.error)
    return MethodMap(method, sent, seconds, result=result)


async def explain_methods(
    client: AsyncSaliencyClient,
    image: ImageInput,
    *,
    model: str,
    methods: Sequence[str],
    targets: Targets = None,
    params: Mapping[str, Params] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> AsyncIterator[MethodMap]:
    """Explain one image with each method, yielding each answer as soon as it arrives.

    Args:
        client: an open client.
        image: pixels or an encoded PNG/JPEG file.
        model: the model's name.
        methods: explanation method names, each explained once.
        targets: the class(es) to explain, as `explain` takes them for one image: None (the
            predicted class), a class, or a list of classes (one explanation each).
        params: per method, its parameters (a method missing here gets the defaults).
        concurrency: at most this many calls in flight.

    Yields:
        One `MethodMap` per method, in the order they finish.
    """
    slots = asyncio.Semaphore(max(1, concurrency))
    chosen = params or {}
    # A list of classes means "these classes of this one image": wrap it so the request
    # builder does not read it as one class per image.
    per_image: Targets = [list(targets)] if isinstance(targets, list | tuple) else targets
    calls = [
        asyncio.ensure_future(
            _one(client, image, model, method, per_image, chosen.get(method, {}), slots)
        )
        for method in methods
    ]
    try:
        for finished in asyncio.as_completed(calls):
            yield await finished
    finally:
        for call in calls:  # the caller stopped early (a closed page): cancel what is left
            call.cancel()
