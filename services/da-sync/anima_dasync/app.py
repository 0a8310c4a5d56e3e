"""Assemble and run da-sync: an attested signer client, the DA backend, the log source,
the gRPC server (TLS, caller tokens) and the periodic loop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from anima.dasync.v1 import dasync_pb2_grpc as pb_grpc
from anima_core import channels
from anima_core.auth import TokenAuthInterceptor
from anima_core.files import replace_file
from anima_core.server import GrpcServer
from anima_core.telemetry import TracingServerInterceptor
from anima_dasync.api.servicer import ACCESS_LIST, ERROR_DOMAIN, SERVICE_NAME, DaSyncServicer
from anima_dasync.backends.factory import open_backend
from anima_dasync.config import DaSyncConfig
from anima_dasync.log_source import HttpLogs
from anima_dasync.memory_source import GrpcMemories, MemorySource
from anima_dasync.metrics import DaLag
from anima_dasync.runtime_source import GrpcRuntime, RuntimeSource
from anima_dasync.syncer import AnchorTarget, LogReader, Syncer
from anima_memory_api.client import MemoryClient
from anima_memory_api.router import ShardedMemoryClient
from anima_runtime_api.client import RuntimeClient
from anima_signer_api.client import SignerClient
from anima_verify.attestation import MeasurementPolicy

TLS_SERVER_NAME = "dasync.anima.local"


@dataclass
class RunningDaSync:
    server: GrpcServer
    port: int
    syncer: Syncer
    signer: SignerClient
    certificate_pem: bytes | None
    loop: asyncio.Task[None] | None
    memory: GrpcMemories | None = None
    runtime: GrpcRuntime | None = None

    async def stop(self, grace: float = 2.0) -> None:
        if self.loop is not None:
            self.loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.loop
        await self.server.stop(grace)
        await self.signer.close()
        if self.memory is not None:
            await self.memory.close()
        if self.runtime is not None:
            await self.runtime.close()


def connect_memory(config: DaSyncConfig) -> GrpcMemories | None:
    """The memory shards, routed by agent (a replica of another shard refuses with
    WrongShard, so a misordered list fails loudly rather than syncing nothing)."""
    if not config.memory:
        return None
    certificate = (
        config.memory_certificate.read_bytes() if config.memory_certificate is not None else None
    )
    clients = [
        MemoryClient.connect(
            address,
            config.memory_token.get_secret_value(),
            certificate_pem=certificate,
            insecure_plaintext=config.insecure_memory_plaintext,
        )
        for address in config.memory
    ]
    return GrpcMemories(ShardedMemoryClient(clients))


def connect_runtime(config: DaSyncConfig) -> GrpcRuntime | None:
    """The runtime's admin API (ExportAgent), its certificate pinned."""
    if config.runtime is None:
        return None
    certificate = (
        config.runtime_certificate.read_bytes() if config.runtime_certificate is not None else None
    )
    client = RuntimeClient.connect(
        config.runtime,
        config.runtime_token.get_secret_value(),
        certificate_pem=certificate,
        insecure_plaintext=config.insecure_runtime_plaintext,
    )
    return GrpcRuntime(client)


async def start_dasync(
    config: DaSyncConfig,
    *,
    logs: LogReader | None = None,
    memories: MemorySource | None = None,
    lag: DaLag | None = None,
    runtime: RuntimeSource | None = None,
) -> RunningDaSync:
    """Serve DaSyncService; `logs`, `memories`, `runtime` and `lag` replace what the config names
    (tests); the process's entry point registers `lag`'s gauges."""
    config.check_startable()
    policy = (
        MeasurementPolicy.insecure_simulated_for_development()
        if config.insecure_allow_simulated_signer
        else MeasurementPolicy.from_file(config.signer_measurement_policy)  # type: ignore[arg-type]
    )
    signer = await SignerClient.connect_attested(
        address=config.signer, token=config.signer_token.get_secret_value(), policy=policy
    )
    contract = config.anchor_contract_bytes()
    anchor = (
        AnchorTarget(chain_id=config.anchor_chain_id, contract=contract)
        if contract is not None and config.anchor_chain_id is not None
        else None
    )
    memory = connect_memory(config) if memories is None else None
    runtime_client = connect_runtime(config) if runtime is None else None
    syncer = Syncer(
        signer=signer,
        backend=open_backend(config.da, da_dir=config.da_dir, state_dir=config.state_dir),
        logs=logs or HttpLogs(config.log_url, ca_file=config.log_ca_file),
        anchor=anchor,
        memories=memories or memory,
        compact_after_deltas=config.compact_after_deltas,
        lag=lag,
        runtime=runtime or runtime_client,
    )

    def publish(cert: bytes) -> None:
        config.certificate_path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(config.certificate_path, cert)

    credentials, certificate = channels.server_credentials(
        insecure_plaintext=config.insecure_plaintext,
        cert_file=config.tls_cert_file,
        key_file=config.tls_key_file,
        server_name=TLS_SERVER_NAME,
        publish=publish,
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
    server.add_servicer(
        pb_grpc.add_DaSyncServiceServicer_to_server, DaSyncServicer(syncer=syncer), SERVICE_NAME
    )
    port = await server.start()
    await server.set_ready(True)
    loop = None
    if config.agents and config.interval_s > 0:
        loop = asyncio.create_task(syncer.run_every(config.interval_s, config.agents))
    return RunningDaSync(
        server=server,
        port=port,
        syncer=syncer,
        signer=signer,
        certificate_pem=certificate,
        loop=loop,
        memory=memory,
        runtime=runtime_client,
    )
