"""The light-client sync protocol (consensus-specs altair/capella/deneb/electra
light-client/sync-protocol.md): a store initialized from a trusted bootstrap and
advanced by updates signed by sync committees.

Pure functions over immutable stores: `process_*` return a new store and raise a
LightClientError subclass (naming the check that failed) without touching the old
one. Data arrives already upgraded to the latest shape (see ssz.py), so every
check here is the latest fork's, with fork-dependent depths chosen by slot.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from anima_verify.beacon import bls
from anima_verify.beacon.config import ChainConfig, Preset, compute_signing_root
from anima_verify.beacon.errors import (
    BootstrapRootMismatch,
    InvalidFinalityBranch,
    InvalidLightClientHeader,
    InvalidSyncCommitteeBranch,
    InvalidSyncSignature,
    InvalidUpdateSlots,
    StaleUpdate,
    SyncCommitteeMismatch,
    TooFewParticipants,
    UpdatePeriodMismatch,
)
from anima_verify.beacon.merkle import (
    ZERO_HASH,
    is_valid_merkle_branch,
    is_valid_normalized_merkle_branch,
)
from anima_verify.beacon.ssz import (
    CURRENT_SYNC_COMMITTEE_GINDEX,
    CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA,
    EXECUTION_PAYLOAD_GINDEX,
    FINALIZED_ROOT_GINDEX,
    FINALIZED_ROOT_GINDEX_ELECTRA,
    NEXT_SYNC_COMMITTEE_GINDEX,
    NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA,
    CapellaExecutionPayloadHeader,
    LightClientHeader,
    LightClientTypes,
    floorlog2,
    light_client_types,
)

GENESIS_SLOT = 0
_EMPTY_HEADER_ROOT = LightClientHeader().hash_tree_root()


@dataclass(frozen=True)
class LightClientStore:
    """consensus-specs LightClientStore, frozen; SSZ views are never mutated (so the
    values derived from them are cached: field access on a view is slow)."""

    config: ChainConfig
    finalized_header: Any
    current_sync_committee: Any
    next_sync_committee: Any
    best_valid_update: Any | None
    optimistic_header: Any
    previous_max_active_participants: int = 0
    current_max_active_participants: int = 0

    @property
    def types(self) -> LightClientTypes:
        return light_client_types(self.config.preset)

    @functools.cached_property
    def next_sync_committee_known(self) -> bool:
        return bool(
            self.next_sync_committee.hash_tree_root() != empty_committee_root(self.config.preset)
        )

    @functools.cached_property
    def finalized_slot(self) -> int:
        return int(self.finalized_header.beacon.slot)

    @functools.cached_property
    def optimistic_slot(self) -> int:
        return int(self.optimistic_header.beacon.slot)


# --- helpers (sync-protocol.md "Helpers")


@functools.cache
def empty_committee_root(preset: Preset) -> bytes:
    return bytes(light_client_types(preset).sync_committee().hash_tree_root())


def participation_bits(update: Any) -> int:
    """The sync committee bits as an integer (bit i = member i): iterating remerkleable's
    Bitvector costs milliseconds for 512 members, its SSZ bytes microseconds."""
    return int.from_bytes(update.sync_aggregate.sync_committee_bits.encode_bytes(), "little")


def _gindex(config: ChainConfig, slot: int, before: int, electra: int) -> int:
    return electra if config.preset.epoch_at_slot(slot) >= config.fork_epoch("electra") else before


def finalized_root_gindex_at_slot(config: ChainConfig, slot: int) -> int:
    return _gindex(config, slot, FINALIZED_ROOT_GINDEX, FINALIZED_ROOT_GINDEX_ELECTRA)


def current_sync_committee_gindex_at_slot(config: ChainConfig, slot: int) -> int:
    return _gindex(
        config, slot, CURRENT_SYNC_COMMITTEE_GINDEX, CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA
    )


def next_sync_committee_gindex_at_slot(config: ChainConfig, slot: int) -> int:
    return _gindex(config, slot, NEXT_SYNC_COMMITTEE_GINDEX, NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA)


def execution_root(config: ChainConfig, header: Any) -> bytes:
    """get_lc_execution_root: the execution payload header's root in its fork's shape
    (Capella's before Deneb), zero before Capella."""
    epoch = config.preset.epoch_at_slot(int(header.beacon.slot))
    if epoch >= config.fork_epoch("deneb"):
        return bytes(header.execution.hash_tree_root())
    if epoch >= config.fork_epoch("capella"):
        pre = header.execution
        capella = CapellaExecutionPayloadHeader(
            **{name: getattr(pre, name) for name in CapellaExecutionPayloadHeader.fields()}
        )
        return bytes(capella.hash_tree_root())
    return ZERO_HASH


def is_valid_light_client_header(config: ChainConfig, header: Any) -> bool:
    epoch = config.preset.epoch_at_slot(int(header.beacon.slot))
    execution = header.execution
    if epoch < config.fork_epoch("deneb") and (
        int(execution.blob_gas_used) != 0 or int(execution.excess_blob_gas) != 0
    ):
        return False
    if epoch < config.fork_epoch("capella"):
        return bool(
            execution.hash_tree_root() == type(execution)().hash_tree_root()
            and all(bytes(h) == ZERO_HASH for h in header.execution_branch)
        )
    depth = floorlog2(EXECUTION_PAYLOAD_GINDEX)
    return is_valid_merkle_branch(
        execution_root(config, header),
        [bytes(h) for h in header.execution_branch],
        depth,
        EXECUTION_PAYLOAD_GINDEX % (1 << depth),
        bytes(header.beacon.body_root),
    )


def _is_empty_header(header: Any) -> bool:
    return bool(header.hash_tree_root() == _EMPTY_HEADER_ROOT)


def _branch(vector: Any) -> list[bytes]:
    return [bytes(h) for h in vector]


def is_sync_committee_update(update: Any) -> bool:
    return any(h != ZERO_HASH for h in _branch(update.next_sync_committee_branch))


def is_finality_update(update: Any) -> bool:
    return any(h != ZERO_HASH for h in _branch(update.finality_branch))


def participants(update: Any) -> int:
    return participation_bits(update).bit_count()


def _period(config: ChainConfig, slot: int) -> int:
    return config.preset.period_at_slot(slot)


def is_better_update(config: ChainConfig, new: Any, old: Any) -> bool:
    """The spec's ordering of updates kept for a forced update (is_better_update)."""
    size = config.preset.sync_committee_size
    new_n, old_n = participants(new), participants(old)
    new_super, old_super = new_n * 3 >= size * 2, old_n * 3 >= size * 2
    if new_super != old_super:
        return new_super
    if not new_super and new_n != old_n:
        return new_n > old_n

    def relevant_committee(u: Any) -> bool:
        return is_sync_committee_update(u) and _period(
            config, int(u.attested_header.beacon.slot)
        ) == _period(config, int(u.signature_slot))

    if relevant_committee(new) != relevant_committee(old):
        return relevant_committee(new)
    new_final, old_final = is_finality_update(new), is_finality_update(old)
    if new_final != old_final:
        return new_final
    if new_final:

        def committee_finality(u: Any) -> bool:
            return _period(config, int(u.finalized_header.beacon.slot)) == _period(
                config, int(u.attested_header.beacon.slot)
            )

        if committee_finality(new) != committee_finality(old):
            return committee_finality(new)
    if new_n != old_n:
        return new_n > old_n
    if int(new.attested_header.beacon.slot) != int(old.attested_header.beacon.slot):
        return int(new.attested_header.beacon.slot) < int(old.attested_header.beacon.slot)
    return int(new.signature_slot) < int(old.signature_slot)


def safety_threshold(store: LightClientStore) -> int:
    return max(store.previous_max_active_participants, store.current_max_active_participants) // 2


# --- initialization


def initialize_store(
    config: ChainConfig, trusted_block_root: bytes, bootstrap: Any
) -> LightClientStore:
    """A store trusting `bootstrap` because its header is `trusted_block_root` (the
    weak-subjectivity checkpoint) and its committee is proven in that header's state."""
    header = bootstrap.header
    if not is_valid_light_client_header(config, header):
        raise InvalidLightClientHeader("bootstrap header's execution payload header is not proven")
    root = bytes(header.beacon.hash_tree_root())
    if root != bytes(trusted_block_root):
        raise BootstrapRootMismatch(
            f"bootstrap header root 0x{root.hex()} is not the trusted block root "
            f"0x{bytes(trusted_block_root).hex()}"
        )
    slot = int(header.beacon.slot)
    if not is_valid_normalized_merkle_branch(
        bytes(bootstrap.current_sync_committee.hash_tree_root()),
        _branch(bootstrap.current_sync_committee_branch),
        current_sync_committee_gindex_at_slot(config, slot),
        bytes(header.beacon.state_root),
    ):
        raise InvalidSyncCommitteeBranch(
            "bootstrap's current sync committee branch does not verify"
        )
    types = light_client_types(config.preset)
    return LightClientStore(
        config=config,
        finalized_header=header,
        current_sync_committee=bootstrap.current_sync_committee,
        next_sync_committee=types.sync_committee(),
        best_valid_update=None,
        optimistic_header=header,
    )


# --- validation and processing


def validate_update(store: LightClientStore, update: Any, current_slot: int) -> None:
    """validate_light_client_update; raises the error of the first check that fails."""
    config = store.config
    count = participants(update)
    if count < config.preset.min_sync_committee_participants:
        raise TooFewParticipants(
            f"{count} sync committee participants, at least "
            f"{config.preset.min_sync_committee_participants} needed"
        )
    if not is_valid_light_client_header(config, update.attested_header):
        raise InvalidLightClientHeader("attested header's execution payload header is not proven")
    attested_slot = int(update.attested_header.beacon.slot)
    finalized_slot = int(update.finalized_header.beacon.slot)
    signature_slot = int(update.signature_slot)
    if not current_slot >= signature_slot > attested_slot >= finalized_slot:
        raise InvalidUpdateSlots(
            f"need current slot {current_slot} >= signature slot {signature_slot} > "
            f"attested slot {attested_slot} >= finalized slot {finalized_slot}"
        )
    store_period = _period(config, store.finalized_slot)
    signature_period = _period(config, signature_slot)
    next_known = store.next_sync_committee_known
    allowed = (store_period, store_period + 1) if next_known else (store_period,)
    if signature_period not in allowed:
        raise UpdatePeriodMismatch(
            f"update signed in sync committee period {signature_period}; the store "
            f"(period {store_period}) has committees for {', '.join(map(str, allowed))}"
        )
    attested_period = _period(config, attested_slot)
    brings_next_committee = (
        not next_known and is_sync_committee_update(update) and attested_period == store_period
    )
    if not (attested_slot > store.finalized_slot or brings_next_committee):
        raise StaleUpdate(
            f"update attests slot {attested_slot}, not after the store's finalized slot "
            f"{store.finalized_slot}, and brings no new sync committee"
        )
    _check_finality(config, update, finalized_slot)
    _check_next_committee(store, update, attested_period, store_period)
    committee = (
        store.current_sync_committee
        if signature_period == store_period
        else store.next_sync_committee
    )
    _check_signature(config, committee, update)


def _check_finality(config: ChainConfig, update: Any, finalized_slot: int) -> None:
    if not is_finality_update(update):
        if not _is_empty_header(update.finalized_header):
            raise InvalidFinalityBranch("a finalized header without a finality branch")
        return
    if finalized_slot == GENESIS_SLOT:
        if not _is_empty_header(update.finalized_header):
            raise InvalidFinalityBranch("a genesis finality proof must carry an empty header")
        finalized_root = ZERO_HASH
    else:
        if not is_valid_light_client_header(config, update.finalized_header):
            raise InvalidLightClientHeader(
                "finalized header's execution payload header is not proven"
            )
        finalized_root = bytes(update.finalized_header.beacon.hash_tree_root())
    if not is_valid_normalized_merkle_branch(
        finalized_root,
        _branch(update.finality_branch),
        finalized_root_gindex_at_slot(config, int(update.attested_header.beacon.slot)),
        bytes(update.attested_header.beacon.state_root),
    ):
        raise InvalidFinalityBranch(
            "finality branch does not prove the finalized header in the attested state"
        )


def _check_next_committee(
    store: LightClientStore, update: Any, attested_period: int, store_period: int
) -> None:
    empty = empty_committee_root(store.config.preset)
    committee_root = bytes(update.next_sync_committee.hash_tree_root())
    if not is_sync_committee_update(update):
        if committee_root != empty:
            raise InvalidSyncCommitteeBranch("a next sync committee without its branch")
        return
    if (
        attested_period == store_period
        and store.next_sync_committee_known
        and committee_root != store.next_sync_committee.hash_tree_root()
    ):
        raise SyncCommitteeMismatch("next sync committee differs from the one the store verified")
    if not is_valid_normalized_merkle_branch(
        bytes(committee_root),
        _branch(update.next_sync_committee_branch),
        next_sync_committee_gindex_at_slot(store.config, int(update.attested_header.beacon.slot)),
        bytes(update.attested_header.beacon.state_root),
    ):
        raise InvalidSyncCommitteeBranch(
            "next sync committee branch does not prove the committee in the attested state"
        )


def _check_signature(config: ChainConfig, committee: Any, update: Any) -> None:
    try:
        keys = bls.COMMITTEE_KEYS.get(
            bytes(committee.hash_tree_root()), lambda: [bytes(k) for k in committee.pubkeys]
        )
    except bls.InvalidKey as exc:
        raise InvalidSyncSignature(f"sync committee holds an invalid key: {exc}") from None
    bits = participation_bits(update)
    signers = [key for i, key in enumerate(keys) if bits >> i & 1]
    domain = config.sync_committee_domain(int(update.signature_slot))
    signing_root = compute_signing_root(
        bytes(update.attested_header.beacon.hash_tree_root()), domain
    )
    if not bls.fast_aggregate_verify(
        signers, signing_root, bytes(update.sync_aggregate.sync_committee_signature)
    ):
        raise InvalidSyncSignature(
            f"sync committee signature over the header at slot "
            f"{int(update.attested_header.beacon.slot)} does not verify ({len(signers)} signers)"
        )


def _apply(store: LightClientStore, update: Any) -> LightClientStore:
    """apply_light_client_update, returning the new store."""
    config = store.config
    store_period = _period(config, store.finalized_slot)
    finalized_period = _period(config, int(update.finalized_header.beacon.slot))
    changes: dict[str, Any] = {}
    if not store.next_sync_committee_known:
        if finalized_period != store_period:
            raise UpdatePeriodMismatch(
                f"update finalizes period {finalized_period} while the store, in period "
                f"{store_period}, does not know the next sync committee"
            )
        changes["next_sync_committee"] = update.next_sync_committee
    elif finalized_period == store_period + 1:
        changes.update(
            current_sync_committee=store.next_sync_committee,
            next_sync_committee=update.next_sync_committee,
            previous_max_active_participants=store.current_max_active_participants,
            current_max_active_participants=0,
        )
    if int(update.finalized_header.beacon.slot) > store.finalized_slot:
        changes["finalized_header"] = update.finalized_header
        if int(update.finalized_header.beacon.slot) > store.optimistic_slot:
            changes["optimistic_header"] = update.finalized_header
    return replace(store, **changes)


def process_update(store: LightClientStore, update: Any, current_slot: int) -> LightClientStore:
    """process_light_client_update: the store after a verified update."""
    validate_update(store, update, current_slot)
    config = store.config
    count = participants(update)
    best = store.best_valid_update
    if best is None or is_better_update(config, update, best):
        best = update
    store = replace(
        store,
        best_valid_update=best,
        current_max_active_participants=max(store.current_max_active_participants, count),
    )
    if (
        count > safety_threshold(store)
        and int(update.attested_header.beacon.slot) > store.optimistic_slot
    ):
        store = replace(store, optimistic_header=update.attested_header)
    finalizes_next_committee = (
        not store.next_sync_committee_known
        and is_sync_committee_update(update)
        and is_finality_update(update)
        and _period(config, int(update.finalized_header.beacon.slot))
        == _period(config, int(update.attested_header.beacon.slot))
    )
    size = config.preset.sync_committee_size
    if count * 3 >= size * 2 and (
        int(update.finalized_header.beacon.slot) > store.finalized_slot or finalizes_next_committee
    ):
        store = replace(_apply(store, update), best_valid_update=None)
    return store


def process_force_update(store: LightClientStore, current_slot: int) -> LightClientStore:
    """process_light_client_store_force_update: after UPDATE_TIMEOUT slots without
    finality, take the best valid update (its attested header as finalized if needed)."""
    best = store.best_valid_update
    if best is None or current_slot <= store.finalized_slot + store.config.preset.update_timeout:
        return store
    if int(best.finalized_header.beacon.slot) <= store.finalized_slot:
        fields = {name: getattr(best, name) for name in type(best).fields()}
        fields["finalized_header"] = best.attested_header
        best = type(best)(**fields)
    return replace(_apply(store, best), best_valid_update=None)
