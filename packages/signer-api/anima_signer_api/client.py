"""Client library for the signer: verifies the enclave before it sends anything.

`SignerClient.connect_attested` fetches the server's TLS certificate, pins the
gRPC channel to it, asks for evidence bound to that certificate's key and a
fresh nonce, and verifies the evidence against a measurement policy. Only then
does the bearer token, or any request, leave this process.

Failed calls raise the signer's typed errors (anima_signer_api.errors: PolicyDenied,
UnknownAgent, ...) from the reason the signer sends, and SignerUnreachable or
SignerRpcError for a status without one; never grpc's AioRpcError.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
import grpc.aio

from anima.signer.v1 import signer_pb2 as pb
from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_core.auth import bearer_metadata
from anima_core.errors import ErrorCatalog, RemoteStatus
from anima_core.server import MalformedRequest
from anima_core.telemetry import tracing_client_interceptors
from anima_core.tls import TLS_SERVER_NAME, fetch_server_certificate, public_key_der
from anima_signer_api import convert
from anima_signer_api.binding import bound_keys
from anima_signer_api.errors import (
    ERROR_DOMAIN,
    SERVER_ERRORS,
    SignerRpcError,
    SignerUnreachable,
)
from anima_signer_api.types import (
    Agent,
    AttestationBundle,
    LogAppendResult,
    LogEntryInput,
    SigningPolicy,
    SignRequest,
    SignResult,
)
from anima_verify.attestation import (
    AttestationError,
    Evidence,
    MeasurementPolicy,
    VerifiedQuote,
    bind_report_data,
    verify_evidence,
)
from anima_verify.errors import AnimaError, ErrorKind

DEFAULT_TIMEOUT_S = 10.0
# Room for a full AppendLog answer (the whole unconfirmed log tail,
# models.MAX_APPEND_RESPONSE_BYTES), as the server's default.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class ChannelBindingError(AttestationError):
    """The evidence does not cover this connection or these keys."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "CHANNEL_BINDING_MISMATCH"


#: The signer's reasons and their errors: what a failed call raises.
ERRORS = ErrorCatalog(
    domain=ERROR_DOMAIN,
    errors=(*SERVER_ERRORS, MalformedRequest),
    rpc_error=SignerRpcError,
    unreachable=SignerUnreachable,
)


class SignFailure(Exception):
    """One item of a batch or stream that the signer refused: `error` is the typed error
    the item would have raised alone (PolicyDenied, UnknownAgent, ...), `code` its
    grpc.StatusCode."""

    def __init__(self, code: grpc.StatusCode, error: AnimaError) -> None:
        super().__init__(f"{code.name}: {error.message}")
        self.code = code
        self.error = error
        self.message = error.message

    @property
    def reason(self) -> str:
        return self.error.reason


def _item_outcome(item: pb.SignBatchItem) -> SignResult | SignFailure:
    if item.WhichOneof("outcome") == "error":
        status = RemoteStatus.of_number(
            item.error.code,
            item.error.message,
            domain=ERROR_DOMAIN,
            reason=item.error.reason,
            metadata=item.error.metadata,
        )
        return SignFailure(status.code, ERRORS.error_for(status))
    return convert.result_from_proto(item.response)


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"signer address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)


class SignerClient:
    """A verified connection to one signer. Use the connect_* factories."""

    def __init__(
        self,
        *,
        channel: grpc.aio.Channel,
        token: str,
        attestation: VerifiedQuote | None,
        tls_public_key: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._channel = channel
        self._stub = pb_grpc.SignerServiceStub(channel)
        self._metadata = bearer_metadata(token)
        self._timeout = timeout
        self._tls_public_key = tls_public_key
        self.attestation = attestation

    @classmethod
    async def connect_attested(
        cls,
        *,
        address: str,
        token: str,
        policy: MeasurementPolicy,
        now: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> SignerClient:
        host, port = _split_address(address)
        cert_pem = await asyncio.to_thread(fetch_server_certificate, host, port, timeout=timeout)
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
        try:
            verified = await verify_channel(
                pb_grpc.SignerServiceStub(channel),
                tls_public_key=tls_public_key,
                policy=policy,
                now=now,
                timeout=timeout,
            )
        except BaseException:
            await channel.close(None)
            raise
        return cls(
            channel=channel,
            token=token,
            attestation=verified,
            tls_public_key=tls_public_key,
            timeout=timeout,
        )

    @classmethod
    async def connect_insecure_plaintext(
        cls, *, address: str, token: str, timeout: float = DEFAULT_TIMEOUT_S
    ) -> SignerClient:
        """INSECURE: no TLS and no attestation. For a local signer in development only."""
        channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", DEFAULT_MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", DEFAULT_MAX_MESSAGE_BYTES),
            ],
            interceptors=tracing_client_interceptors(),
        )
        return cls(channel=channel, token=token, attestation=None, timeout=timeout)

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> SignerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _call_options(self) -> dict[str, Any]:
        return {"metadata": self._metadata, "timeout": self._timeout}

    # ------------------------------------------------------------ agents

    async def create_agent(
        self, agent_id: str, *, policy: SigningPolicy, wallet_count: int = 1
    ) -> Agent:
        with ERRORS:
            response = await self._stub.CreateAgent(
                pb.CreateAgentRequest(
                    agent_id=agent_id,
                    wallet_count=wallet_count,
                    policy=convert.policy_to_proto(policy),
                ),
                **self._call_options(),
            )
        return convert.agent_from_proto(response.agent)

    async def get_agent(self, agent_id: str) -> Agent:
        with ERRORS:
            response = await self._stub.GetAgent(
                pb.GetAgentRequest(agent_id=agent_id), **self._call_options()
            )
        return convert.agent_from_proto(response.agent)

    async def attest_agent(
        self, agent_id: str, *, policy: MeasurementPolicy, now: int | None = None
    ) -> tuple[Agent, VerifiedQuote]:
        """Fresh evidence that this agent's keys live in the attested enclave."""
        agent = await self.get_agent(agent_id)
        nonce = secrets.token_bytes(32)
        bundle = await self.get_attestation(nonce, agent_id)
        if not hmac.compare_digest(bound_keys(agent), bundle.bound_keys):
            raise ChannelBindingError(f"evidence does not bind the keys of agent {agent_id!r}")
        verified = _verify_bundle(
            bundle, nonce=nonce, policy=policy, now=now, tls_public_key=self._tls_public_key
        )
        return agent, verified

    async def get_attestation(self, nonce: bytes, agent_id: str = "") -> AttestationBundle:
        """The enclave's evidence for `nonce` (binding `agent_id`'s keys if given),
        unverified: for passing on to a third party, who verifies it themselves
        (the log API's attestation route). To trust it here, use attest_agent."""
        return await _get_attestation(
            self._stub, nonce=nonce, agent_id=agent_id, timeout=self._timeout
        )

    # ------------------------------------------------------------ signing

    # Every result carries log_index: its SIGNATURE entry in the agent's log.

    async def sign(self, request: SignRequest) -> SignResult:
        wire = convert.sign_request_to_proto(request)
        with ERRORS:
            response = await self._stub.Sign(wire, **self._call_options())
        return convert.result_from_proto(response)

    async def sign_batch(self, requests: Iterable[SignRequest]) -> list[SignResult | SignFailure]:
        batch = pb.SignBatchRequest(requests=[convert.sign_request_to_proto(r) for r in requests])
        with ERRORS:
            response = await self._stub.SignBatch(batch, **self._call_options())
        return [_item_outcome(item) for item in response.items]

    async def sign_stream(
        self, requests: AsyncIterator[SignRequest]
    ) -> AsyncIterator[SignResult | SignFailure]:
        async def wire() -> AsyncIterator[pb.SignStreamRequest]:
            async for request in requests:
                yield pb.SignStreamRequest(request=convert.sign_request_to_proto(request))

        call = self._stub.SignStream(wire(), metadata=self._metadata)
        with ERRORS:
            async for message in call:
                yield _item_outcome(message.item)

    # ------------------------------------------------------------ the log

    async def append_log(
        self, agent_id: str, host_size: int, inputs: Iterable[LogEntryInput] = ()
    ) -> LogAppendResult:
        """Sequence `inputs` (none: just collect the tail) after telling the enclave
        that the host has stored [0, host_size) durably. See AppendLog in signer.proto."""
        request = convert.append_log_request_to_proto(agent_id, host_size, inputs)
        with ERRORS:
            response = await self._stub.AppendLog(request, **self._call_options())
        return convert.log_result_from_proto(response)


async def _get_attestation(
    stub: pb_grpc.SignerServiceStub, *, nonce: bytes, agent_id: str, timeout: float
) -> AttestationBundle:
    # GetAttestation is public: no bearer token, so none leaves before the channel is trusted.
    with ERRORS:
        response = await stub.GetAttestation(
            pb.GetAttestationRequest(nonce=nonce, agent_id=agent_id), timeout=timeout
        )
    return convert.attestation_from_proto(response)


def _verify_bundle(
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
    bundle = await _get_attestation(stub, nonce=nonce, agent_id="", timeout=timeout)
    if not hmac.compare_digest(bundle.tls_public_key, tls_public_key):
        raise ChannelBindingError(
            "the evidence binds a different TLS key than the one this channel is pinned to"
        )
    return _verify_bundle(
        bundle, nonce=nonce, policy=policy, now=now, tls_public_key=tls_public_key
    )
