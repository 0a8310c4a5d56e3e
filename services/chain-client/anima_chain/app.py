"""Assemble and run the chain client: TLS, auth, gRPC server, RPC node, verified headers.

Health says NOT_SERVING until the checkpoint header is verified (and the node's
chain id checked); only then is anything answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from anima.chain.v1 import chain_pb2_grpc as pb_grpc
from anima_chain.api.servicer import ACCESS_LIST, SERVICE_NAME, ChainServicer
from anima_chain.beacon import BeaconHeads
from anima_chain.config import ChainConfig
from anima_chain.headers import HeaderStore
from anima_chain.intents import IntentStore
from anima_chain.reads import ProvenReads
from anima_chain.rpc import RpcNode
from anima_chain.service import ChainService
from anima_chain.transactions import TransactionSender
from anima_chain_api.endpoint import TLS_SERVER_NAME
from anima_chain_api.errors import ERROR_DOMAIN
from anima_core import channels
from anima_core.auth import TokenAuthInterceptor
from anima_core.files import replace_file
from anima_core.server import GrpcServer
from anima_core.telemetry import TracingServerInterceptor
from anima_signer_api.client import SignerClient

log = logging.getLogger(__name__)


@dataclass
class RunningChain:
    server: GrpcServer
    port: int
    service: ChainService
    certificate_pem: bytes | None
    node: RpcNode
    store: IntentStore
    beacon: BeaconHeads | None = None
    _closed: bool = field(default=False, repr=False)

    async def stop(self, grace: float = 2.0) -> None:
        if self._closed:
            return
        self._closed = True
        await self.server.stop(grace)
        await self.node.aclose()
        if self.beacon is not None:
            self.beacon.close()
        await asyncio.to_thread(self.store.close)


def _publish(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, data)


async def start_chain(config: ChainConfig, *, signer: SignerClient) -> RunningChain:
    """Serve at once (NOT_SERVING), verify the checkpoint and follow the chain, turn ready."""
    config.check_startable()
    credentials, certificate = channels.server_credentials(
        insecure_plaintext=config.insecure_plaintext,
        cert_file=config.tls_cert_file,
        key_file=config.tls_key_file,
        server_name=TLS_SERVER_NAME,
        publish=lambda cert: _publish(config.certificate_path, cert),
    )
    server = GrpcServer(
        address=config.listen,
        credentials=credentials,
        insecure_plaintext=config.insecure_plaintext,
        production=config.production,
        error_domain=ERROR_DOMAIN,
        interceptors=[
            TracingServerInterceptor(),
            TokenAuthInterceptor.for_roles(config.callers, ACCESS_LIST),
        ],
        service_names=[SERVICE_NAME],
        health_address=config.health_listen,
    )
    servicer = ChainServicer()
    server.add_servicer(pb_grpc.add_ChainServiceServicer_to_server, servicer, SERVICE_NAME)
    port = await server.start()
    node = RpcNode(config.rpc)
    store = await asyncio.to_thread(IntentStore, config.data_dir / "sent.sqlite3")
    beacon = (
        BeaconHeads.from_config(config.beacon, data_dir=config.data_dir)
        if config.beacon.enabled
        else None
    )
    try:
        headers = HeaderStore(
            node,
            chain_id=config.chain_id,
            checkpoint=b"" if beacon else config.checkpoint,
            heads=beacon,
            keep=config.keep_headers,
            max_age_s=config.head_max_age_s,
        )
        head = await headers.start()
        reads = ProvenReads(node, headers)
        sender = TransactionSender(
            node=node,
            headers=headers,
            reads=reads,
            signer=signer,
            store=store,
            fees=config.fees,
            receipt_timeout_s=config.receipt_timeout_s,
            receipt_poll_s=config.receipt_poll_s,
        )
        service = ChainService(headers=headers, reads=reads, sender=sender)
    except BaseException:
        await server.stop(0)
        await node.aclose()
        if beacon is not None:
            beacon.close()
        store.close()
        raise
    servicer.attach(service)
    await server.set_ready(True)
    log.info(
        "chain client ready on port %d: chain %d, verified head %d (trusted from %s)",
        port,
        config.chain_id,
        head.number,
        "the beacon light client" if beacon else "the configured checkpoint",
    )
    return RunningChain(
        server=server,
        port=port,
        service=service,
        certificate_pem=certificate,
        node=node,
        store=store,
        beacon=beacon,
    )


async def serve_until_signal(running: RunningChain) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await running.server.run_until_signal()
    await running.stop()
