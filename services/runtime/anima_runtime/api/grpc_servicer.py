"""The runtime's gRPC API (RuntimeService): decode, call the handler, encode.

A thin adapter over the same transport-free handler as the HTTP API
(anima_runtime/handler.py): conversions live in anima_runtime_api.convert, domain
errors become statuses in anima_core.error_mapping's one table, and who may call what is
decided before a handler runs, by the bearer-token interceptor built here
(`token_auth`): the agent RPCs need an API token; the log reads follow the log API's
configuration, as its HTTP routes do (public unless closed, payloads private unless
configured public).

Until the runtime has brought its agents back, every call is UNAVAILABLE (and health
says NOT_SERVING), so nothing is answered from half a runtime.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Final

from anima.runtime.v1 import runtime_pb2 as pb
from anima.runtime.v1 import runtime_pb2_grpc as pb_grpc
from anima_core.auth import TokenAuthInterceptor
from anima_runtime.config import RuntimeConfig
from anima_runtime.errors import AgentRuntimeError
from anima_runtime.handler import DEFAULT_MEMORIES, RuntimeHandler
from anima_runtime.log import queries
from anima_runtime_api.convert import (
    agent_to_pb,
    consistency_to_pb,
    entry_to_pb,
    inclusion_to_pb,
    room_memory_to_pb,
    search_from_pb,
    turn_to_pb,
)
from anima_verify.errors import ErrorKind

if TYPE_CHECKING:
    import grpc.aio

    Context = grpc.aio.ServicerContext[Any, Any]
else:
    Context = Any

SERVICE_NAME: Final = "anima.runtime.v1.RuntimeService"

ROLE_API: Final = "api"  # the API's bearer tokens (api_token_sha256s)
ROLE_ADMIN: Final = "admin"  # admin_token_sha256s: restore and export agents
ROLE_LOG_READER: Final = "log-reader"  # log.api.read_token_sha256
ROLE_LOG_REDACTOR: Final = "log-redactor"  # log.api.redaction_token_sha256 (reads too)


def _method(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


AGENT_METHODS: Final = tuple(
    _method(name)
    for name in (
        "CreateAgent",
        "ListAgents",
        "GetAgent",
        "StartAgent",
        "StopAgent",
        "SendMessage",
        "ListRoomMemories",
    )
)
LOG_READ_METHODS: Final = tuple(
    _method(name)
    for name in (
        "GetCheckpoint",
        "ListLogEntries",
        "SearchLogEntries",
        "GetInclusionProof",
        "GetConsistencyProof",
    )
)
LOG_PAYLOAD_METHOD: Final = _method("GetLogPayload")
#: They carry characters' secrets: admin tokens only (admin_token_sha256s).
ADMIN_METHODS: Final = (_method("ExportAgent"), _method("RestoreAgent"))


def token_auth(config: RuntimeConfig) -> TokenAuthInterceptor:
    """Who may call what, from the runtime's configuration (the HTTP API's rules)."""
    api = config.log.api
    roles: defaultdict[str, set[str]] = defaultdict(set)
    for digest in config.api_token_sha256s:
        roles[digest].add(ROLE_API)
    for digest in config.admin_token_sha256s:
        roles[digest].add(ROLE_ADMIN)
    if api.read_token_sha256:
        roles[api.read_token_sha256].add(ROLE_LOG_READER)
    if api.redaction_token_sha256:
        roles[api.redaction_token_sha256].add(ROLE_LOG_REDACTOR)
    # One token may hold several roles: its caller is named after all of them.
    callers = {digest: "+".join(sorted(held)) for digest, held in roles.items()}

    def holding(*wanted: str) -> frozenset[str]:
        return frozenset(callers[d] for d, held in roles.items() if held & set(wanted))

    readers = holding(ROLE_LOG_READER, ROLE_LOG_REDACTOR)
    acl: dict[str, frozenset[str]] = {m: holding(ROLE_API) for m in AGENT_METHODS}
    acl.update({m: holding(ROLE_ADMIN) for m in ADMIN_METHODS})  # none configured: nobody
    public: set[str] = set()
    if api.public_reads:
        public.update(LOG_READ_METHODS)
    else:
        acl.update({m: readers for m in LOG_READ_METHODS})
    if api.public_reads and api.public_payloads:
        public.add(LOG_PAYLOAD_METHOD)
    else:
        acl[LOG_PAYLOAD_METHOD] = readers  # none configured: nobody (PERMISSION_DENIED)
    return TokenAuthInterceptor(callers=callers, acl=acl, public_methods=frozenset(public))


class RuntimeStarting(AgentRuntimeError):
    """The runtime is still bringing its agents back."""

    kind = ErrorKind.UNAVAILABLE
    reason = "RUNTIME_STARTING"


class RuntimeServicer(pb_grpc.RuntimeServiceServicer):  # type: ignore[misc]
    def __init__(self, handler: RuntimeHandler | None = None) -> None:
        self._handler = handler

    def attach(self, handler: RuntimeHandler) -> None:
        """Start answering (called once the runtime's agents are back)."""
        self._handler = handler

    @property
    def handler(self) -> RuntimeHandler:
        if self._handler is None:
            raise RuntimeStarting("the runtime is still starting; retry shortly")
        return self._handler

    # ------------------------------------------------------------ agents

    async def CreateAgent(
        self, request: pb.CreateAgentRequest, context: Context
    ) -> pb.CreateAgentResponse:
        view = await self.handler.create_agent(
            request.character_json,
            agent_id=request.agent_id if request.HasField("agent_id") else None,
            start=request.start if request.HasField("start") else True,
        )
        return pb.CreateAgentResponse(agent=agent_to_pb(view))

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: Context
    ) -> pb.ListAgentsResponse:
        return pb.ListAgentsResponse(agents=[agent_to_pb(v) for v in self.handler.list_agents()])

    async def GetAgent(self, request: pb.GetAgentRequest, context: Context) -> pb.GetAgentResponse:
        return pb.GetAgentResponse(agent=agent_to_pb(self.handler.get_agent(request.agent_id)))

    async def StartAgent(
        self, request: pb.StartAgentRequest, context: Context
    ) -> pb.StartAgentResponse:
        view = await self.handler.start_agent(request.agent_id)
        return pb.StartAgentResponse(agent=agent_to_pb(view))

    async def StopAgent(
        self, request: pb.StopAgentRequest, context: Context
    ) -> pb.StopAgentResponse:
        view = await self.handler.stop_agent(request.agent_id)
        return pb.StopAgentResponse(agent=agent_to_pb(view))

    # ------------------------------------------------------------ conversation

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: Context
    ) -> pb.SendMessageResponse:
        turn = await self.handler.send_message(
            request.agent_id,
            room_id=request.room_id,
            text=request.text,
            entity_id=request.entity_id if request.HasField("entity_id") else None,
            user_name=request.user_name if request.HasField("user_name") else None,
        )
        return pb.SendMessageResponse(turn=turn_to_pb(turn))

    async def ListRoomMemories(
        self, request: pb.ListRoomMemoriesRequest, context: Context
    ) -> pb.ListRoomMemoriesResponse:
        found = await self.handler.room_memories(
            request.agent_id, request.room_id, request.limit or DEFAULT_MEMORIES
        )
        return pb.ListRoomMemoriesResponse(
            agent_id=request.agent_id,
            room_id=request.room_id,
            memories=[room_memory_to_pb(m) for m in found],
        )

    # ------------------------------------------------------------ restore (admin)

    async def ExportAgent(
        self, request: pb.ExportAgentRequest, context: Context
    ) -> pb.ExportAgentResponse:
        return pb.ExportAgentResponse(record_json=self.handler.export_agent(request.agent_id))

    async def RestoreAgent(
        self, request: pb.RestoreAgentRequest, context: Context
    ) -> pb.RestoreAgentResponse:
        view = await self.handler.restore_agent(
            request.agent_id,
            request.record_json,
            log_entries=list(request.log_entries),
            checkpoint=request.checkpoint,
        )
        return pb.RestoreAgentResponse(agent=agent_to_pb(view))

    # ------------------------------------------------------------ logs

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: Context
    ) -> pb.GetCheckpointResponse:
        return pb.GetCheckpointResponse(note=await self.handler.logs.checkpoint(request.agent_id))

    async def ListLogEntries(
        self, request: pb.ListLogEntriesRequest, context: Context
    ) -> pb.ListLogEntriesResponse:
        end = request.end if request.HasField("end") else None
        page = await self.handler.logs.entries(request.agent_id, request.start, end)
        return pb.ListLogEntriesResponse(
            size=page.size, entries=[entry_to_pb(v) for v in page.entries]
        )

    async def SearchLogEntries(
        self, request: pb.SearchLogEntriesRequest, context: Context
    ) -> pb.SearchLogEntriesResponse:
        terms, after = search_from_pb(request)
        page = await self.handler.logs.search(
            request.agent_id, terms, after=after, limit=request.limit or queries.DEFAULT_PAGE
        )
        response = pb.SearchLogEntriesResponse(
            size=page.size, entries=[entry_to_pb(v) for v in page.entries]
        )
        if page.next_after is not None:
            response.next_after = page.next_after
        return response

    async def GetLogPayload(
        self, request: pb.GetLogPayloadRequest, context: Context
    ) -> pb.GetLogPayloadResponse:
        data = await self.handler.logs.payload(request.agent_id, request.index)
        return pb.GetLogPayloadResponse(payload=data)

    async def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: Context
    ) -> pb.GetInclusionProofResponse:
        size = request.size if request.HasField("size") else None
        proof = await self.handler.logs.inclusion(request.agent_id, request.index, size)
        return inclusion_to_pb(proof)

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: Context
    ) -> pb.GetConsistencyProofResponse:
        second = request.second if request.HasField("second") else None
        proof = await self.handler.logs.consistency(request.agent_id, request.first, second)
        return consistency_to_pb(proof)


__all__ = [
    "ADMIN_METHODS",
    "AGENT_METHODS",
    "LOG_PAYLOAD_METHOD",
    "LOG_READ_METHODS",
    "ROLE_ADMIN",
    "ROLE_API",
    "ROLE_LOG_READER",
    "ROLE_LOG_REDACTOR",
    "SERVICE_NAME",
    "RuntimeServicer",
    "RuntimeStarting",
    "token_auth",
]
