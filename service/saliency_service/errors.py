"""The service's exceptions. Transport maps each to a gRPC status in one table.

SaliencyError
├── InvalidRequest        the request can never succeed as sent      → INVALID_ARGUMENT
├── UnknownModel          no such model in the repository            → NOT_FOUND
├── ModelNotReady         the model failed to load (reason given)    → UNAVAILABLE
├── UnsupportedMethod     known method that cannot run here          → UNIMPLEMENTED
├── Overloaded            queue full or item too big for the device  → RESOURCE_EXHAUSTED
├── DeadlineExceeded      the caller's deadline passed before compute → DEADLINE_EXCEEDED
├── Cancelled             the caller went away                       → CANCELLED
└── ShuttingDown          the server is draining                     → UNAVAILABLE
"""


class SaliencyError(Exception):
    """Base of every error the service answers with a specific status."""


class InvalidRequest(SaliencyError):
    """The request (or one image of it) is malformed or out of range."""


class UnknownModel(SaliencyError):
    """The named model is not in the server's repository."""


class ModelNotReady(SaliencyError):
    """The named model is in the repository but failed to load; the message says why."""


class UnsupportedMethod(SaliencyError):
    """The method exists but cannot be applied (to this model, or yet)."""


class Overloaded(SaliencyError):
    """The server cannot take the work now; retrying later may succeed."""


class DeadlineExceeded(SaliencyError):
    """The work's deadline passed before it could be computed."""


class Cancelled(SaliencyError):
    """The caller cancelled the request."""


class ShuttingDown(SaliencyError):
    """The server is draining and takes no new work."""
