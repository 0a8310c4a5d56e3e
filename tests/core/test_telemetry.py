"""Tracing interceptors: spans on both ends of real loopback calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from anima.chain.v1 import chain_pb2, chain_pb2_grpc
from anima_core.telemetry import (
    TracingServerInterceptor,
    configure_tracing,
    tracing_client_interceptors,
    tracing_server_interceptors,
)
from anima_verify.errors import AnimaError, ErrorKind

from .conftest import (
    CHAIN,
    DASYNC,
    GET_HEAD,
    GET_MANIFEST,
    STREAMS,
    Behaviour,
    Request,
    Running,
    requests,
    running,
    until,
)


class NotFound(AnimaError):
    kind = ErrorKind.NOT_FOUND


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    return configure_tracing("anima-test", exporter=exporter, batch=False, set_global=False)


@pytest.fixture
async def traced(provider: TracerProvider) -> AsyncIterator[Running]:
    async with running(
        interceptors=[TracingServerInterceptor(tracer_provider=provider)],
        client_interceptors=tracing_client_interceptors(tracer_provider=provider),
    ) as r:
        yield r


async def finished(exporter: InMemorySpanExporter, count: int) -> Sequence[ReadableSpan]:
    await until(lambda: len(exporter.get_finished_spans()) >= count)
    spans = exporter.get_finished_spans()
    assert len(spans) == count, [s.name for s in spans]
    return spans


def by_kind(spans: Sequence[ReadableSpan], kind: SpanKind) -> ReadableSpan:
    [span] = [s for s in spans if s.kind == kind]
    return span


async def test_client_and_server_spans_share_the_trace(
    traced: Running, exporter: InMemorySpanExporter
) -> None:
    await traced.dasync.GetLatestManifest(Request(agent_id="a"))

    spans = await finished(exporter, 2)
    client, server = by_kind(spans, SpanKind.CLIENT), by_kind(spans, SpanKind.SERVER)
    assert client.context is not None and server.context is not None
    assert server.context.trace_id == client.context.trace_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert server.parent.is_remote
    for span in (client, server):
        assert span.name == GET_MANIFEST.lstrip("/")
        assert span.attributes is not None
        assert span.attributes["rpc.system"] == "grpc"
        assert span.attributes["rpc.service"] == DASYNC
        assert span.attributes["rpc.method"] == "GetLatestManifest"
        assert span.attributes["rpc.grpc.status_code"] == 0
        assert span.status.status_code == StatusCode.UNSET
    assert server.resource.attributes["service.name"] == "anima-test"


async def test_server_span_is_current_in_the_handler_so_the_next_hop_joins(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    behaviour = Behaviour()
    async with running(
        interceptors=[TracingServerInterceptor(tracer_provider=provider)],
        client_interceptors=tracing_client_interceptors(tracer_provider=provider),
        behaviour=behaviour,
    ) as r:
        # The DaSync handler calls Chain on the same server: a second hop.
        async def next_hop() -> None:
            stub = chain_pb2_grpc.ChainServiceStub(r.channel)
            await stub.GetVerifiedHead(chain_pb2.GetVerifiedHeadRequest(chain_id=1))

        behaviour.on_manifest = next_hop
        await r.dasync.GetLatestManifest(Request(agent_id="a"))

    spans = {(s.name, s.kind): s for s in await finished(exporter, 4)}
    outer_client = spans[(GET_MANIFEST.lstrip("/"), SpanKind.CLIENT)]
    outer_server = spans[(GET_MANIFEST.lstrip("/"), SpanKind.SERVER)]
    inner_client = spans[(GET_HEAD.lstrip("/"), SpanKind.CLIENT)]
    inner_server = spans[(GET_HEAD.lstrip("/"), SpanKind.SERVER)]
    assert outer_client.context is not None and outer_server.context is not None
    assert inner_client.context is not None
    assert {s.context.trace_id for s in spans.values() if s.context} == {
        outer_client.context.trace_id
    }
    assert inner_client.parent is not None and inner_server.parent is not None
    assert inner_client.parent.span_id == outer_server.context.span_id
    assert inner_server.parent.span_id == inner_client.context.span_id
    assert CHAIN in GET_HEAD


async def test_anima_error_status_on_both_spans(
    traced: Running, exporter: InMemorySpanExporter
) -> None:
    traced.behaviour.fail = NotFound("no manifest for agent a")
    with pytest.raises(grpc.aio.AioRpcError):
        await traced.dasync.GetLatestManifest(Request(agent_id="a"))

    spans = await finished(exporter, 2)
    client, server = by_kind(spans, SpanKind.CLIENT), by_kind(spans, SpanKind.SERVER)
    code = grpc.StatusCode.NOT_FOUND.value[0]
    assert client.attributes is not None and server.attributes is not None
    assert client.attributes["rpc.grpc.status_code"] == code
    assert server.attributes["rpc.grpc.status_code"] == code
    # A caller's mistake is an error for the client, not for the server.
    assert client.status.status_code == StatusCode.ERROR
    assert server.status.status_code == StatusCode.UNSET


async def test_unknown_exception_is_an_internal_error_span_with_the_exception(
    traced: Running, exporter: InMemorySpanExporter
) -> None:
    traced.behaviour.fail = RuntimeError("disk on fire")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await traced.dasync.GetLatestManifest(Request(agent_id="a"))
    assert info.value.details() == "internal error"

    server = by_kind(await finished(exporter, 2), SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    assert server.status.status_code == StatusCode.ERROR
    [event] = server.events
    assert event.name == "exception"
    assert event.attributes is not None and "disk on fire" in str(event.attributes)


async def test_handler_abort_is_recorded(traced: Running, exporter: InMemorySpanExporter) -> None:
    stub = health_pb2_grpc.HealthStub(traced.channel)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    server = by_kind(await finished(exporter, 2), SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]


async def test_streaming_calls_are_traced_and_keep_their_call_objects(
    traced: Running, exporter: InMemorySpanExporter
) -> None:
    assert [r.version async for r in traced.streams.Fanout(Request())] == [0, 1, 2]
    assert (await traced.streams.Collect(requests("a", "b"))).version == 2

    # Bidi through the client interceptor: write/read on the call still work.
    call = traced.streams.Echo()
    await call.write(Request(agent_id="abc"))
    assert (await call.read()).version == 3
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK

    spans = await finished(exporter, 6)
    names = sorted((s.name.rsplit("/", 1)[1], s.kind.name) for s in spans)
    assert names == sorted(
        (m, k) for m in ("Fanout", "Collect", "Echo") for k in ("CLIENT", "SERVER")
    )
    assert all(s.attributes and s.attributes["rpc.service"] == STREAMS for s in spans)
    assert all(s.attributes and s.attributes["rpc.grpc.status_code"] == 0 for s in spans)


async def test_stream_error_status_on_client_span(
    traced: Running, exporter: InMemorySpanExporter
) -> None:
    traced.behaviour.fail = NotFound("gone")
    traced.behaviour.fail_after = 1
    with pytest.raises(grpc.aio.AioRpcError):
        _ = [r async for r in traced.streams.Fanout(Request())]
    client = by_kind(await finished(exporter, 2), SpanKind.CLIENT)
    assert client.attributes is not None
    assert client.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert client.status.status_code == StatusCode.ERROR


async def test_health_watch_streams_through_the_interceptor(traced: Running) -> None:
    # Watch streams with context.write from a coroutine, the shape
    # opentelemetry-instrumentation-grpc's aio interceptor cannot drive.
    watch = health_pb2_grpc.HealthStub(traced.channel).Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    await traced.server.set_ready(True)
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


async def test_cancelling_a_traced_call_reaches_the_server(
    traced: Running, exporter: InMemorySpanExporter
) -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def wait_forever() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    traced.behaviour.on_manifest = wait_forever
    call = traced.dasync.GetLatestManifest(Request(agent_id="a"))
    await asyncio.wait_for(entered.wait(), timeout=30)  # a hang guard, not a timing
    call.cancel()
    await asyncio.wait_for(cancelled.wait(), timeout=30)

    spans = await finished(exporter, 2)
    client, server = by_kind(spans, SpanKind.CLIENT), by_kind(spans, SpanKind.SERVER)
    cancelled_code = grpc.StatusCode.CANCELLED.value[0]
    assert client.attributes is not None and server.attributes is not None
    assert client.attributes["rpc.grpc.status_code"] == cancelled_code
    assert server.attributes["rpc.grpc.status_code"] == cancelled_code


async def test_without_a_recording_provider_calls_are_not_intercepted() -> None:
    """No SDK provider: no client interceptors (a grpc.aio call with any runs behind an
    extra task) and server handlers pass through as they are; with one, both trace."""
    noop = trace.NoOpTracerProvider()
    recording = configure_tracing("anima-test", set_global=False)

    async def behavior(request: Any, context: Any) -> Any:
        return request

    handler = grpc.unary_unary_rpc_method_handler(behavior)
    details: Any = SimpleNamespace(method="/anima.test.v1.Test/Call", invocation_metadata=())

    async def continuation(_: Any) -> Any:
        return handler

    assert tracing_client_interceptors(tracer_provider=noop) == []
    assert tracing_server_interceptors(tracer_provider=noop) == []  # not even a pass-through
    passed = await TracingServerInterceptor(tracer_provider=noop).intercept_service(
        continuation, details
    )
    assert passed is handler

    assert len(tracing_client_interceptors(tracer_provider=recording)) == 4
    (server_side,) = tracing_server_interceptors(tracer_provider=recording)
    assert (await server_side.intercept_service(continuation, details)) is not handler
    wrapped = await TracingServerInterceptor(tracer_provider=recording).intercept_service(
        continuation, details
    )
    assert wrapped is not handler
    assert wrapped.unary_unary is not behavior
