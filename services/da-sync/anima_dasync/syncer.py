"""The da-sync service's core: per agent, what was published (reloaded from the backend
on start, so a restart never republishes a version), one sync at a time per agent,
and a periodic loop. Transport-agnostic; the gRPC face is anima_dasync.api.

Memories go up as a snapshot, then deltas from the memory service's change feed
(only what changed since the last manifest), and every `compact_after_deltas`
deltas a fresh snapshot, so a restore replays a bounded number of deltas. A
round where neither the log, the memories nor the runtime record changed costs
three small reads and publishes nothing, which is what lets the loop run every
second (the RPO).

The runtime record (character with its secrets, agent.json's fields) goes up as a
`runtime` chunk when its SHA-256 differs from the last one this process published
(the first round after a start publishes it once: the digest is not put in the
public manifest, so nothing about the secrets is published beside their sealing).
A restore hosts the agent from the newest runtime chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from anima_dasync.backends.base import DABackend
from anima_dasync.log_source import LogSnapshot
from anima_dasync.memory_source import MemoryExportBytes, MemorySource
from anima_dasync.metrics import DaLag
from anima_dasync.runtime_source import RuntimeSource, record_digest
from anima_dasync.sync import SEAL_REQUEST_BYTES, SyncState, sync_agent
from anima_memory_api.errors import ChangeCursorAhead
from anima_signer_api.client import SignerClient
from anima_verify.lifedata import AnchorState, Manifest, parse_signed_manifest
from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.note import parse_note

log = logging.getLogger(__name__)

# A restore applies at most this many deltas after a snapshot (a minute or two of
# writes at the periodic loop's pace) before the next change takes a snapshot.
COMPACT_AFTER_DELTAS = 120


class LogReader(Protocol):
    async def read(self, agent_id: str, start: int) -> LogSnapshot: ...


@dataclass(frozen=True, slots=True)
class AnchorTarget:
    chain_id: int
    contract: bytes


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    anchored: AnchorState
    published: bool
    signed_update: tuple[bytes, int, bytes, bytes] | None  # agent address, v, r, s
    uploaded_bytes: int = 0  # sealed chunks plus the manifest, this sync
    memories: str = ""  # "snapshot", "delta" or "" (no memories chunk)
    runtime: bool = False  # whether a runtime record chunk went up


class Syncer:
    def __init__(
        self,
        *,
        signer: SignerClient,
        backend: DABackend,
        logs: LogReader,
        anchor: AnchorTarget | None = None,
        memories: MemorySource | None = None,
        compact_after_deltas: int = COMPACT_AFTER_DELTAS,
        lag: DaLag | None = None,
        runtime: RuntimeSource | None = None,
        seal_request_bytes: int = SEAL_REQUEST_BYTES,
    ) -> None:
        self._signer = signer
        self._backend = backend
        self._logs = logs
        self._anchor = anchor
        self._memories = memories
        self._runtime = runtime
        self._seal_request_bytes = seal_request_bytes
        self._compact_after = compact_after_deltas
        self.lag = lag or DaLag()
        self._states: dict[str, SyncState] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def anchor(self) -> AnchorTarget | None:
        return self._anchor

    def latest(self, agent_id: str) -> tuple[int, bytes]:
        """(version, manifest hash) of the latest published manifest; (0, b"") if none."""
        state = self._state(agent_id)
        if state.manifest is None:
            return 0, b""
        return state.manifest.version, state.manifest.digest()

    def _state(self, agent_id: str) -> SyncState:
        state = self._states.get(agent_id)
        if state is None:
            state = SyncState()
            version = self._backend.latest_version(agent_id)
            if version:
                # Our own earlier output; the restore checks it again like anything else.
                manifest = parse_signed_manifest(
                    self._backend.get_manifest(agent_id, version)
                ).manifest
                state = SyncState.of(manifest)
            self._states[agent_id] = state
        return state

    async def sync(self, agent_id: str) -> SyncOutcome:
        async with self._locks.setdefault(agent_id, asyncio.Lock()):
            state = self._state(agent_id)
            self.lag.watch(agent_id)
            snapshot = await self._logs.read(agent_id, state.log_size)
            memories = await self._memory_chunk(agent_id, state)
            record = await self._runtime_record(agent_id, state)
            published = (
                state.manifest is None
                or snapshot.size > state.log_size
                or memories is not None
                or record is not None
            )
            uploaded = 0
            if published:
                previous = state.manifest
                parts, counts = _memory_part(state, memories)
                if record is not None:
                    parts.append(("runtime", record, 1))
                self.lag.pending(
                    agent_id, sum(len(e) for e in snapshot.entries) + sum(len(p[1]) for p in parts)
                )
                anchored = await sync_agent(
                    self._signer,
                    agent_id,
                    backend=self._backend,
                    state=state,
                    epoch=previous.epoch if previous else 0,
                    log_entries=snapshot.entries,
                    checkpoint=snapshot.checkpoint,
                    parts=parts,
                    counts=counts,
                    seal_request_bytes=self._seal_request_bytes,
                )
                assert state.manifest is not None
                uploaded = _uploaded(previous, state.manifest)
                if memories is not None:
                    state.memory_sequence = memories.sequence
                    state.memory_deltas = counts["memory_deltas"]
                if record is not None:
                    state.runtime_digest = record_digest(record)
            else:
                assert state.manifest is not None
                anchored = _anchor_state(state)
            self.lag.durable(agent_id)
            signed = None
            if self._anchor is not None:
                address, (v, r, s) = await self._signer.sign_anchor_update(
                    agent_id,
                    state=anchored,
                    chain_id=self._anchor.chain_id,
                    contract=self._anchor.contract,
                )
                signed = (address, v, r, s)
            kind = "" if memories is None else "snapshot" if memories.since == 0 else "delta"
            return SyncOutcome(
                anchored=anchored,
                published=published,
                signed_update=signed,
                uploaded_bytes=uploaded,
                memories=kind,
                runtime=record is not None,
            )

    async def _runtime_record(self, agent_id: str, state: SyncState) -> bytes | None:
        """The runtime record if it changed since the last one published (or no source).
        A runtime that cannot answer fails the round: a manifest without the record
        would not drop it (manifests are cumulative), but it would claim a sync that
        missed a change."""
        if self._runtime is None:
            return None
        record = await self._runtime.record(agent_id)
        if state.runtime_digest == record_digest(record):
            return None
        return record

    async def _memory_chunk(self, agent_id: str, state: SyncState) -> MemoryExportBytes | None:
        """The next memories chunk: None if nothing changed (or no memory source)."""
        if self._memories is None:
            return None
        if state.memory_sequence is None:
            return await self._memories.snapshot(agent_id)
        try:
            delta = await self._memories.changes(agent_id, state.memory_sequence)
        except ChangeCursorAhead as exc:
            # The store is not the one our cursor came from (replaced, or reset): a
            # snapshot restates everything, and a restore starts again from it.
            log.warning("agent %s: %s; publishing a fresh memories snapshot", agent_id, exc)
            return await self._memories.snapshot(agent_id)
        if delta.empty_delta:
            return None
        if state.memory_deltas >= self._compact_after:
            return await self._memories.snapshot(agent_id)
        return delta

    async def run_every(self, interval_s: float, agent_ids: Sequence[str]) -> None:
        """Sync each agent every `interval_s`; a failure is logged and retried next round."""
        while True:
            for agent_id in agent_ids:
                try:
                    await self.sync(agent_id)
                except Exception as exc:
                    log.warning("sync of agent %s failed: %s", agent_id, exc)
            await asyncio.sleep(interval_s)


def _memory_part(
    state: SyncState, memories: MemoryExportBytes | None
) -> tuple[list[tuple[str, bytes, int]], dict[str, int]]:
    """The memories chunk (if any) and the manifest counts it sets: the cursor it
    reaches, deltas since the last snapshot, and the memories held after it."""
    if memories is None:
        return [], {}
    held = state.manifest.counts.get("memories", 0) if state.manifest else 0
    if memories.since == 0:
        held, deltas = memories.written, 0
    else:
        held, deltas = held - memories.deleted + memories.written, state.memory_deltas + 1
    counts = {"memory_sequence": memories.sequence, "memory_deltas": deltas, "memories": held}
    return [("memories", plaintext, items) for plaintext, items in memories.parts], counts


def _uploaded(previous: Manifest | None, manifest: Manifest) -> int:
    new = manifest.chunks[len(previous.chunks) if previous else 0 :]
    return sum(ref.size for ref in new) + len(manifest.to_bytes())


def _anchor_state(state: SyncState) -> AnchorState:
    assert state.manifest is not None
    checkpoint = parse_checkpoint(parse_note(state.manifest.checkpoint.encode()).text)
    return AnchorState(
        manifest_hash=state.manifest.digest(),
        checkpoint_root=checkpoint.root_hash,
        version=state.manifest.version,
        checkpoint_size=checkpoint.size,
        epoch=state.manifest.epoch,
    )


@contextlib.asynccontextmanager
async def periodic(
    syncer: Syncer, interval_s: float, agent_ids: Sequence[str]
) -> AsyncIterator[asyncio.Task[None]]:
    """The periodic loop for the life of the context."""
    task = asyncio.create_task(syncer.run_every(interval_s, agent_ids))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
