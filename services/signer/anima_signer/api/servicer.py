"""The gRPC face of the signer: converts, calls the core, converts back.

Errors are raised as domain errors and mapped to rich statuses (code, message,
ErrorInfo reason) by the shared interceptor; per-item batch errors carry the same
code, message, reason and metadata in SignError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from anima.signer.v1 import signer_pb2 as pb
from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_core.error_mapping import status_for_exception
from anima_signer.api.metrics import count_outcome
from anima_signer.api.migration_servicer import MigrationServicer, migration_access
from anima_signer.api.recovery_servicer import ROLE_RECOVERY, RecoveryServicer, recovery_access
from anima_signer.core import Signer
from anima_signer.group_commit import SignGroupCommit
from anima_signer_api import convert
from anima_signer_api.errors import SignerError
from anima_signer_api.types import SignResult

if TYPE_CHECKING:
    from anima_core.interceptors import Context

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SignerService"].full_name


def _method(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


# Who may call what. Caller names come from the token table in configuration.
ROLE_ADMIN = "admin"
ROLE_RUNTIME = "runtime"
PUBLIC_METHODS = frozenset({_method("GetAttestation")})
ACCESS_LIST = {
    _method("CreateAgent"): frozenset({ROLE_ADMIN}),
    _method("GetAgent"): frozenset({ROLE_ADMIN, ROLE_RUNTIME}),
    _method("ListAgents"): frozenset({ROLE_ADMIN, ROLE_RUNTIME}),
    _method("Sign"): frozenset({ROLE_RUNTIME}),
    _method("SignBatch"): frozenset({ROLE_RUNTIME}),
    _method("SignStream"): frozenset({ROLE_RUNTIME}),
    _method("AppendLog"): frozenset({ROLE_RUNTIME}),
    # The owner's signature authorises a policy, not the caller: either may relay it.
    _method("ApplyPolicy"): frozenset({ROLE_ADMIN, ROLE_RUNTIME}),
    _method("GetPolicy"): frozenset({ROLE_ADMIN, ROLE_RUNTIME}),
    _method("ExplainSign"): frozenset({ROLE_ADMIN, ROLE_RUNTIME}),
    _method("ListApprovals"): frozenset({ROLE_ADMIN, ROLE_RUNTIME}),
    _method("Approve"): frozenset({ROLE_ADMIN, ROLE_RUNTIME}),
    **{_method(m): roles for m, roles in recovery_access(admin=ROLE_ADMIN).items()},
    **{
        _method(m): roles
        for m, roles in migration_access(admin=ROLE_ADMIN, recovery=ROLE_RECOVERY).items()
    },
}


def _batch_item(outcome: SignResult | SignerError) -> pb.SignBatchItem:
    count_outcome(outcome)
    if isinstance(outcome, SignerError):
        error = pb.SignError(
            code=status_for_exception(outcome).value[0],
            message=outcome.message,
            reason=outcome.reason,
            metadata=outcome.metadata(),
        )
        return pb.SignBatchItem(error=error)
    return pb.SignBatchItem(response=convert.result_to_proto(outcome))


class SignerServicer(RecoveryServicer, MigrationServicer, pb_grpc.SignerServiceServicer):  # type: ignore[misc]
    def __init__(self, *, signer: Signer, tls_public_key: bytes) -> None:
        self._signer = signer
        self._tls_public_key = tls_public_key
        # Concurrent unary signs share commits (one fsync, checkpoint and witness round).
        self._unary = SignGroupCommit(signer)

    async def GetAttestation(
        self, request: pb.GetAttestationRequest, context: Context
    ) -> pb.GetAttestationResponse:
        bundle = await self._signer.attest(
            nonce=request.nonce, tls_public_key=self._tls_public_key, agent_id=request.agent_id
        )
        return convert.attestation_to_proto(bundle)

    async def CreateAgent(
        self, request: pb.CreateAgentRequest, context: Context
    ) -> pb.CreateAgentResponse:
        agent = self._signer.create_agent(
            agent_id=request.agent_id,
            wallet_count=request.wallet_count or 1,
            policy=convert.policy_from_proto(request.policy),
            owner=request.owner,
        )
        threshold, shares = self._signer.latest_escrow(agent.agent_id)
        return pb.CreateAgentResponse(
            agent=convert.agent_to_proto(agent), escrow_shares=shares, escrow_threshold=threshold
        )

    async def GetAgent(self, request: pb.GetAgentRequest, context: Context) -> pb.GetAgentResponse:
        return pb.GetAgentResponse(
            agent=convert.agent_to_proto(self._signer.get_agent(request.agent_id))
        )

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: Context
    ) -> pb.ListAgentsResponse:
        return pb.ListAgentsResponse(
            agents=[convert.agent_to_proto(a) for a in self._signer.list_agents()]
        )

    async def ApplyPolicy(
        self, request: pb.ApplyPolicyRequest, context: Context
    ) -> pb.ApplyPolicyResponse:
        # Recovering the owner and compiling CEL is CPU work, and the commit an fsync.
        status = await asyncio.to_thread(
            self._signer.apply_policy,
            request.agent_id,
            request.document,
            request.owner_signature,
        )
        return pb.ApplyPolicyResponse(policy=convert.policy_status_to_proto(status))

    async def GetPolicy(
        self, request: pb.GetPolicyRequest, context: Context
    ) -> pb.GetPolicyResponse:
        status = self._signer.get_policy(request.agent_id)
        return pb.GetPolicyResponse(policy=convert.policy_status_to_proto(status))

    async def ExplainSign(
        self, request: pb.ExplainSignRequest, context: Context
    ) -> pb.ExplainSignResponse:
        parsed = convert.sign_request_from_proto(request.request)
        explained = await asyncio.to_thread(self._signer.explain, parsed)
        return convert.explanation_to_proto(explained)

    async def ListApprovals(
        self, request: pb.ListApprovalsRequest, context: Context
    ) -> pb.ListApprovalsResponse:
        pending = self._signer.pending_approvals(request.agent_id)
        return pb.ListApprovalsResponse(
            approvals=[convert.pending_approval_to_proto(p) for p in pending]
        )

    async def Approve(self, request: pb.ApproveRequest, context: Context) -> pb.ApproveResponse:
        result = await asyncio.to_thread(
            self._signer.approve, request.agent_id, request.approval_id, request.owner_signature
        )
        return pb.ApproveResponse(result=convert.result_to_proto(result))

    async def Sign(self, request: pb.SignRequest, context: Context) -> pb.SignResponse:
        parsed = convert.sign_request_from_proto(request)
        # Signing commits the log entry durably (an fsync): in a worker thread, in a
        # commit shared with the other calls waiting meanwhile (group_commit.py).
        try:
            result = await self._unary.sign(parsed)
        except SignerError as exc:
            count_outcome(exc)
            raise
        count_outcome(result)
        return convert.result_to_proto(result)

    async def SignBatch(
        self, request: pb.SignBatchRequest, context: Context
    ) -> pb.SignBatchResponse:
        parsed: list[SignResult | SignerError | None] = []
        requests = []
        for item in request.requests:
            try:
                requests.append(convert.sign_request_from_proto(item))
                parsed.append(None)
            except SignerError as exc:
                parsed.append(exc)
        # A batch is real CPU work: keep the event loop free for other callers.
        results = iter(await asyncio.to_thread(self._signer.sign_many, requests))
        outcomes = [p if p is not None else next(results) for p in parsed]
        return pb.SignBatchResponse(items=[_batch_item(o) for o in outcomes])

    async def SignStream(
        self, request_iterator: AsyncIterator[pb.SignStreamRequest], context: Context
    ) -> AsyncIterator[pb.SignStreamResponse]:
        async for message in request_iterator:
            try:
                parsed = convert.sign_request_from_proto(message.request)
                outcome: SignResult | SignerError = await self._unary.sign(parsed)
            except SignerError as exc:
                outcome = exc
            yield pb.SignStreamResponse(item=_batch_item(outcome))

    async def AppendLog(
        self, request: pb.AppendLogRequest, context: Context
    ) -> pb.AppendLogResponse:
        agent_id, host_size, inputs = convert.append_log_request_from_proto(request)

        def append() -> pb.AppendLogResponse:
            # A durable commit, and up to 8192 entries to convert: all off the event loop.
            result = self._signer.append_log(agent_id, host_size, inputs)
            return convert.log_result_to_proto(result)

        return await asyncio.to_thread(append)
