"""Client library for the agent runtime's gRPC API (RuntimeService).

    async with RuntimeClient.connect(address, token, certificate_pem=pem) as runtime:
        agent = await runtime.create_agent(character_document)
        turn = await runtime.send_message(agent.agent_id, room_id="lobby", text="hi")

TLS is pinned to the certificate the runtime published (or one from a CA, given as
PEM); plaintext needs the explicit `insecure_plaintext=True`. The token is the API's
bearer token; log reads need none unless the runtime's log API is closed (then its
read token). Whatever the runtime refuses arrives as the runtime's typed error for its
reason (google.rpc.ErrorInfo: AgentNotFound, InvalidMessage, ...), else as
RuntimeRpcError / RuntimeUnreachable by status code, with the runtime's message; the
transport's own exceptions never reach callers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio

from anima.runtime.v1 import runtime_pb2 as pb
from anima.runtime.v1 import runtime_pb2_grpc as pb_grpc
from anima_core.auth import bearer_metadata
from anima_core.channels import client_channel
from anima_core.errors import ErrorCatalog
from anima_core.interceptors import MalformedRequest
from anima_runtime_api.convert import (
    agent_from_pb,
    consistency_from_pb,
    inclusion_from_pb,
    page_from_pb,
    room_memory_from_pb,
    search_to_pb,
    turn_from_pb,
)
from anima_runtime_api.endpoint import TLS_SERVER_NAME
from anima_runtime_api.errors import (
    ERROR_DOMAIN,
    SERVER_ERRORS,
    RuntimeRpcError,
    RuntimeUnreachable,
)
from anima_runtime_api.types import (
    AgentView,
    ConsistencyProof,
    EntryFilter,
    EntryPage,
    InclusionProof,
    RoomMemory,
    TurnResult,
)

DEFAULT_TIMEOUT_S = 30.0
#: A turn waits for the model, the actions and the evaluators (each bounded by the
#: runtime's own timeouts).
DEFAULT_TURN_TIMEOUT_S = 300.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

Response = TypeVar("Response")

#: The runtime's reasons and their errors: what a failed call raises. (The log reads'
#: own reasons, UNKNOWN_LOG and the like, arrive as RuntimeRpcError with their code.)
ERRORS = ErrorCatalog(
    domain=ERROR_DOMAIN,
    errors=(*SERVER_ERRORS, MalformedRequest),
    rpc_error=RuntimeRpcError,
    unreachable=RuntimeUnreachable,
)


class RuntimeClient:
    """One channel to a runtime; use `connect`. Methods raise the runtime's typed errors."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        token: str | None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        turn_timeout_s: float = DEFAULT_TURN_TIMEOUT_S,
    ) -> None:
        self._channel = channel
        self._stub = pb_grpc.RuntimeServiceStub(channel)
        self._metadata = bearer_metadata(token) if token else None
        self._timeout = timeout_s
        self._turn_timeout = turn_timeout_s

    @classmethod
    def connect(
        cls,
        address: str,
        token: str | None = None,
        *,
        certificate_pem: bytes | None = None,
        insecure_plaintext: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        turn_timeout_s: float = DEFAULT_TURN_TIMEOUT_S,
    ) -> RuntimeClient:
        channel = client_channel(
            address,
            certificate_pem=certificate_pem,
            insecure_plaintext=insecure_plaintext,
            server_name=TLS_SERVER_NAME,
            max_message_bytes=MAX_MESSAGE_BYTES,
            service="runtime",
        )
        return cls(channel, token, timeout_s=timeout_s, turn_timeout_s=turn_timeout_s)

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def __aenter__(self) -> RuntimeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ agents

    async def create_agent(
        self,
        character: Mapping[str, Any] | str | bytes,
        *,
        agent_id: str | None = None,
        start: bool = True,
    ) -> AgentView:
        """Create an agent from an ElizaOS character (a document, or its JSON text)."""
        if isinstance(character, Mapping):
            text = json.dumps(dict(character), ensure_ascii=False).encode()
        else:
            text = character.encode() if isinstance(character, str) else character
        request = pb.CreateAgentRequest(character_json=text, start=start)
        if agent_id is not None:
            request.agent_id = agent_id
        response = await self._call(self._stub.CreateAgent, request)
        return agent_from_pb(response.agent)

    async def list_agents(self) -> list[AgentView]:
        response = await self._call(self._stub.ListAgents, pb.ListAgentsRequest())
        return [agent_from_pb(a) for a in response.agents]

    async def get_agent(self, agent_id: str) -> AgentView:
        response = await self._call(self._stub.GetAgent, pb.GetAgentRequest(agent_id=agent_id))
        return agent_from_pb(response.agent)

    async def start_agent(self, agent_id: str) -> AgentView:
        response = await self._call(self._stub.StartAgent, pb.StartAgentRequest(agent_id=agent_id))
        return agent_from_pb(response.agent)

    async def stop_agent(self, agent_id: str) -> AgentView:
        response = await self._call(self._stub.StopAgent, pb.StopAgentRequest(agent_id=agent_id))
        return agent_from_pb(response.agent)

    async def export_agent(self, agent_id: str) -> bytes:
        """The agent's portable record, secrets included (admin token only)."""
        response = await self._call(
            self._stub.ExportAgent, pb.ExportAgentRequest(agent_id=agent_id)
        )
        return bytes(response.record_json)

    async def restore_agent(
        self,
        agent_id: str,
        record_json: bytes,
        *,
        log_entries: Sequence[bytes] = (),
        checkpoint: bytes = b"",
    ) -> AgentView:
        """Host an agent restored into the runtime's signer, from its exported record and
        its restored log (entries [0, n) and their signed checkpoint); admin token only."""
        request = pb.RestoreAgentRequest(
            agent_id=agent_id,
            record_json=record_json,
            log_entries=list(log_entries),
            checkpoint=checkpoint,
        )
        response = await self._call(self._stub.RestoreAgent, request)
        return agent_from_pb(response.agent)

    # ------------------------------------------------------------ conversation

    async def send_message(
        self,
        agent_id: str,
        *,
        room_id: str,
        text: str,
        entity_id: str | None = None,
        user_name: str | None = None,
    ) -> TurnResult:
        """One turn: the agent hears `text` in `room_id` and answers."""
        request = pb.SendMessageRequest(agent_id=agent_id, room_id=room_id, text=text)
        if entity_id is not None:
            request.entity_id = entity_id
        if user_name is not None:
            request.user_name = user_name
        response = await self._call(self._stub.SendMessage, request, self._turn_timeout)
        return turn_from_pb(response.turn)

    async def room_memories(self, agent_id: str, room_id: str, limit: int = 0) -> list[RoomMemory]:
        """The room's latest `limit` memories (0: the runtime's default), oldest first."""
        response = await self._call(
            self._stub.ListRoomMemories,
            pb.ListRoomMemoriesRequest(agent_id=agent_id, room_id=room_id, limit=limit),
        )
        return [room_memory_from_pb(m) for m in response.memories]

    # ------------------------------------------------------------ the agent's log

    async def checkpoint(self, agent_id: str) -> bytes:
        """The latest signed checkpoint note (verify with anima_verify.tlog.checkpoint)."""
        response = await self._call(
            self._stub.GetCheckpoint, pb.GetCheckpointRequest(agent_id=agent_id)
        )
        return bytes(response.note)

    async def entries(self, agent_id: str, start: int = 0, end: int | None = None) -> EntryPage:
        request = pb.ListLogEntriesRequest(agent_id=agent_id, start=start)
        if end is not None:
            request.end = end
        return page_from_pb(await self._call(self._stub.ListLogEntries, request))

    async def search(
        self,
        agent_id: str,
        terms: EntryFilter = EntryFilter(),  # noqa: B008 (frozen)
        *,
        after: int | None = None,
        limit: int = 0,
    ) -> EntryPage:
        """Matching entries after index `after`; the page's next_after continues it."""
        request = search_to_pb(agent_id, terms, after=after, limit=limit)
        return page_from_pb(await self._call(self._stub.SearchLogEntries, request))

    async def payload(self, agent_id: str, index: int) -> bytes:
        response = await self._call(
            self._stub.GetLogPayload, pb.GetLogPayloadRequest(agent_id=agent_id, index=index)
        )
        return bytes(response.payload)

    async def inclusion_proof(
        self, agent_id: str, index: int, size: int | None = None
    ) -> InclusionProof:
        request = pb.GetInclusionProofRequest(agent_id=agent_id, index=index)
        if size is not None:
            request.size = size
        return inclusion_from_pb(await self._call(self._stub.GetInclusionProof, request))

    async def consistency_proof(
        self, agent_id: str, first: int, second: int | None = None
    ) -> ConsistencyProof:
        request = pb.GetConsistencyProofRequest(agent_id=agent_id, first=first)
        if second is not None:
            request.second = second
        return consistency_from_pb(await self._call(self._stub.GetConsistencyProof, request))

    # ------------------------------------------------------------ internals

    async def _call(
        self,
        method: Callable[..., Awaitable[Response]],
        request: Any,
        timeout: float | None = None,
    ) -> Response:
        with ERRORS:
            return await method(request, metadata=self._metadata, timeout=timeout or self._timeout)


__all__ = [
    "RuntimeClient",
]
