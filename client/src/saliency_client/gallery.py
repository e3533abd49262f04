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
from typing import Any

from saliency_client._requests import ImageInput, Params, Targets
from saliency_client.arrays import ParamValue
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
    params: Mapping[str, ParamValue] = field(default_factory=dict)
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


async def _call(
    client: AsyncSaliencyClient,
    images: list[ImageInput],
    model: str,
    method: str,
    targets: Targets,
    params: Params,
    slots: asyncio.Semaphore,
) -> list[MethodMap]:
    """One Explain of `images` with `method`: a MethodMap per image."""
    sent: dict[str, Any] = {name: value for name, value in params.items() if value is not None}
    async with slots:
        start = time.perf_counter()
        try:
            results = await client.explain(
                images, model=model, method=method, targets=targets, **sent
            )
        except Unimplemented as error:
            seconds = time.perf_counter() - start
            return [MethodMap(method, sent, seconds, not_applicable=error.details)] * len(images)
        except SaliencyError as failure:
            seconds = time.perf_counter() - start
            return [MethodMap(method, sent, seconds, error=failure)] * len(images)
        seconds = time.perf_counter() - start
    return [
        MethodMap(method, sent, seconds, error=result.error) if result.error is not None
        else MethodMap(method, sent, seconds, result=result)  # an image may fail alone
        for result in results
    ]


async def explain_images(
    client: AsyncSaliencyClient,
    images: Sequence[ImageInput],
    *,
    model: str,
    methods: Sequence[str],
    targets: Targets = None,
    params: Mapping[str, Params] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> AsyncIterator[list[MethodMap]]:
    """Explain a batch of images with each method (one Explain per method, several in flight),
    yielding each method's answers, one per image, as soon as they arrive.

    Args:
        client: an open client.
        images: pixels or encoded PNG/JPEG files.
        model: the model's name.
        methods: explanation method names, each called once.
        targets: the classes to explain, as `explain` takes them (None: the predicted ones).
        params: per method, its parameters (a method missing here gets the defaults).
        concurrency: at most this many calls in flight.
    """
    slots = asyncio.Semaphore(max(1, concurrency))
    chosen = params or {}
    batch = list(images)
    calls = [
        asyncio.ensure_future(
            _call(client, batch, model, method, targets, chosen.get(method, {}), slots)
        )
        for method in methods
    ]
    try:
        for finished in asyncio.as_completed(calls):
            yield await finished
    finally:
        for call in calls:  # the caller stopped early (a closed page): cancel what is left
            call.cancel()


async def explain_methods(
    client: AsyncSaliencyClient,
    image: ImageInput,
    *,
    model: str,
    methods: Sequence[str],
    targets: int | Sequence[int] | None = None,
    params: Mapping[str, Params] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> AsyncIterator[MethodMap]:
    """Explain one image with each method, yielding each answer as soon as it arrives.

    Args:
        client: an open client.
        image: pixels or an encoded PNG/JPEG file.
        model: the model's name.
        methods: explanation method names, each explained once.
        targets: the predicted class (None), a class, or several classes of this image (one
            explanation each).
        params: per method, its parameters (a method missing here gets the defaults).
        concurrency: at most this many calls in flight.

    Yields:
        One `MethodMap` per method, in the order they finish.
    """
    # Several classes of one image: wrap them, so they are not read as one class per image.
    per_image: Targets = [list(targets)] if isinstance(targets, Sequence) else targets
    async for answers in explain_images(client, [image], model=model, methods=methods,
                                        targets=per_image, params=params,
                                        concurrency=concurrency):
        yield answers[0]
