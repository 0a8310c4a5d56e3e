"""Assemble and run the signer service: TEE backend, core, TLS identity, gRPC server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_core.auth import TokenAuthInterceptor
from anima_core.server import GrpcServer
from anima_core.telemetry import tracing_server_interceptors
from anima_core.tls import ChannelIdentity, new_channel_identity
from anima_signer.api.servicer import ACCESS_LIST, PUBLIC_METHODS, SERVICE_NAME, SignerServicer
from anima_signer.config import SignerConfig
from anima_signer.core import Signer
from anima_signer.tee.base import TeeBackend
from anima_signer.witnessing import WitnessEndpoint
from anima_signer_api.errors import ERROR_DOMAIN
from anima_verify.tlog.cosignature import parse_cosigner_key

log = logging.getLogger(__name__)


def make_tee(config: SignerConfig) -> TeeBackend:
    if config.tee == "dstack":
        from anima_signer.tee.dstack import DstackBackend

        return DstackBackend(endpoint=config.dstack_endpoint)
    from anima_signer.tee.sim import InsecureSimulatedTee

    return InsecureSimulatedTee(state_dir=config.state_dir)


@dataclass
class RunningSigner:
    server: GrpcServer
    signer: Signer
    port: int
    identity: ChannelIdentity | None  # None only in insecure plaintext mode

    async def stop(self, grace: float = 2.0) -> None:
        await self.server.stop(grace)
        self.signer.close()


async def start_signer(config: SignerConfig, *, tee: TeeBackend | None = None) -> RunningSigner:
    """Start serving; health turns SERVING only once keys and state are loaded."""
    config.check_startable()
    backend = tee if tee is not None else make_tee(config)
    if not config.witnesses:
        log.warning("INSECURE unwitnessed log: a restored older state directory can fork it")
    witnesses = [
        WitnessEndpoint(
            key=parse_cosigner_key(w.verifier_key),
            url=w.url,
            registration_token=(
                w.registration_token.get_secret_value() if w.registration_token else None
            ),
        )
        for w in config.witnesses
    ]
    signer = await Signer.open(
        tee=backend,
        state_dir=config.state_dir,
        log_origin_prefix=config.log_origin_prefix,
        witnesses=witnesses,
        witness_quorum=config.witness_quorum,
        witness_timeout_s=config.witness_timeout_s,
    )
    signer.use_anchor_source(config.anchor_source())
    signer.use_escrow(config.escrow.terms() if config.escrow is not None else None)
    identity: ChannelIdentity | None = None
    credentials: grpc.ServerCredentials | None = None
    if config.insecure_plaintext:
        log.warning("INSECURE plaintext gRPC: no TLS, no attested channel (development only)")
    else:
        identity = new_channel_identity()
        credentials = grpc.ssl_server_credentials([(identity.key_pem, identity.cert_pem)])
    auth = TokenAuthInterceptor.for_roles(
        config.callers, ACCESS_LIST, public_methods=PUBLIC_METHODS
    )
    server = GrpcServer(
        address=config.listen,
        credentials=credentials,
        insecure_plaintext=config.insecure_plaintext,
        production=config.production,
        error_domain=ERROR_DOMAIN,
        interceptors=[*tracing_server_interceptors(), auth],
        service_names=[SERVICE_NAME],
        max_message_bytes=config.max_message_bytes,
        health_address=config.health_listen,
    )
    servicer = SignerServicer(
        signer=signer, tls_public_key=identity.public_key_der if identity else b""
    )
    server.add_servicer(pb_grpc.add_SignerServiceServicer_to_server, servicer, SERVICE_NAME)
    port = await server.start()
    await server.set_ready(True)
    log.info("signer ready on port %d with TEE backend %r", port, backend.name)
    return RunningSigner(server=server, signer=signer, port=port, identity=identity)
