"""EIP-1186 proofs from a real anvil: accounts (present and absent), storage slots
(set, unset, large values) and code verify against a verified state root; every
tampered claim or proof node is refused with the error that names it."""

from __future__ import annotations

from typing import Any

import pytest

from anima_verify.chain.errors import (
    CodeHashMismatch,
    InvalidTrieProof,
    MalformedChainData,
    ProvenValueMismatch,
)
from anima_verify.chain.header import BlockHeader, verify_header
from anima_verify.chain.proofs import (
    EMPTY_ACCOUNT,
    verify_account_proof,
    verify_code,
    verify_storage_proof,
)
from tests.chain.verify.conftest import Scenario, slot_hex
from tests.chain.verify.devchain import DEV_ACCOUNT, DEV_ACCOUNT_2

ABSENT = "0x" + "12" * 20
#: Slots the scenario stores (slot -> value), and one it never touches.
STORED = {3: 7, 2**200: 2**255 + 1, 5: 11, 6: 12}
UNSET = 4


def _head(scenario: Scenario) -> BlockHeader:
    return verify_header(scenario.block(scenario.head))


def _proof(scenario: Scenario, address: str, slots: list[int] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = scenario.chain.call(
        "eth_getProof", address, [slot_hex(s) for s in slots or []], hex(scenario.head)
    )
    return result


def _address(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def test_accounts_verify_with_their_balance_and_nonce(scenario: Scenario) -> None:
    head = _head(scenario)
    for address in (DEV_ACCOUNT, DEV_ACCOUNT_2, scenario.contract):
        answer = _proof(scenario, address)
        account = verify_account_proof(head.state_root, _address(address), answer)
        balance = int(scenario.chain.call("eth_getBalance", address, hex(head.number)), 16)
        nonce = int(scenario.chain.call("eth_getTransactionCount", address, hex(head.number)), 16)
        assert (account.balance, account.nonce) == (balance, nonce)
    sender = verify_account_proof(
        head.state_root, _address(DEV_ACCOUNT), _proof(scenario, DEV_ACCOUNT)
    )
    assert sender.nonce >= 8 and 0 < sender.balance < 10_000 * 10**18


def test_an_absent_account_is_proven_empty(scenario: Scenario) -> None:
    account = verify_account_proof(
        _head(scenario).state_root, _address(ABSENT), _proof(scenario, ABSENT)
    )
    assert account == EMPTY_ACCOUNT and account.is_empty


def test_storage_and_code_verify(scenario: Scenario) -> None:
    head = _head(scenario)
    slots = [*STORED, UNSET]
    answer = _proof(scenario, scenario.contract, slots)
    account = verify_account_proof(head.state_root, _address(scenario.contract), answer)
    values = {
        slot: verify_storage_proof(account.storage_root, slot, entry)
        for slot, entry in zip(slots, answer["storageProof"], strict=True)
    }
    assert values == {**STORED, UNSET: 0}
    code = bytes.fromhex(
        scenario.chain.call("eth_getCode", scenario.contract, hex(head.number))[2:]
    )
    assert verify_code(account.code_hash, code) == code
    with pytest.raises(CodeHashMismatch, match=f"{len(code) + 1} bytes"):
        verify_code(account.code_hash, code + b"\x00")


@pytest.mark.parametrize(
    ("claim", "value", "field"),
    [
        ("balance", "0x56bc75e2d63100000", "balance"),
        ("nonce", "0x0", "nonce"),
        ("storageHash", "0x" + "56" * 32, "storage_root"),
        ("codeHash", "0x" + "c5" * 32, "code_hash"),
        ("address", DEV_ACCOUNT_2, "address"),
    ],
)
def test_a_claim_the_proof_does_not_back_is_refused(
    scenario: Scenario, claim: str, value: str, field: str
) -> None:
    answer = _proof(scenario, scenario.contract)
    answer[claim] = value
    with pytest.raises(ProvenValueMismatch) as refused:
        verify_account_proof(_head(scenario).state_root, _address(scenario.contract), answer)
    assert refused.value.field == field


def test_an_absent_account_claimed_funded_is_refused(scenario: Scenario) -> None:
    answer = _proof(scenario, ABSENT)
    answer["balance"] = "0xde0b6b3a7640000"
    with pytest.raises(ProvenValueMismatch, match="absent") as refused:
        verify_account_proof(_head(scenario).state_root, _address(ABSENT), answer)
    assert refused.value.field == "account"


def test_a_present_account_claimed_absent_is_refused(scenario: Scenario) -> None:
    """The node hides an account: zeros for its fields over a proof that shows it."""
    answer = _proof(scenario, DEV_ACCOUNT_2)
    answer.update(
        balance="0x0", nonce="0x0", storageHash="0x" + "00" * 32, codeHash="0x" + "00" * 32
    )
    with pytest.raises(ProvenValueMismatch):
        verify_account_proof(_head(scenario).state_root, _address(DEV_ACCOUNT_2), answer)


def _flip(node: str, at: int) -> str:
    raw = bytearray(bytes.fromhex(node[2:]))
    raw[at % len(raw)] ^= 0x01
    return "0x" + raw.hex()


def test_every_altered_or_missing_account_proof_node_is_refused(scenario: Scenario) -> None:
    head = _head(scenario)
    answer = _proof(scenario, DEV_ACCOUNT_2)
    nodes = answer["accountProof"]
    assert len(nodes) >= 1
    for index, node in enumerate(nodes):
        for at in (0, len(node) // 4, -1):
            altered_nodes = [*nodes[:index], _flip(node, at), *nodes[index + 1 :]]
            altered = {**answer, "accountProof": altered_nodes}
            with pytest.raises(InvalidTrieProof):
                verify_account_proof(head.state_root, _address(DEV_ACCOUNT_2), altered)
        dropped = {**answer, "accountProof": nodes[:index] + nodes[index + 1 :]}
        with pytest.raises(InvalidTrieProof, match="lacks the node"):
            verify_account_proof(head.state_root, _address(DEV_ACCOUNT_2), dropped)


def test_a_proof_against_another_state_root_is_refused(scenario: Scenario) -> None:
    """An honest proof from another block does not prove this block's state."""
    earlier = verify_header(scenario.block(scenario.busy_block))
    answer = _proof(scenario, DEV_ACCOUNT)  # at the head: the sender's nonce moved on
    with pytest.raises(InvalidTrieProof):
        verify_account_proof(earlier.state_root, _address(DEV_ACCOUNT), answer)


def test_a_tampered_storage_value_or_node_is_refused(scenario: Scenario) -> None:
    head = _head(scenario)
    answer = _proof(scenario, scenario.contract, [3, UNSET])
    account = verify_account_proof(head.state_root, _address(scenario.contract), answer)
    stored, unset = answer["storageProof"]
    with pytest.raises(ProvenValueMismatch, match="the proof says 7") as refused:
        verify_storage_proof(account.storage_root, 3, {**stored, "value": "0x8"})
    assert refused.value.field == "value"
    with pytest.raises(ProvenValueMismatch, match="the proof says 0"):
        verify_storage_proof(account.storage_root, UNSET, {**unset, "value": "0x1"})
    with pytest.raises(ProvenValueMismatch) as wrong_slot:
        verify_storage_proof(account.storage_root, 5, stored)
    assert wrong_slot.value.field == "key"
    for index, node in enumerate(stored["proof"]):
        altered = [*stored["proof"][:index], _flip(node, 3), *stored["proof"][index + 1 :]]
        with pytest.raises(InvalidTrieProof):
            verify_storage_proof(account.storage_root, 3, {**stored, "proof": altered})
    with pytest.raises(InvalidTrieProof):  # the storage root of another account
        verify_storage_proof(EMPTY_ACCOUNT.storage_root[::-1], 3, stored)


def test_the_slot_may_be_named_as_a_short_quantity(scenario: Scenario) -> None:
    account = verify_account_proof(
        _head(scenario).state_root, _address(scenario.contract), _proof(scenario, scenario.contract)
    )
    entry = _proof(scenario, scenario.contract, [3])["storageProof"][0]
    assert verify_storage_proof(account.storage_root, 3, {**entry, "key": "0x3"}) == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accountProof": "0x00"}, "JSON array"),
        ({"accountProof": ["0xzz"]}, "not hex"),
        ({"balance": "0x1" + "0" * 64}, "exceeds 256 bits"),
        ({"codeHash": "0x00"}, "must be 32 bytes"),
        ({"address": None}, "0x-prefixed"),
    ],
)
def test_malformed_answers_are_named(
    scenario: Scenario, change: dict[str, object], message: str
) -> None:
    answer = {**_proof(scenario, DEV_ACCOUNT_2), **change}
    with pytest.raises(MalformedChainData, match=message):
        verify_account_proof(_head(scenario).state_root, _address(DEV_ACCOUNT_2), answer)


def test_malformed_requests_are_named() -> None:
    with pytest.raises(MalformedChainData, match="20 bytes"):
        verify_account_proof(bytes(32), b"\x01" * 19, {})
    with pytest.raises(MalformedChainData, match="256-bit"):
        verify_storage_proof(bytes(32), 2**256, {})
    with pytest.raises(MalformedChainData, match="no 'key'"):
        verify_storage_proof(bytes(32), 1, {"value": "0x0", "proof": []})


def test_a_short_root_is_refused_not_read_as_an_inline_node() -> None:
    with pytest.raises(MalformedChainData, match="32 bytes, got 3"):
        verify_storage_proof(b"\xc2\x80\x80", 1, {"key": "0x1", "value": "0x0", "proof": []})
