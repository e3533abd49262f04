"""The page's plain calls: its configuration, a target's models and methods, images, Predict."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from saliency_client.web import encode, snippets
from saliency_client.web.fields import BadRequest, read_body
from saliency_client.web.state import Call, state_of

MAX_TOP_K = 20


async def config(request: Request) -> Response:
    """The targets (names, addresses, whether TLS and a token are on), demo images, limits."""
    state = state_of(request)
    return JSONResponse({
        "targets": [t.describe() for t in state.settings.targets.values()],
        "demo": [image.describe() for image in state.store.demo],
        "max_upload_bytes": state.settings.max_upload_bytes,
    })


async def models(request: Request) -> Response:
    """A target's models (ready or not, with the reason) and every method it offers."""
    name = request.query_params.get("target", "")
    _, client = state_of(request).client(name)
    found, methods = await asyncio.gather(client.list_models(), client.list_methods())
    return JSONResponse({"models": [encode.model(m) for m in found],
                         "methods": [encode.method(m) for m in methods]})


async def upload(request: Request) -> Response:
    """Keep an uploaded picture (the body is the file; X-File-Name its URL-encoded name)."""
    state = state_of(request)
    data = await read_body(request, state.settings.max_upload_bytes)
    if not data:
        raise BadRequest("the upload is empty")
    name = unquote(request.headers.get("x-file-name", "upload"))
    return JSONResponse(state.store.add(data, name).describe())


async def image(request: Request) -> Response:
    """An image the store holds, as PNG."""
    stored = state_of(request).store.get(request.path_params["image_id"])
    return Response(stored.png, media_type="image/png",
                    headers={"cache-control": "private, max-age=3600"})


async def image_info(request: Request) -> Response:
    """What the page shows of an image it holds: name, size, true class."""
    stored = state_of(request).store.get(request.path_params["image_id"])
    return JSONResponse(stored.describe())


async def predict(request: Request) -> Response:
    """The top classes of one image (Predict, by ONNX Runtime on the server)."""
    call = await Call.read(request)
    stored = call.image()
    top_k = call.fields.integer("top_k", 5, 1, MAX_TOP_K)
    (result,) = await call.client.predict(stored.png, model=call.model, top_k=top_k)
    result.raise_for_error()
    context = snippets.Context(call.target, call.model, stored.name)
    return JSONResponse(encode.prediction(result) | {
        "snippets": snippets.predict(context, top_k)})
