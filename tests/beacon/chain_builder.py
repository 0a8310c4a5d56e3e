"""Synthetic light-client data signed by sync committees whose keys we know.

No beacon node or real BeaconState here: a state root is the root of a sparse
Merkle tree holding the proven leaves (sync committees, finalized root) at the
generalized indices of the header's fork, everything else filler. That is all a
light client can see of a state, so the data exercises the same checks real data
does, at any preset and fork (Electra included, for which the vectors have no
cases). Used by the tests and by bench/beacon_bench.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from py_arkworks_bls12381 import G1Point, G2Point, Scalar

from anima_verify.beacon.bls import DST
from anima_verify.beacon.config import ChainConfig, Preset, compute_signing_root
from anima_verify.beacon.ssz import (
    CURRENT_SYNC_COMMITTEE_GINDEX,
    CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA,
    EXECUTION_PAYLOAD_GINDEX,
    FINALIZED_ROOT_GINDEX,
    FINALIZED_ROOT_GINDEX_ELECTRA,
    NEXT_SYNC_COMMITTEE_GINDEX,
    NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA,
    BeaconBlockHeader,
    CapellaExecutionPayloadHeader,
    ExecutionPayloadHeader,
    light_client_types,
)

BLS_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001


def sparse_tree(leaves: dict[int, bytes]) -> tuple[bytes, dict[int, list[bytes]]]:
    """The root of a tree with `leaves` at their generalized indices (filler elsewhere)
    and each leaf's branch, bottom up."""

    @cache
    def node(g: int) -> bytes:
        if g in leaves:
            return leaves[g]
        if not any(_under(leaf, g) for leaf in leaves):
            return hashlib.sha256(b"filler" + g.to_bytes(8, "little")).digest()
        return hashlib.sha256(node(2 * g) + node(2 * g + 1)).digest()

    branches = {}
    for g in leaves:
        branch, cursor = [], g
        while cursor > 1:
            branch.append(node(cursor ^ 1))
            cursor >>= 1
        branches[g] = branch
    return node(1), branches


def _under(g: int, ancestor: int) -> bool:
    while g > ancestor:
        g >>= 1
    return g == ancestor


@dataclass(frozen=True)
class Committee:
    secret_keys: tuple[int, ...]
    view: Any  # SyncCommittee

    def sign(self, message: bytes, signers: list[int]) -> bytes:
        """The aggregate signature of the members at `signers` (all sign one message,
        so the aggregate is H(m) times the sum of their secret keys)."""
        total = sum(self.secret_keys[i] for i in signers) % BLS_ORDER
        point = G2Point.hash_to_curve(message, DST) * Scalar(total)
        return bytes(point.to_compressed_bytes())


@cache
def make_committee(preset: Preset, seed: int) -> Committee:
    types = light_client_types(preset)
    secrets = tuple(
        int.from_bytes(hashlib.sha256(f"{seed}/{i}".encode()).digest(), "big") % BLS_ORDER
        for i in range(preset.sync_committee_size)
    )
    pubkeys = [bytes((G1Point() * Scalar(sk)).to_compressed_bytes()) for sk in secrets]
    aggregate = bytes((G1Point() * Scalar(sum(secrets) % BLS_ORDER)).to_compressed_bytes())
    return Committee(secrets, types.sync_committee(pubkeys=pubkeys, aggregate_pubkey=aggregate))


@dataclass
class SyntheticChain:
    """A chain whose committee of period p is make_committee(preset, p)."""

    config: ChainConfig
    participation: float = 1.0
    #: Slot -> the execution block its header carries (eth_getBlockByNumber fields of a
    #: real chain: hash, parentHash, stateRoot, receiptsRoot, number, timestamp);
    #: other slots carry made-up ones.
    execution_blocks: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def preset(self) -> Preset:
        return self.config.preset

    def committee(self, period: int) -> Committee:
        return make_committee(self.preset, period)

    def wire_fork(self, slot: int) -> str:
        return self.config.light_client_fork(self.config.fork_at_slot(slot))

    def _electra(self, slot: int) -> bool:
        return self.preset.epoch_at_slot(slot) >= self.config.fork_epoch("electra")

    def header(
        self, slot: int, *, finalized: Any | None = None
    ) -> tuple[Any, dict[int, list[bytes]]]:
        """The wire-fork light-client header of the block at `slot`, whose state proves
        the committees of its period and (if given) `finalized` as finalized root;
        with the branches by gindex."""
        period = self.preset.period_at_slot(slot)
        electra = self._electra(slot)
        leaves = {
            (
                CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA if electra else CURRENT_SYNC_COMMITTEE_GINDEX
            ): bytes(self.committee(period).view.hash_tree_root()),
            (NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA if electra else NEXT_SYNC_COMMITTEE_GINDEX): bytes(
                self.committee(period + 1).view.hash_tree_root()
            ),
            (FINALIZED_ROOT_GINDEX_ELECTRA if electra else FINALIZED_ROOT_GINDEX): bytes(
                finalized.beacon.hash_tree_root()
            )
            if finalized is not None
            else bytes(32),
        }
        state_root, branches = sparse_tree(leaves)
        fork = self.wire_fork(slot)
        header_type = light_client_types(self.preset).forks[fork].bootstrap.fields()["header"]
        if fork == "altair":
            body_root = hashlib.sha256(b"body" + slot.to_bytes(8, "little")).digest()
            beacon = BeaconBlockHeader(
                slot=slot,
                proposer_index=slot % 7,
                parent_root=bytes(32),
                state_root=state_root,
                body_root=body_root,
            )
            return header_type(beacon=beacon), branches
        execution_type = (
            CapellaExecutionPayloadHeader if fork == "capella" else ExecutionPayloadHeader
        )
        real = self.execution_blocks.get(slot)
        execution = (
            execution_type(
                parent_hash=bytes.fromhex(real["parentHash"][2:]),
                state_root=bytes.fromhex(real["stateRoot"][2:]),
                receipts_root=bytes.fromhex(real["receiptsRoot"][2:]),
                block_number=int(real["number"], 16),
                timestamp=int(real["timestamp"], 16),
                block_hash=bytes.fromhex(real["hash"][2:]),
            )
            if real is not None
            else execution_type(
                parent_hash=hashlib.sha256(b"parent" + slot.to_bytes(8, "little")).digest(),
                state_root=hashlib.sha256(b"el-state" + slot.to_bytes(8, "little")).digest(),
                receipts_root=hashlib.sha256(b"receipts" + slot.to_bytes(8, "little")).digest(),
                block_number=1000 + slot,
                timestamp=self.config.genesis_time + slot * self.config.seconds_per_slot,
                block_hash=hashlib.sha256(b"el-block" + slot.to_bytes(8, "little")).digest(),
            )
        )
        body_root, body_branches = sparse_tree(
            {EXECUTION_PAYLOAD_GINDEX: bytes(execution.hash_tree_root())}
        )
        beacon = BeaconBlockHeader(
            slot=slot,
            proposer_index=slot % 7,
            parent_root=bytes(32),
            state_root=state_root,
            body_root=body_root,
        )
        header = header_type(
            beacon=beacon,
            execution=execution,
            execution_branch=body_branches[EXECUTION_PAYLOAD_GINDEX],
        )
        return header, branches

    def bootstrap(self, slot: int) -> tuple[Any, bytes]:
        """The wire-fork bootstrap at `slot` and its block root (the trusted checkpoint)."""
        header, branches = self.header(slot)
        gindex = (
            CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA
            if self._electra(slot)
            else CURRENT_SYNC_COMMITTEE_GINDEX
        )
        fork = self.wire_fork(slot)
        bootstrap = (
            light_client_types(self.preset)
            .forks[fork]
            .bootstrap(
                header=header,
                current_sync_committee=self.committee(self.preset.period_at_slot(slot)).view,
                current_sync_committee_branch=branches[gindex],
            )
        )
        return bootstrap, bytes(header.beacon.hash_tree_root())

    def signers(self) -> list[int]:
        size = self.preset.sync_committee_size
        return list(range(max(1, round(size * self.participation))))

    def update(
        self,
        finalized_slot: int,
        attested_slot: int,
        *,
        signature_slot: int | None = None,
        kind: str = "update",
        signers: list[int] | None = None,
    ) -> Any:
        """A wire-fork update attesting `attested_slot` (finalizing `finalized_slot`,
        unless 0: no finality), signed at `signature_slot` by that period's committee."""
        signature_slot = attested_slot + 1 if signature_slot is None else signature_slot
        finalized = self.header(finalized_slot)[0] if finalized_slot else None
        attested, branches = self.header(attested_slot, finalized=finalized)
        fork = self.wire_fork(attested_slot)
        types = light_client_types(self.preset)
        fork_types = types.forks[fork]
        electra = self._electra(attested_slot)
        committee = self.committee(self.preset.period_at_slot(signature_slot))
        domain = self.config.sync_committee_domain(signature_slot)
        message = compute_signing_root(bytes(attested.beacon.hash_tree_root()), domain)
        chosen = self.signers() if signers is None else signers
        bits = [i in set(chosen) for i in range(self.preset.sync_committee_size)]
        aggregate = types.sync_aggregate(
            sync_committee_bits=bits,
            sync_committee_signature=committee.sign(message, chosen)
            if chosen
            else b"\xc0" + bytes(95),
        )
        fields: dict[str, Any] = {
            "attested_header": attested,
            "sync_aggregate": aggregate,
            "signature_slot": signature_slot,
        }
        if kind in ("update", "finality_update") and finalized is not None:
            fields["finalized_header"] = finalized
            fields["finality_branch"] = branches[
                FINALIZED_ROOT_GINDEX_ELECTRA if electra else FINALIZED_ROOT_GINDEX
            ]
        if kind == "update":
            fields["next_sync_committee"] = self.committee(
                self.preset.period_at_slot(attested_slot) + 1
            ).view
            fields["next_sync_committee_branch"] = branches[
                NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA if electra else NEXT_SYNC_COMMITTEE_GINDEX
            ]
        return getattr(fork_types, kind)(**fields)

    def period_update(self, period: int) -> Any:
        """The update that carries a store from period `period` - 1 into `period`
        (for period 0: the one that teaches a fresh store the next committee)."""
        start = period * self.preset.slots_per_period
        spe = self.preset.slots_per_epoch
        return self.update(start + 2 * spe, start + 4 * spe)
