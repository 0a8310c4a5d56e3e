"""Forks without vectors here, on synthetic chains signed with known keys: Electra's
deeper branches (and the switch at its fork epoch), Altair and Capella data upgraded
on the way, finality and optimistic updates, forced updates."""

from __future__ import annotations

from typing import Any

import pytest

from anima_verify.beacon.codec import decode_ssz
from anima_verify.beacon.config import MINIMAL_PRESET, ChainConfig
from anima_verify.beacon.errors import (
    InvalidFinalityBranch,
    InvalidSyncCommitteeBranch,
    InvalidSyncSignature,
    SyncCommitteeMismatch,
    WrongForkDigest,
)
from anima_verify.beacon.ssz import (
    FINALIZED_ROOT_GINDEX,
    NEXT_SYNC_COMMITTEE_GINDEX,
    UPGRADES,
    light_client_types,
)
from anima_verify.beacon.sync import (
    LightClientStore,
    execution_root,
    initialize_store,
    process_force_update,
    process_update,
)
from tests.beacon.chain_builder import SyntheticChain, sparse_tree
from tests.beacon.conftest import synthetic_config


def wire(chain: SyntheticChain, kind: Any, view: Any, slot: int) -> Any:
    """`view` through the wire: SSZ bytes decoded for the fork of `slot`."""
    return decode_ssz(chain.config, kind, view.encode_bytes(), fork=chain.config.fork_at_slot(slot))


def bootstrapped(chain: SyntheticChain, slot: int = 8) -> LightClientStore:
    bootstrap, root = chain.bootstrap(slot)
    return initialize_store(chain.config, root, wire(chain, "bootstrap", bootstrap, slot))


def feed(
    chain: SyntheticChain, store: LightClientStore, update: Any, kind: Any = "update"
) -> LightClientStore:
    slot = int(update.attested_header.beacon.slot)
    return process_update(store, wire(chain, kind, update, slot), int(update.signature_slot))


def test_electra_data_has_the_deeper_branches(chain: SyntheticChain) -> None:
    electra_slot = 2 * chain.preset.slots_per_period + 40  # Electra from epoch 16 = slot 128
    deneb_slot = 40
    types = light_client_types(MINIMAL_PRESET)
    assert chain.wire_fork(electra_slot) == "electra" and chain.wire_fork(deneb_slot) == "deneb"
    electra = chain.update(electra_slot - 16, electra_slot)
    deneb = chain.update(deneb_slot - 16, deneb_slot)
    assert isinstance(electra, types.forks["electra"].update)
    assert (len(electra.finality_branch), len(electra.next_sync_committee_branch)) == (7, 6)
    assert (len(deneb.finality_branch), len(deneb.next_sync_committee_branch)) == (6, 5)
    bootstrap, _ = chain.bootstrap(electra_slot)
    assert len(bootstrap.current_sync_committee_branch) == 6


def test_sync_across_the_electra_fork(chain: SyntheticChain) -> None:
    store = bootstrapped(chain)
    seen = []
    for period in range(5):
        store = feed(chain, store, chain.period_update(period))
        seen.append((store.finalized_slot, chain.config.fork_at_slot(store.finalized_slot)))
    assert seen == [
        (16, "deneb"),
        (80, "deneb"),
        (144, "electra"),
        (208, "electra"),
        (272, "electra"),
    ]
    assert store.current_sync_committee.hash_tree_root() == chain.committee(4).view.hash_tree_root()
    assert store.next_sync_committee.hash_tree_root() == chain.committee(5).view.hash_tree_root()
    finalized, _ = chain.header(272)
    assert (
        execution_root(chain.config, store.finalized_header) == finalized.execution.hash_tree_root()
    )


def test_an_electra_bootstrap_starts_a_store() -> None:
    chain = SyntheticChain(synthetic_config(electra_epoch=0))
    store = bootstrapped(chain, 3)
    store = feed(chain, store, chain.period_update(0))
    store = feed(chain, store, chain.period_update(1))
    assert store.finalized_slot == 80


def test_an_electra_update_with_a_pre_electra_proof_is_refused(chain: SyntheticChain) -> None:
    """A branch for Deneb's gindex, zero-padded to Electra's depth, proves nothing in an
    Electra state: the check uses the gindex of the attested slot's fork."""
    store = bootstrapped(chain, 136)  # Electra, period 2
    update = chain.update(140, 160)
    finalized, _ = chain.header(140)
    # A state whose tree holds the finalized root at Deneb's gindex instead.
    state_root, branches = sparse_tree(
        {
            FINALIZED_ROOT_GINDEX: bytes(finalized.beacon.hash_tree_root()),
            NEXT_SYNC_COMMITTEE_GINDEX: bytes(chain.committee(3).view.hash_tree_root()),
        }
    )
    assert len(branches[FINALIZED_ROOT_GINDEX]) == 6
    forged = UPGRADES["update"](light_client_types(MINIMAL_PRESET), update)
    forged.attested_header.beacon.state_root = state_root
    forged.finality_branch = [bytes(32)] + branches[FINALIZED_ROOT_GINDEX]
    with pytest.raises(InvalidFinalityBranch):
        process_update(store, forged, 161)
    forged.finality_branch = update.finality_branch
    forged.next_sync_committee_branch = [bytes(32)] + branches[NEXT_SYNC_COMMITTEE_GINDEX]
    with pytest.raises((InvalidFinalityBranch, InvalidSyncCommitteeBranch)):
        process_update(store, forged, 161)


def test_data_labelled_with_the_wrong_fork_is_refused(chain: SyntheticChain) -> None:
    update = chain.update(140, 160)  # Electra
    with pytest.raises(WrongForkDigest, match=r"\(electra\) came labelled as fulu"):
        decode_ssz(chain.config, "update", update.encode_bytes(), fork="fulu")
    altair_chain = SyntheticChain(
        ChainConfig(
            name="altair-bellatrix",
            preset=MINIMAL_PRESET,
            genesis_validators_root=bytes(32),
            forks={
                "phase0": (b"\0\0\0\1", 0),
                "altair": (b"\1\0\0\1", 0),
                "bellatrix": (b"\2\0\0\1", 4),
            },
        )
    )
    early = altair_chain.update(8, 16)  # epoch 2: Altair; Bellatrix shares its types
    with pytest.raises(WrongForkDigest, match="labelled as bellatrix"):
        decode_ssz(altair_chain.config, "update", early.encode_bytes(), fork="bellatrix")


def test_sync_from_altair_through_capella_and_deneb_to_electra() -> None:
    chain = SyntheticChain(
        ChainConfig(
            name="all-forks",
            preset=MINIMAL_PRESET,
            genesis_validators_root=b"\x22" * 32,
            forks={
                "phase0": (b"\0\0\0\2", 0),
                "altair": (b"\1\0\0\2", 0),
                "bellatrix": (b"\2\0\0\2", 4),
                "capella": (b"\3\0\0\2", 8),
                "deneb": (b"\4\0\0\2", 16),
                "electra": (b"\5\0\0\2", 24),
            },
        )
    )
    store = bootstrapped(chain, 8)
    forks = []
    for period in range(4):
        update = chain.period_update(period)
        forks.append(chain.wire_fork(int(update.attested_header.beacon.slot)))
        store = feed(chain, store, update)
    assert forks == ["altair", "capella", "deneb", "electra"]
    assert store.finalized_slot == 208
    assert execution_root(chain.config, chain_header_upgraded(chain, 16)) == bytes(
        32
    )  # Altair: none


def chain_header_upgraded(chain: SyntheticChain, slot: int) -> Any:
    from anima_verify.beacon.ssz import upgrade_header

    return upgrade_header(chain.header(slot)[0])


def test_finality_and_optimistic_updates(chain: SyntheticChain) -> None:
    store = feed(chain, bootstrapped(chain), chain.period_update(0))
    store = feed(chain, store, chain.update(24, 40, kind="finality_update"), "finality_update")
    assert (store.finalized_slot, store.optimistic_slot) == (24, 40)
    store = feed(chain, store, chain.update(0, 45, kind="optimistic_update"), "optimistic_update")
    assert (store.finalized_slot, store.optimistic_slot) == (24, 45)
    bad = chain.update(0, 46, kind="optimistic_update", signers=[1, 2, 3])
    bad.sync_aggregate.sync_committee_bits[0] = True  # claims a signer that did not sign
    with pytest.raises(InvalidSyncSignature):
        feed(chain, store, bad, "optimistic_update")


def test_without_a_supermajority_only_a_forced_update_advances(chain: SyntheticChain) -> None:
    store = bootstrapped(chain)
    weak = SyntheticChain(chain.config, participation=0.5)
    store = feed(weak, store, weak.period_update(0))
    assert store.finalized_slot == 8  # not finalized: 16 of 32 signed
    assert store.optimistic_slot == 32  # but above the safety threshold
    assert process_force_update(store, 8 + chain.preset.update_timeout) is store  # too early
    forced = process_force_update(store, 8 + chain.preset.update_timeout + 1)
    assert forced.finalized_slot == 16
    assert forced.best_valid_update is None
    assert forced.next_sync_committee.hash_tree_root() == chain.committee(1).view.hash_tree_root()


def test_a_different_next_committee_for_a_known_period_is_refused(chain: SyntheticChain) -> None:
    store = feed(chain, bootstrapped(chain), chain.period_update(0))  # next committee known
    update = chain.update(24, 48)
    other = chain.committee(7).view
    forged = UPGRADES["update"](light_client_types(MINIMAL_PRESET), update)
    forged.next_sync_committee = other
    with pytest.raises(SyncCommitteeMismatch):
        process_update(store, forged, 49)
