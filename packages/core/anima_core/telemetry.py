"""OpenTelemetry tracing on every RPC, with W3C trace context carried across hops.

A SERVER span per handled RPC, a CLIENT span per outgoing one; the client
injects `traceparent` into the call's metadata and the server continues that
trace, so one request through runtime → signer → chain is one trace.

Why not opentelemetry-instrumentation-grpc (0.66b2, checked against grpcio
1.85.1): its aio server interceptor drives every streaming-response handler
with `async for`, so a handler that streams with `context.write` fails with
UNKNOWN "'async for' requires an object with __aiter__ method" — grpc's own
Health.Watch is one, and our probes use it. It also wraps each call's context
in a wrapt proxy and adds two dependencies, for a per-call cost no lower than
these small interceptors (both are dominated by the SDK's span creation,
roughly 25-45 us per span on a small shared VM; our own code adds ~1-5 us).

Span names and attributes follow the OpenTelemetry RPC conventions:
`package.Service/Method`, `rpc.system`, `rpc.service`, `rpc.method`,
`rpc.grpc.status_code`.

Tracing is on where spans go somewhere: an SDK TracerProvider is passed in or installed
globally (anima_core.otel does that when the OTEL_* variables ask for export). Without
one every span would be a no-op, so the client interceptors are left off the channel
and the server interceptor passes handlers through: a grpc.aio call with any client
interceptor runs in an extra task behind a Python wrapper (issue 20). Such a process
then passes no trace context on either; configure export on all services or none.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final

import grpc
import grpc.aio
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from anima_core.error_mapping import status_for_exception
from anima_core.interceptors import (
    Behavior,
    Continuation,
    ServerInterceptor,
    WrappedHandlers,
)

if TYPE_CHECKING:
    from anima_core.interceptors import Context, Handler

__all__ = [
    "TracingServerInterceptor",
    "TracingStreamStreamClientInterceptor",
    "TracingStreamUnaryClientInterceptor",
    "TracingUnaryStreamClientInterceptor",
    "TracingUnaryUnaryClientInterceptor",
    "configure_tracing",
    "tracing_client_interceptors",
    "tracing_server_interceptors",
]

_INSTRUMENTATION: Final = "anima_core.telemetry"
# Always W3C, whatever OTEL_PROPAGATORS says: every Anima hop speaks it.
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACE_KEYS: Final = frozenset(_PROPAGATOR.fields)

# Server spans are errors only for codes that mean the server failed
# (OpenTelemetry gRPC conventions); a client sees every non-OK as an error.
_SERVER_ERROR_CODES: Final = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def configure_tracing(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    batch: bool = True,
    set_global: bool = True,
    sampler: Sampler | None = None,
) -> TracerProvider:
    """Create a TracerProvider for `service_name`, exporting to `exporter` if given.

    batch=False exports each span as it ends (tests, debugging); the batch
    processor keeps exporting off the RPC path. OpenTelemetry allows the
    global provider to be set once per process, so tests pass set_global=False
    and hand the provider to the interceptors instead. `sampler` defaults to
    the SDK's (parent-based, always on, or OTEL_TRACES_SAMPLER); on hot paths
    like the signer a ratio sampler cuts an unsampled call's tracing cost to
    about a quarter.
    """
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service_name}), sampler=sampler
    )
    if exporter is not None:
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def _exporting(provider: trace.TracerProvider | None) -> bool:
    """Whether spans made with `provider` (None: the global one) are recorded."""
    return isinstance(trace.get_tracer_provider() if provider is None else provider, TracerProvider)


def _tracer(provider: trace.TracerProvider | None) -> Tracer:
    return trace.get_tracer(_INSTRUMENTATION, tracer_provider=provider)


def _rpc_attributes(method: str) -> tuple[str, dict[str, str]]:
    """Span name and attributes for a full method name like "/pkg.Service/Method"."""
    name = method.lstrip("/")
    service, _, rpc = name.rpartition("/")
    return name, {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc}


def _set_rpc_status(span: Span, code: grpc.StatusCode, *, server: bool) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK and (not server or code in _SERVER_ERROR_CODES):
        span.set_status(Status(StatusCode.ERROR, code.name))


# ------------------------------------------------------------------ server


class TracingServerInterceptor(ServerInterceptor):
    """Starts a SERVER span per RPC, continuing the caller's `traceparent`.

    The span is current while the handler runs, so the handler's own client
    calls become its children. The status recorded is the one the client
    will see, including AnimaError kinds mapped by ErrorMappingInterceptor.
    """

    def __init__(self, *, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = _tracer(tracer_provider)
        self._handlers = WrappedHandlers(self._trace)
        self._on = _exporting(tracer_provider)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None or not self._on:
            return handler
        return self._handlers.get(handler_call_details.method, handler)

    def _trace(self, method: str, behavior: Behavior) -> Behavior:
        name, attributes = _rpc_attributes(method)
        tracer = self._tracer

        def start(context: Context) -> Any:
            parent = _PROPAGATOR.extract(_trace_headers(context.invocation_metadata()))
            return tracer.start_as_current_span(
                name,
                context=parent,
                kind=SpanKind.SERVER,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            )

        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                with start(context) as span:
                    try:
                        async with aclosing(behavior(request, context)) as responses:
                            async for response in responses:
                                yield response
                    except BaseException as exc:
                        _end_server_span(span, context, exc)
                        raise
                    _end_server_span(span, context, None)

            return stream

        async def unary(request: Any, context: Context) -> Any:
            with start(context) as span:
                try:
                    response = await behavior(request, context)
                except BaseException as exc:
                    _end_server_span(span, context, exc)
                    raise
                _end_server_span(span, context, None)
                return response

        # A sync behaviour is refused by ErrorMappingInterceptor; tracing it
        # as a coroutine would only add a second failure.
        return unary if inspect.iscoroutinefunction(behavior) else behavior


def _trace_headers(metadata: Any) -> dict[str, str]:
    return {key: value for key, value in metadata or () if key in _TRACE_KEYS}


def _end_server_span(span: Span, context: Context, exc: BaseException | None) -> None:
    if exc is None or isinstance(exc, grpc.aio.AbortError):
        # An abort (or context.set_code) has put its code on the context;
        # grpc.aio reports an unset code as None.
        code = context.code() or grpc.StatusCode.OK
    else:
        code = status_for_exception(exc)
        if code is grpc.StatusCode.INTERNAL:
            span.record_exception(exc)  # the text stays in the trace, not in the response
    _set_rpc_status(span, code, server=True)


# ------------------------------------------------------------------ client


class _ClientTracing:
    """The shared half of the four client interceptors grpc.aio requires.

    grpc.aio sorts a channel's interceptors by type with `elif`, so one class
    cannot serve all four call shapes.
    """

    def __init__(self, *, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = _tracer(tracer_provider)
        self._names: dict[str, tuple[str, dict[str, str]]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def _start(
        self, details: grpc.aio.ClientCallDetails
    ) -> tuple[Span, grpc.aio.ClientCallDetails]:
        method = details.method
        if isinstance(method, bytes):  # grpc passes bytes (grpc/grpc#31092)
            method = method.decode()
        named = self._names.get(method)
        if named is None:
            named = self._names[method] = _rpc_attributes(method)
        span = self._tracer.start_span(named[0], kind=SpanKind.CLIENT, attributes=named[1])
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        _PROPAGATOR.inject(metadata, context=trace.set_span_in_context(span))
        return span, grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
        )

    async def _unary_response(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        # The interceptor already runs in its own task, so waiting here for the
        # status costs nothing and the span ends exactly when the call does.
        span, details = self._start(details)
        call = None
        try:
            call = await continuation(details, request)
            _set_rpc_status(span, await call.code(), server=False)
            return call
        except BaseException as exc:
            if call is not None and isinstance(exc, asyncio.CancelledError):
                call.cancel()  # the caller cancelled: the RPC must not run on unseen
            _set_rpc_status(span, _client_code(exc), server=False)
            raise
        finally:
            span.end()

    async def _stream_response(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        # A streaming call must go back to the caller before it ends, so a
        # small task waits for its status; the call object is returned as is.
        span, details = self._start(details)
        try:
            call = await continuation(details, request)
        except BaseException as exc:
            _set_rpc_status(span, _client_code(exc), server=False)
            span.end()
            raise
        task = asyncio.get_running_loop().create_task(_end_when_done(span, call))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return call


async def _end_when_done(span: Span, call: Any) -> None:
    try:
        _set_rpc_status(span, await call.code(), server=False)
    except BaseException as exc:
        _set_rpc_status(span, _client_code(exc), server=False)
        raise
    finally:
        span.end()


def _client_code(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code()
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


if TYPE_CHECKING:
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary = grpc.aio.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream = grpc.aio.StreamStreamClientInterceptor[Any, Any]
else:
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor
    _StreamUnary = grpc.aio.StreamUnaryClientInterceptor
    _StreamStream = grpc.aio.StreamStreamClientInterceptor


class TracingUnaryUnaryClientInterceptor(_ClientTracing, _UnaryUnary):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return await self._unary_response(continuation, client_call_details, request)


class TracingUnaryStreamClientInterceptor(_ClientTracing, _UnaryStream):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return await self._stream_response(continuation, client_call_details, request)


class TracingStreamUnaryClientInterceptor(_ClientTracing, _StreamUnary):
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await self._unary_response(continuation, client_call_details, request_iterator)


class TracingStreamStreamClientInterceptor(_ClientTracing, _StreamStream):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await self._stream_response(continuation, client_call_details, request_iterator)


def tracing_server_interceptors(
    *, tracer_provider: trace.TracerProvider | None = None
) -> list[ServerInterceptor]:
    """[TracingServerInterceptor] where spans are recorded, else none: a pass-through
    interceptor still costs every call a coroutine hop in grpc.aio."""
    if not _exporting(tracer_provider):
        return []
    return [TracingServerInterceptor(tracer_provider=tracer_provider)]


def tracing_client_interceptors(
    *, tracer_provider: trace.TracerProvider | None = None
) -> list[Any]:
    """The four client interceptors, ready for `grpc.aio.*_channel(interceptors=...)`;
    none where spans are not recorded (no SDK provider given or installed).

    Typed Any because grpc-stubs declares aio.ClientInterceptor as a
    must-cast placeholder.
    """
    if not _exporting(tracer_provider):
        return []
    return [
        TracingUnaryUnaryClientInterceptor(tracer_provider=tracer_provider),
        TracingUnaryStreamClientInterceptor(tracer_provider=tracer_provider),
        TracingStreamUnaryClientInterceptor(tracer_provider=tracer_provider),
        TracingStreamStreamClientInterceptor(tracer_provider=tracer_provider),
    ]
