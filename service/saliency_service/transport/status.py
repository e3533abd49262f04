"""One table from the service's exceptions to gRPC status codes, and the interceptor applying it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from saliency_service import errors

log = logging.getLogger(__name__)

# The trailing metadata that marks a RESOURCE_EXHAUSTED answer as "busy, retry after this many
# milliseconds"; without it (a request over a cap) a retry cannot succeed.
RETRY_AFTER = "saliency-retry-after-ms"
RETRY_AFTER_MS = 200
SERVICE_PREFIX = "/saliency.v1.Saliency/"

STATUS: dict[type[errors.SaliencyError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UnknownModel: grpc.StatusCode.NOT_FOUND,
    errors.ModelNotReady: grpc.StatusCode.UNAVAILABLE,
    errors.UnsupportedMethod: grpc.StatusCode.UNIMPLEMENTED,
    errors.Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.ShuttingDown: grpc.StatusCode.UNAVAILABLE,
}
INTERNAL_MESSAGE = "internal error; the server logged the details"
MAX_MESSAGE = 1000


def unwrap(error: BaseException) -> BaseException:
    """The error itself: asyncio.TaskGroup wraps even a single failure in a group."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def code_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and message to answer `error` with; anything unexpected is INTERNAL.

    Messages are cut to MAX_MESSAGE characters: a status travels in metadata, whose size gRPC
    limits, and no message of ours needs more.
    """
    error = unwrap(error)
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls], str(error)[:MAX_MESSAGE]
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Answers what a Saliency handler raises with its mapped status; anything unexpected as
    INTERNAL. Other services on the port (health, reflection) are left as they are."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(SERVICE_PREFIX):
            return handler
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary), deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream, _checked),
                deserializer,
                handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _streaming(handler.stream_stream, _checked_stream),
                deserializer,
                handler.response_serializer,
            )
        return handler


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """Return a corrupt message as an InvalidRequest for the handler to raise.

    Raised inside the deserializer, grpc would answer UNKNOWN and log a traceback.
    """
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return errors.InvalidRequest(f"the request ({len(data)} bytes) is not valid protobuf")

    return deserialize


def _checked(request: Any) -> Any:
    if isinstance(request, errors.InvalidRequest):
        raise request
    return request


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


def _unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(_checked(request), context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)

    return wrapped


async def _abort(context: grpc.aio.ServicerContext, error: Exception) -> None:
    code, message = code_of(error)
    if code == grpc.StatusCode.INTERNAL:
        log.error("unexpected error", exc_info=error)
    cause = unwrap(error)
    if isinstance(cause, errors.Overloaded) and cause.busy:
        context.set_trailing_metadata(((RETRY_AFTER, str(RETRY_AFTER_MS)),))
    await context.abort(code, message)


def _streaming(
    behaviour: Callable[..., AsyncIterator[Any]], check: Callable[[Any], Any]
) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(check(request), context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)

    return wrapped
