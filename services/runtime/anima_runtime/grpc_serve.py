"""The runtime's gRPC listener (RuntimeService) on anima_core's server bootstrap.

`anima runtime serve` starts it before it brings its agents back: the port is bound
at once (a busy one fails before anything else starts) and health says NOT_SERVING,
every call UNAVAILABLE, until `attach` hands it the handler and turns it SERVING.
TLS as the memory service does it: a certificate and key from files, or a fresh
self-signed key per start whose certificate is published for local clients to pin.
Requests are bounded by the HTTP API's body limit (larger: RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import grpc

from anima.runtime.v1 import runtime_pb2_grpc as pb_grpc
from anima_core import channels
from anima_core.files import replace_file
from anima_core.server import GrpcServer
from anima_core.telemetry import TracingServerInterceptor
from anima_runtime.api.grpc_servicer import SERVICE_NAME, RuntimeServicer, token_auth
from anima_runtime.config import RuntimeConfig
from anima_runtime.handler import RuntimeHandler
from anima_runtime.log.durable import private_dirs
from anima_runtime_api.endpoint import TLS_SERVER_NAME
from anima_runtime_api.errors import ERROR_DOMAIN

#: What one answer may hold (a page of memories can be larger than any request).
MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
SHUTDOWN_GRACE_S: Final = 5.0


@dataclass
class RuntimeGrpc:
    """A started listener; `attach` makes it answer."""

    server: GrpcServer
    servicer: RuntimeServicer
    port: int
    certificate_pem: bytes | None  # None only in insecure plaintext mode
    _stopped: bool = field(default=False, repr=False)

    async def attach(self, handler: RuntimeHandler, *, ready: bool = True) -> None:
        """Answer with `handler` from now on, and (unless `ready` is False, when the
        caller calls `set_ready` once everything else serves too) say so in health."""
        self.servicer.attach(handler)
        if ready:
            await self.set_ready()

    async def set_ready(self) -> None:
        """SERVING in health: the probes the manifests point at route traffic here."""
        await self.server.set_ready(True)

    async def stop(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """NOT_SERVING for good, then stop, letting calls finish for `grace` s (once)."""
        if self._stopped:
            return
        self._stopped = True
        await self.server.stop(grace)


def server_credentials(config: RuntimeConfig) -> tuple[grpc.ServerCredentials | None, bytes | None]:
    """TLS from files, or a fresh self-signed key whose certificate is published."""
    return channels.server_credentials(
        insecure_plaintext=config.insecure_grpc_plaintext,
        cert_file=config.tls_cert_file,
        key_file=config.tls_key_file,
        server_name=TLS_SERVER_NAME,
        publish=lambda cert: _publish(config.certificate_path, cert),
    )


def _publish(path: Path, cert: bytes) -> None:
    private_dirs(path.parent)  # data_dir too, if it is new
    replace_file(path, cert)


async def start_grpc(config: RuntimeConfig, *, address: str | None = None) -> RuntimeGrpc:
    """Bind `address` (default config.grpc_listen) and serve, NOT_SERVING until `attach`."""
    credentials, certificate = server_credentials(config)
    server = GrpcServer(
        address=address or config.grpc_listen,
        credentials=credentials,
        insecure_plaintext=config.insecure_grpc_plaintext,
        error_domain=ERROR_DOMAIN,
        production=config.production,
        interceptors=[TracingServerInterceptor(), token_auth(config)],
        service_names=[SERVICE_NAME],
        max_message_bytes=config.limits.max_body_bytes,
        max_send_message_bytes=MAX_RESPONSE_BYTES,
        health_address=config.health_listen,
    )
    servicer = RuntimeServicer()
    server.add_servicer(pb_grpc.add_RuntimeServiceServicer_to_server, servicer, SERVICE_NAME)
    port = await server.start()
    return RuntimeGrpc(server=server, servicer=servicer, port=port, certificate_pem=certificate)


__all__ = ["MAX_RESPONSE_BYTES", "RuntimeGrpc", "server_credentials", "start_grpc"]
