"""One table from the service's exceptions to gRPC status codes, and the interceptor applying it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from saliency_service import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.SaliencyError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UnknownModel: grpc.StatusCode.NOT_FOUND,
    errors.UnsupportedMethod: grpc.StatusCode.UNIMPLEMENTED,
    errors.Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.ShuttingDown: grpc.StatusCode.UNAVAILABLE,
}
INTERNAL_MESSAGE = "internal error; the server logged the details"


def code_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and message to answer `error` with; anything unexpected is INTERNAL."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls], str(error)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Answers what a handler raises with its mapped status; anything unexpected as INTERNAL."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _streaming(handler.stream_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return handler


def _unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)

    return wrapped


async def _abort(context: grpc.aio.ServicerContext, error: Exception) -> None:
    code, message = code_of(error)
    if code == grpc.StatusCode.INTERNAL:
        log.error("unexpected error", exc_info=error)
    await context.abort(code, message)


def _streaming(behaviour: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)

    return wrapped
