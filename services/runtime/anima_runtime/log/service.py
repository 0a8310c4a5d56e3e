"""One agent's log on the host: group-committed appends through the enclave sequencer.

`append` queues the caller's items; one flusher task at a time sends
everything queued (up to MAX_APPEND_ENTRIES) in a single AppendLog call, so
callers arriving while a flush runs share the next one and every flush
yields one fresh signed checkpoint. A flush stores the tail the enclave
returns (its own entries, plus any the enclave wrote: lifecycle, signatures,
policy decisions), checks that the host's recomputed root is the signed one,
and publishes the checkpoint; only then do callers get their indices.

`sync()` is a flush with no items: it collects the enclave's tail and
confirms what the host stored, which releases it in the enclave. It runs on
open (recovery after a crash) and every `sync_interval_s` in the background.
Items are checked one by one before they are queued (log/items.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anima_runtime.log.errors import (
    CheckpointRejected,
    InvalidLogRequest,
    LogError,
    SequencerFailed,
)
from anima_runtime.log.index import EntryIndex
from anima_runtime.log.items import LogItem
from anima_runtime.log.sequencer import LogSequencer
from anima_runtime.log.source import FullTileCache, StoreTileSource
from anima_runtime.log.tiles_store import PublishedCheckpoint, TileStore
from anima_signer_api.errors import LogTailFull
from anima_signer_api.types import (
    MAX_APPEND_ENTRIES,
    LogAppendResult,
    LogEntryInput,
)
from anima_verify.errors import AnimaError
from anima_verify.tlog.entry import LogEntry, decode_entry
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.note import Verifier, parse_verifier_key
from anima_verify.tlog.reader import TileHashReader, TileLevelsCache

logger = logging.getLogger(__name__)

# Under an agent's log directory: the tiles (a tlog-tiles tree that can be served
# or copied as it is) and, beside them, the index with the payloads (never served).
TILES_DIR = "tiles"
INDEX_FILE = "index.sqlite3"
_REINDEX_CHUNK = 16 * 256
_TAIL_FULL_RETRIES = 3
_MAX_ORPHANS = 2 * MAX_APPEND_ENTRIES

CheckpointListener = Callable[[PublishedCheckpoint], None]


@dataclass(slots=True)
class _PendingAppend:
    inputs: list[LogEntryInput]
    payloads: list[bytes]
    future: asyncio.Future[list[int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _describe(exc: BaseException) -> str:
    """What a sequencer failure says: a domain error's message (the signer's, typed by
    its client or raised by an in-process core), else the exception's type and text."""
    if isinstance(exc, AnimaError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class AgentLog:
    """An agent's log: storage, index and the append path. Use `AgentLog.open`."""

    def __init__(
        self,
        *,
        agent_id: str,
        verifier: Verifier,
        store: TileStore,
        index: EntryIndex,
        sequencer: LogSequencer,
        cache_tiles: int,
    ) -> None:
        self._agent_id = agent_id
        self._verifier = verifier
        self._store = store
        self._index = index
        self._sequencer = sequencer
        self._queue: deque[_PendingAppend] = deque()
        self._sync_waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._last_flush = time.monotonic()
        self._listeners: list[CheckpointListener] = []
        # Payloads of own entries the enclave may have sequenced without the host
        # storing them (the AppendLog answer was lost, or storing it failed):
        # matched by hash when the entries come back in a later tail.
        self._orphans: dict[bytes, bytes] = {}
        self._full_tiles = FullTileCache(cache_tiles)
        self._cache_tiles = cache_tiles
        # Shared by the hash readers of every size: full tiles stay warm as the log grows.
        self._tile_levels = TileLevelsCache(cache_tiles)
        self._closed = False

    @classmethod
    async def open(
        cls,
        *,
        agent_id: str,
        directory: Path,
        sequencer: LogSequencer,
        sync_interval_s: float | None = 1.0,
        cache_tiles: int = 4096,
    ) -> AgentLog:
        """Open (or create) the agent's log in `directory`, rebuild the index from the
        tiles where it lags, and sync with the enclave (recovering a lost tail)."""
        try:
            agent = await sequencer.get_agent(agent_id)
        except LogError:
            raise
        except Exception as exc:
            raise SequencerFailed(f"cannot get agent {agent_id!r}: {_describe(exc)}") from exc
        verifier = parse_verifier_key(agent.log_verifier_key)
        store = await asyncio.to_thread(TileStore.open, directory / TILES_DIR, verifier=verifier)
        try:
            index = await asyncio.to_thread(EntryIndex, directory / INDEX_FILE)
        except BaseException:
            store.close()
            raise
        log = cls(
            agent_id=agent_id,
            verifier=verifier,
            store=store,
            index=index,
            sequencer=sequencer,
            cache_tiles=cache_tiles,
        )
        try:
            await asyncio.to_thread(log._reindex)
            await log.sync()
        except BaseException:
            await log.close()
            raise
        if sync_interval_s:
            log._sync_task = asyncio.create_task(log._sync_periodically(sync_interval_s))
        return log

    async def close(self) -> None:
        """Finish queued appends, stop the background sync, release the directory."""
        if self._closed:
            return
        self._closed = True  # from here on, append and sync are refused
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        self._index.close()
        self._store.close()

    # ------------------------------------------------------------ state

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def verifier(self) -> Verifier:
        return self._verifier

    @property
    def store(self) -> TileStore:
        return self._store

    @property
    def index(self) -> EntryIndex:
        return self._index

    @property
    def published(self) -> PublishedCheckpoint | None:
        return self._store.published

    @property
    def size(self) -> int:
        return self._store.size

    def add_checkpoint_listener(self, listener: CheckpointListener) -> None:
        """Call `listener` (on the event loop) after each newly published checkpoint."""
        self._listeners.append(listener)

    def tile_source(self, size: int | None = None) -> StoreTileSource:
        """The stored tiles of the tree of `size` (default: the published one)."""
        return StoreTileSource(
            self._store, size=self.size if size is None else size, cache=self._full_tiles
        )

    def hash_reader(self, size: int) -> TileHashReader:
        """A merkle.HashReader for the tree of `size`, over the log's shared tile cache."""
        return TileHashReader(
            self.tile_source(size), size, self._cache_tiles, cache=self._tile_levels
        )

    # ------------------------------------------------------------ appending

    async def append(self, items: Sequence[LogItem]) -> list[int]:
        """Log `items` in order; their indices, once a checkpoint covering them is durable.

        Invalid items raise InvalidLogRequest before anything is sent. A caller
        cancelled while waiting does not withdraw items already queued.
        """
        if self._closed:
            raise InvalidLogRequest(f"the log of {self._agent_id!r} is closed")
        inputs = [item.to_input() for item in items]
        step = MAX_APPEND_ENTRIES
        requests = [
            _PendingAppend(inputs[i : i + step], [item.payload for item in items[i : i + step]])
            for i in range(0, len(inputs), step)
        ]
        self._queue.extend(requests)
        self._kick()
        indices: list[int] = []
        for request in requests:
            indices.extend(await request.future)
        return indices

    async def sync(self) -> PublishedCheckpoint | None:
        """Collect the enclave's tail (e.g. signature entries) and publish its checkpoint."""
        if self._closed:
            raise InvalidLogRequest(f"the log of {self._agent_id!r} is closed")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sync_waiters.append(waiter)
        self._kick()
        await waiter
        return self.published

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())

    async def _flush_all(self) -> None:
        while self._queue or self._sync_waiters:
            batch: list[_PendingAppend] = []
            count = 0
            while self._queue and count + len(self._queue[0].inputs) <= MAX_APPEND_ENTRIES:
                request = self._queue.popleft()
                batch.append(request)
                count += len(request.inputs)
            waiters, self._sync_waiters = self._sync_waiters, []
            try:
                first = await self._flush(batch)
            except asyncio.CancelledError:
                for request in batch:
                    request.future.cancel()
                for waiter in waiters:
                    waiter.cancel()
                raise
            except Exception as exc:
                for request in batch:
                    _fail(request.future, exc)
                for waiter in waiters:
                    _fail(waiter, exc)
                continue
            for request, start in zip(batch, first, strict=True):
                if not request.future.done():
                    request.future.set_result(list(range(start, start + len(request.inputs))))
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _flush(self, batch: list[_PendingAppend]) -> list[int]:
        """One AppendLog for `batch`, stored and published; each request's first index."""
        inputs = [i for r in batch for i in r.inputs]
        payloads = [p for r in batch for p in r.payloads]
        for attempt in range(_TAIL_FULL_RETRIES + 1):
            host_size = self._store.size
            try:
                result = await self._sequencer.append_log(self._agent_id, host_size, inputs)
                break
            except Exception as exc:
                if isinstance(exc, LogTailFull) and inputs and attempt < _TAIL_FULL_RETRIES:
                    # Nothing was appended: collect and confirm the tail, then retry.
                    await self._flush([])
                    continue
                self._keep_orphans(inputs, payloads)
                raise SequencerFailed(
                    f"AppendLog for agent {self._agent_id!r}: {_describe(exc)}"
                ) from exc
        before = self.published
        try:
            await asyncio.to_thread(self._commit, host_size, inputs, payloads, result)
        except BaseException:
            # The enclave has sequenced them: the next tail brings them back.
            self._keep_orphans(inputs, payloads)
            raise
        self._last_flush = time.monotonic()
        self._orphans.clear()
        published = self.published
        if published is not None and published is not before:
            for listener in self._listeners:
                listener(published)
        starts: list[int] = []
        offset = result.first_index
        for request in batch:
            starts.append(offset)
            offset += len(request.inputs)
        return starts

    def _keep_orphans(self, inputs: list[LogEntryInput], payloads: list[bytes]) -> None:
        for item, payload in zip(inputs, payloads, strict=True):
            self._orphans[item.payload_sha256] = payload
        while len(self._orphans) > _MAX_ORPHANS:  # keep the most recent
            del self._orphans[next(iter(self._orphans))]

    def _commit(
        self,
        host_size: int,
        inputs: list[LogEntryInput],
        payloads: list[bytes],
        result: LogAppendResult,
    ) -> None:
        """Check the enclave's answer against the request, then store and publish it."""
        if result.size != host_size + len(result.entries):
            raise CheckpointRejected(
                f"the signer returned {len(result.entries)} entries from {host_size}, "
                f"which does not reach its size {result.size}"
            )
        own_start = result.first_index - host_size
        if inputs and not 0 <= own_start <= len(result.entries) - len(inputs):
            raise CheckpointRejected(
                f"the signer placed {len(inputs)} entries at {result.first_index}, "
                f"outside the tail [{host_size}, {result.size}) it returned"
            )
        entries = [self._decode(s.entry, host_size + k) for k, s in enumerate(result.entries)]
        stored = {host_size + k: s.payload for k, s in enumerate(result.entries) if s.payload}
        for k, (asked, payload) in enumerate(zip(inputs, payloads, strict=True)):
            got = entries[own_start + k]
            if _as_input(got) != asked:
                raise CheckpointRejected(
                    f"entry {got.index} is not the one the host asked the signer to append"
                )
            stored[got.index] = payload
        for entry in entries:
            orphan = self._orphans.get(entry.payload_sha256)
            if entry.index not in stored and orphan is not None:
                stored[entry.index] = orphan
        self._store.append(
            [s.entry for s in result.entries],
            result.checkpoint,
            before_publish=lambda: self._index.add(entries, stored),
        )

    def _decode(self, data: bytes, index: int) -> LogEntry:
        try:
            entry = decode_entry(data)
        except LogVerificationError as exc:
            raise CheckpointRejected(f"entry {index} from the signer: {exc}") from exc
        if entry.agent != self._agent_id or entry.index != index:
            raise CheckpointRejected(
                f"entry {index} from the signer is entry {entry.index} of agent {entry.agent!r}"
            )
        return entry

    def _reindex(self) -> None:
        """The index is derived: drop rows past the checkpoint, add what it lacks."""
        size = self._store.size
        self._index.truncate(size)
        start = self._index.indexed_size()
        while start < size:
            end = min(size, start + _REINDEX_CHUNK)
            raw = self._store.read_entries(start, end)
            self._index.add([self._decode(e, start + k) for k, e in enumerate(raw)], {})
            start = end

    async def _sync_periodically(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(max(0.0, self._last_flush + interval_s - time.monotonic()))
            if time.monotonic() - self._last_flush < interval_s:
                continue
            try:
                await self.sync()
            except Exception as exc:  # a background retry loop: report, wait, try again
                self._last_flush = time.monotonic()
                logger.warning("log sync for agent %s failed: %s", self._agent_id, exc)


def _as_input(entry: LogEntry) -> LogEntryInput:
    return LogEntryInput(
        entry.kind, entry.actor, entry.room, entry.payload_sha256, entry.payload_size
    )


def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
