"""Trusting a signer's channel: evidence from the enclave, bound to the channel's TLS key.

`open_pinned` opens a channel pinned to a certificate and, before it is used,
checks (`verify_channel`) that fresh evidence for a random nonce binds that
certificate's key and passes the measurement policy. `verify_bundle` is the check
itself; SignerClient.attest_agent uses it for the evidence binding an agent's keys.
"""

from __future__ import annotations

import hmac
import secrets

import grpc
import grpc.aio

from anima.signer.v1 import signer_pb2 as pb
from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_core.telemetry import tracing_client_interceptors
from anima_core.tls import TLS_SERVER_NAME, public_key_der
from anima_signer_api import convert
from anima_signer_api.connection import PinnedChannel
from anima_signer_api.failures import ERRORS
from anima_signer_api.types import AttestationBundle
from anima_verify.attestation import (
    AttestationError,
    Evidence,
    MeasurementPolicy,
    VerifiedQuote,
    bind_report_data,
    verify_evidence,
)
from anima_verify.errors import ErrorKind


class ChannelBindingError(AttestationError):
    """The evidence does not cover this connection or these keys."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "CHANNEL_BINDING_MISMATCH"


async def open_pinned(
    address: str,
    cert_pem: bytes,
    *,
    policy: MeasurementPolicy,
    now: int | None,
    timeout: float,
    max_message_bytes: int,
) -> PinnedChannel:
    """A channel pinned to `cert_pem`, once evidence binding its key passes `policy`."""
    channel = grpc.aio.secure_channel(
        address,
        grpc.ssl_channel_credentials(root_certificates=cert_pem),
        options=[
            ("grpc.ssl_target_name_override", TLS_SERVER_NAME),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
        interceptors=tracing_client_interceptors(),
    )
    tls_public_key = public_key_der(cert_pem)
    stub = pb_grpc.SignerServiceStub(channel)
    try:
        verified = await verify_channel(
            stub, tls_public_key=tls_public_key, policy=policy, now=now, timeout=timeout
        )
    except BaseException:
        await channel.close(None)
        raise
    return PinnedChannel(
        channel=channel, stub=stub, tls_public_key=tls_public_key, attestation=verified
    )


async def get_attestation(
    stub: pb_grpc.SignerServiceStub, *, nonce: bytes, agent_id: str, timeout: float
) -> AttestationBundle:
    """GetAttestation; a failure raises grpc's AioRpcError (callers map it)."""
    # GetAttestation is public: no bearer token, so none leaves before the channel is trusted.
    response = await stub.GetAttestation(
        pb.GetAttestationRequest(nonce=nonce, agent_id=agent_id), timeout=timeout
    )
    return convert.attestation_from_proto(response)


def verify_bundle(
    bundle: AttestationBundle,
    *,
    nonce: bytes,
    policy: MeasurementPolicy,
    now: int | None,
    tls_public_key: bytes | None = None,
) -> VerifiedQuote:
    channel_key = bundle.tls_public_key if tls_public_key is None else tls_public_key
    expected = bind_report_data(
        bound_keys=bundle.bound_keys, tls_public_key=channel_key, nonce=nonce
    )
    evidence = Evidence(tee=bundle.tee, quote=bundle.quote, collateral_json=bundle.collateral_json)
    return verify_evidence(evidence, expected_report_data=expected, policy=policy, now=now)


async def verify_channel(
    stub: pb_grpc.SignerServiceStub,
    *,
    tls_public_key: bytes,
    policy: MeasurementPolicy,
    now: int | None,
    timeout: float,
) -> VerifiedQuote:
    """Check that the enclave holds the TLS key this channel is pinned to."""
    nonce = secrets.token_bytes(32)
    with ERRORS:
        bundle = await get_attestation(stub, nonce=nonce, agent_id="", timeout=timeout)
    if not hmac.compare_digest(bundle.tls_public_key, tls_public_key):
        raise ChannelBindingError(
            "the evidence binds a different TLS key than the one this channel is pinned to"
        )
    return verify_bundle(bundle, nonce=nonce, policy=policy, now=now, tls_public_key=tls_public_key)


__all__ = [
    "ChannelBindingError",
    "get_attestation",
    "open_pinned",
    "verify_bundle",
    "verify_channel",
]
