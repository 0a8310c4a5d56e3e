"""The plumbing of Anima's grpc.aio server interceptors, and tolerant request decoding.

grpc.aio server interceptors can only change an RPC by returning a new
RpcMethodHandler: `wrap_behavior` rebuilds one around a wrapped behaviour for any
of the four shapes, `WrappedHandlers` memoizes that per method, and `refusal`
ends a call at once. With `tolerant_requests`, a request that does not decode
reaches the wrapper as a stand-in that `checked_request` turns into
MalformedRequest (INVALID_ARGUMENT) instead of grpc's UNKNOWN with the parser's text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import grpc
import grpc.aio

from anima_verify.errors import AnimaError, ErrorKind

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
    ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's runtime class is not generic; grpc-stubs' is.
    ServerInterceptor = grpc.aio.ServerInterceptor

__all__ = [
    "Behavior",
    "Continuation",
    "MalformedRequest",
    "ServerInterceptor",
    "WrappedHandlers",
    "checked_request",
    "refusal",
    "wrap_behavior",
]

Behavior = Callable[..., Any]
"""An RPC behaviour: `(request_or_iterator, context) -> awaitable or async iterator`."""


def wrap_behavior(
    handler: Handler,
    wrap: Callable[[Behavior], Behavior],
    *,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """Return `handler` with its behaviour passed through `wrap`, shape and codecs kept.

    grpc.aio server interceptors can only change an RPC by returning a new
    RpcMethodHandler (grpc/grpc#18191); this is the one place that knows the
    four shapes.
    """
    factory: Callable[..., Handler]
    if handler.request_streaming and handler.response_streaming:
        factory, behavior = grpc.stream_stream_rpc_method_handler, handler.stream_stream
    elif handler.request_streaming:
        factory, behavior = grpc.stream_unary_rpc_method_handler, handler.stream_unary
    elif handler.response_streaming:
        factory, behavior = grpc.unary_stream_rpc_method_handler, handler.unary_stream
    else:
        factory, behavior = grpc.unary_unary_rpc_method_handler, handler.unary_unary
    if behavior is None:
        raise TypeError("RpcMethodHandler without a behaviour for its own shape")
    return factory(
        wrap(behavior),
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class WrappedHandlers:
    """A per-method memo of `wrap_behavior` results, for interceptors.

    Wrapping costs closures and a handler object; doing it once per method
    rather than once per call keeps interceptors off the signer's hot path.
    A handler is re-wrapped when an inner layer returns a different one.
    """

    # Bounds the memo if a generic handler accepts arbitrary method names.
    MAX_ENTRIES: Final = 4096

    def __init__(
        self, wrap: Callable[[str, Behavior], Behavior], *, tolerant_requests: bool = False
    ) -> None:
        self._wrap = wrap
        self._tolerant_requests = tolerant_requests
        self._memo: dict[str, tuple[Handler, Handler]] = {}

    def get(self, method: str, handler: Handler) -> Handler:
        cached = self._memo.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        deserializer = handler.request_deserializer
        wrapped = wrap_behavior(
            handler,
            lambda behavior: self._wrap(method, behavior),
            request_deserializer=_tolerant(deserializer)
            if self._tolerant_requests and deserializer is not None
            else None,
        )
        if len(self._memo) < self.MAX_ENTRIES or method in self._memo:
            self._memo[method] = (handler, wrapped)
        return wrapped


Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["Handler"]]
"""What grpc.aio passes to `intercept_service`: the rest of the chain."""


def refusal(code: grpc.StatusCode, message: str) -> Handler:
    """A handler that ends any call at once with `code` and `message`.

    Stream-stream shaped whatever the method's real shape: grpc then reads no
    request before running it, so a bidi client that waits for the server
    before writing gets the status instead of hanging until its deadline.
    """

    async def refuse(request_iterator: Any, context: Context) -> None:
        await context.abort(code, message)

    return grpc.stream_stream_rpc_method_handler(refuse)


class MalformedRequest(AnimaError):
    """The request bytes do not decode as the method's protobuf message.

    Any service can send it: its reason is listed in every service's proto.
    """

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_REQUEST"


class _Undecodable:
    """Stands in for a request that failed to decode, so the handler wrapper can
    answer INVALID_ARGUMENT (grpc itself would answer UNKNOWN with the parser's
    exception text)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def error(self) -> MalformedRequest:
        return MalformedRequest(f"malformed request: not a valid {self.type_name} protobuf")


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    owner = getattr(deserialize, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    type_name = getattr(descriptor, "full_name", "request")

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            return _Undecodable(type_name)

    return parse


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Undecodable):
            raise request.error()
        yield request


def checked_request(request: Any) -> Any:
    """The request, with undecodable messages turned into MalformedRequest."""
    if isinstance(request, _Undecodable):
        raise request.error()
    if hasattr(request, "__aiter__"):
        return _checked_stream(request)
    return request
