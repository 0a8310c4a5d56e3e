"""The probes the manifests point at: a plaintext listener that answers gRPC health only.

Kubernetes' native gRPC probe speaks no TLS and every Anima API listener does,
so each service can open `health_listen` beside its API. Asserted on the real
memory service (TLS API, model loading in the background): the probe port says
NOT_SERVING while the model loads (a probe that said ready too early would
route traffic to a process that answers UNAVAILABLE), SERVING once it answers,
nothing but health is reachable there, and it closes with the service.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import grpc
import grpc.aio
import httpx
import pytest
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anima.memory.v1 import memory_pb2 as pb
from anima.memory.v1 import memory_pb2_grpc as pb_grpc
from anima_core.config import ConfigError
from anima_core.server import GrpcServer
from anima_memory import app
from anima_memory.embeddings.base import Embedder
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_runtime.http_serve import base_url, bind, serve_app
from tests.memory.conftest import lend, memory_config

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _probe(health: health_pb2_grpc.HealthStub, service: str = "") -> int:
    """What the kubelet sees: one Check, retried only until the listener is up."""
    for _ in range(200):
        try:
            response = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
            return int(response.status)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("the health listener never answered")


async def test_the_probe_port_says_ready_only_once_the_service_is(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = threading.Event()

    def slow_model(config: object) -> Embedder:
        loaded.wait(timeout=30)
        return lend(minilm)

    monkeypatch.setattr(app, "load_embedder", slow_model)
    probe_address = f"127.0.0.1:{_free_port()}"
    config = memory_config(tmp_path, health_listen=probe_address)  # the API itself is TLS
    starting = asyncio.ensure_future(app.start_memory(config))
    try:
        async with grpc.aio.insecure_channel(probe_address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert await _probe(health) == NOT_SERVING
            assert await _probe(health, "anima.memory.v1.MemoryService") == NOT_SERVING
            await asyncio.sleep(0.3)  # still loading: still not ready
            assert await _probe(health) == NOT_SERVING
            loaded.set()
            running = await starting
            assert running.server.health_port == int(probe_address.rsplit(":", 1)[1])
            assert await _probe(health) == SERVING
            assert await _probe(health, "anima.memory.v1.MemoryService") == SERVING
            # Health only: the API is not reachable in plaintext through the probe port.
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.MemoryServiceStub(channel).CountMemories(
                    pb.CountMemoriesRequest(filter=pb.MemoryFilter(agent_id="eliza")), timeout=5
                )
            assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
            await running.stop(grace=0.2)
            with pytest.raises(grpc.aio.AioRpcError):
                await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
    finally:
        loaded.set()
        if not starting.done():
            await starting


async def test_a_taken_probe_port_fails_the_start_and_frees_the_api_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host, port = taken.getsockname()
        api_port = _free_port()
        server = GrpcServer(
            address=f"127.0.0.1:{api_port}",
            credentials=None,
            insecure_plaintext=True,
            production=False,
            error_domain="test.anima",
            health_address=f"{host}:{port}",
        )
        with pytest.raises(ConfigError, match="health listener"):
            await server.start()
    # The API listener was stopped, not left serving without a probe.
    with socket.socket() as again:
        again.bind(("127.0.0.1", api_port))


async def test_the_runtime_turns_serving_only_once_its_http_api_answers() -> None:
    # What `anima-runtime serve` does: health is set SERVING by `when_serving`, which
    # serve_app awaits only once the HTTP server accepts; at that moment it answers.
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    seen: list[object] = []
    with bind("127.0.0.1", 0) as sock:
        url, _ = base_url(sock)
        stopping = asyncio.Event()

        async def serving() -> None:
            async with httpx.AsyncClient() as client:
                seen.append((await client.get(f"{url}/ping", timeout=10)).status_code)
            stopping.set()

        await serve_app(
            app, sock, stopping, when_serving=serving, on_ready=lambda: seen.append("ready")
        )
    assert seen == [200, "ready"]
