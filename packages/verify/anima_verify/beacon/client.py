"""The light client as a trusted-head source: sync a store from a weak-subjectivity
checkpoint through a beacon node, and hand out the execution payload headers of its
verified finalized and optimistic beacon headers.

This is what the chain client uses in place of a configured block hash on networks
with a beacon chain. Like Helios: a checkpoint older than `max_checkpoint_age`
(default two weeks, about the weak-subjectivity period) is warned about, and
refused in strict mode; the store is persisted after every change so a restart
resumes from it rather than from the checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.errors import CheckpointTooOld, StaleUpdate
from anima_verify.beacon.rest import MAX_REQUEST_LIGHT_CLIENT_UPDATES, BeaconApi
from anima_verify.beacon.state_file import load_store, save_store
from anima_verify.beacon.sync import (
    LightClientStore,
    initialize_store,
    process_force_update,
    process_update,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_CHECKPOINT_AGE = 14 * 24 * 3600


@dataclass(frozen=True)
class ExecutionHead:
    """A verified execution-layer block header summary (from a beacon header the sync
    committee signed, proven by the execution branch into its body)."""

    block_hash: bytes
    state_root: bytes
    receipts_root: bytes
    block_number: int
    timestamp: int
    beacon_slot: int
    beacon_root: bytes
    finalized: bool


class TrustedHeadSource(Protocol):
    """Where a verifying chain client gets the block it trusts."""

    def finalized_head(self) -> ExecutionHead: ...

    def optimistic_head(self) -> ExecutionHead: ...


def execution_head(config: ChainConfig, header: Any, *, finalized: bool) -> ExecutionHead:
    """The execution part of a verified light-client header; ValueError before Capella,
    whose headers carry none."""
    slot = int(header.beacon.slot)
    if config.preset.epoch_at_slot(slot) < config.fork_epoch("capella"):
        raise ValueError(f"the header at slot {slot} predates Capella: no execution payload header")
    execution = header.execution
    return ExecutionHead(
        block_hash=bytes(execution.block_hash),
        state_root=bytes(execution.state_root),
        receipts_root=bytes(execution.receipts_root),
        block_number=int(execution.block_number),
        timestamp=int(execution.timestamp),
        beacon_slot=slot,
        beacon_root=bytes(header.beacon.hash_tree_root()),
        finalized=finalized,
    )


def _progress(store: LightClientStore) -> tuple[int, bool]:
    return store.finalized_slot, store.next_sync_committee_known


class LightClient(TrustedHeadSource):
    """Syncs from `checkpoint` (a trusted beacon block root) through `api`; keeps its
    store at `state_path` when given. Call sync() to catch up, then read the heads."""

    def __init__(
        self,
        *,
        config: ChainConfig,
        api: BeaconApi,
        checkpoint: bytes,
        state_path: Path | None = None,
        strict_checkpoint_age: bool = False,
        max_checkpoint_age: float = DEFAULT_MAX_CHECKPOINT_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._api = api
        self._checkpoint = bytes(checkpoint)
        self._state_path = state_path
        self._strict = strict_checkpoint_age
        self._max_age = max_checkpoint_age
        self._clock = clock
        self._store: LightClientStore | None = None

    @property
    def store(self) -> LightClientStore:
        if self._store is None:
            raise RuntimeError("the light client has not synced yet: call sync()")
        return self._store

    def current_slot(self) -> int:
        return self._config.slot_at_time(self._clock())

    def _start(self) -> LightClientStore:
        if self._state_path is not None:
            resumed = load_store(self._state_path, self._config)
            if resumed is not None:
                logger.info("light client resumed at finalized slot %d", resumed.finalized_slot)
                return resumed
        bootstrap = self._api.bootstrap(self._checkpoint)
        self._check_age(int(bootstrap.header.beacon.slot))
        store = initialize_store(self._config, self._checkpoint, bootstrap)
        self._save(store)
        return store

    def _check_age(self, slot: int) -> None:
        age = self._clock() - (self._config.genesis_time + slot * self._config.seconds_per_slot)
        if age <= self._max_age:
            return
        message = (
            f"checkpoint 0x{self._checkpoint.hex()} (slot {slot}) is {age / 86400:.1f} days old, "
            f"more than {self._max_age / 86400:.1f}: it may be outside the weak subjectivity period"
        )
        if self._strict:
            raise CheckpointTooOld(message)
        logger.warning("%s; use a recent checkpoint (strict mode refuses this one)", message)

    def _save(self, store: LightClientStore) -> None:
        if self._state_path is not None:
            save_store(self._state_path, store)

    def sync(self) -> LightClientStore:
        """Catch up to the current period with `updates`, then apply the latest finality
        and optimistic updates. Refused data raises (the store stays as it was)."""
        store = self._store or self._start()
        now = self.current_slot()
        target = self._config.preset.period_at_slot(now)
        while True:
            period = self._config.preset.period_at_slot(store.finalized_slot)
            if period >= target and store.next_sync_committee_known:
                break
            count = min(target - period + 1, MAX_REQUEST_LIGHT_CLIENT_UPDATES)
            progress = _progress(store)
            for update in self._api.updates(period, count):
                # The page starts at the store's own period, whose update the store
                # may already have applied: stale, skipped. Other refusals raise.
                with contextlib.suppress(StaleUpdate):
                    store = process_update(store, update, now)
            store = process_force_update(store, now)
            if _progress(store) == progress:
                break  # the node has nothing newer
            self._save(store)
        store = self._apply_latest(store, now)
        self._store = store
        self._save(store)
        return store

    def _apply_latest(self, store: LightClientStore, now: int) -> LightClientStore:
        for fetch in (self._api.finality_update, self._api.optimistic_update):
            update = fetch()
            # Nothing new since the last sync is normal; any other refusal is raised.
            with contextlib.suppress(StaleUpdate):
                store = process_update(store, update, now)
        return store

    def finalized_head(self) -> ExecutionHead:
        return execution_head(self._config, self.store.finalized_header, finalized=True)

    def optimistic_head(self) -> ExecutionHead:
        return execution_head(self._config, self.store.optimistic_header, finalized=False)
