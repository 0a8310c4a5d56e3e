"""Ethereum payload hashing and signing: EIP-191, EIP-712, legacy (EIP-155) and EIP-1559.

Encoding and hashing come from eth-account (the reference Python implementation);
the ECDSA itself is libsecp256k1 through coincurve, which always returns low-s
(EIP-2) signatures.
"""

from __future__ import annotations

import json
from typing import Any

import coincurve
from Crypto.Hash import keccak
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import is_address, is_checksum_address

from anima_signer_api.errors import InvalidRequest
from anima_signer_api.types import (
    MAX_MESSAGE_BYTES,
    MAX_TX_DATA_BYTES,
    MAX_TYPED_DATA_BYTES,
    UINT256_MAX,
    Transaction,
    TxType,
)
from anima_verify import jsonsafe


def _keccak256(data: bytes) -> bytes:
    # pycryptodome directly: eth_utils.keccak wraps the same call in decorators that
    # cost ~10% of a whole signature on the hot path.
    return keccak.new(digest_bits=256, data=data).digest()


def _eip191_digest(signable: SignableMessage) -> bytes:
    return _keccak256(b"\x19" + signable.version + signable.header + signable.body)


def personal_message_digest(message: bytes) -> bytes:
    """EIP-191 version 0x45; tests check it against eth-account's encode_defunct."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise InvalidRequest(f"message is {len(message)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    return _keccak256(b"\x19Ethereum Signed Message:\n%d%b" % (len(message), message))


def typed_data_digest(typed_data_json: str) -> tuple[bytes, int | None]:
    """The EIP-712 digest and the domain's chainId (None when the domain has none)."""
    if len(typed_data_json.encode()) > MAX_TYPED_DATA_BYTES:
        raise InvalidRequest(f"typed data is larger than {MAX_TYPED_DATA_BYTES} bytes")
    try:
        # Depth-checked: eth_account raises the recursion limit to 100000, and a deeply
        # nested document would then overflow the C stack and kill the enclave process.
        document = jsonsafe.loads(typed_data_json, what="typed data")
    except jsonsafe.TooDeep as exc:
        raise InvalidRequest(str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"typed data is not valid JSON: {exc.msg} at char {exc.pos}") from exc
    if not isinstance(document, dict) or not {"types", "primaryType", "domain", "message"} <= set(
        document
    ):
        raise InvalidRequest(
            "typed data must be an object with types, primaryType, domain, message"
        )
    try:
        signable = encode_typed_data(full_message=document)
    except Exception as exc:  # eth-account raises many types for malformed data
        raise InvalidRequest(f"typed data does not encode under EIP-712: {exc}") from exc
    chain_id = document["domain"].get("chainId") if isinstance(document["domain"], dict) else None
    try:
        parsed_chain_id = None if chain_id is None else int(chain_id)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest("typed data domain chainId is not an integer") from exc
    return _eip191_digest(signable), parsed_chain_id


def sign_digest(key: coincurve.PrivateKey, digest: bytes) -> bytes:
    """r || s || v with v in {27, 28}, as eth_sign / personal_sign return."""
    rsv = key.sign_recoverable(digest, hasher=None)
    return rsv[:64] + bytes([rsv[64] + 27])


def _check_amount(name: str, value: int | None, *, required: bool) -> None:
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required for this transaction type")
        return
    if not 0 <= value <= UINT256_MAX:
        raise InvalidRequest(f"{name} must be between 0 and 2**256-1")


def _check_address(name: str, address: str) -> None:
    if not is_address(address):
        raise InvalidRequest(f"{name} {address!r} is not a 20-byte hex address")
    has_upper_and_lower = address[2:] != address[2:].lower() and address[2:] != address[2:].upper()
    if has_upper_and_lower and not is_checksum_address(address):
        raise InvalidRequest(f"{name} {address!r} has a bad EIP-55 checksum")


def transaction_dict(tx: Transaction) -> dict[str, Any]:
    """Validate a transaction and turn it into the dict eth-account signs."""
    if not 0 < tx.chain_id < 2**64:
        raise InvalidRequest("chain_id must be a positive 64-bit integer (unprotected is refused)")
    if not 0 < tx.gas_limit < 2**64:
        raise InvalidRequest("gas_limit must be a positive 64-bit integer")
    if not 0 <= tx.nonce < 2**64:
        raise InvalidRequest("nonce must be a 64-bit unsigned integer")
    if len(tx.data) > MAX_TX_DATA_BYTES:
        raise InvalidRequest(f"data is {len(tx.data)} bytes; the limit is {MAX_TX_DATA_BYTES}")
    _check_amount("value", tx.value, required=True)
    fields: dict[str, Any] = {
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "gas": tx.gas_limit,
        "value": tx.value,
        "data": tx.data,
    }
    if tx.to is not None:
        _check_address("to", tx.to)
        fields["to"] = tx.to
    elif not tx.data:
        raise InvalidRequest("a contract creation (no 'to') needs init code in data")
    if tx.type is TxType.LEGACY:
        if tx.max_fee_per_gas is not None or tx.max_priority_fee_per_gas is not None:
            raise InvalidRequest("a legacy transaction takes gas_price, not EIP-1559 fees")
        if tx.access_list:
            raise InvalidRequest("a legacy transaction has no access list")
        _check_amount("gas_price", tx.gas_price, required=True)
        fields["gasPrice"] = tx.gas_price
    elif tx.type is TxType.EIP1559:
        if tx.gas_price is not None:
            raise InvalidRequest("an EIP-1559 transaction takes max fees, not gas_price")
        _check_amount("max_fee_per_gas", tx.max_fee_per_gas, required=True)
        _check_amount("max_priority_fee_per_gas", tx.max_priority_fee_per_gas, required=True)
        assert tx.max_fee_per_gas is not None and tx.max_priority_fee_per_gas is not None
        if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
            raise InvalidRequest("max_priority_fee_per_gas exceeds max_fee_per_gas")
        fields["type"] = 2
        fields["maxFeePerGas"] = tx.max_fee_per_gas
        fields["maxPriorityFeePerGas"] = tx.max_priority_fee_per_gas
        access_list = []
        for entry in tx.access_list:
            _check_address("access list address", entry.address)
            if any(len(k) != 32 for k in entry.storage_keys):
                raise InvalidRequest("access list storage keys must be 32 bytes")
            access_list.append(
                {
                    "address": entry.address,
                    "storageKeys": ["0x" + k.hex() for k in entry.storage_keys],
                }
            )
        fields["accessList"] = access_list
    else:
        raise InvalidRequest("transaction type must be legacy or eip1559")
    return fields


def sign_transaction(
    key: coincurve.PrivateKey, tx: Transaction, fields: dict[str, Any]
) -> tuple[bytes, bytes, bytes]:
    """(raw signed transaction, transaction hash, r || s || y_parity).

    `fields` is `transaction_dict(tx)`, computed once by the caller, which checks
    policy between validating and signing.
    """
    try:
        signed = Account.sign_transaction(fields, key.secret)
    except Exception as exc:  # eth-account and rlp raise many types for unencodable fields
        raise InvalidRequest(f"transaction does not encode: {exc}") from exc
    y_parity = signed.v if tx.type is TxType.EIP1559 else (signed.v - 35 - 2 * tx.chain_id)
    signature = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([y_parity])
    return bytes(signed.raw_transaction), bytes(signed.hash), signature
