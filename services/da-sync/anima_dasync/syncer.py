"""The da-sync service's core: per agent, what was published (reloaded from the backend
on start, so a restart never republishes a version), one sync at a time per agent,
and a periodic loop. Transport-agnostic; the gRPC face is anima_dasync.api."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from anima_dasync.backends.base import DABackend
from anima_dasync.log_source import LogSnapshot
from anima_dasync.sync import SyncState, sync_agent
from anima_signer_api.client import SignerClient
from anima_verify.lifedata import AnchorState, parse_signed_manifest
from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.note import parse_note

log = logging.getLogger(__name__)


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


class Syncer:
    def __init__(
        self,
        *,
        signer: SignerClient,
        backend: DABackend,
        logs: LogReader,
        anchor: AnchorTarget | None = None,
    ) -> None:
        self._signer = signer
        self._backend = backend
        self._logs = logs
        self._anchor = anchor
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
                state = SyncState(manifest=manifest, log_size=manifest.counts["log_entries"])
            self._states[agent_id] = state
        return state

    async def sync(self, agent_id: str) -> SyncOutcome:
        async with self._locks.setdefault(agent_id, asyncio.Lock()):
            state = self._state(agent_id)
            snapshot = await self._logs.read(agent_id, state.log_size)
            published = state.manifest is None or snapshot.size > state.log_size
            if published:
                anchored = await sync_agent(
                    self._signer,
                    agent_id,
                    backend=self._backend,
                    state=state,
                    epoch=state.manifest.epoch if state.manifest else 0,
                    log_entries=snapshot.entries,
                    checkpoint=snapshot.checkpoint,
                )
            else:
                assert state.manifest is not None
                anchored = _anchor_state(state)
            signed = None
            if self._anchor is not None:
                address, (v, r, s) = await self._signer.sign_anchor_update(
                    agent_id,
                    state=anchored,
                    chain_id=self._anchor.chain_id,
                    contract=self._anchor.contract,
                )
                signed = (address, v, r, s)
            return SyncOutcome(anchored=anchored, published=published, signed_update=signed)

    async def run_every(self, interval_s: float, agent_ids: Sequence[str]) -> None:
        """Sync each agent every `interval_s`; a failure is logged and retried next round."""
        while True:
            for agent_id in agent_ids:
                try:
                    await self.sync(agent_id)
                except Exception as exc:
                    log.warning("sync of agent %s failed: %s", agent_id, exc)
            await asyncio.sleep(interval_s)


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
