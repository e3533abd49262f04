"""Reading what the page sends: JSON bodies and uploads, each field checked once, bounded.

A mistake is a `BadRequest` (HTTP 400) whose message names the field; no message echoes more
than a few dozen characters of what was sent.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from saliency_client.arrays import ParamValue

MAX_JSON_BYTES = 256 * 1024
# The client's own keyword arguments: a parameter by one of these names would collide with them.
_RESERVED = {"images", "model", "method", "targets", "top_k", "priority", "labels",
             "target_classes", "credentials", "timeout"}
_MAX_TEXT = 200
_MAX_PARAMS = 32


class BadRequest(ValueError):
    """A request the page should not have sent; the message says which field and why."""

    status = 400


class TooLarge(BadRequest):
    """A body over its limit."""

    status = 413


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused as soon as it passes `limit` bytes.

    Raises:
        TooLarge: the declared or the received length is over the limit.
    """
    message = f"the upload is over the limit of {limit / 2**20:.1f} MiB"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(message)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(message)
        chunks.append(chunk)
    return b"".join(chunks)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Fields:
    """A JSON object's fields, read with their type and bounds checked."""

    def __init__(self, data: object) -> None:
        """Wrap a decoded JSON value, which must be an object."""
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        self._data: dict[str, Any] = data

    @classmethod
    async def read(cls, request: Request) -> Fields:
        """Read and decode a request's JSON body.

        Raises:
            BadRequest: not JSON, not an object, or over MAX_JSON_BYTES.
        """
        body = await read_body(request, MAX_JSON_BYTES)
        try:
            return cls(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest("the body is not JSON") from None

    def get(self, name: str) -> Any:
        """The raw value, or None."""
        return self._data.get(name)

    def text(self, name: str, default: str | None = None) -> str:
        """A non-empty string of at most 200 characters."""
        value = self._data.get(name, default)
        if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
            raise BadRequest(f"'{name}' must be text of 1 to {_MAX_TEXT} characters")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """An integer in [low, high]."""
        value = self._data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadRequest(f"'{name}' must be an integer in {low}..{high}, got {_short(value)}")
        return value

    def _list(self, name: str, most: int) -> list[Any]:
        value = self._data.get(name, [])
        if not isinstance(value, list) or len(value) > most:
            raise BadRequest(f"'{name}' must be a list of at most {most} items")
        return value

    def integers(self, name: str, most: int) -> list[int]:
        """A list of at most `most` integers."""
        values = self._list(name, most)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise BadRequest(f"'{name}' must hold integers")
        return values

    def numbers(self, name: str, most: int) -> list[float]:
        """A list of at most `most` finite numbers."""
        values = self._list(name, most)
        if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
               for v in values):
            raise BadRequest(f"'{name}' must hold finite numbers")
        return [float(v) for v in values]

    def texts(self, name: str, most: int) -> list[str]:
        """A list of at most `most` short texts."""
        values = self._list(name, most)
        if any(not isinstance(v, str) or not v or len(v) > _MAX_TEXT for v in values):
            raise BadRequest(f"'{name}' must hold texts of 1 to {_MAX_TEXT} characters")
        return values

    def params(self, name: str) -> dict[str, ParamValue]:
        """Method parameters: names to flags, numbers or short texts."""
        value = self._data.get(name, {})
        if not isinstance(value, dict) or len(value) > _MAX_PARAMS:
            raise BadRequest(f"'{name}' must be an object of at most {_MAX_PARAMS} parameters")
        for key, item in value.items():
            if key in _RESERVED:
                raise BadRequest(f"'{key}' is not a method parameter")
            if len(key) > 64 or not isinstance(item, bool | int | float | str):
                raise BadRequest(f"parameter {_short(key)} must be a flag, number or text")
            if isinstance(item, str) and len(item) > _MAX_TEXT:
                raise BadRequest(f"parameter {_short(key)} is too long")
            if isinstance(item, float) and not math.isfinite(item):
                raise BadRequest(f"parameter {_short(key)} must be finite")
        return dict(value)

    def params_by_method(self, name: str, methods: list[str]) -> dict[str, dict[str, ParamValue]]:
        """Per method, its parameters; methods outside `methods` are refused."""
        value = self._data.get(name, {})
        if not isinstance(value, dict):
            raise BadRequest(f"'{name}' must map methods to their parameters")
        unknown = set(value) - set(methods)
        if unknown:
            raise BadRequest(f"'{name}' names methods not asked for: {_short(sorted(unknown))}")
        return {method: Fields(value).params(method) for method in value}
