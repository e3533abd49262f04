"""The ASGI application: routes, one client per target, errors as messages, strict headers.

The page is static files (HTML, CSS, plain JavaScript modules) and a small JSON API; every
answer the API gives comes from a saliency-server through `AsyncSaliencyClient`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saliency_client.errors import SaliencyError
from saliency_client.web import attack, encode, streams, views
from saliency_client.web.fields import BadRequest
from saliency_client.web.state import Settings, WebState
from saliency_client.web.store import ImageError, ImageStore

STATIC = resources.files("saliency_client.web") / "static"
# The page runs only its own files: no inline script or style, no frames, nothing remote.
_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
     b"form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# A server's status as the HTTP status of the page's call: the web server is a gateway, so
# what is the server's own fault (or the web server's credentials) is a 502.
_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400, "OUT_OF_RANGE": 400, "FAILED_PRECONDITION": 400,
    "NOT_FOUND": 404, "UNIMPLEMENTED": 501, "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "CANCELLED": 499,
}


class SecurityHeaders:
    """Adds the headers in `_HEADERS` to every HTTP response, streaming ones included."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the call on, adding the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _message(status: int, text: str, code: str = "") -> JSONResponse:
    return JSONResponse({"error": text, "code": code}, status_code=status)


async def _bad_request(request: Request, error: Exception) -> Response:
    status = getattr(error, "status", 400)
    return _message(status, str(error), "BAD_REQUEST" if status == 400 else "TOO_LARGE")


async def _image_error(request: Request, error: Exception) -> Response:
    return _message(400, str(error), "BAD_IMAGE")


async def _server_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, SaliencyError)  # registered for SaliencyError only
    body = encode.error(error)
    return _message(_HTTP_STATUS.get(error.code.name, 502), body["error"], body["code"])


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)  # registered for HTTPException only
    return _message(error.status_code, str(error.detail), "HTTP")


async def _unexpected(request: Request, error: Exception) -> Response:
    # Starlette re-raises the error after this answer, so the ASGI server logs its traceback.
    return _message(500, "internal error in saliency-web; its log has the details", "INTERNAL")


async def _index(request: Request) -> Response:
    return FileResponse(str(STATIC / "index.html"), headers={"cache-control": "no-cache"})


def create_app(settings: Settings) -> ASGIApp:
    """Build the application; clients open when it starts and close when it stops."""
    state = WebState(settings, ImageStore(settings.max_held_bytes))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.clients = {name: target.connect(settings.timeout)
                         for name, target in settings.targets.items()}
        try:
            yield
        finally:
            for client in state.clients.values():
                await client.close()

    routes = [
        Route("/", _index),
        Route("/api/config", views.config),
        Route("/api/models", views.models),
        Route("/api/images", views.upload, methods=["POST"]),
        Route("/api/images/{image_id}", views.image),
        Route("/api/images/{image_id}/info", views.image_info),
        Route("/api/predict", views.predict, methods=["POST"]),
        Route("/api/explain", streams.explain, methods=["POST"]),
        Route("/api/attack", attack.attack, methods=["POST"]),
        Route("/api/evaluate", streams.evaluate, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    handlers: dict[Any, Any] = {
        BadRequest: _bad_request,
        ImageError: _image_error,
        SaliencyError: _server_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.web = state
    return SecurityHeaders(app)
