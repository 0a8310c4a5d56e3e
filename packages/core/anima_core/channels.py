"""TLS for the host services' gRPC: a client channel pinned to a certificate, and a
server's credentials from files or a fresh self-signed key whose certificate it
publishes for local clients to pin. (The signer's attested channel is its own: the
client learns the certificate from the enclave's evidence, see anima_signer_api.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import grpc
import grpc.aio

from anima_core.auth import bearer_metadata
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


class ServiceClient:
    """What a host service's API client shares with the others: a channel from
    client_channel, the caller's bearer token, a deadline for each call, and closing
    (also as an async context manager). A subclass names its service in the class
    attributes and makes its stub from the channel in __init__."""

    #: The service's name in the error for a channel with neither TLS nor plaintext.
    service: ClassVar[str]
    #: The name its TLS certificate is issued to.
    server_name: ClassVar[str]
    max_message_bytes: ClassVar[int]
    default_timeout_s: ClassVar[float]

    def __init__(
        self, channel: grpc.aio.Channel, token: str, timeout_s: float, *, address: str = ""
    ) -> None:
        self.address = address  # host:port, to name the service in messages
        self._channel = channel
        self._metadata = bearer_metadata(token)
        self._timeout = timeout_s

    @classmethod
    def connect(
        cls,
        address: str,
        token: str,
        *,
        certificate_pem: bytes | None = None,
        insecure_plaintext: bool = False,
        timeout_s: float | None = None,
    ) -> Self:
        """A client of the service at `address` (TLS pinned to `certificate_pem`, or
        plaintext only with `insecure_plaintext=True`); each call's deadline is
        `timeout_s`, else the service's default."""
        channel = client_channel(
            address,
            certificate_pem=certificate_pem,
            insecure_plaintext=insecure_plaintext,
            server_name=cls.server_name,
            max_message_bytes=cls.max_message_bytes,
            service=cls.service,
        )
        timeout = cls.default_timeout_s if timeout_s is None else timeout_s
        return cls(channel, token, timeout, address=address)

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


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
