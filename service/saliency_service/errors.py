"""The service's exceptions. Transport maps each to a gRPC status in one table.

SaliencyError
├── InvalidRequest        the request can never succeed as sent      → INVALID_ARGUMENT
│   └── InvalidLayer      a layer that cannot be read                → INVALID_ARGUMENT
├── UnknownModel          no such model in the repository            → NOT_FOUND
├── ModelNotReady         the model failed to load (reason given)    → UNAVAILABLE
├── UnsupportedMethod     known method that cannot run here          → UNIMPLEMENTED
├── Overloaded            server busy (retry), or over a cost cap    → RESOURCE_EXHAUSTED
├── DeadlineExceeded      the caller's deadline passed before compute → DEADLINE_EXCEEDED
├── Cancelled             the caller went away                       → CANCELLED
└── ShuttingDown          the server is draining                     → UNAVAILABLE
"""

from __future__ import annotations

from typing import ClassVar


class SaliencyError(Exception):
    """Base of every error the service answers with a specific status.

    `whole_request`: the error concerns every image of a request alike (the method cannot
    apply to the model, a layer cannot be read), so a batch answers it for all of its images
    and the request fails with it as its status.
    """

    whole_request: ClassVar[bool] = False


class InvalidRequest(SaliencyError):
    """The request (or one image of it) is malformed or out of range."""


class UnknownModel(SaliencyError):
    """The named model is not in the server's repository."""


class ModelNotReady(SaliencyError):
    """The named model is in the repository but failed to load; the message says why."""


class InvalidLayer(InvalidRequest):
    """The layer a method should read does not exist, or cannot be read as a feature map."""

    whole_request = True


class UnsupportedMethod(SaliencyError):
    """The method exists but cannot be applied (to this model, or yet)."""

    whole_request = True


class Overloaded(SaliencyError):
    """The work exceeds what the server can take: now (`busy`, retrying later may succeed), or
    ever (over a per-request cap, or an image too big for the device: retrying cannot help)."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


class DeadlineExceeded(SaliencyError):
    """The work's deadline passed before it could be computed."""


class Cancelled(SaliencyError):
    """The caller cancelled the request."""


class ShuttingDown(SaliencyError):
    """The server is draining and takes no new work."""


def quoted(text: str, limit: int = 40) -> str:
    """`text` quoted for a message, cut to `limit` characters: clients' text is echoed bounded."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"
