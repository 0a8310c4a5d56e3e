"""anima_core.event_loop: the services' loop, chosen by ANIMA_EVENT_LOOP."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from anima_core import event_loop
from anima_core.config import ConfigError


async def _loop_type() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_auto_and_uvloop_run_on_uvloop() -> None:
    assert event_loop.run(_loop_type(), {}) is uvloop.Loop
    assert event_loop.run(_loop_type(), {"ANIMA_EVENT_LOOP": "auto"}) is uvloop.Loop
    assert event_loop.run(_loop_type(), {"ANIMA_EVENT_LOOP": " UVLOOP "}) is uvloop.Loop


def test_asyncio_runs_the_standard_loop() -> None:
    loop_type = event_loop.run(_loop_type(), {"ANIMA_EVENT_LOOP": "asyncio"})
    assert not issubclass(loop_type, uvloop.Loop)
    assert issubclass(loop_type, asyncio.BaseEventLoop)


def test_an_unknown_choice_is_refused_before_anything_runs() -> None:
    started = False

    async def main() -> None:
        nonlocal started
        started = True

    with pytest.raises(ConfigError, match="ANIMA_EVENT_LOOP='trio' is not one of"):
        event_loop.run(main(), {"ANIMA_EVENT_LOOP": "trio"})
    assert not started


def test_uvloop_asked_for_but_missing_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        event_loop.loop_factory({"ANIMA_EVENT_LOOP": "uvloop"})
    assert event_loop.loop_factory({"ANIMA_EVENT_LOOP": "auto"}) is None


def test_grpc_aio_serves_on_uvloop() -> None:
    """The services' gRPC servers and clients run on the chosen loop."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    async def main() -> int:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                reply = await stub.Check(health_pb2.HealthCheckRequest())
                return int(reply.status)
        finally:
            await server.stop(None)

    assert event_loop.run(main(), {}) == health_pb2.HealthCheckResponse.SERVING


def test_objects_alive_at_start_are_frozen_out_of_collections() -> None:
    import gc

    kept_for_good = [object() for _ in range(100)]
    gc.unfreeze()
    try:

        async def frozen_count() -> int:
            return gc.get_freeze_count()

        assert event_loop.run(frozen_count(), {}) >= len(kept_for_good)
        assert gc.isenabled()  # objects made later are still collected
    finally:
        gc.unfreeze()
