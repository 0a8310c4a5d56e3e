"""Every signature checked by independent tooling (eth-account, cryptography)."""

from __future__ import annotations

import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from anima_signer.core import Signer
from anima_signer_api.errors import InvalidRequest
from anima_signer_api.types import (
    AccessListEntry,
    Ed25519Message,
    Ed25519Signature,
    EthSignature,
    PersonalMessage,
    SignedTransaction,
    SignRequest,
    Transaction,
    TxType,
    TypedData,
)
from tests.signer.conftest import DEV_CHAIN, OPEN_POLICY

SECP256K1_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
TO = "0x000000000000000000000000000000000000dEaD"

MAIL = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": DEV_CHAIN,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}


@pytest.fixture
def agent_id(signer: Signer) -> str:
    return signer.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY).agent_id


def tx(**changes: object) -> Transaction:
    fields: dict[str, object] = {
        "type": TxType.EIP1559,
        "chain_id": DEV_CHAIN,
        "nonce": 7,
        "gas_limit": 21_000,
        "to": TO,
        "value": 12345,
        "max_fee_per_gas": 3 * 10**9,
        "max_priority_fee_per_gas": 10**9,
    }
    fields.update(changes)
    return Transaction(**fields)  # type: ignore[arg-type]


def test_personal_message_recovers_to_the_agent_wallet(signer: Signer, agent_id: str) -> None:
    for index in (0, 1):
        result = signer.sign(SignRequest(agent_id, PersonalMessage(b"hello", wallet_index=index)))
        assert isinstance(result, EthSignature)
        recovered = Account.recover_message(encode_defunct(b"hello"), signature=result.signature)
        assert recovered == signer.get_agent(agent_id).wallets[index].address == result.address
        assert int.from_bytes(result.signature[32:64], "big") <= SECP256K1_HALF_ORDER
        assert result.signature[64] in (27, 28)


def test_typed_data_recovers_to_the_agent_wallet(signer: Signer, agent_id: str) -> None:
    result = signer.sign(SignRequest(agent_id, TypedData(json.dumps(MAIL))))
    assert isinstance(result, EthSignature)
    recovered = Account.recover_message(
        encode_typed_data(full_message=MAIL), signature=result.signature
    )
    assert recovered == result.address == signer.get_agent(agent_id).wallets[0].address


@pytest.mark.parametrize("tx_type", [TxType.EIP1559, TxType.LEGACY])
def test_transaction_recovers_and_decodes(signer: Signer, agent_id: str, tx_type: TxType) -> None:
    payload = (
        tx()
        if tx_type is TxType.EIP1559
        else tx(
            type=TxType.LEGACY, gas_price=10**9, max_fee_per_gas=None, max_priority_fee_per_gas=None
        )
    )
    result = signer.sign(SignRequest(agent_id, payload))
    assert isinstance(result, SignedTransaction)
    assert Account.recover_transaction(result.raw_transaction) == result.address
    from eth_utils import keccak

    assert keccak(result.raw_transaction) == result.transaction_hash
    if tx_type is TxType.EIP1559:
        assert result.raw_transaction[0] == 2
    else:
        assert result.raw_transaction[0] >= 0xC0  # RLP list: untyped legacy


def test_access_list_is_signed(signer: Signer, agent_id: str) -> None:
    entry = AccessListEntry(address=TO, storage_keys=(b"\x01" * 32,))
    result = signer.sign(SignRequest(agent_id, tx(access_list=(entry,))))
    assert isinstance(result, SignedTransaction)
    assert Account.recover_transaction(result.raw_transaction) == result.address


def test_raw_ed25519_verifies_with_cryptography(signer: Signer, agent_id: str) -> None:
    result = signer.sign(SignRequest(agent_id, Ed25519Message(b"payload")))
    assert isinstance(result, Ed25519Signature)
    key = Ed25519PublicKey.from_public_bytes(result.public_key)
    key.verify(result.signature, b"payload")
    with pytest.raises(InvalidSignature):
        key.verify(result.signature, b"payloaD")


def test_raw_ed25519_never_uses_the_log_key(signer: Signer, agent_id: str) -> None:
    """Otherwise a caller could forge checkpoint signatures."""
    agent = signer.get_agent(agent_id)
    result = signer.sign(SignRequest(agent_id, Ed25519Message(b"x")))
    assert isinstance(result, Ed25519Signature)
    assert result.public_key == agent.signing_public_key != agent.log_public_key


BAD_TRANSACTIONS = {
    "chain_id": tx(chain_id=0),
    "gas_limit": tx(gas_limit=0),
    "nonce must be": tx(nonce=-1),
    "64-bit": tx(chain_id=2**64),
    "20-byte": tx(to="0x1234"),
    "checksum": tx(to="0x000000000000000000000000000000000000DeaD"),
    "gas_price": tx(gas_price=1),
    "max_priority_fee_per_gas exceeds": tx(max_priority_fee_per_gas=10**10),
    "max_fee_per_gas is required": tx(max_fee_per_gas=None),
    "2\\*\\*256": tx(value=2**256),
    "contract creation": tx(to=None),
    "storage keys": tx(access_list=(AccessListEntry(address=TO, storage_keys=(b"\x01",)),)),
    "limit": tx(data=b"\x00" * (128 * 1024 + 1)),
}


@pytest.mark.parametrize("reason", list(BAD_TRANSACTIONS))
def test_invalid_transactions_get_a_specific_error(
    signer: Signer, agent_id: str, reason: str
) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        signer.sign(SignRequest(agent_id, BAD_TRANSACTIONS[reason]))


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be an object"),
        # Regression: deep nesting overflowed the C stack once eth_account had raised
        # the recursion limit, killing the signer instead of refusing the request.
        ("[" * 32_000 + "]" * 32_000, "nested more than 64 levels"),
        (json.dumps({**MAIL, "primaryType": "Nope"}), "does not encode"),
        (
            json.dumps({**MAIL, "domain": {**MAIL["domain"], "chainId": "x"}}),
            "does not encode|chainId",
        ),
    ],
)
def test_malformed_typed_data(signer: Signer, agent_id: str, document: str, reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        signer.sign(SignRequest(agent_id, TypedData(document)))


def test_wallet_index_out_of_range(signer: Signer, agent_id: str) -> None:
    with pytest.raises(InvalidRequest, match="wallet_index 2 is out of range"):
        signer.sign(SignRequest(agent_id, PersonalMessage(b"x", wallet_index=2)))


def test_oversized_message(signer: Signer, agent_id: str) -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        signer.sign(SignRequest(agent_id, PersonalMessage(b"x" * (64 * 1024 + 1))))


@pytest.mark.parametrize("message", [b"", b"hello", b"\x00" * 1000, "héllo".encode()])
def test_personal_message_digest_matches_eth_account(message: bytes) -> None:
    from eth_account.messages import _hash_eip191_message

    from anima_signer.eth import personal_message_digest

    assert personal_message_digest(message) == _hash_eip191_message(encode_defunct(message))
