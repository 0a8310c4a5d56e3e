"""Request and response bodies of the runtime's HTTP API (documented in /openapi.json).

Requests are strict: a field of the wrong type or an unknown field is a 400
naming it. Responses are built from the manager's views and the loop's
TurnResult, never from the character document, so no secret can reach one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from anima_runtime_api.types import AgentView, RoomMemory, TurnResult


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateAgentIn(_Request):
    character: dict[str, Any] = Field(description="an ElizaOS character (v0.25 or v1 JSON)")
    agent_id: StrictStr | None = Field(
        default=None, description="default: the character's name as a slug plus a random suffix"
    )
    start: StrictBool = True


class MessageIn(_Request):
    room_id: StrictStr
    text: StrictStr
    entity_id: StrictStr | None = Field(default=None, description="who speaks; default 'user'")
    user_name: StrictStr | None = Field(default=None, description="how the agent calls them")


class AgentOut(BaseModel):
    agent_id: str
    name: str
    running: bool
    created_at: str
    wallets: list[str]
    log_verifier_key: str
    plugins: list[str]
    unknown_plugins: list[str]
    model: str
    problem: str | None = Field(
        default=None,
        description="why the agent is not running though it was meant to (its last start "
        "failed; start it again once that is fixed); null once it starts or is stopped",
    )

    @classmethod
    def of(cls, view: AgentView) -> AgentOut:
        return cls(
            agent_id=view.agent_id,
            name=view.name,
            running=view.running,
            created_at=view.created_at,
            wallets=list(view.wallets),
            log_verifier_key=view.log_verifier_key,
            plugins=list(view.plugins),
            unknown_plugins=list(view.unknown_plugins),
            model=view.model,
            problem=view.problem,
        )


class AgentList(BaseModel):
    agents: list[AgentOut]


class ResponseOut(BaseModel):
    text: str
    actions: list[str]
    memory_id: str
    log_index: int


class ActionOut(BaseModel):
    name: str
    ok: bool
    text: str
    log_index: int
    data: dict[str, Any]


class EvaluationOut(BaseModel):
    name: str
    ok: bool
    summary: str
    log_index: int
    data: dict[str, Any]


class Timings(BaseModel):
    model_ms: float  # waiting for the model and embeddings
    total_ms: float


class TurnOut(BaseModel):
    """One turn: every step carries its entry's index in the agent's verifiable log."""

    agent_id: str
    room_id: str
    message_id: str
    message_log_index: int
    #: The RESPONSE entry of the turn's decision, also when the agent stayed silent
    #: (for a spoken reply, responses[0].log_index).
    decision_log_index: int
    responses: list[ResponseOut]  # empty when the agent chose to stay silent
    actions: list[ActionOut]
    evaluations: list[EvaluationOut]
    timings: Timings

    @classmethod
    def of(cls, turn: TurnResult) -> TurnOut:
        return cls(
            agent_id=turn.agent_id,
            room_id=turn.room_id,
            message_id=turn.message_id,
            message_log_index=turn.message_log_index,
            decision_log_index=turn.decision_log_index,
            responses=[
                ResponseOut(
                    text=r.text,
                    actions=list(r.actions),
                    memory_id=r.memory_id,
                    log_index=r.log_index,
                )
                for r in turn.responses
            ],
            actions=[
                ActionOut(
                    name=a.name, ok=a.ok, text=a.text, log_index=a.log_index, data=dict(a.data)
                )
                for a in turn.actions
            ],
            evaluations=[
                EvaluationOut(
                    name=e.name,
                    ok=e.ok,
                    summary=e.summary,
                    log_index=e.log_index,
                    data=dict(e.data),
                )
                for e in turn.evaluations
            ],
            timings=Timings(model_ms=turn.model_ms, total_ms=turn.total_ms),
        )


class MemoryOut(BaseModel):
    id: str
    entity_id: str
    table: str
    text: str
    created_at_ms: int
    fields: dict[str, Any]

    @classmethod
    def of(cls, memory: RoomMemory) -> MemoryOut:
        return cls(
            id=memory.id,
            entity_id=memory.entity_id,
            table=memory.table,
            text=memory.text,
            created_at_ms=memory.created_at_ms,
            fields=dict(memory.fields),
        )


class MemoriesOut(BaseModel):
    agent_id: str
    room_id: str
    memories: list[MemoryOut]  # the latest ones, oldest first


__all__ = [
    "ActionOut",
    "AgentList",
    "AgentOut",
    "CreateAgentIn",
    "EvaluationOut",
    "MemoriesOut",
    "MemoryOut",
    "MessageIn",
    "ResponseOut",
    "Timings",
    "TurnOut",
]
