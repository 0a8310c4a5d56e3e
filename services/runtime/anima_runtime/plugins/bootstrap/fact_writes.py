"""The fact evaluator's writes: the model's operations on the known facts carried out
against the memory service. Only the facts offered to the model, and among them only
those learned from the speaker (their entity_id), may be changed: an id it made up, or
a fact someone else stated (shown as context), is refused and reported. A new claim as
close as a stored fact (cosine >= DUPLICATE_SIMILARITY) is not stored again.

An update is a compare-and-delete: it deletes the fact it replaces first and stores
the new claim only if that delete found it. Of two updates of one fact (two runtimes,
or a fact deleted meanwhile) one wins; the other stores nothing and reports a
conflict. A write that fails after the delete leaves the fact out, never both the old
and the new claim in.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from anima_memory_api.types import Memory, MemoryDraft, MemoryFilter, ScoredMemory
from anima_runtime.agent.formats import FactOp
from anima_runtime.plugins.types import AgentContext, EvaluatorResult, Message

FACTS_TABLE = "facts"
#: A claim this close to a stored fact is that fact (the memory service's `unique` rule).
DUPLICATE_SIMILARITY = 0.95


@dataclass(slots=True)
class _Write:
    claim: str
    key: str
    replaces: Memory | None  # the known fact this claim takes the place of


@dataclass(slots=True)
class FactChanges:
    """What the operations did, by kind; the evaluator's result."""

    added: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # updates that lost a race

    def result(self, offered: int) -> EvaluatorResult:
        summary = (
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"deleted {len(self.deleted)}, unchanged {len(self.unchanged)}"
        )
        if self.refused:
            summary += f", refused {len(self.refused)}"
        if self.conflicts:
            summary += f", conflicts {len(self.conflicts)}"
        return EvaluatorResult(
            summary=summary,
            data={
                "added": self.added,
                "updated": self.updated,
                "deleted": self.deleted,
                "unchanged": self.unchanged,
                "refused": self.refused,
                "conflicts": self.conflicts,
                "offered": offered,
            },
        )


def _key_of(memory: Memory) -> str:
    key = memory.fields.get("key")
    return key.strip() if isinstance(key, str) else ""


def _canonical_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def apply_ops(
    context: AgentContext,
    message: Message,
    candidates: Sequence[ScoredMemory],
    ops: Sequence[FactOp],
) -> FactChanges:
    """Carry out the model's operations on the offered facts: each refused, stored,
    replaced or deleted as the module docstring says, and reported in the outcome."""
    outcome = FactChanges()
    offered = {scored.memory.id: scored.memory for scored in candidates}
    changed: set[str] = set()  # known facts an earlier operation already updated or deleted
    writes: list[_Write] = []
    deletes: list[Memory] = []
    for op in ops:
        if op.op == "add":
            writes.append(_Write(claim=op.claim.strip(), key=op.key.strip(), replaces=None))
            continue
        fact_id = _canonical_id(op.id)
        old = offered.get(fact_id) if fact_id else None
        if old is None:
            outcome.refused.append(
                {"op": op.op, "id": op.id, "reason": "not one of the known facts offered"}
            )
        elif old.entity_id != message.entity_id:
            outcome.refused.append(
                {"op": op.op, "id": op.id, "reason": "learned from someone else: context only"}
            )
        elif old.id in changed:
            outcome.refused.append(
                {"op": op.op, "id": op.id, "reason": "already changed by an earlier operation"}
            )
        elif op.op == "update":
            changed.add(old.id)
            writes.append(
                _Write(claim=op.claim.strip(), key=op.key.strip() or _key_of(old), replaces=old)
            )
        else:
            changed.add(old.id)
            deletes.append(old)
    await _write(context, message, writes, {m.id for m in deletes}, outcome)
    for old in deletes:
        gone = await context.memory.delete(context.agent_id, old.id)
        outcome.deleted.append({"id": old.id, "claim": old.text, "found": gone})
    return outcome


async def _replace(context: AgentContext, write: _Write, old: Memory, outcome: FactChanges) -> bool:
    """Delete the fact `write` replaces; False (a conflict, reported) if it was already
    gone: another update or delete got there first, and this one must not store."""
    if await context.memory.delete(context.agent_id, old.id):
        return True
    outcome.conflicts.append(
        {
            "id": old.id,
            "claim": write.claim,
            "reason": "the fact was changed or deleted meanwhile; the new claim is not stored",
        }
    )
    return False


async def _write(
    context: AgentContext,
    message: Message,
    writes: Sequence[_Write],
    deleting: set[str],
    outcome: FactChanges,
) -> None:
    """Store the new claims that are not already known, each update's only after the
    fact it replaces was deleted by it (compare-and-delete)."""
    if not writes:
        return
    vectors = await context.memory.embed([w.claim for w in writes])
    drafts: list[tuple[_Write, MemoryDraft]] = []
    for write, vector in zip(writes, vectors, strict=True):
        hits = await context.memory.search(
            MemoryFilter(agent_id=context.agent_id, table=FACTS_TABLE),
            vector.tolist(),
            limit=3,
            min_score=DUPLICATE_SIMILARITY,
        )
        old = write.replaces
        if old is not None and any(hit.memory.id == old.id for hit in hits):
            # The "new" claim restates the fact it would replace: keep that fact.
            outcome.unchanged.append(
                {"claim": write.claim, "duplicate_of": old.id, "similarity": _score(hits, old.id)}
            )
            continue
        same = next((hit for hit in hits if hit.memory.id not in deleting), None)
        if same is not None and old is not None:
            # The new value is already stored as another fact: only the old one goes.
            if await _replace(context, write, old, outcome):
                outcome.updated.append(
                    {"id": same.memory.id, "replaces": old.id, "claim": same.memory.text}
                )
            continue
        if same is not None:
            outcome.unchanged.append(
                {"claim": write.claim, "duplicate_of": same.memory.id, "similarity": same.score}
            )
            continue
        if old is not None and not await _replace(context, write, old, outcome):
            continue
        fields: dict[str, Any] = {
            "key": write.key,
            "source_message_id": message.id,
            "entity_id": message.entity_id,
        }
        if old is not None:
            fields["replaces"] = old.id
        drafts.append(
            (
                write,
                MemoryDraft(
                    agent_id=context.agent_id,
                    entity_id=message.entity_id,
                    room_id=message.room_id,
                    table=FACTS_TABLE,
                    text=write.claim,
                    fields=fields,
                    created_at_ms=context.now_ms(),
                    vector=vector,
                    unique=True,
                ),
            )
        )
    if not drafts:
        return
    results = await context.memory.create([draft for _, draft in drafts])
    for (write, _), result in zip(drafts, results, strict=True):
        if write.replaces is not None:
            # Its old fact is gone; the claim is stored (here, or as the same claim
            # earlier in this answer).
            outcome.updated.append(
                {
                    "id": result.id,
                    "replaces": write.replaces.id,
                    "claim": write.claim,
                    "key": write.key,
                }
            )
        elif not result.created:  # the same claim twice in one answer
            outcome.unchanged.append(
                {
                    "claim": write.claim,
                    "duplicate_of": result.duplicate_of,
                    "similarity": result.similarity,
                }
            )
        else:
            outcome.added.append({"id": result.id, "claim": write.claim, "key": write.key})


def _score(hits: Sequence[ScoredMemory], memory_id: str) -> float:
    return next((hit.score for hit in hits if hit.memory.id == memory_id), 0.0)
