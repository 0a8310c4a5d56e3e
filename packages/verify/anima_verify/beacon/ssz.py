"""SSZ containers of the light-client protocol, per preset and fork, from remerkleable.

remerkleable (eth-remerkleable, the SSZ library the consensus specs themselves
run on) decodes, encodes and hashes; we only declare the containers. Sizes depend
on the preset (sync committee size), so the types are built per preset.

Wire data of any fork is upgraded to the latest shape (Electra's, which Fulu
keeps) as the spec's fork.md says: an older header gets an empty or Capella-shaped
execution header, older branches are normalized by prepending zero hashes. The
store and the checks only see that one shape.

(No `from __future__ import annotations` here: remerkleable reads the field types
from the class annotations at class creation.)
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from remerkleable.basic import uint64, uint256
from remerkleable.bitfields import Bitvector
from remerkleable.byte_arrays import ByteList, Bytes32, Bytes48, Bytes96, ByteVector
from remerkleable.complex import Container, Vector
from remerkleable.tree import subtree_fill_to_contents

from anima_verify.beacon.config import Preset
from anima_verify.beacon.errors import MalformedLightClientData

# Generalized indices of the proven fields (consensus-specs sync-protocol.md).
FINALIZED_ROOT_GINDEX = 105
CURRENT_SYNC_COMMITTEE_GINDEX = 54
NEXT_SYNC_COMMITTEE_GINDEX = 55
FINALIZED_ROOT_GINDEX_ELECTRA = 169
CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA = 86
NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA = 87
EXECUTION_PAYLOAD_GINDEX = 25

BYTES_PER_LOGS_BLOOM = 256
MAX_EXTRA_DATA_BYTES = 32
Bytes20 = ByteVector[20]


def floorlog2(value: int) -> int:
    return value.bit_length() - 1


def _quickly_decoded(vector: Any) -> Any:
    """`vector` (a Vector of fixed-size composite elements) with a faster decoder.

    remerkleable's Vector constructor checks each element against its runtime
    Protocol `View`, which costs about 15 µs per element on Python 3.11: 8 ms of the
    ~9 ms it takes to decode a mainnet update, all in the 512 public keys. The same
    elements, decoded the same way, go straight into the tree here.
    """

    class QuicklyDecodedVector(vector):
        @classmethod
        def deserialize(cls, stream: Any, scope: int) -> Any:
            element = cls.element_cls()
            size, count = element.type_byte_length(), cls.vector_length()
            if scope != size * count:
                raise ValueError(f"vector of {count} x {size} bytes cannot be {scope} bytes")
            nodes = [element.deserialize(stream, size).get_backing() for _ in range(count)]
            return cls(backing=subtree_fill_to_contents(nodes, cls.tree_depth()))

    return QuicklyDecodedVector


class BeaconBlockHeader(Container):
    slot: uint64
    proposer_index: uint64
    parent_root: Bytes32
    state_root: Bytes32
    body_root: Bytes32


class CapellaExecutionPayloadHeader(Container):
    parent_hash: Bytes32
    fee_recipient: Bytes20
    state_root: Bytes32
    receipts_root: Bytes32
    logs_bloom: ByteVector[BYTES_PER_LOGS_BLOOM]
    prev_randao: Bytes32
    block_number: uint64
    gas_limit: uint64
    gas_used: uint64
    timestamp: uint64
    extra_data: ByteList[MAX_EXTRA_DATA_BYTES]
    base_fee_per_gas: uint256
    block_hash: Bytes32
    transactions_root: Bytes32
    withdrawals_root: Bytes32


class ExecutionPayloadHeader(Container):
    """Deneb's (unchanged in Electra): Capella's plus the blob gas fields."""

    parent_hash: Bytes32
    fee_recipient: Bytes20
    state_root: Bytes32
    receipts_root: Bytes32
    logs_bloom: ByteVector[BYTES_PER_LOGS_BLOOM]
    prev_randao: Bytes32
    block_number: uint64
    gas_limit: uint64
    gas_used: uint64
    timestamp: uint64
    extra_data: ByteList[MAX_EXTRA_DATA_BYTES]
    base_fee_per_gas: uint256
    block_hash: Bytes32
    transactions_root: Bytes32
    withdrawals_root: Bytes32
    blob_gas_used: uint64
    excess_blob_gas: uint64


ExecutionBranch = _quickly_decoded(Vector[Bytes32, floorlog2(EXECUTION_PAYLOAD_GINDEX)])


class AltairLightClientHeader(Container):
    beacon: BeaconBlockHeader


class CapellaLightClientHeader(Container):
    beacon: BeaconBlockHeader
    execution: CapellaExecutionPayloadHeader
    execution_branch: ExecutionBranch


class LightClientHeader(Container):
    """Deneb's and Electra's header: the shape the store keeps."""

    beacon: BeaconBlockHeader
    execution: ExecutionPayloadHeader
    execution_branch: ExecutionBranch


HEADER_TYPES: dict[str, type[Container]] = {
    "altair": AltairLightClientHeader,
    "capella": CapellaLightClientHeader,
    "deneb": LightClientHeader,
    "electra": LightClientHeader,
}


@dataclass(frozen=True)
class ForkTypes:
    bootstrap: type[Container]
    update: type[Container]
    finality_update: type[Container]
    optimistic_update: type[Container]


@dataclass(frozen=True)
class LightClientTypes:
    """The containers of one preset: per light-client fork, and the latest ones."""

    preset: Preset
    sync_committee: type[Container]
    sync_aggregate: type[Container]
    forks: dict[str, ForkTypes]

    @property
    def latest(self) -> ForkTypes:
        return self.forks["electra"]


def _fork_types(
    header_t: type[Container],
    committee_t: type[Container],
    aggregate_t: type[Container],
    current_depth: int,
    next_depth: int,
    finality_depth: int,
) -> ForkTypes:
    class LightClientBootstrap(Container):
        header: header_t
        current_sync_committee: committee_t
        current_sync_committee_branch: _quickly_decoded(Vector[Bytes32, current_depth])

    class LightClientUpdate(Container):
        attested_header: header_t
        next_sync_committee: committee_t
        next_sync_committee_branch: _quickly_decoded(Vector[Bytes32, next_depth])
        finalized_header: header_t
        finality_branch: _quickly_decoded(Vector[Bytes32, finality_depth])
        sync_aggregate: aggregate_t
        signature_slot: uint64

    class LightClientFinalityUpdate(Container):
        attested_header: header_t
        finalized_header: header_t
        finality_branch: _quickly_decoded(Vector[Bytes32, finality_depth])
        sync_aggregate: aggregate_t
        signature_slot: uint64

    class LightClientOptimisticUpdate(Container):
        attested_header: header_t
        sync_aggregate: aggregate_t
        signature_slot: uint64

    return ForkTypes(
        LightClientBootstrap,
        LightClientUpdate,
        LightClientFinalityUpdate,
        LightClientOptimisticUpdate,
    )


@functools.cache
def light_client_types(preset: Preset) -> LightClientTypes:
    size = preset.sync_committee_size
    pubkeys_vector = _quickly_decoded(Vector[Bytes48, size])

    class SyncCommittee(Container):
        pubkeys: pubkeys_vector
        aggregate_pubkey: Bytes48

    class SyncAggregate(Container):
        sync_committee_bits: Bitvector[size]
        sync_committee_signature: Bytes96

    pre_electra = (
        floorlog2(CURRENT_SYNC_COMMITTEE_GINDEX),
        floorlog2(NEXT_SYNC_COMMITTEE_GINDEX),
        floorlog2(FINALIZED_ROOT_GINDEX),
    )
    electra = (
        floorlog2(CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA),
        floorlog2(NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA),
        floorlog2(FINALIZED_ROOT_GINDEX_ELECTRA),
    )
    forks = {
        fork: _fork_types(
            HEADER_TYPES[fork],
            SyncCommittee,
            SyncAggregate,
            *(electra if fork == "electra" else pre_electra),
        )
        for fork in ("altair", "capella", "deneb", "electra")
    }
    return LightClientTypes(preset, SyncCommittee, SyncAggregate, forks)


def decode(container: type[Container], data: bytes, what: str) -> Any:
    """SSZ bytes as `container`; MalformedLightClientData saying what did not decode."""
    try:
        return container.decode_bytes(bytes(data))
    except Exception as exc:  # remerkleable raises ValueError, IndexError, struct.error...
        raise MalformedLightClientData(
            f"{what} is not valid SSZ ({len(data)} bytes): {exc}"
        ) from None


# Upgrades of wire data to the latest (Electra) shape: electra/fork.md and its predecessors.


def upgrade_header(header: Any) -> Any:
    if isinstance(header, LightClientHeader):
        return header
    if isinstance(header, AltairLightClientHeader):
        return LightClientHeader(beacon=header.beacon)
    pre = header.execution
    execution = ExecutionPayloadHeader(
        **{name: getattr(pre, name) for name in CapellaExecutionPayloadHeader.fields()}
    )
    return LightClientHeader(
        beacon=header.beacon, execution=execution, execution_branch=header.execution_branch
    )


def normalize_branch(branch: Any, gindex: int) -> list[bytes]:
    """A branch padded at the front with zero hashes to the depth of `gindex`."""
    hashes = [bytes(h) for h in branch]
    return [bytes(32)] * (floorlog2(gindex) - len(hashes)) + hashes


def upgrade_bootstrap(types: LightClientTypes, pre: Any) -> Any:
    if isinstance(pre, types.latest.bootstrap):
        return pre
    return types.latest.bootstrap(
        header=upgrade_header(pre.header),
        current_sync_committee=pre.current_sync_committee,
        current_sync_committee_branch=normalize_branch(
            pre.current_sync_committee_branch, CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA
        ),
    )


def upgrade_update(types: LightClientTypes, pre: Any) -> Any:
    if isinstance(pre, types.latest.update):
        return pre
    return types.latest.update(
        attested_header=upgrade_header(pre.attested_header),
        next_sync_committee=pre.next_sync_committee,
        next_sync_committee_branch=normalize_branch(
            pre.next_sync_committee_branch, NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA
        ),
        finalized_header=upgrade_header(pre.finalized_header),
        finality_branch=normalize_branch(pre.finality_branch, FINALIZED_ROOT_GINDEX_ELECTRA),
        sync_aggregate=pre.sync_aggregate,
        signature_slot=pre.signature_slot,
    )


def finality_to_update(types: LightClientTypes, pre: Any) -> Any:
    """A finality update as the full update the spec processes (no committee)."""
    return types.latest.update(
        attested_header=upgrade_header(pre.attested_header),
        finalized_header=upgrade_header(pre.finalized_header),
        finality_branch=normalize_branch(pre.finality_branch, FINALIZED_ROOT_GINDEX_ELECTRA),
        sync_aggregate=pre.sync_aggregate,
        signature_slot=pre.signature_slot,
    )


def optimistic_to_update(types: LightClientTypes, pre: Any) -> Any:
    return types.latest.update(
        attested_header=upgrade_header(pre.attested_header),
        sync_aggregate=pre.sync_aggregate,
        signature_slot=pre.signature_slot,
    )


UPGRADES: dict[str, Callable[[LightClientTypes, Any], Any]] = {
    "bootstrap": upgrade_bootstrap,
    "update": upgrade_update,
    "finality_update": finality_to_update,
    "optimistic_update": optimistic_to_update,
}
