"""GrpcServer and ErrorMappingInterceptor against a real loopback server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from anima.dasync.v1 import dasync_pb2, dasync_pb2_grpc
from anima_core.config import ConfigError
from anima_core.error_mapping import STATUS_FOR_KIND
from anima_core.server import GrpcServer
from anima_core.tls import new_channel_identity
from anima_verify.errors import AnimaError, ErrorKind

from .conftest import (
    CHAIN,
    DASYNC,
    DOMAIN,
    GET_MANIFEST,
    STREAMS,
    Behaviour,
    DaSync,
    Request,
    Running,
    requests,
    running,
    until,
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_of(r: Running, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(r.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


# ------------------------------------------------------------------ health


async def test_health_is_not_serving_until_the_service_says_ready(plain: Running) -> None:
    for name in ("", DASYNC, CHAIN, STREAMS):
        assert await health_of(plain, name) == NOT_SERVING

    await plain.server.set_ready(True)
    for name in ("", DASYNC, CHAIN, STREAMS):
        assert await health_of(plain, name) == SERVING

    await plain.server.set_ready(False)
    assert await health_of(plain, "") == NOT_SERVING
    assert await health_of(plain, DASYNC) == NOT_SERVING


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_stop_signal_turns_health_not_serving_then_stops(signum: int) -> None:
    async with running() as r:
        await r.server.set_ready(True)
        watch = health_pb2_grpc.HealthStub(r.channel).Watch(health_pb2.HealthCheckRequest())
        assert (await watch.read()).status == SERVING

        before = signal.getsignal(signum)
        runner = asyncio.create_task(r.server.run_until_signal(grace=30))
        # Wait (in loop turns) until the handler is installed: the signal must
        # not reach pytest's own handler.
        await until(lambda: signal.getsignal(signum) is not before)
        os.kill(os.getpid(), signum)

        assert (await watch.read()).status == NOT_SERVING
        watch.cancel()  # the only call in flight: stop need not wait out the grace
        await runner

        with pytest.raises(grpc.aio.AioRpcError) as info:
            await health_of(r, "")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


# ------------------------------------------------------------------ reflection


async def listed_services(r: Running) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(r.channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    response = await call.read()
    call.cancel()
    return [s.name for s in response.list_services_response.service]


async def test_reflection_lists_services_outside_production(plain: Running) -> None:
    names = await listed_services(plain)
    assert {DASYNC, CHAIN, STREAMS, "grpc.health.v1.Health"} <= set(names)


async def test_reflection_is_absent_in_production() -> None:
    async with running(production=True) as r:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await listed_services(r)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # Health stays: it is what probes use.
        assert await health_of(r, "") == NOT_SERVING


# ------------------------------------------------------------------ error mapping


def error_of_kind(kind: ErrorKind) -> AnimaError:
    cls = type(f"{kind.name.title()}Error", (AnimaError,), {"kind": kind})
    return cls(f"{kind.value} says what was wrong")


def test_every_error_kind_has_a_status() -> None:
    assert set(STATUS_FOR_KIND) == set(ErrorKind)


@pytest.mark.parametrize("kind", list(ErrorKind))
async def test_anima_error_becomes_its_status_with_its_message(
    plain: Running, kind: ErrorKind
) -> None:
    plain.behaviour.fail = error_of_kind(kind)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await plain.dasync.GetLatestManifest(Request(agent_id="a"))
    assert info.value.code() == STATUS_FOR_KIND[kind]
    assert info.value.code().name == kind.name
    assert info.value.details() == f"{kind.value} says what was wrong"


class SeatTaken(AnimaError):
    kind = ErrorKind.ALREADY_EXISTS
    reason = "SEAT_TAKEN"
    metadata_fields = ("seat",)

    def __init__(self, seat: str) -> None:
        super().__init__(f"seat {seat} is taken")
        self.seat = seat


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo in a failed call's rich status, read as any gRPC client would."""
    status = rpc_status.from_call(error)
    if status is None:
        return None
    [detail] = status.details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    return info


async def test_anima_error_carries_error_info_with_reason_domain_and_metadata(
    plain: Running,
) -> None:
    plain.behaviour.fail = SeatTaken("12A")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await plain.dasync.GetLatestManifest(Request(agent_id="a"))
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert info.value.details() == "seat 12A is taken"
    sent = error_info(info.value)
    assert sent is not None
    assert (sent.reason, sent.domain, dict(sent.metadata)) == (
        "SEAT_TAKEN",
        DOMAIN,
        {"seat": "12A"},
    )


async def test_a_streamed_error_carries_error_info_too(plain: Running) -> None:
    plain.behaviour.fail = SeatTaken("1C")
    plain.behaviour.fail_after = 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        _ = [r.version async for r in plain.streams.Echo(requests("ab", "abc"))]
    sent = error_info(info.value)
    assert sent is not None and (sent.reason, sent.domain) == ("SEAT_TAKEN", DOMAIN)


async def test_an_unknown_exception_sends_no_error_info(plain: Running) -> None:
    plain.behaviour.fail = ValueError("internals")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await plain.dasync.GetLatestManifest(Request(agent_id="a"))
    assert error_info(info.value) is None


def test_a_server_needs_an_error_domain() -> None:
    with pytest.raises(ConfigError, match="domain"):
        GrpcServer(
            address="127.0.0.1:0",
            credentials=None,
            insecure_plaintext=True,
            production=False,
            error_domain="",
        )


async def test_unknown_exception_is_internal_and_its_text_stays_in_the_log(
    plain: Running, caplog: pytest.LogCaptureFixture
) -> None:
    plain.behaviour.fail = ValueError("db password is hunter2")
    with (
        caplog.at_level(logging.ERROR, logger="anima_core.error_mapping"),
        pytest.raises(grpc.aio.AioRpcError) as info,
    ):
        await plain.dasync.GetLatestManifest(Request(agent_id="a"))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error"
    assert "hunter2" not in (info.value.debug_error_string() or "")
    [record] = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert "GetLatestManifest" in record.getMessage()
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_unary_stream_error_after_some_responses(plain: Running) -> None:
    plain.behaviour.fail = error_of_kind(ErrorKind.NOT_FOUND)
    plain.behaviour.fail_after = 2
    call = plain.streams.Fanout(Request(agent_id="a"))
    got = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for response in call:
            got.append(response.version)
    assert got == [0, 1]
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_stream_unary_unknown_error_is_internal(plain: Running) -> None:
    plain.behaviour.fail = KeyError("internal key name")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await plain.streams.Collect(requests("a", "b"))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error"


async def test_stream_stream_ok_then_mapped_error(plain: Running) -> None:
    call = plain.streams.Echo(requests("ab", "abc"))
    assert [r.version async for r in call] == [2, 3]
    assert await call.code() == grpc.StatusCode.OK

    plain.behaviour.fail = error_of_kind(ErrorKind.RESOURCE_EXHAUSTED)
    plain.behaviour.fail_after = 1
    call = plain.streams.Echo(requests("ab", "abc"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        _ = [r.version async for r in call]
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_handlers_own_abort_passes_through(plain: Running) -> None:
    # Health.Check aborts NOT_FOUND for a service it does not know.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await health_of(plain, "no.such.Service")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


class BrokenInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        raise ValueError("interceptor internals: hunter2")


async def test_a_failing_interceptor_is_internal_without_its_text() -> None:
    async with running(interceptors=[BrokenInterceptor()]) as r:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await r.dasync.GetLatestManifest(Request(agent_id="a"))
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert info.value.details() == "internal error"

        # A bidi client that reads first still gets the status, not a hang.
        call = r.streams.Echo(timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert "hunter2" not in (info.value.details() or "")


async def test_undecodable_request_is_invalid_argument(plain: Running) -> None:
    # Raw bytes, no serializer: the server's protobuf parser is what fails.
    unary = plain.channel.unary_unary(GET_MANIFEST)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await unary(b"\xff\xff\xff")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "anima.dasync.v1.GetLatestManifestRequest" in (info.value.details() or "")
    assert plain.behaviour.callers == []  # the handler never saw it

    bidi = plain.channel.stream_stream(f"/{STREAMS}/Echo")
    call = bidi(iter([Request(agent_id="a").SerializeToString(), b"\xff\xff"]))
    assert await call.read() == dasync_pb2.GetLatestManifestResponse(version=1).SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_sync_handler_fails_closed(plain: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await plain.streams.SyncUnary(Request())
    assert info.value.code() == grpc.StatusCode.INTERNAL


# ------------------------------------------------------------------ limits and setup


async def test_oversized_request_is_resource_exhausted() -> None:
    async with running(max_message_bytes=1024) as r:
        assert (await r.dasync.GetLatestManifest(Request(agent_id="x" * 900))).version == 900
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await r.dasync.GetLatestManifest(Request(agent_id="x" * 2048))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_default_limit_is_four_mib(plain: Running) -> None:
    under = await plain.dasync.GetLatestManifest(Request(agent_id="x" * (4 * 1024 * 1024 - 64)))
    assert under.version == 4 * 1024 * 1024 - 64
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await plain.dasync.GetLatestManifest(Request(agent_id="x" * (4 * 1024 * 1024 + 1)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def self_signed_localhost() -> tuple[bytes, bytes]:
    identity = new_channel_identity(server_name="localhost")
    return identity.key_pem, identity.cert_pem


async def test_credentials_are_used_for_the_listener() -> None:
    key_pem, cert_pem = self_signed_localhost()
    server = GrpcServer(
        address="127.0.0.1:0",
        credentials=grpc.ssl_server_credentials([(key_pem, cert_pem)]),
        production=True,
        error_domain=DOMAIN,
    )
    server.add_servicer(
        dasync_pb2_grpc.add_DaSyncServiceServicer_to_server, DaSync(Behaviour()), DASYNC
    )
    port = await server.start()
    try:
        async with grpc.aio.secure_channel(
            f"127.0.0.1:{port}",
            grpc.ssl_channel_credentials(root_certificates=cert_pem),
            options=[("grpc.ssl_target_name_override", "localhost")],
        ) as tls:
            stub = dasync_pb2_grpc.DaSyncServiceStub(tls)
            assert (await stub.GetLatestManifest(Request(agent_id="ab"))).version == 2
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as plaintext:
            stub = dasync_pb2_grpc.DaSyncServiceStub(plaintext)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetLatestManifest(Request(agent_id="ab"), timeout=30)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


def test_plaintext_needs_an_explicit_opt_in() -> None:
    with pytest.raises(ConfigError, match="insecure_plaintext"):
        GrpcServer(address="127.0.0.1:0", credentials=None, production=False, error_domain=DOMAIN)


def test_credentials_and_plaintext_together_are_refused() -> None:
    creds = grpc.local_server_credentials()
    with pytest.raises(ConfigError):
        GrpcServer(
            address="127.0.0.1:0",
            credentials=creds,
            insecure_plaintext=True,
            production=True,
            error_domain=DOMAIN,
        )


async def test_servicers_cannot_be_added_after_start(plain: Running) -> None:
    with pytest.raises(RuntimeError):
        plain.server.add_servicer(lambda s, server: None, object(), "x.y.Z")
