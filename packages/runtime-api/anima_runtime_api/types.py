"""The runtime's domain types, as its handler returns them and its client gives them back.

Plain frozen dataclasses: no protobuf and no HTTP model reaches past the API layer.
Agents (`AgentView`), what one turn did (`TurnResult` and its logged steps), a room's
memories (`RoomMemory`), and reads of an agent's log (`EntryView` pages and proofs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from anima_verify.tlog.entry import EntryKind, LogEntry

# ---------------------------------------------------------------- agents


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent as callers see it: public keys and state, never the character's secrets."""

    agent_id: str
    name: str
    running: bool
    created_at: str  # ISO 8601, UTC
    wallets: tuple[str, ...]  # addresses, by wallet index
    log_verifier_key: str
    plugins: tuple[str, ...]  # the character's plugins this runtime has
    unknown_plugins: tuple[str, ...]  # the ones it names that this runtime lacks
    model: str  # the chat model's name (the last one used, when stopped)
    #: Why the agent is not running though it was meant to (its last start failed);
    #: None once it starts or is stopped.
    problem: str | None = None


# ---------------------------------------------------------------- a turn


@dataclass(frozen=True, slots=True)
class LoggedResponse:
    text: str
    actions: tuple[str, ...]
    memory_id: str
    log_index: int


@dataclass(frozen=True, slots=True)
class LoggedAction:
    name: str
    ok: bool
    text: str  # the handler's result text, or the error a caller may see
    log_index: int
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggedEvaluation:
    name: str
    ok: bool
    summary: str
    log_index: int
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What one message turn did: every step with its log index; together they name
    every entry the turn appended."""

    agent_id: str
    room_id: str
    message_id: str  # the incoming message's memory id
    message_log_index: int
    #: The RESPONSE entry of the turn's decision, spoken or silent (IGNORE, no text);
    #: for a spoken reply, responses[0].log_index.
    decision_log_index: int
    responses: tuple[LoggedResponse, ...]  # empty when the agent chose to stay silent
    actions: tuple[LoggedAction, ...]
    evaluations: tuple[LoggedEvaluation, ...]
    model_ms: float  # time spent waiting for the model and embeddings (not runtime overhead)
    total_ms: float

    @property
    def log_indices(self) -> tuple[int, ...]:
        """Every entry the turn appended, in index order."""
        steps = (
            self.message_log_index,
            self.decision_log_index,
            *(r.log_index for r in self.responses),
            *(a.log_index for a in self.actions),
            *(e.log_index for e in self.evaluations),
        )
        return tuple(sorted(set(steps)))


@dataclass(frozen=True, slots=True)
class RoomMemory:
    """A memory of a room as the runtime lists it (no embedding, no agent or room id:
    the listing names those once)."""

    id: str
    entity_id: str
    table: str
    text: str
    created_at_ms: int
    fields: Mapping[str, Any] = field(default_factory=dict)  # JSON object


# ---------------------------------------------------------------- log reads


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Log search terms; None matches anything. Times are [since_ms, until_ms)."""

    room: str | None = None
    kind: EntryKind | None = None
    actor: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class EntryView:
    """One log entry: decoded, its canonical encoding (the leaf's data), its leaf hash,
    and whether its payload has been redacted."""

    entry: LogEntry
    encoded: bytes
    leaf_hash: bytes
    redacted: bool


@dataclass(frozen=True, slots=True)
class EntryPage:
    size: int  # the published size the entries were read against: all are below it
    entries: list[EntryView]
    #: For a search: pass as `after` for the next page; None when there is none.
    next_after: int | None = None


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[bytes]


__all__ = [
    "AgentView",
    "ConsistencyProof",
    "EntryFilter",
    "EntryPage",
    "EntryView",
    "InclusionProof",
    "LoggedAction",
    "LoggedEvaluation",
    "LoggedResponse",
    "RoomMemory",
    "TurnResult",
]
