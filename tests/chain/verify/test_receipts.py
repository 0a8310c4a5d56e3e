"""Receipts from a real anvil rebuild each block's receipts root; a tampered status,
gas figure, log field, an omitted, added or reordered log or receipt is refused, and
logs carry indexes counted here, not the node's."""

from __future__ import annotations

from typing import Any

import pytest

from anima_verify.chain.errors import MalformedChainData, ReceiptsRootMismatch
from anima_verify.chain.header import verify_header
from anima_verify.chain.receipts import verified_logs, verify_receipts
from tests.chain.verify.conftest import Scenario
from tests.chain.verify.devchain import DEV_ACCOUNT


def test_every_blocks_receipts_verify(scenario: Scenario) -> None:
    statuses = []
    for number in range(scenario.head + 1):
        header = verify_header(scenario.block(number))
        receipts = verify_receipts(header, scenario.block_receipts(number))
        assert len(receipts) == len(scenario.blocks[number]["transactions"])
        statuses += [r.status for r in receipts]
        if receipts:
            assert receipts[-1].cumulative_gas_used == header.gas_used
    assert statuses.count(0) == 1  # the reverted call
    types = {int(t["type"], 16) for b in scenario.blocks.values() for t in b["transactions"]}
    assert types == ({0, 1, 2, 4} if scenario.fork == "prague" else {0, 1, 2})


def test_logs_come_from_verified_receipts_in_block_order(scenario: Scenario) -> None:
    header = verify_header(scenario.block(scenario.busy_block))
    receipts = verify_receipts(header, scenario.block_receipts(scenario.busy_block))
    logs = verified_logs(receipts)
    assert [(log.log_index, log.transaction_index) for log in logs] == [(0, 0), (1, 1), (2, 3)]
    assert {log.address.hex() for log in logs} == {scenario.contract[2:]}
    assert logs[1].topics == (bytes(12) + bytes.fromhex(DEV_ACCOUNT[2:]),)
    assert logs[1].data == (2**255 + 1).to_bytes(32, "big") + (2**200).to_bytes(32, "big")
    assert [r.gas_used > 21_000 for r in receipts] == [True, True, False, True]


def _refused(scenario: Scenario, receipts: list[dict[str, Any]], match: str | None = None) -> None:
    header = verify_header(scenario.block(scenario.busy_block))
    with pytest.raises(ReceiptsRootMismatch, match=match):
        verify_receipts(header, receipts)


def test_a_tampered_receipt_field_is_refused(scenario: Scenario) -> None:
    changes: list[tuple[str, object]] = [
        ("status", "0x0"),
        ("cumulativeGasUsed", "0x1"),
        ("logsBloom", "0x" + "ff" * 256),
        ("type", "0x0"),
        ("root", "0x" + "11" * 32),  # a pre-Byzantium post-state root instead of a status
    ]
    for name, value in changes:
        receipts = scenario.block_receipts(scenario.busy_block)
        receipts[0][name] = value
        _refused(scenario, receipts, "rebuild the root")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("address", "0x" + "ee" * 20),
        ("topics", ["0x" + "ab" * 32]),
        ("topics", []),
        ("data", "0x"),
    ],
)
def test_a_tampered_log_is_refused(scenario: Scenario, name: str, value: object) -> None:
    receipts = scenario.block_receipts(scenario.busy_block)
    receipts[1]["logs"][0][name] = value
    _refused(scenario, receipts, "rebuild the root")


def test_an_omitted_or_added_log_is_refused(scenario: Scenario) -> None:
    receipts = scenario.block_receipts(scenario.busy_block)
    receipts[1]["logs"] = []
    _refused(scenario, receipts)
    receipts = scenario.block_receipts(scenario.busy_block)
    receipts[2]["logs"] = list(receipts[1]["logs"])
    _refused(scenario, receipts)


def test_an_omitted_reordered_or_foreign_receipt_is_refused(scenario: Scenario) -> None:
    receipts = scenario.block_receipts(scenario.busy_block)
    _refused(scenario, receipts[:-1], "3 receipts rebuild")
    swapped = [receipts[1], receipts[0], *receipts[2:]]
    _refused(scenario, swapped, "out of order")
    for i, receipt in enumerate(swapped):
        receipt["transactionIndex"] = hex(i)
    _refused(scenario, swapped)
    foreign = scenario.block_receipts(scenario.busy_block)
    foreign[0]["blockHash"] = "0x" + "ab" * 32
    _refused(scenario, foreign, "from block 0xabab")


def test_no_receipts_for_a_block_with_transactions_is_refused(scenario: Scenario) -> None:
    _refused(scenario, [], "0 receipts rebuild")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("status", "0x2", "not 0 or 1"),
        ("type", "0x7e", "type 126"),
        ("logs", {}, "JSON array"),
        ("logsBloom", "0x00", "256 bytes"),
        ("cumulativeGasUsed", None, "0x-prefixed"),
    ],
)
def test_malformed_receipts_are_named(
    scenario: Scenario, name: str, value: object, message: str
) -> None:
    receipts = scenario.block_receipts(scenario.busy_block)
    receipts[0][name] = value
    header = verify_header(scenario.block(scenario.busy_block))
    with pytest.raises(MalformedChainData, match=message):
        verify_receipts(header, receipts)
