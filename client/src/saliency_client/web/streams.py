"""The page's long calls, answered as NDJSON streams so it can draw as results arrive.

- `explain`: the gallery (and the two-class comparison): one Explain per method, concurrently;
  a line per method as soon as its answer comes.
- `evaluate`: an Evaluate report, a line per progress message of the server's stream, then the
  report.

A failure after the stream started becomes a last line {"error": ..., "code": ...}. When the
page goes away, Starlette cancels the stream, which cancels the calls still in flight.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from saliency_client.async_client import AsyncSaliencyClient
from saliency_client.errors import SaliencyError
from saliency_client.gallery import explain_methods, explanation_methods
from saliency_client.results import ModelInfo
from saliency_client.web import encode, snippets
from saliency_client.web.fields import BadRequest
from saliency_client.web.state import Call
from saliency_client.web.store import StoredImage

MAX_CLASSES = 2  # one class (the gallery) or two (the comparison)
MAX_EVALUATE_IMAGES = 32
Line = Mapping[str, object]


def _ndjson(lines: AsyncIterator[Line]) -> Response:
    async def encoded() -> AsyncIterator[bytes]:
        try:
            async for line in lines:
                yield (json.dumps(line, allow_nan=False) + "\n").encode()
        except SaliencyError as error:
            yield (json.dumps(encode.error(error)) + "\n").encode()

    return StreamingResponse(encoded(), media_type="application/x-ndjson",
                             headers={"cache-control": "no-store"})


async def explain(request: Request) -> Response:
    """Explain one image with several methods (or "all") for up to two classes."""
    call = await Call.read(request)
    fields, client, model, stored = call.fields, call.client, call.model, call.image()
    classes = fields.integers("classes", MAX_CLASSES)
    every = fields.get("methods") == "all"
    offered = explanation_methods(await client.list_methods())
    methods = offered if every else fields.texts("methods", len(offered) or 1)
    if not methods:
        raise BadRequest("'methods' must name at least one method, or be \"all\"")
    params = fields.params_by_method("params", methods)
    context = snippets.Context(call.target, model, stored.name)

    async def lines() -> AsyncIterator[Line]:
        every_offered = set(methods) == set(offered)
        yield {"methods": methods,
               "snippets": snippets.gallery(context, methods, every_offered, classes, params)}
        start = time.perf_counter()
        async for answer in explain_methods(
            client, stored.png, model=model, methods=methods, targets=classes or None,
            params=params, concurrency=call.state.settings.concurrency,
        ):
            yield encode.method_map(answer) | {"snippets": snippets.explain(
                context, answer.method, classes, params.get(answer.method, {}))}
        yield {"done": True, "seconds": time.perf_counter() - start}

    return _ndjson(lines())


async def _labels(client: AsyncSaliencyClient, info: ModelInfo, model: str,
                  images: list[StoredImage]) -> tuple[list[int], str]:
    """Each image's true class where the model has it by name (demo pictures), else the
    model's own prediction; and which of the two it is."""
    by_name = {label: index for index, label in enumerate(info.labels)}
    if all(image.label in by_name for image in images):
        return [by_name[str(image.label)] for image in images], "true classes"
    predictions = await client.predict([i.png for i in images], model=model, top_k=1)
    for prediction in predictions:
        prediction.raise_for_error()
    return [p.top[0].index for p in predictions], "the model's own predictions"


async def evaluate(request: Request) -> Response:
    """Accuracy against ε for several attacks over the demo pictures or given images."""
    call = await Call.read(request)
    fields, client, model, store = call.fields, call.client, call.model, call.state.store
    if fields.get("images") == "demo":
        images = store.demo
    else:
        images = [store.get(i) for i in fields.texts("images", MAX_EVALUATE_IMAGES)]
    if not images:
        raise BadRequest("'images' must be \"demo\" or name at least one image")
    attacks = fields.texts("attacks", 8)
    if not attacks:
        raise BadRequest("choose at least one attack")
    attack_params = fields.params_by_method("params", attacks)
    epsilons = fields.numbers("epsilons", 32)
    stability = fields.texts("stability", 4)
    labels, source = await _labels(client, await client.get_model(model), model, images)
    context = snippets.Context(call.target, model, images[0].name)
    chosen = {name: attack_params.get(name, {}) for name in attacks}

    async def lines() -> AsyncIterator[Line]:
        yield {"labels": labels, "label_source": source, "images": [i.name for i in images],
               "snippets": snippets.evaluate(context, [i.name for i in images], labels,
                                             chosen, epsilons, stability)}
        progress: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        report = asyncio.ensure_future(client.evaluate(
            [i.png for i in images], labels, model=model, attacks=chosen, epsilons=epsilons,
            stability_methods=stability,
            progress=lambda done, stage: progress.put_nowait((done, stage)),
        ))
        report.add_done_callback(lambda _: progress.put_nowait(None))
        try:
            while (step := await progress.get()) is not None:
                yield {"progress": step[0], "stage": step[1]}
            yield {"report": encode.report(report.result())}
        finally:
            report.cancel()

    return _ndjson(lines())
