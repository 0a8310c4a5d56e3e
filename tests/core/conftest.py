"""Real grpc.aio servers on loopback for the anima_core tests.

The unary service is the generated DaSyncService; the streaming shapes, which
no small Anima proto has yet, are a generic handler over the same generated
messages (`anima.test.v1.Streams`), registered the way generated code does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest

from anima.chain.v1 import chain_pb2, chain_pb2_grpc
from anima.dasync.v1 import dasync_pb2, dasync_pb2_grpc
from anima_core.auth import current_caller
from anima_core.server import DEFAULT_MAX_MESSAGE_BYTES, GrpcServer

DASYNC = "anima.dasync.v1.DaSyncService"
GET_MANIFEST = f"/{DASYNC}/GetLatestManifest"
CHAIN = "anima.chain.v1.ChainService"
#: ErrorInfo.domain of the test server's errors.
DOMAIN = "test.anima"
GET_HEAD = f"/{CHAIN}/GetVerifiedHead"
STREAMS = "anima.test.v1.Streams"

Request = dasync_pb2.GetLatestManifestRequest
Response = dasync_pb2.GetLatestManifestResponse


@dataclass
class Behaviour:
    """What the test servicers do; a test sets `fail` to make them raise."""

    fail: BaseException | None = None
    fail_after: int = 0  # streaming: responses sent before failing
    callers: list[str | None] = field(default_factory=list)
    # Called inside DaSync.GetLatestManifest; a test uses it for a second hop.
    on_manifest: Callable[[], Any] | None = None

    def check(self, sent: int = 0) -> None:
        if self.fail is not None and sent >= self.fail_after:
            raise self.fail


class DaSync(dasync_pb2_grpc.DaSyncServiceServicer):
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    async def GetLatestManifest(self, request: Any, context: Any) -> Any:
        self.behaviour.callers.append(current_caller())
        if self.behaviour.on_manifest is not None:
            await self.behaviour.on_manifest()
        self.behaviour.check()
        return Response(version=len(request.agent_id), manifest_hash=b"h" * 32)


class Chain(chain_pb2_grpc.ChainServiceServicer):
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    async def GetVerifiedHead(self, request: Any, context: Any) -> Any:
        self.behaviour.callers.append(current_caller())
        return chain_pb2.GetVerifiedHeadResponse(number=request.chain_id)


class Streams:
    """One behaviour per streaming shape; each echoes agent_id lengths."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    async def Fanout(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for i in range(3):
            self.behaviour.check(i)
            yield Response(version=i)

    async def Collect(self, requests: Any, context: Any) -> Any:
        count = 0
        async for _ in requests:
            count += 1
        self.behaviour.check(count)
        return Response(version=count)

    async def Echo(self, requests: Any, context: Any) -> AsyncIterator[Any]:
        sent = 0
        async for request in requests:
            self.behaviour.check(sent)
            yield Response(version=len(request.agent_id))
            sent += 1

    def SyncUnary(self, request: Any, context: Any) -> Any:
        return Response(version=1)


def add_streams(servicer: Streams, server: grpc.aio.Server) -> None:
    codecs: dict[str, Any] = {
        "request_deserializer": Request.FromString,
        "response_serializer": Response.SerializeToString,
    }
    handlers = {
        "Fanout": grpc.unary_stream_rpc_method_handler(servicer.Fanout, **codecs),
        "Collect": grpc.stream_unary_rpc_method_handler(servicer.Collect, **codecs),
        "Echo": grpc.stream_stream_rpc_method_handler(servicer.Echo, **codecs),
        "SyncUnary": grpc.unary_unary_rpc_method_handler(servicer.SyncUnary, **codecs),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(STREAMS, handlers),))


class StreamsStub:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        codecs: dict[str, Any] = {
            "request_serializer": Request.SerializeToString,
            "response_deserializer": Response.FromString,
        }
        self.Fanout = channel.unary_stream(f"/{STREAMS}/Fanout", **codecs)
        self.Collect = channel.stream_unary(f"/{STREAMS}/Collect", **codecs)
        self.Echo = channel.stream_stream(f"/{STREAMS}/Echo", **codecs)
        self.SyncUnary = channel.unary_unary(f"/{STREAMS}/SyncUnary", **codecs)


@dataclass
class Running:
    server: GrpcServer
    port: int
    channel: grpc.aio.Channel
    behaviour: Behaviour

    @property
    def dasync(self) -> dasync_pb2_grpc.DaSyncServiceStub:
        return dasync_pb2_grpc.DaSyncServiceStub(self.channel)

    @property
    def chain(self) -> chain_pb2_grpc.ChainServiceStub:
        return chain_pb2_grpc.ChainServiceStub(self.channel)

    @property
    def streams(self) -> StreamsStub:
        return StreamsStub(self.channel)


@asynccontextmanager
async def running(
    *,
    interceptors: Sequence[Any] = (),
    client_interceptors: Sequence[Any] = (),
    production: bool = False,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    behaviour: Behaviour | None = None,
) -> AsyncIterator[Running]:
    """A GrpcServer with DaSync, Chain and Streams on 127.0.0.1, and a channel to it."""
    behaviour = behaviour or Behaviour()
    server = GrpcServer(
        address="127.0.0.1:0",
        credentials=None,
        insecure_plaintext=True,
        production=production,
        error_domain=DOMAIN,
        interceptors=interceptors,
        max_message_bytes=max_message_bytes,
    )
    server.add_servicer(
        dasync_pb2_grpc.add_DaSyncServiceServicer_to_server, DaSync(behaviour), DASYNC
    )
    server.add_servicer(chain_pb2_grpc.add_ChainServiceServicer_to_server, Chain(behaviour), CHAIN)
    server.add_servicer(add_streams, Streams(behaviour), STREAMS)
    port = await server.start()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", interceptors=list(client_interceptors) or None
    )
    try:
        yield Running(server=server, port=port, channel=channel, behaviour=behaviour)
    finally:
        await channel.close()
        await server.stop(0)


async def requests(*agent_ids: str) -> AsyncIterator[Any]:
    for agent_id in agent_ids:
        yield Request(agent_id=agent_id)


@pytest.fixture
async def plain() -> AsyncIterator[Running]:
    async with running() as r:
        yield r


async def until(predicate: Callable[[], bool], *, turns: int = 10_000) -> None:
    """Let the event loop run until `predicate` holds; counts turns, not seconds."""
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")
