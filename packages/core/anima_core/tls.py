"""Channel keys for attested gRPC: a fresh TLS key per start, bound into evidence.

The certificate is self-signed on purpose: trust comes from the quote that
binds its public key (RA-TLS style), not from a CA.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TLS_SERVER_NAME = "anima-signer.enclave"  # the name clients pin; no DNS involved


@dataclass(frozen=True, slots=True)
class ChannelIdentity:
    key_pem: bytes
    cert_pem: bytes
    public_key_der: bytes  # SubjectPublicKeyInfo, what report_data binds


def new_channel_identity(server_name: str = TLS_SERVER_NAME) -> ChannelIdentity:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return ChannelIdentity(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        public_key_der=public_key_der(cert.public_bytes(serialization.Encoding.PEM)),
    )


def public_key_der(cert_pem: bytes) -> bytes:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fetch_server_certificate(
    host: str, port: int, *, timeout: float = 5.0, server_name: str = TLS_SERVER_NAME
) -> bytes:
    """The certificate a TLS server presents, unverified (PEM).

    Verification happens afterwards: the attestation must bind this key, and the
    gRPC channel is then pinned to exactly this certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ConnectionError(f"{host}:{port} presented no certificate")
    return ssl.DER_cert_to_PEM_cert(der).encode()
