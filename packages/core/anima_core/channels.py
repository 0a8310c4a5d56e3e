"""TLS for the host services' gRPC: a client channel pinned to a certificate, and a
server's credentials from files or a fresh self-signed key whose certificate it
publishes for local clients to pin. (The signer's attested channel is its own: the
client learns the certificate from the enclave's evidence, see anima_signer_api.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from anima_core.telemetry import tracing_client_interceptors
from anima_core.tls import new_channel_identity

logger = logging.getLogger(__name__)


def client_channel(
    address: str,
    *,
    certificate_pem: bytes | None,
    insecure_plaintext: bool,
    server_name: str,
    max_message_bytes: int,
    service: str,
) -> grpc.aio.Channel:
    """A channel to `address`: TLS trusting only `certificate_pem` (the certificate the
    service published, or a CA's) under `server_name`, or plaintext only when asked
    for by name. `service` names it in the error when neither is given."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    if certificate_pem is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=certificate_pem)
        options.append(("grpc.ssl_target_name_override", server_name))
        return grpc.aio.secure_channel(
            address, credentials, options=options, interceptors=tracing_client_interceptors()
        )
    if insecure_plaintext:
        return grpc.aio.insecure_channel(
            address, options=options, interceptors=tracing_client_interceptors()
        )
    raise ValueError(f"give the {service}'s certificate, or insecure_plaintext=True")


def server_credentials(
    *,
    insecure_plaintext: bool,
    cert_file: Path | None,
    key_file: Path | None,
    server_name: str,
    publish: Callable[[bytes], None],
) -> tuple[grpc.ServerCredentials | None, bytes | None]:
    """(credentials, certificate PEM): TLS from the files when both are given, else a
    fresh self-signed key per start whose certificate goes to `publish`; (None, None)
    for the INSECURE plaintext development mode."""
    if insecure_plaintext:
        logger.warning("INSECURE plaintext gRPC: no TLS (development only)")
        return None, None
    if cert_file is not None and key_file is not None:
        cert, key = cert_file.read_bytes(), key_file.read_bytes()
    else:
        identity = new_channel_identity(server_name)
        cert, key = identity.cert_pem, identity.key_pem
        publish(cert)
    return grpc.ssl_server_credentials([(key, cert)]), cert
