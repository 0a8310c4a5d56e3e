"""The error-mapping interceptor: handler exceptions to statuses from the one table.

GrpcServer puts it in front of every other interceptor (anima_core.server), so no
interceptor's or handler's exception text reaches a client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final

import grpc
import grpc.aio

from anima_core.config import ConfigError
from anima_core.errors import GRPC_STATUS_FOR_KIND, rich_status
from anima_core.interceptors import (
    Behavior,
    Continuation,
    ServerInterceptor,
    WrappedHandlers,
    checked_request,
    refusal,
)
from anima_verify.errors import AnimaError, ErrorKind

if TYPE_CHECKING:
    from anima_core.interceptors import Context, Handler

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "STATUS_FOR_KIND",
    "ErrorMappingInterceptor",
    "status_for_exception",
]

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE: Final = "internal error"

#: Domain error kinds to gRPC codes: the gRPC column of anima_core.errors.ERROR_TABLE.
STATUS_FOR_KIND: Final[Mapping[ErrorKind, grpc.StatusCode]] = GRPC_STATUS_FOR_KIND


def status_for_exception(exc: BaseException) -> grpc.StatusCode:
    """The status a client sees for `exc` once ErrorMappingInterceptor has handled it."""
    if isinstance(exc, AnimaError):
        return STATUS_FOR_KIND.get(exc.kind, grpc.StatusCode.INTERNAL)
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.INTERNAL


class ErrorMappingInterceptor(ServerInterceptor):
    """Turns handler exceptions into statuses from the one table (anima_core.errors).

    AnimaError → its kind's status with its message (those messages are written
    for callers) and a google.rpc.ErrorInfo with its reason, this service's
    `domain` and its metadata, which the service's API client turns back into the
    same typed error. Anything else → INTERNAL "internal error" with no details;
    the exception is logged with its traceback but its text never reaches the
    client (grpc's default would send "Unexpected <type>: <text>"). Aborts by the
    handler itself pass through untouched.
    """

    def __init__(self, *, domain: str) -> None:
        if not domain:
            raise ConfigError("an error domain (ErrorInfo.domain, e.g. 'signer.anima') is needed")
        self.domain = domain
        self._handlers = WrappedHandlers(
            lambda method, behavior: _map_errors(method, behavior, domain),
            tolerant_requests=True,
        )

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        method = handler_call_details.method
        try:
            handler = await continuation(handler_call_details)
        except Exception:  # an inner interceptor failed; grpc would send its text
            logger.exception("interceptor failed for %s", method)
            return refusal(grpc.StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED
            return handler
        return self._handlers.get(method, handler)


async def _abort_for(method: str, exc: Exception, context: Context, domain: str) -> None:
    if isinstance(exc, AnimaError):
        status = rich_status(exc, domain=domain)  # what abort_with_status does, typed
        await context.abort(status.code, status.details, status.trailing_metadata)
    logger.error("unhandled exception in %s", method, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)


def _map_errors(method: str, behavior: Behavior, domain: str) -> Behavior:
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                async with aclosing(behavior(checked_request(request), context)) as responses:
                    async for response in responses:
                        yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_for(method, exc, context, domain)

        return stream

    if inspect.iscoroutinefunction(behavior):

        async def unary(request: Any, context: Context) -> Any:
            try:
                return await behavior(checked_request(request), context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_for(method, exc, context, domain)

        return unary

    async def not_async(request: Any, context: Context) -> None:
        logger.error("handler for %s is not async def; Anima servers need async handlers", method)
        await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)

    return not_async
