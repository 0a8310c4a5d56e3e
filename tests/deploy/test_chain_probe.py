"""The chain client's probe port: NOT_SERVING until its trusted checkpoint is verified.

The real chain client against a real anvil, behind a proxy that holds the node's
answers back until the test lets them through: while the checkpoint header is
unverified the plaintext health listener the manifests probe says NOT_SERVING
(traffic routed then would meet a client that trusts nothing yet), SERVING once
it is, the API is not reachable in plaintext there, and it closes with the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anima.chain.v1 import chain_pb2 as pb
from anima.chain.v1 import chain_pb2_grpc as pb_grpc
from anima_chain.api.servicer import SERVICE_NAME
from anima_chain.app import start_chain
from anima_core.auth import token_digest
from anima_dev.local_chain import LocalChain
from anima_signer.app import start_signer
from anima_signer.config import SignerConfig
from anima_signer_api.client import SignerClient
from tests.chain.client.conftest import SIM_TRUST, anvil, chain_config, checkpoint_of
from tests.chain.client.lying_node import LyingNode
from tests.deploy.test_probes import NOT_SERVING, SERVING, _free_port, _probe

__all__ = ["anvil"]  # the module-wide anvil fixture, used here

pytestmark = pytest.mark.slow  # anvil and a signer


class HeldNode(LyingNode):
    """The honest node, whose every answer waits until `release` is set."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.release = asyncio.Event()

    async def _answer(self, body: bytes) -> bytes:
        await self.release.wait()
        return await super()._answer(body)


@pytest.fixture
async def signer(tmp_path: Path) -> AsyncIterator[SignerClient]:
    running = await start_signer(
        SignerConfig.model_validate(
            {
                "listen": "127.0.0.1:0",
                "state_dir": tmp_path / "signer",
                "tee": "sim",
                "callers": {"runtime": token_digest("signer-runtime-token")},
                "log_origin_prefix": "test.anima/agents",
            }
        )
    )
    client = await SignerClient.connect_attested(
        address=f"127.0.0.1:{running.port}", token="signer-runtime-token", policy=SIM_TRUST
    )
    try:
        yield client
    finally:
        await client.close()
        await running.stop(grace=0.2)


async def test_the_probe_port_says_ready_only_once_the_checkpoint_is_verified(
    tmp_path: Path, anvil: LocalChain, signer: SignerClient
) -> None:
    node = HeldNode(anvil.url)
    await node.start()
    probe_address = f"127.0.0.1:{_free_port()}"
    config = chain_config(tmp_path, node.url, checkpoint_of(anvil), health_listen=probe_address)
    starting = asyncio.ensure_future(start_chain(config, signer=signer))
    try:
        async with grpc.aio.insecure_channel(probe_address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert await _probe(health) == NOT_SERVING
            assert await _probe(health, SERVICE_NAME) == NOT_SERVING
            assert not starting.done()  # held at the node: the checkpoint is unverified
            node.release.set()
            running = await starting
            assert running.server.health_port == int(probe_address.rsplit(":", 1)[1])
            assert await _probe(health) == SERVING
            assert await _probe(health, SERVICE_NAME) == SERVING
            # Health only: the chain API is not reachable in plaintext through the probe port.
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.ChainServiceStub(channel).GetVerifiedHead(
                    pb.GetVerifiedHeadRequest(), timeout=5
                )
            assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
            await running.stop(grace=0.2)
            with pytest.raises(grpc.aio.AioRpcError):
                await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
    finally:
        node.release.set()
        if not starting.done():
            await asyncio.wait([starting], timeout=30)
        await node.stop()
