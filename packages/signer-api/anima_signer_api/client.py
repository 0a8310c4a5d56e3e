"""Client library for the signer: verifies the enclave before it sends anything.

`SignerClient.connect_attested` fetches the server's TLS certificate, pins the
gRPC channel to it, asks for evidence bound to that certificate's key and a
fresh nonce, and verifies the evidence against a measurement policy. Only then
does the bearer token, or any request, leave this process.

When the signer restarts (with a new TLS key), the client re-pins: fresh evidence
for the new key, verified under the same policy, before any call goes on
(anima_signer_api.connection). A call that failed on the way is sent again once
only where that is safe: one that never left, a read, a Sign with an idempotency
key, an AppendLog that only collects the tail. Otherwise it raises
SignerOutcomeUnknown: it may or may not have happened.

Failed calls raise the signer's typed errors (anima_signer_api.errors: PolicyDenied,
UnknownAgent, ...) from the reason the signer sends, and SignerUnreachable or
SignerRpcError for a status without one; never grpc's AioRpcError
(anima_signer_api.failures). The evidence checks are anima_signer_api.attested_channel.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio

from anima.signer.v1 import signer_pb2 as pb
from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_core.auth import bearer_metadata
from anima_core.errors import RemoteStatus
from anima_core.telemetry import tracing_client_interceptors
from anima_core.tls import fetch_server_certificate
from anima_signer_api import convert
from anima_signer_api.attested_channel import (
    ChannelBindingError,
    get_attestation,
    open_pinned,
    verify_bundle,
)
from anima_signer_api.binding import bound_keys
from anima_signer_api.coalescing import SignCoalescer
from anima_signer_api.connection import (
    DEFAULT_RECONNECT_WITHIN_S,
    PinnedChannel,
    SignerConnection,
    split_address,
)
from anima_signer_api.errors import SignerOutcomeUnknown
from anima_signer_api.failures import (
    ERRORS,
    NOT_CONNECTED,
    SignFailure,
    item_outcome,
    lost_connection,
)
from anima_signer_api.migration_client import MigrationCalls
from anima_signer_api.recovery_client import RecoveryCalls
from anima_signer_api.types import (
    Agent,
    AttestationBundle,
    LogAppendResult,
    LogEntryInput,
    PendingApproval,
    PolicyExplanation,
    PolicyStatus,
    SigningPolicy,
    SignRequest,
    SignResult,
)
from anima_verify.attestation import MeasurementPolicy, VerifiedQuote

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0
# Room for a full AppendLog answer (the whole unconfirmed log tail,
# models.MAX_APPEND_RESPONSE_BYTES), as the server's default.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class SignerClient(RecoveryCalls, MigrationCalls):
    """A verified connection to one signer. Use the connect_* factories."""

    def __init__(
        self,
        *,
        connection: SignerConnection,
        token: str,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._connection = connection
        self._metadata = bearer_metadata(token)
        self._timeout = timeout
        # Concurrent sign calls share one SignBatch (coalescing.py); a lone one is unary.
        self._signs = SignCoalescer(self._sign_one, self._sign_together)

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
        reconnect_within_s: float = DEFAULT_RECONNECT_WITHIN_S,
    ) -> SignerClient:
        """Verify the signer at `address` under `policy`, then trust a channel pinned to
        its TLS key. When it restarts, calls wait up to `reconnect_within_s` for it to
        answer again, and go on only once its new key has passed the same check."""
        host, port = split_address(address)

        async def pinned_to(cert_pem: bytes) -> PinnedChannel:
            return await open_pinned(
                address,
                cert_pem,
                policy=policy,
                now=now,
                timeout=timeout,
                max_message_bytes=max_message_bytes,
            )

        cert_pem = await asyncio.to_thread(fetch_server_certificate, host, port, timeout=timeout)
        connection = SignerConnection(
            address=address,
            first=await pinned_to(cert_pem),
            open_pinned=pinned_to,
            timeout=timeout,
            reconnect_within_s=reconnect_within_s,
        )
        return cls(connection=connection, token=token, timeout=timeout)

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
        plain = PinnedChannel(
            channel=channel,
            stub=pb_grpc.SignerServiceStub(channel),
            tls_public_key=None,
            attestation=None,
        )
        connection = SignerConnection(address=address, first=plain, timeout=timeout)
        return cls(connection=connection, token=token, timeout=timeout)

    @property
    def attestation(self) -> VerifiedQuote | None:
        """The verified evidence for the channel in use (None when plaintext)."""
        return self._connection.current.attestation

    async def close(self) -> None:
        await self._connection.close()

    async def __aenter__(self) -> SignerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _call_options(self) -> dict[str, Any]:
        return {"metadata": self._metadata, "timeout": self._timeout}

    async def _call(
        self, method: str, send: Callable[[PinnedChannel], Awaitable[T]], *, repeatable: bool
    ) -> tuple[T, PinnedChannel]:
        """`send` on the channel in use; its answer and that channel.

        A call that found the connection lost waits for it to be renewed (re-pinned
        and re-attested if the signer restarted), then is sent once more if it never
        left or is `repeatable` (a second one changes nothing); else SignerOutcomeUnknown.
        """
        pinned = await self._connection.settled()
        try:
            return await send(pinned), pinned
        except grpc.aio.AioRpcError as exc:
            status = RemoteStatus.of_rpc_error(exc)
            if not (self._connection.renewable and lost_connection(status)):
                raise ERRORS.error_for(status) from None
            if not repeatable and NOT_CONNECTED not in status.message:
                raise SignerOutcomeUnknown(method, status.message) from None
        pinned = await self._connection.renew(pinned)
        with ERRORS:
            return await send(pinned), pinned

    async def _unary(
        self, method: str, send: Callable[[Any], Awaitable[T]], *, repeatable: bool
    ) -> T:
        """`send(stub)` with the bearer token, as _call does."""
        response, _ = await self._call(
            method, lambda pinned: send(pinned.stub), repeatable=repeatable
        )
        return response

    # ------------------------------------------------------------ agents

    async def create_agent(
        self,
        agent_id: str,
        *,
        policy: SigningPolicy | None = None,
        wallet_count: int = 1,
        owner: str = "",
    ) -> Agent:
        """With `owner`, only documents the owner signs govern the agent (apply_policy);
        without, `policy` is its minimal policy for life."""
        request = pb.CreateAgentRequest(
            agent_id=agent_id,
            wallet_count=wallet_count,
            policy=convert.policy_to_proto(policy or SigningPolicy()),
            owner=owner,
        )
        response = await self._unary(
            "CreateAgent",
            lambda stub: stub.CreateAgent(request, **self._call_options()),
            repeatable=False,
        )
        return convert.agent_from_proto(response.agent)

    async def get_agent(self, agent_id: str) -> Agent:
        request = pb.GetAgentRequest(agent_id=agent_id)
        response = await self._unary(
            "GetAgent",
            lambda stub: stub.GetAgent(request, **self._call_options()),
            repeatable=True,
        )
        return convert.agent_from_proto(response.agent)

    async def attest_agent(
        self, agent_id: str, *, policy: MeasurementPolicy, now: int | None = None
    ) -> tuple[Agent, VerifiedQuote]:
        """Fresh evidence that this agent's keys live in the attested enclave."""
        agent = await self.get_agent(agent_id)
        nonce = secrets.token_bytes(32)
        bundle, pinned = await self._call(
            "GetAttestation",
            lambda p: get_attestation(
                p.stub, nonce=nonce, agent_id=agent_id, timeout=self._timeout
            ),
            repeatable=True,
        )
        if not hmac.compare_digest(bound_keys(agent), bundle.bound_keys):
            raise ChannelBindingError(f"evidence does not bind the keys of agent {agent_id!r}")
        verified = verify_bundle(
            bundle, nonce=nonce, policy=policy, now=now, tls_public_key=pinned.tls_public_key
        )
        return agent, verified

    async def get_attestation(self, nonce: bytes, agent_id: str = "") -> AttestationBundle:
        """The enclave's evidence for `nonce` (binding `agent_id`'s keys if given),
        unverified: for passing on to a third party, who verifies it themselves
        (the log API's attestation route). To trust it here, use attest_agent."""
        bundle, _ = await self._call(
            "GetAttestation",
            lambda p: get_attestation(
                p.stub, nonce=nonce, agent_id=agent_id, timeout=self._timeout
            ),
            repeatable=True,
        )
        return bundle

    # ------------------------------------------------------------ owner policies

    async def apply_policy(
        self, agent_id: str, document: str, owner_signature: bytes
    ) -> PolicyStatus:
        """Hand the enclave a document the agent's owner signed; applying one twice is
        refused (PolicyVersionStale), so a retry after a broken call is safe."""
        request = pb.ApplyPolicyRequest(
            agent_id=agent_id, document=document, owner_signature=owner_signature
        )
        response = await self._unary(
            "ApplyPolicy",
            lambda stub: stub.ApplyPolicy(request, **self._call_options()),
            repeatable=True,
        )
        return convert.policy_status_from_proto(response.policy)

    async def get_policy(self, agent_id: str) -> PolicyStatus:
        request = pb.GetPolicyRequest(agent_id=agent_id)
        response = await self._unary(
            "GetPolicy",
            lambda stub: stub.GetPolicy(request, **self._call_options()),
            repeatable=True,
        )
        return convert.policy_status_from_proto(response.policy)

    async def explain_sign(self, request: SignRequest) -> PolicyExplanation:
        """A dry run: the decision and its rule; nothing is signed, logged or charged."""
        wire = pb.ExplainSignRequest(request=convert.sign_request_to_proto(request))
        response = await self._unary(
            "ExplainSign",
            lambda stub: stub.ExplainSign(wire, **self._call_options()),
            repeatable=True,
        )
        return convert.explanation_from_proto(response)

    async def list_approvals(self, agent_id: str) -> list[PendingApproval]:
        """Requests waiting for the owner's co-signature."""
        request = pb.ListApprovalsRequest(agent_id=agent_id)
        response = await self._unary(
            "ListApprovals",
            lambda stub: stub.ListApprovals(request, **self._call_options()),
            repeatable=True,
        )
        return [convert.pending_approval_from_proto(p) for p in response.approvals]

    async def approve(self, agent_id: str, approval_id: str, owner_signature: bytes) -> SignResult:
        """Sign a waiting request with the owner's approval; an approval signs once, so a
        retry after a broken call answers APPROVAL_UNAVAILABLE (see the agent's log)."""
        request = pb.ApproveRequest(
            agent_id=agent_id, approval_id=approval_id, owner_signature=owner_signature
        )
        response = await self._unary(
            "Approve",
            lambda stub: stub.Approve(request, **self._call_options()),
            repeatable=False,
        )
        return convert.result_from_proto(response.result)

    # ------------------------------------------------------------ signing

    # Every result carries log_index: its SIGNATURE entry in the agent's log. A request
    # with an idempotency key is answered the same again (the signer keeps the first
    # answer), so only those are sent twice after a connection broke mid-call.

    async def sign(self, request: SignRequest) -> SignResult:
        """Signs as a unary Sign would; calls made while another is in flight are sent
        together as one SignBatch (anima_signer_api.coalescing), with the same outcomes."""
        wire = convert.sign_request_to_proto(request)
        return await self._signs.sign(wire, keyed=bool(request.idempotency_key))

    async def _sign_one(self, wire: pb.SignRequest, keyed: bool) -> pb.SignResponse:
        response: pb.SignResponse = await self._unary(
            "Sign", lambda stub: stub.Sign(wire, **self._call_options()), repeatable=keyed
        )
        return response

    async def _sign_together(
        self, wires: Sequence[pb.SignRequest], repeatable: bool
    ) -> pb.SignBatchResponse:
        batch = pb.SignBatchRequest(requests=wires)
        response: pb.SignBatchResponse = await self._unary(
            "SignBatch",
            lambda stub: stub.SignBatch(batch, **self._call_options()),
            repeatable=repeatable,
        )
        return response

    async def sign_batch(self, requests: Iterable[SignRequest]) -> list[SignResult | SignFailure]:
        requests = list(requests)
        batch = pb.SignBatchRequest(requests=[convert.sign_request_to_proto(r) for r in requests])
        response = await self._unary(
            "SignBatch",
            lambda stub: stub.SignBatch(batch, **self._call_options()),
            repeatable=all(r.idempotency_key for r in requests),
        )
        return [item_outcome(item) for item in response.items]

    async def sign_stream(
        self, requests: AsyncIterator[SignRequest]
    ) -> AsyncIterator[SignResult | SignFailure]:
        """Never sent twice (its requests are read as they go). A stream that could not
        connect re-pins the connection for the next call, then raises SignerUnreachable;
        one that broke on the way raises SignerOutcomeUnknown (what it had not answered
        yet may or may not have been signed)."""

        async def wire() -> AsyncIterator[pb.SignStreamRequest]:
            async for request in requests:
                yield pb.SignStreamRequest(request=convert.sign_request_to_proto(request))

        pinned = await self._connection.settled()
        call = pinned.stub.SignStream(wire(), metadata=self._metadata)
        try:
            async for message in call:
                yield item_outcome(message.item)
        except grpc.aio.AioRpcError as exc:
            status = RemoteStatus.of_rpc_error(exc)
            if self._connection.renewable and lost_connection(status):
                if NOT_CONNECTED not in status.message:
                    raise SignerOutcomeUnknown("SignStream", status.message) from None
                await self._connection.renew(pinned)
            raise ERRORS.error_for(status) from None

    # ------------------------------------------------------------ the log

    async def append_log(
        self, agent_id: str, host_size: int, inputs: Iterable[LogEntryInput] = ()
    ) -> LogAppendResult:
        """Sequence `inputs` (none: just collect the tail) after telling the enclave
        that the host has stored [0, host_size) durably. See AppendLog in signer.proto.

        Sent twice only without inputs: the enclave appends whatever it is given after
        its own size (host_size only confirms storage), so a second AppendLog with the
        same entries would log them twice."""
        inputs = list(inputs)
        request = convert.append_log_request_to_proto(agent_id, host_size, inputs)
        response = await self._unary(
            "AppendLog",
            lambda stub: stub.AppendLog(request, **self._call_options()),
            repeatable=not inputs,
        )
        return convert.log_result_from_proto(response)


__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "DEFAULT_TIMEOUT_S", "SignerClient"]
