"""What one message turn did, as the API returns it: every step with its log index;
together they name every entry the turn appended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
