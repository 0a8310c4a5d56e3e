"""Headers from a real anvil, every fork shape: each verifies by its RLP hash, links to
its parent, and any tampered field, foreign header or broken link is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from anima_verify.chain.errors import (
    BrokenChainLink,
    HeaderHashMismatch,
    MalformedChainData,
    UnexpectedHeader,
    UnsupportedHeader,
)
from anima_verify.chain.header import (
    parse_header,
    verify_ancestry,
    verify_chain_link,
    verify_header,
)
from tests.chain.verify.conftest import Scenario
from tests.chain.verify.devchain import anvil

#: Header fields and a tampered value of the right shape for each.
TAMPERED = {
    "parentHash": "0x" + "11" * 32,
    "sha3Uncles": "0x" + "22" * 32,
    "miner": "0x" + "33" * 20,
    "stateRoot": "0x" + "44" * 32,
    "transactionsRoot": "0x" + "55" * 32,
    "receiptsRoot": "0x" + "66" * 32,
    "logsBloom": "0x" + "77" * 256,
    "difficulty": "0x1",
    "number": "0x99",
    "gasLimit": "0x1",
    "gasUsed": "0x1234",
    "timestamp": "0x1",
    "extraData": "0xab",
    "mixHash": "0x" + "88" * 32,
    "nonce": "0x0000000000000042",
    "baseFeePerGas": "0x7",
}
FORK_FIELDS = {
    "shanghai": {"withdrawalsRoot": "0x" + "99" * 32},
    "cancun": {
        "withdrawalsRoot": "0x" + "99" * 32,
        "blobGasUsed": "0x20000",
        "excessBlobGas": "0x5",
        "parentBeaconBlockRoot": "0x" + "aa" * 32,
    },
}
FORK_FIELDS["prague"] = {**FORK_FIELDS["cancun"], "requestsHash": "0x" + "bb" * 32}


def test_every_block_verifies_and_links_to_its_parent(scenario: Scenario) -> None:
    previous = None
    for number in range(scenario.head + 1):
        block = scenario.block(number)
        header = verify_header(block, expected_hash=bytes.fromhex(block["hash"][2:]))
        assert header.number == number
        assert header.state_root.hex() == block["stateRoot"][2:]
        assert header.base_fee_per_gas == int(block["baseFeePerGas"], 16)
        assert header.fork.startswith(scenario.fork)
        if previous is not None:
            verify_chain_link(previous, header)
        previous = header


def test_the_fork_specific_fields_are_read(scenario: Scenario) -> None:
    header = verify_header(scenario.block(scenario.head))
    has = {
        "withdrawals_root": header.withdrawals_root is not None,
        "parent_beacon_block_root": header.parent_beacon_block_root is not None,
        "requests_hash": header.requests_hash is not None,
    }
    assert has == {
        "withdrawals_root": scenario.fork in ("shanghai", "cancun", "prague"),
        "parent_beacon_block_root": scenario.fork in ("cancun", "prague"),
        "requests_hash": scenario.fork == "prague",
    }


def test_every_tampered_field_breaks_the_hash(scenario: Scenario) -> None:
    """Each header field this fork's blocks carry, one at a time."""
    original = scenario.block(scenario.busy_block)
    present = [name for name in (*TAMPERED, *FORK_FIELDS["prague"]) if name in original]
    assert len(present) == len(TAMPERED) + len(FORK_FIELDS.get(scenario.fork, {}))
    for name in present:
        block = scenario.block(scenario.busy_block)
        block[name] = TAMPERED.get(name) or FORK_FIELDS["prague"][name]
        with pytest.raises(HeaderHashMismatch, match="fields hash to"):
            verify_header(block)


def test_a_tampered_hash_is_refused(scenario: Scenario) -> None:
    block = scenario.block(1)
    block["hash"] = "0x" + "cd" * 32
    with pytest.raises(HeaderHashMismatch, match="0xcdcd"):
        verify_header(block)


def test_a_consistent_header_that_is_not_the_trusted_one_is_refused(scenario: Scenario) -> None:
    """The node answers with a real, self-consistent header: the wrong block."""
    trusted = bytes.fromhex(scenario.block(2)["hash"][2:])
    with pytest.raises(UnexpectedHeader, match="expected 0x"):
        verify_header(scenario.block(3), expected_hash=trusted)


def test_a_header_from_another_chain_is_refused(scenario: Scenario) -> None:
    """Another anvil chain (another genesis): its blocks verify on their own, but not
    as this chain's checkpoint or as a child of this chain's blocks."""
    with anvil(hardfork=scenario.fork, args=("--timestamp", "1000000")) as other:
        other.call("evm_mine")
        foreign = [other.block(0), other.block(1)]
    ours = verify_header(scenario.block(0))
    theirs = verify_header(foreign[1])
    with pytest.raises(UnexpectedHeader):
        verify_header(foreign[0], expected_hash=ours.hash)
    with pytest.raises(BrokenChainLink, match="parent"):
        verify_chain_link(ours, theirs)


def test_a_broken_link_is_refused(scenario: Scenario) -> None:
    first, second, third = (verify_header(scenario.block(n)) for n in (1, 2, 3))
    with pytest.raises(BrokenChainLink, match="parent"):
        verify_chain_link(first, third)
    with pytest.raises(BrokenChainLink, match="parent"):
        verify_chain_link(second, first)
    verify_chain_link(first, second)


def test_a_link_with_a_number_gap_is_refused() -> None:
    """A parent hash that matches but a number that does not step by one."""
    with anvil(hardfork="prague") as chain:
        chain.call("evm_mine")
        parent, child = verify_header(chain.block(0)), verify_header(chain.block(1))
    with pytest.raises(BrokenChainLink, match="step by one"):
        verify_chain_link(parent, replace(child, number=5))


def test_shapes_of_no_known_fork_are_refused(scenario: Scenario) -> None:
    pre_london = scenario.block(1)
    del pre_london["baseFeePerGas"]
    with pytest.raises(UnsupportedHeader, match="predates London"):
        verify_header(pre_london)
    gap = scenario.block(1)
    gap["requestsHash"] = "0x" + "bb" * 32
    gap.pop("parentBeaconBlockRoot", None)
    with pytest.raises(UnsupportedHeader, match="requestsHash"):
        verify_header(gap)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("stateRoot", "0x" + "44" * 31, "must be 32 bytes"),
        ("stateRoot", None, "0x-prefixed"),
        ("number", "12", "0x-prefixed"),
        ("number", "0x" + "f" * 17, "exceeds 64 bits"),
        ("gasUsed", "0xzz", "not hex"),
        ("extraData", "0xabc", "odd number"),
        ("logsBloom", "0x00", "must be 256 bytes"),
        ("hash", "0x1234", "must be 32 bytes"),
    ],
)
def test_malformed_fields_are_named(
    scenario: Scenario, name: str, value: object, message: str
) -> None:
    block = scenario.block(1)
    block[name] = value
    with pytest.raises(MalformedChainData, match=message):
        verify_header(block)


def test_a_missing_field_is_named(scenario: Scenario) -> None:
    block = scenario.block(1)
    del block["receiptsRoot"]
    with pytest.raises(MalformedChainData, match="no 'receiptsRoot'"):
        verify_header(block)
    with pytest.raises(MalformedChainData, match="JSON object"):
        verify_header(["not", "a", "block"])  # type: ignore[arg-type]


def test_ancestry_walks_back_from_the_trusted_hash(scenario: Scenario) -> None:
    newest_first = [scenario.block(n) for n in range(scenario.head, -1, -1)]
    trusted = bytes.fromhex(newest_first[0]["hash"][2:])
    headers = verify_ancestry(trusted, newest_first)
    assert [h.number for h in headers] == list(range(scenario.head, -1, -1))
    assert verify_ancestry(trusted, []) == []


def test_ancestry_refuses_a_gap_a_swap_or_a_forged_ancestor(scenario: Scenario) -> None:
    newest_first = [scenario.block(n) for n in range(scenario.head, -1, -1)]
    trusted = bytes.fromhex(newest_first[0]["hash"][2:])
    with pytest.raises(UnexpectedHeader, match=f"block {scenario.head - 2} is"):
        verify_ancestry(trusted, [newest_first[0], *newest_first[2:]])
    with pytest.raises(UnexpectedHeader):
        verify_ancestry(trusted, [newest_first[1], newest_first[0]])
    forged = [dict(b) for b in newest_first]
    forged[2]["stateRoot"] = "0x" + "44" * 32  # a self-consistent lie: rehash it
    forged[2]["hash"] = "0x" + parse_header(forged[2]).hash.hex()
    with pytest.raises(UnexpectedHeader, match=f"block {scenario.head - 2}"):
        verify_ancestry(trusted, forged)


def test_a_forged_child_links_forward_so_successors_need_a_voucher(scenario: Scenario) -> None:
    """What verify_chain_link cannot do: anyone can build a header whose parent is a
    trusted block. The forgery is self-consistent and links; only ancestry from a
    trusted hash (or a consensus check) refuses it."""
    parent = verify_header(scenario.block(scenario.head))
    forged = scenario.block(scenario.head)
    forged.update(parentHash="0x" + parent.hash.hex(), number=hex(parent.number + 1))
    forged["stateRoot"] = "0x" + "44" * 32
    forged["hash"] = "0x" + parse_header(forged).hash.hex()
    verify_chain_link(parent, verify_header(forged))  # links: hashes prove no succession
    with pytest.raises(UnexpectedHeader):
        verify_ancestry(bytes(32), [forged])
