"""The log reads every API answers, transport-free: the HTTP routes (log/http.py) and
the runtime's gRPC RuntimeService both call these.

Each read checks its arguments (the rules an HTTP route's parameters also declare, so a
gRPC caller gets the same refusals), then runs the query (log/queries.py) off the event
loop: the reads block on disk. Authentication is the adapters' business.
"""

from __future__ import annotations

import asyncio
from typing import Final

from anima_runtime.log import queries
from anima_runtime.log.errors import InvalidLogRequest, NoCheckpoint
from anima_runtime.log.registry import LogRegistry, check_agent_id
from anima_runtime.log.service import AgentLog
from anima_runtime_api.types import ConsistencyProof, EntryFilter, EntryPage, InclusionProof

# Every integer argument is bound by SQLite's INTEGER range: a larger one would overflow
# in the index (an internal error) instead of being refused.
MAX_INT: Final = 2**63 - 1
#: The longest room or actor a search may name.
MAX_TERM_CHARS: Final = 256


class LogReads:
    """Reads of the logs in `registry`; pages hold at most `max_page` entries."""

    def __init__(self, registry: LogRegistry, *, max_page: int) -> None:
        self._registry = registry
        self._max_page = max_page

    @property
    def max_page(self) -> int:
        return self._max_page

    def log(self, agent_id: str) -> AgentLog:
        """The agent's open log (InvalidLogRequest for a malformed id, else UnknownLog)."""
        return self._registry.get(check_agent_id(agent_id))

    async def checkpoint(self, agent_id: str) -> bytes:
        """The latest signed checkpoint note."""
        published = self.log(agent_id).published
        if published is None:
            raise NoCheckpoint(f"the log of {agent_id!r} has no checkpoint yet")
        return published.note

    async def entries(self, agent_id: str, start: int = 0, end: int | None = None) -> EntryPage:
        """Entries [start, end) of the published log; `end` is clamped to its size."""
        _bounded("start", start)
        _bounded("end", end)
        log = self.log(agent_id)
        return await asyncio.to_thread(queries.entries, log, start, end, max_page=self._max_page)

    async def search(
        self,
        agent_id: str,
        terms: EntryFilter,
        *,
        after: int = -1,
        limit: int = queries.DEFAULT_PAGE,
    ) -> EntryPage:
        """Entries matching `terms` with index > after, at most `limit`; the page's
        next_after continues the search (None once it is done)."""
        for name, term in (("room", terms.room), ("actor", terms.actor)):
            if term is not None and len(term) > MAX_TERM_CHARS:
                raise InvalidLogRequest(f"{name} must be at most {MAX_TERM_CHARS} characters")
        _bounded("since_ms", terms.since_ms)
        _bounded("until_ms", terms.until_ms)
        _bounded("after", after, low=-1)
        log = self.log(agent_id)
        page = await asyncio.to_thread(
            queries.search, log, terms, after=after, limit=limit, max_page=self._max_page
        )
        views = page.entries
        next_after = views[-1].entry.index if len(views) == limit else None
        return EntryPage(page.size, views, next_after)

    async def payload(self, agent_id: str, index: int) -> bytes:
        """The payload entry `index` commits to (PayloadRedacted once redacted)."""
        _bounded("index", index)
        return await asyncio.to_thread(queries.payload, self.log(agent_id), index)

    async def redact(self, agent_id: str, index: int) -> bool:
        """Delete entry `index`'s payload; False if it was redacted before."""
        _bounded("index", index)
        return await asyncio.to_thread(queries.redact, self.log(agent_id), index)

    async def inclusion(self, agent_id: str, index: int, size: int | None = None) -> InclusionProof:
        """Proof that entry `index` is in the tree of `size` (default: the checkpoint's)."""
        _bounded("index", index)
        _bounded("size", size, low=1)
        return await asyncio.to_thread(queries.inclusion, self.log(agent_id), index, size)

    async def consistency(
        self, agent_id: str, first: int, second: int | None = None
    ) -> ConsistencyProof:
        """Proof that the tree of `second` (default: the checkpoint's) extends `first`'s."""
        _bounded("first", first)
        _bounded("second", second)
        return await asyncio.to_thread(queries.consistency, self.log(agent_id), first, second)


def _bounded(name: str, value: int | None, *, low: int = 0) -> None:
    if value is not None and not low <= value <= MAX_INT:
        raise InvalidLogRequest(f"{name} must be between {low} and {MAX_INT}")


__all__ = ["MAX_INT", "MAX_TERM_CHARS", "LogReads"]
