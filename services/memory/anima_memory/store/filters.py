"""What a MemoryFilter and "newest first" mean in Qdrant, for both libraries side by side.

Qdrant Edge (`qdrant_edge`) and qdrant-client spell the same filter with
different classes. Both translations below are built from `_conditions`, so a
field the one matches on, the other matches on too: the agent always (the
tenant key; no query sees another agent's memories), then room, entity and
table when set, then `created_at` in [from, until).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import qdrant_edge as qe
from qdrant_client import models

from anima_memory_api.types import AGENT, CREATED_AT, ENTITY, ROOM, TABLE, Memory, MemoryFilter


@dataclass(frozen=True, slots=True)
class _CreatedRange:
    gte: int | None  # inclusive
    lt: int | None  # exclusive


def _conditions(where: MemoryFilter) -> tuple[list[tuple[str, str]], _CreatedRange | None]:
    """(key, value) pairs that must match exactly, and the time range if any bound is set."""
    matches = [(AGENT, where.agent_id)]
    for key, value in ((ROOM, where.room_id), (ENTITY, where.entity_id), (TABLE, where.table)):
        if value is not None:
            matches.append((key, value))
    if where.created_from_ms is None and where.created_until_ms is None:
        return matches, None
    return matches, _CreatedRange(gte=where.created_from_ms, lt=where.created_until_ms)


def edge_filter(where: MemoryFilter) -> qe.Filter:
    matches, created = _conditions(where)
    must: list[qe.ConditionType] = [
        qe.FieldCondition(key=key, match=qe.MatchValue(value)) for key, value in matches
    ]
    if created is not None:
        # RangeFloat is Edge's only numeric range; milliseconds since 1970 stay
        # below 2**53, so they are exact as floats.
        must.append(
            qe.FieldCondition(
                key=CREATED_AT, range=qe.RangeFloat(gte=_float(created.gte), lt=_float(created.lt))
            )
        )
    return qe.Filter(must=must)


def client_filter(where: MemoryFilter) -> models.Filter:
    matches, created = _conditions(where)
    must: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchValue(value=value))
        for key, value in matches
    ]
    if created is not None:
        must.append(
            models.FieldCondition(
                key=CREATED_AT, range=models.Range(gte=created.gte, lt=created.lt)
            )
        )
    return models.Filter(must=must)


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


# ------------------------------------------------------------------ newest first


def newest_first(
    where: MemoryFilter,
    limit: int,
    *,
    by_time: Callable[[MemoryFilter, int], Sequence[Memory]],
    by_id: Callable[[MemoryFilter, int], Sequence[Memory]],
) -> list[Memory]:
    """The `limit` newest memories matching `where`, ties on created_at broken by ascending id.

    Qdrant's order_by sorts by the payload value only, so among memories
    created in the same millisecond (a batch often is) which ones make the cut
    is up to the engine. `by_time(where, n)` is the engine's order_by page (any
    order among ties); `by_id(where, n)` is a plain scroll, which goes in id
    order. Everything newer than the page's oldest timestamp is in the page;
    the rest comes from a scroll over exactly that millisecond.
    """
    page = by_time(where, limit)
    if len(page) < limit:
        return sorted(page, key=_newest_first)
    oldest = min(memory.created_at_ms for memory in page)
    newer = sorted((m for m in page if m.created_at_ms > oldest), key=_newest_first)
    same_ms = replace(where, created_from_ms=oldest, created_until_ms=oldest + 1)
    return newer + list(by_id(same_ms, limit - len(newer)))


def _newest_first(memory: Memory) -> tuple[int, str]:
    return (-memory.created_at_ms, memory.id)
