"""The grpc.aio server every Anima service runs, with domain errors mapped to rich statuses.

Why a shared bootstrap: each service needs the same things done the same way
(health tied to real readiness, reflection only outside production, bounded
message sizes, graceful shutdown on SIGTERM, no exception text reaching
clients), and getting any of them subtly wrong in one service is how outages
and leaks happen.

Handlers must be `async def` (coroutines or async generators): STYLE.md asks
for grpc.aio everywhere, and wrapping sync handlers would need a second,
thread-pool code path. A sync handler fails closed with INTERNAL.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from anima_core.config import ConfigError
from anima_core.errors import GRPC_STATUS_FOR_KIND, rich_status
from anima_core.shutdown import stop_on_signals
from anima_verify.errors import AnimaError, ErrorKind

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
    ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's runtime class is not generic; grpc-stubs' is.
    ServerInterceptor = grpc.aio.ServerInterceptor

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "STATUS_FOR_KIND",
    "AddServicerFn",
    "Behavior",
    "Continuation",
    "ErrorMappingInterceptor",
    "GrpcServer",
    "MalformedRequest",
    "ServerInterceptor",
    "WrappedHandlers",
    "refusal",
    "status_for_exception",
    "wrap_behavior",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
INTERNAL_ERROR_MESSAGE: Final = "internal error"

#: Domain error kinds to gRPC codes: the gRPC column of anima_core.errors.ERROR_TABLE.
STATUS_FOR_KIND: Final[Mapping[ErrorKind, grpc.StatusCode]] = GRPC_STATUS_FOR_KIND

Behavior = Callable[..., Any]
"""An RPC behaviour: `(request_or_iterator, context) -> awaitable or async iterator`."""


def status_for_exception(exc: BaseException) -> grpc.StatusCode:
    """The status a client sees for `exc` once ErrorMappingInterceptor has handled it."""
    if isinstance(exc, AnimaError):
        return STATUS_FOR_KIND.get(exc.kind, grpc.StatusCode.INTERNAL)
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.INTERNAL


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


def _checked(request: Any) -> Any:
    """The request, with undecodable messages turned into MalformedRequest."""
    if isinstance(request, _Undecodable):
        raise request.error()
    if hasattr(request, "__aiter__"):
        return _checked_stream(request)
    return request


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
                async with aclosing(behavior(_checked(request), context)) as responses:
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
                return await behavior(_checked(request), context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort_for(method, exc, context, domain)

        return unary

    async def not_async(request: Any, context: Context) -> None:
        logger.error("handler for %s is not async def; Anima servers need async handlers", method)
        await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)

    return not_async


AddServicerFn = Callable[[Any, grpc.aio.Server], None]
"""A generated `add_<Service>Servicer_to_server` function."""


class GrpcServer:
    """One grpc.aio listener with health, optional reflection and error mapping.

    Health starts NOT_SERVING for "" and every service name, and only the
    service flips it (`set_ready`) once its dependencies are really usable, so
    probes and load balancers never route to a half-started process.

    Interceptors run outermost first in the order given; ErrorMappingInterceptor
    is always added in front of them so that no interceptor's or handler's
    exception text escapes, and domain errors carry ErrorInfo with
    `error_domain` (the service's: "signer.anima"). Put tracing before auth so
    denied calls are traced.

    `max_message_bytes` bounds requests and responses alike; a service whose answers
    may be larger than anything it accepts sets `max_send_message_bytes` apart.
    """

    def __init__(
        self,
        *,
        address: str,
        credentials: grpc.ServerCredentials | None,
        insecure_plaintext: bool = False,
        production: bool,
        error_domain: str,
        interceptors: Sequence[ServerInterceptor] = (),
        service_names: Sequence[str] = (),
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_send_message_bytes: int | None = None,
    ) -> None:
        if credentials is None and not insecure_plaintext:
            raise ConfigError(
                f"no server credentials for {address}; pass insecure_plaintext=True to "
                "listen in plaintext (development and tests only)"
            )
        if credentials is not None and insecure_plaintext:
            raise ConfigError(f"both credentials and insecure_plaintext=True given for {address}")
        if max_message_bytes <= 0:
            raise ConfigError(f"max_message_bytes must be positive, got {max_message_bytes}")
        if max_send_message_bytes is not None and max_send_message_bytes <= 0:
            raise ConfigError(
                f"max_send_message_bytes must be positive, got {max_send_message_bytes}"
            )
        self._address = address
        self._credentials = credentials
        self._production = production
        self._interceptors: tuple[ServerInterceptor, ...] = (
            ErrorMappingInterceptor(domain=error_domain),
            *interceptors,
        )
        self._service_names: list[str] = list(dict.fromkeys(service_names))
        self._max_message_bytes = max_message_bytes
        self._max_send_message_bytes = max_send_message_bytes or max_message_bytes
        self._servicers: list[tuple[AddServicerFn, object]] = []
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()
        self._ready = False
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port (after `start`)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(self._service_names)

    def add_servicer(self, add_fn: AddServicerFn, servicer: object, service_name: str) -> None:
        """Register a servicer (before `start`); its name joins health and reflection."""
        if self._server is not None:
            raise RuntimeError("add_servicer after start")
        self._servicers.append((add_fn, servicer))
        if service_name not in self._service_names:
            self._service_names.append(service_name)

    async def start(self) -> int:
        """Bind, register everything and start serving; return the bound port.

        Created here rather than in __init__ so the grpc.aio server binds to the
        running event loop.
        """
        if self._server is not None:
            raise RuntimeError("server already started")
        server = grpc.aio.server(
            interceptors=self._interceptors,
            options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.max_send_message_length", self._max_send_message_bytes),
            ],
        )
        for add_fn, servicer in self._servicers:
            add_fn(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        await self._publish_health()
        if not self._production:
            reflection.enable_server_reflection(
                (*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
            )
        if self._credentials is None:
            port = server.add_insecure_port(self._address)
        else:
            port = server.add_secure_port(self._address, self._credentials)
        if port == 0:
            raise ConfigError(f"could not bind {self._address}")
        await server.start()
        self._server, self._port = server, port
        logger.info(
            "gRPC server listening on port %d (%s, reflection %s)",
            port,
            "plaintext" if self._credentials is None else "TLS",
            "off" if self._production else "on",
        )
        return port

    async def set_ready(self, ready: bool) -> None:
        """Flip health for "" and every service between SERVING and NOT_SERVING.

        Async because grpc's aio HealthServicer notifies Watch streams under an
        asyncio.Condition. After shutdown has begun this is a no-op.
        """
        self._ready = ready
        await self._publish_health()

    async def _publish_health(self) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if self._ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in (health.OVERALL_HEALTH, *self._service_names):
            await self._health.set(name, status)

    async def stop(self, grace: float) -> None:
        """Mark everything NOT_SERVING for good, then stop, letting calls finish for `grace` s."""
        await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(grace)

    async def run_until_signal(self, *, grace: float = 10.0) -> None:
        """Serve until SIGTERM or SIGINT, then drain and stop gracefully.

        Health turns NOT_SERVING before new calls are refused, so Watch streams
        (and probes that land in the grace window) see the change.
        """
        if self._server is None:
            raise RuntimeError("run_until_signal before start")
        with stop_on_signals() as stopping:
            await stopping.wait()
        logger.info("shutdown signal received; draining for up to %.1f s", grace)
        await self.stop(grace)
