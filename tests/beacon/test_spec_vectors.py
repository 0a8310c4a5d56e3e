"""The consensus-spec-tests light-client sync cases (Deneb, minimal preset): every
step of every case, and altered updates refused with a specific error, the store
left as it was."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest

from anima_verify.beacon.codec import decode_ssz_with_digest
from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.errors import (
    BootstrapRootMismatch,
    InvalidFinalityBranch,
    InvalidLightClientHeader,
    InvalidSyncCommitteeBranch,
    InvalidSyncSignature,
    InvalidUpdateSlots,
    LightClientError,
    MalformedLightClientData,
    StaleUpdate,
    TooFewParticipants,
    UpdatePeriodMismatch,
    WrongForkDigest,
)
from anima_verify.beacon.spectest import (
    load_case_config,
    read_ssz_snappy,
    read_yaml,
    run_case,
)
from anima_verify.beacon.sync import LightClientStore, initialize_store, process_update
from tests.beacon.conftest import CASES


@pytest.mark.parametrize("case", CASES)
def test_every_step_of_every_case_matches(deneb_cases: Path, case: str) -> None:
    result = run_case(deneb_cases / case)
    assert result.steps, "a case with no steps proves nothing"
    assert [(s.index, s.matched, s.detail) for s in result.steps] == [
        (i, True, "") for i in range(len(result.steps))
    ]


def test_a_changed_expectation_is_reported_as_a_mismatch(deneb_cases: Path, tmp_path: Path) -> None:
    """The runner really compares: one wrong expected root fails that step only."""
    case = tmp_path / "case"
    case.mkdir()
    for f in (deneb_cases / "light_client_sync").iterdir():
        (case / f.name).write_bytes(f.read_bytes())
    steps = (case / "steps.yaml").read_text()
    root = "0x805e4ee1f71217879435ee1129804df0b5dcb9281fa1f6c51f876e9574c6e223"
    assert steps.count(root) == 1
    (case / "steps.yaml").write_text(steps.replace(root, "0x" + "00" * 32))
    result = run_case(case)
    assert [s.index for s in result.steps if not s.matched] == [0]
    assert "beacon_root" in result.steps[0].detail


class Case:
    """One vector case opened step by step, to feed altered updates."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.config: ChainConfig
        self.config, self.meta = load_case_config(directory)
        self.steps = read_yaml(directory / "steps.yaml")
        raw = read_ssz_snappy(directory / "bootstrap.ssz_snappy")
        self.bootstrap = self.decode("bootstrap", raw, self.meta["bootstrap_fork_digest"])
        self.trusted_root = bytes.fromhex(self.meta["trusted_block_root"][2:])

    def decode(self, kind: Any, raw: bytes, digest: str) -> Any:
        return decode_ssz_with_digest(self.config, kind, raw, digest=bytes.fromhex(digest[2:]))

    def store(self) -> LightClientStore:
        return initialize_store(self.config, self.trusted_root, self.bootstrap)

    def raw_update(self, index: int) -> tuple[bytes, dict[str, Any]]:
        body = self.steps[index]["process_update"]
        return read_ssz_snappy(self.dir / f"{body['update']}.ssz_snappy"), body

    def update(self, index: int) -> tuple[Any, int]:
        raw, body = self.raw_update(index)
        return self.decode("update", raw, body["update_fork_digest"]), int(body["current_slot"])


@pytest.fixture
def sync_case(deneb_cases: Path) -> Case:
    return Case(deneb_cases / "light_client_sync")


def altered(update: Any, path: str, value: Any) -> Any:
    """A copy of `update` with the field at dotted `path` replaced."""
    copy = type(update).decode_bytes(update.encode_bytes())
    *parents, last = path.split(".")
    target = copy
    for name in parents:
        target = target[int(name)] if name.isdigit() else getattr(target, name)
    if last.isdigit():
        target[int(last)] = value
    else:
        setattr(target, last, value)
    return copy


def snapshot(store: LightClientStore) -> tuple[Any, ...]:
    return tuple(
        bytes(v.hash_tree_root()) if hasattr(v, "hash_tree_root") else v for v in astuple(store)
    )


def refused(
    store: LightClientStore, update: Any, current_slot: int, error: type[LightClientError]
) -> str:
    before = snapshot(store)
    with pytest.raises(error) as caught:
        process_update(store, update, current_slot)
    assert type(caught.value) is error
    assert snapshot(store) == before
    return caught.value.message


def flip(data: bytes, bit: int) -> bytes:
    mutable = bytearray(data)
    mutable[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutable)


def test_the_unaltered_update_is_accepted(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    store = process_update(sync_case.store(), update, slot)
    assert store.finalized_slot == 24


def test_a_flipped_signature_bit_is_refused(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    signature = bytes(update.sync_aggregate.sync_committee_signature)
    for bit in (0, 200, 767):  # in the flags byte, the middle, the last byte
        bad = altered(update, "sync_aggregate.sync_committee_signature", flip(signature, bit))
        refused(sync_case.store(), bad, slot, InvalidSyncSignature)


def test_a_flipped_participation_bit_is_refused(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    bits = update.sync_aggregate.sync_committee_bits
    first_signer = next(i for i, b in enumerate(bits) if b)
    bad = altered(update, f"sync_aggregate.sync_committee_bits.{first_signer}", False)
    message = refused(sync_case.store(), bad, slot, InvalidSyncSignature)
    assert "does not verify" in message


def test_a_wrong_finality_branch_is_refused(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    bad = altered(update, "finality_branch.3", b"\x42" * 32)
    refused(sync_case.store(), bad, slot, InvalidFinalityBranch)


def test_a_finalized_header_that_is_not_the_proven_one_is_refused(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    bad = altered(update, "finalized_header.beacon.proposer_index", 999)
    refused(sync_case.store(), bad, slot, InvalidFinalityBranch)


def test_a_wrong_committee_branch_is_refused(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    bad = altered(update, "next_sync_committee_branch.5", b"\x42" * 32)
    refused(sync_case.store(), bad, slot, InvalidSyncCommitteeBranch)
    other_key = bytes(update.next_sync_committee.pubkeys[1])
    bad = altered(update, "next_sync_committee.pubkeys.0", other_key)
    refused(sync_case.store(), bad, slot, InvalidSyncCommitteeBranch)


def test_an_execution_header_not_in_the_body_is_refused(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    bad = altered(update, "attested_header.execution.block_number", 12345)
    refused(sync_case.store(), bad, slot, InvalidLightClientHeader)


def test_too_few_participants_are_refused(sync_case: Case) -> None:
    update, slot = sync_case.update(0)
    bad = altered(update, "sync_aggregate.sync_committee_bits", [False] * 32)
    assert "0 sync committee participants" in refused(
        sync_case.store(), bad, slot, TooFewParticipants
    )


def test_an_update_older_than_the_store_is_refused(sync_case: Case) -> None:
    store = sync_case.store()
    for index in range(3):
        update, slot = sync_case.update(index)
        store = process_update(store, update, slot)
    assert store.finalized_slot == 96
    old, _ = sync_case.update(1)  # attests slot 88, in the store's period
    refused(store, old, 130, StaleUpdate)
    first, _ = sync_case.update(0)  # signed in period 0, the store is in period 1
    refused(store, first, 130, UpdatePeriodMismatch)


def test_an_update_signed_in_the_future_is_refused(sync_case: Case) -> None:
    update, _slot = sync_case.update(0)
    refused(sync_case.store(), update, int(update.signature_slot) - 1, InvalidUpdateSlots)


def test_an_unknown_fork_digest_is_refused(sync_case: Case) -> None:
    raw, _ = sync_case.raw_update(0)
    with pytest.raises(WrongForkDigest, match="0xdeadbeef"):
        sync_case.decode("update", raw, "0xdeadbeef")


def test_a_digest_of_another_fork_is_refused(sync_case: Case) -> None:
    raw, _ = sync_case.raw_update(0)
    phase0 = "0x" + sync_case.config.fork_digest("phase0").hex()
    with pytest.raises(WrongForkDigest, match="no light-client data"):
        sync_case.decode("update", raw, phase0)


@pytest.mark.parametrize("damage", ["cut 1", "cut 100", "bad offset", "empty"])
def test_malformed_ssz_is_refused(sync_case: Case, damage: str) -> None:
    raw, body = sync_case.raw_update(0)
    broken = {
        "cut 1": raw[:-1],
        "cut 100": raw[:-100],
        "bad offset": b"\xff\xff\xff\x7f" + raw[4:],  # the attested header's offset
        "empty": b"",
    }[damage]
    with pytest.raises(MalformedLightClientData, match="not valid SSZ"):
        sync_case.decode("update", broken, body["update_fork_digest"])


def test_a_bootstrap_for_another_root_is_refused(sync_case: Case) -> None:
    with pytest.raises(BootstrapRootMismatch):
        initialize_store(sync_case.config, b"\x01" * 32, sync_case.bootstrap)


def test_a_bootstrap_with_a_wrong_committee_branch_is_refused(sync_case: Case) -> None:
    bad = altered(sync_case.bootstrap, "current_sync_committee_branch.5", b"\x42" * 32)
    with pytest.raises(InvalidSyncCommitteeBranch):
        initialize_store(sync_case.config, sync_case.trusted_root, bad)
