"""Protobuf <-> domain conversions for the runtime API.

Server side (the runtime's gRPC adapter): requests to plain values, with each field's
wire rules checked here and named as on the wire (`kind`, `character_json`); the
runtime's handler checks the meaning. Client side: responses back to domain types.
Entries a client receives are decoded from their canonical bytes and their leaf hashes
recomputed, not taken from the fields beside them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, cast

from google.protobuf import json_format

from anima.runtime.v1 import runtime_pb2 as pb
from anima_runtime_api.errors import InvalidRuntimeRequest, RuntimeRpcError
from anima_runtime_api.types import (
    AgentView,
    ConsistencyProof,
    EntryFilter,
    EntryPage,
    EntryView,
    InclusionProof,
    LoggedAction,
    LoggedEvaluation,
    LoggedResponse,
    RoomMemory,
    TurnResult,
)
from anima_verify import jsonsafe
from anima_verify.tlog.entry import EntryKind, decode_entry
from anima_verify.tlog.merkle import leaf_hash

_KIND_PREFIX: Final = "LOG_ENTRY_KIND_"
_KIND_TO_PB: Final[Mapping[EntryKind, int]] = {
    kind: pb.LogEntryKind.Value(_KIND_PREFIX + kind.name) for kind in EntryKind
}
_KIND_FROM_PB: Final[Mapping[int, EntryKind]] = {v: k for k, v in _KIND_TO_PB.items()}


# ---------------------------------------------------------------- agents


def agent_to_pb(view: AgentView) -> pb.Agent:
    message = pb.Agent(
        agent_id=view.agent_id,
        name=view.name,
        running=view.running,
        created_at=view.created_at,
        wallets=view.wallets,
        log_verifier_key=view.log_verifier_key,
        plugins=view.plugins,
        unknown_plugins=view.unknown_plugins,
        model=view.model,
    )
    if view.problem is not None:
        message.problem = view.problem
    return message


def agent_from_pb(message: pb.Agent) -> AgentView:
    return AgentView(
        agent_id=message.agent_id,
        name=message.name,
        running=message.running,
        created_at=message.created_at,
        wallets=tuple(message.wallets),
        log_verifier_key=message.log_verifier_key,
        plugins=tuple(message.plugins),
        unknown_plugins=tuple(message.unknown_plugins),
        model=message.model,
        problem=message.problem if message.HasField("problem") else None,
    )


# ---------------------------------------------------------------- turns


def turn_to_pb(turn: TurnResult) -> pb.Turn:
    return pb.Turn(
        agent_id=turn.agent_id,
        room_id=turn.room_id,
        message_id=turn.message_id,
        message_log_index=turn.message_log_index,
        decision_log_index=turn.decision_log_index,
        responses=[
            pb.Reply(text=r.text, actions=r.actions, memory_id=r.memory_id, log_index=r.log_index)
            for r in turn.responses
        ],
        actions=[
            pb.ActionResult(
                name=a.name,
                ok=a.ok,
                text=a.text,
                log_index=a.log_index,
                data_json=_json_text(a.data),
            )
            for a in turn.actions
        ],
        evaluations=[
            pb.EvaluationResult(
                name=e.name,
                ok=e.ok,
                summary=e.summary,
                log_index=e.log_index,
                data_json=_json_text(e.data),
            )
            for e in turn.evaluations
        ],
        timings=pb.TurnTimings(model_ms=turn.model_ms, total_ms=turn.total_ms),
    )


def turn_from_pb(message: pb.Turn) -> TurnResult:
    return TurnResult(
        agent_id=message.agent_id,
        room_id=message.room_id,
        message_id=message.message_id,
        message_log_index=message.message_log_index,
        decision_log_index=message.decision_log_index,
        responses=tuple(
            LoggedResponse(
                text=r.text, actions=tuple(r.actions), memory_id=r.memory_id, log_index=r.log_index
            )
            for r in message.responses
        ),
        actions=tuple(
            LoggedAction(
                name=a.name,
                ok=a.ok,
                text=a.text,
                log_index=a.log_index,
                data=_json_object(a.data_json, f"actions[{n}].data_json"),
            )
            for n, a in enumerate(message.actions)
        ),
        evaluations=tuple(
            LoggedEvaluation(
                name=e.name,
                ok=e.ok,
                summary=e.summary,
                log_index=e.log_index,
                data=_json_object(e.data_json, f"evaluations[{n}].data_json"),
            )
            for n, e in enumerate(message.evaluations)
        ),
        model_ms=message.timings.model_ms,
        total_ms=message.timings.total_ms,
    )


def room_memory_to_pb(memory: RoomMemory) -> pb.RoomMemory:
    message = pb.RoomMemory(
        id=memory.id,
        entity_id=memory.entity_id,
        table=memory.table,
        text=memory.text,
        created_at_ms=memory.created_at_ms,
    )
    if memory.fields:
        message.fields.update(dict(memory.fields))
    return message


def room_memory_from_pb(message: pb.RoomMemory) -> RoomMemory:
    fields: dict[str, Any] = {}
    if message.fields.fields:
        fields = dict(json_format.MessageToDict(message.fields))
    return RoomMemory(
        id=message.id,
        entity_id=message.entity_id,
        table=message.table,
        text=message.text,
        created_at_ms=message.created_at_ms,
        fields=fields,
    )


# ---------------------------------------------------------------- log reads


def kind_to_pb(kind: EntryKind) -> pb.LogEntryKind:
    return cast("pb.LogEntryKind", _KIND_TO_PB[kind])


def kind_from_pb(value: int, field: str = "kind") -> EntryKind | None:
    """The kind a search asks for; None for LOG_ENTRY_KIND_UNSPECIFIED (any)."""
    if value == pb.LOG_ENTRY_KIND_UNSPECIFIED:
        return None
    kind = _KIND_FROM_PB.get(value)
    if kind is None:
        raise InvalidRuntimeRequest(f"{field}: {value} is not a LogEntryKind")
    return kind


def search_from_pb(request: pb.SearchLogEntriesRequest) -> tuple[EntryFilter, int]:
    """The search terms and the index to continue after (-1: from the start)."""
    terms = EntryFilter(
        room=request.room if request.HasField("room") else None,
        kind=kind_from_pb(request.kind),
        actor=request.actor if request.HasField("actor") else None,
        since_ms=request.since_ms if request.HasField("since_ms") else None,
        until_ms=request.until_ms if request.HasField("until_ms") else None,
    )
    return terms, request.after if request.HasField("after") else -1


def search_to_pb(
    agent_id: str, terms: EntryFilter, *, after: int | None, limit: int
) -> pb.SearchLogEntriesRequest:
    request = pb.SearchLogEntriesRequest(agent_id=agent_id, limit=limit)
    if terms.room is not None:
        request.room = terms.room
    if terms.kind is not None:
        request.kind = kind_to_pb(terms.kind)
    if terms.actor is not None:
        request.actor = terms.actor
    if terms.since_ms is not None:
        request.since_ms = terms.since_ms
    if terms.until_ms is not None:
        request.until_ms = terms.until_ms
    if after is not None:
        request.after = after
    return request


def entry_to_pb(view: EntryView) -> pb.LogEntry:
    e = view.entry
    return pb.LogEntry(
        index=e.index,
        time_ms=e.time_ms,
        kind=kind_to_pb(e.kind),
        actor=e.actor,
        room=e.room,
        payload_sha256=e.payload_sha256,
        payload_size=e.payload_size,
        payload_redacted=view.redacted,
        leaf_hash=view.leaf_hash,
        entry=view.encoded,
    )


def entry_from_pb(message: pb.LogEntry) -> EntryView:
    """The entry its canonical bytes say (decode_entry refuses any other encoding)."""
    return EntryView(
        entry=decode_entry(message.entry),
        encoded=message.entry,
        leaf_hash=leaf_hash(message.entry),
        redacted=message.payload_redacted,
    )


def page_from_pb(
    message: pb.ListLogEntriesResponse | pb.SearchLogEntriesResponse,
) -> EntryPage:
    next_after = None
    if isinstance(message, pb.SearchLogEntriesResponse) and message.HasField("next_after"):
        next_after = message.next_after
    return EntryPage(
        size=message.size,
        entries=[entry_from_pb(e) for e in message.entries],
        next_after=next_after,
    )


def inclusion_to_pb(proof: InclusionProof) -> pb.GetInclusionProofResponse:
    return pb.GetInclusionProofResponse(
        index=proof.index, size=proof.size, leaf_hash=proof.leaf_hash, proof=proof.proof
    )


def inclusion_from_pb(message: pb.GetInclusionProofResponse) -> InclusionProof:
    return InclusionProof(
        index=message.index,
        size=message.size,
        leaf_hash=message.leaf_hash,
        proof=list(message.proof),
    )


def consistency_to_pb(proof: ConsistencyProof) -> pb.GetConsistencyProofResponse:
    return pb.GetConsistencyProofResponse(first=proof.first, second=proof.second, proof=proof.proof)


def consistency_from_pb(message: pb.GetConsistencyProofResponse) -> ConsistencyProof:
    return ConsistencyProof(first=message.first, second=message.second, proof=list(message.proof))


# ---------------------------------------------------------------- JSON fields


def _json_text(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"))


def _json_object(text: str, field: str) -> dict[str, Any]:
    """A JSON object the runtime sent; a malformed one is the runtime's failure."""
    if not text:
        return {}
    try:
        value = jsonsafe.loads(text, what=field)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise RuntimeRpcError("INTERNAL", f"the runtime answered {field} that is not a JSON object")
    return value


__all__ = [
    "agent_from_pb",
    "agent_to_pb",
    "consistency_from_pb",
    "consistency_to_pb",
    "entry_from_pb",
    "entry_to_pb",
    "inclusion_from_pb",
    "inclusion_to_pb",
    "kind_from_pb",
    "kind_to_pb",
    "page_from_pb",
    "room_memory_from_pb",
    "room_memory_to_pb",
    "search_from_pb",
    "search_to_pb",
    "turn_from_pb",
    "turn_to_pb",
]
