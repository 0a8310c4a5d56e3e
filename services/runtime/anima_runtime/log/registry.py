"""Every agent log of this host, one directory per agent under a root."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from anima_runtime.log.config import LogConfig
from anima_runtime.log.errors import InvalidLogRequest, LogError, SequencerFailed, UnknownLog
from anima_runtime.log.seed import seed_log
from anima_runtime.log.sequencer import LogSequencer
from anima_runtime.log.service import TILES_DIR, AgentLog
from anima_runtime.log.tiles_store import LOCK_FILE
from anima_signer_api.errors import UnknownAgent
from anima_verify.agent_id import AGENT_ID_RULE, is_agent_id
from anima_verify.tlog.note import Verifier

logger = logging.getLogger(__name__)


def check_agent_id(agent_id: str) -> str:
    if not is_agent_id(agent_id):  # the signer's grammar: also safe as a directory name
        raise InvalidLogRequest(f"agent id {agent_id!r} must be {AGENT_ID_RULE}")
    return agent_id


class LogRegistry:
    """Opens, holds and closes AgentLogs. The async methods run on one event loop;
    `get` may be called from any thread (the HTTP handlers' workers)."""

    def __init__(
        self,
        *,
        root: Path,
        sequencer: LogSequencer,
        sync_interval_s: float | None = 1.0,
        cache_tiles: int = 4096,
    ) -> None:
        self._root = root
        self._sequencer = sequencer
        self._sync_interval_s = sync_interval_s
        self._cache_tiles = cache_tiles
        self._logs: dict[str, AgentLog] = {}
        self._opening: dict[str, asyncio.Task[AgentLog]] = {}

    @classmethod
    def from_config(cls, config: LogConfig, sequencer: LogSequencer) -> LogRegistry:
        return cls(
            root=config.root,
            sequencer=sequencer,
            sync_interval_s=config.sync_interval_s,
            cache_tiles=config.cache_tiles,
        )

    @property
    def root(self) -> Path:
        return self._root

    async def open(self, agent_id: str) -> AgentLog:
        """The agent's log, opened (and created on first use) under root/<agent_id>."""
        check_agent_id(agent_id)
        log = self._logs.get(agent_id)
        if log is not None:
            return log
        task = self._opening.get(agent_id)
        if task is None:
            task = asyncio.create_task(
                AgentLog.open(
                    agent_id=agent_id,
                    directory=self._root / agent_id,
                    sequencer=self._sequencer,
                    sync_interval_s=self._sync_interval_s,
                    cache_tiles=self._cache_tiles,
                )
            )
            self._opening[agent_id] = task
            task.add_done_callback(lambda _: self._opening.pop(agent_id, None))
        log = await asyncio.shield(task)
        self._logs[agent_id] = log
        return log

    async def seed(
        self, agent_id: str, *, verifier: Verifier, entries: Sequence[bytes], checkpoint: bytes
    ) -> None:
        """Write a restored agent's log (anima_runtime.log.seed) before it is opened."""
        check_agent_id(agent_id)
        if agent_id in self._logs:
            return  # open, hence synced with the signer: seeded by an earlier attempt
        if agent_id in self._opening:
            raise InvalidLogRequest(f"the log of {agent_id!r} is opening: it cannot be seeded")
        await asyncio.to_thread(
            seed_log,
            self._root / agent_id,
            agent_id=agent_id,
            verifier=verifier,
            entries=entries,
            checkpoint=checkpoint,
        )

    async def open_existing(self) -> list[str]:
        """Open every log found under root (at startup); the agent ids opened.

        One log that cannot be opened (corrupt, locked by another process, refused by
        the signer) is skipped with a warning and left as it is, for the operator:
        the others still come up; so is one whose agent the signer does not know. A
        signer that cannot be reached stops the start-up: no log could sync with it.
        """
        found = [
            p.parent.parent.name
            for p in sorted(self._root.glob(f"*/{TILES_DIR}/{LOCK_FILE}"))
            if is_agent_id(p.parent.parent.name)
        ]
        opened: list[str] = []
        for agent_id in found:
            try:
                await self.open(agent_id)
            except SequencerFailed as exc:
                if not isinstance(exc.__cause__, UnknownAgent):
                    raise
                logger.warning("skipping the log of agent %s: %s", agent_id, exc.message)
                continue
            except (LogError, OSError) as exc:
                logger.warning("skipping the log of agent %s: %s", agent_id, exc)
                continue
            opened.append(agent_id)
        return opened

    def get(self, agent_id: str) -> AgentLog:
        """An open log; UnknownLog when this host has none for the agent."""
        log = self._logs.get(agent_id)
        if log is None:
            raise UnknownLog(f"no log for agent {agent_id!r} on this host")
        return log

    def agent_ids(self) -> list[str]:
        return sorted(self._logs)

    async def close(self) -> None:
        logs, self._logs = list(self._logs.values()), {}
        for log in logs:
            await log.close()
