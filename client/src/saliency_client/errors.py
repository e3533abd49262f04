"""Typed errors for every gRPC status, so apps never branch on `grpc` internals.

SaliencyError                 base; `.code` (a grpc.StatusCode) and `.details` (the server's text)
├── Cancelled                 CANCELLED            the call was cancelled
├── Unknown                   UNKNOWN              no better status was given
├── InvalidArgument           INVALID_ARGUMENT     the request can never succeed as sent
├── DeadlineExceeded          DEADLINE_EXCEEDED    the deadline passed first; retry with more time
├── NotFound                  NOT_FOUND            no such model
├── AlreadyExists             ALREADY_EXISTS
├── PermissionDenied          PERMISSION_DENIED
├── ResourceExhausted         RESOURCE_EXHAUSTED   server busy or item too big; retry later
├── FailedPrecondition        FAILED_PRECONDITION
├── Aborted                   ABORTED
├── OutOfRange                OUT_OF_RANGE
├── Unimplemented             UNIMPLEMENTED        known method that this model or server lacks
├── Internal                  INTERNAL             a server bug
├── Unavailable               UNAVAILABLE          server down or draining; retry elsewhere
├── DataLoss                  DATA_LOSS
└── Unauthenticated           UNAUTHENTICATED

A whole call that fails raises one of these (see `from_rpc_error`); an image that fails inside a
call that succeeded puts one in its result's `error` (see `from_item_error`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import ClassVar

import grpc
import grpc.aio

from saliency_client._proto.saliency.v1 import saliency_pb2


class SaliencyError(Exception):
    """Base of every error the client raises or reports; carries the gRPC status code."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str) -> None:
        """Record the server's (or the client's) description of what went wrong."""
        super().__init__(details)
        self.details = details


class Cancelled(SaliencyError):
    """The call was cancelled, by the caller or the server."""

    code = grpc.StatusCode.CANCELLED


class Unknown(SaliencyError):
    """The server gave no specific status, or one the client does not know."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(SaliencyError):
    """The request (or one image of it) is malformed or out of range."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(SaliencyError):
    """The deadline passed before the work was done."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(SaliencyError):
    """The named model (or other resource) does not exist on the server."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(SaliencyError):
    """The resource to create exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(SaliencyError):
    """The caller may not do this."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(SaliencyError):
    """The server's queue is full or the item too big for the device; retrying may succeed."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(SaliencyError):
    """The server is not in a state to do this."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(SaliencyError):
    """The work was aborted, typically by a concurrency conflict."""

    code = grpc.StatusCode.ABORTED


class OutOfRange(SaliencyError):
    """A value lies past the valid range."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(SaliencyError):
    """The method exists but this server or model cannot run it."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(SaliencyError):
    """The server failed in a way it did not expect."""

    code = grpc.StatusCode.INTERNAL


class Unavailable(SaliencyError):
    """The server cannot be reached or is shutting down; retrying elsewhere may succeed."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(SaliencyError):
    """Data was lost or corrupted."""

    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(SaliencyError):
    """The call lacks valid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED


STATUS_TO_ERROR: dict[grpc.StatusCode, type[SaliencyError]] = {
    cls.code: cls
    for cls in (
        Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists,
        PermissionDenied, ResourceExhausted, FailedPrecondition, Aborted, OutOfRange,
        Unimplemented, Internal, Unavailable, DataLoss, Unauthenticated,
    )
}
# ItemError carries the status as its wire number; grpc.StatusCode values are (number, name).
_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def error_for(code: grpc.StatusCode, details: str) -> SaliencyError:
    """Return the typed error for `code`; codes without a class (OK) become `Unknown`."""
    return STATUS_TO_ERROR.get(code, Unknown)(details)


def from_rpc_error(error: grpc.RpcError) -> SaliencyError:
    """Turn a failed call's `grpc.RpcError` (sync or asyncio) into its typed error."""
    if isinstance(error, grpc.Call | grpc.aio.AioRpcError):
        return error_for(error.code(), error.details() or "")
    # A bare RpcError carries no status (grpc raises them only as Call objects in practice).
    return Unknown(str(error))


def from_item_error(error: saliency_pb2.ItemError) -> SaliencyError | None:
    """Return the typed error one image of a response carries, or None when its code is 0."""
    if error.code == 0:
        return None
    code = _CODE_BY_NUMBER.get(error.code)
    if code is None:
        return Unknown(f"status {error.code}: {error.message}")
    return error_for(code, error.message)


@contextlib.contextmanager
def translate_rpc_errors() -> Iterator[None]:
    """Re-raise any `grpc.RpcError` in the block as its typed error (for sync and async code)."""
    try:
        yield
    except grpc.RpcError as error:
        raise from_rpc_error(error) from error
