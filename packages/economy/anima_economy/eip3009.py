"""EIP-3009 transferWithAuthorization: the typed data an x402 `exact` EVM payment signs,
its x402 JSON form, signature recovery and the settlement call.

Typed data is built here and signed in the enclave (the policy there reads the
domain's verifying contract and chain, and the message's `to` and `value`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from anima_economy.errors import AuthorizationInvalid

PRIMARY_TYPE = "TransferWithAuthorization"
TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    PRIMARY_TYPE: [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ],
}
SETTLE_SIGNATURE = (
    "transferWithAuthorization("
    "address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NONCE = re.compile(r"0x[0-9a-fA-F]{64}")
_UINT = re.compile(r"[0-9]{1,78}")
UINT256_MAX = 2**256 - 1


@dataclass(frozen=True, slots=True)
class TokenDomain:
    """The EIP-712 domain of an EIP-3009 token (x402 carries name and version in `extra`)."""

    name: str
    version: str
    chain_id: int
    token: str  # checksum address

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.token,
        }


@dataclass(frozen=True, slots=True)
class Authorization:
    payer: str  # checksum address ("from")
    payee: str  # checksum address ("to")
    value: int
    valid_after: int
    valid_before: int
    nonce: bytes  # 32 bytes

    @classmethod
    def new(cls, payer: str, payee: str, value: int, *, now: int, timeout_s: int) -> Authorization:
        """Valid from a little before now (clock skew) until now + timeout, fresh nonce."""
        return cls(
            to_checksum_address(payer),
            to_checksum_address(payee),
            value,
            max(0, now - 60),
            now + timeout_s,
            secrets.token_bytes(32),
        )

    def message(self) -> dict[str, Any]:
        return {
            "from": self.payer,
            "to": self.payee,
            "value": self.value,
            "validAfter": self.valid_after,
            "validBefore": self.valid_before,
            "nonce": "0x" + self.nonce.hex(),
        }

    def as_wire(self) -> dict[str, str]:
        """x402's `payload.authorization`: every integer a decimal string."""
        return {k: str(v) for k, v in self.message().items()}

    @classmethod
    def from_wire(cls, wire: object) -> Authorization:
        if not isinstance(wire, dict):
            raise AuthorizationInvalid("the authorization is not an object")
        try:
            payer, payee = str(wire["from"]), str(wire["to"])
            numbers = [str(wire[k]) for k in ("value", "validAfter", "validBefore")]
            nonce = str(wire["nonce"])
        except KeyError as missing:
            raise AuthorizationInvalid(f"the authorization lacks {missing}") from None
        if not (_ADDRESS.fullmatch(payer) and _ADDRESS.fullmatch(payee)):
            raise AuthorizationInvalid("the authorization's from/to are not addresses")
        if not all(_UINT.fullmatch(n) and int(n) <= UINT256_MAX for n in numbers):
            raise AuthorizationInvalid("the authorization's amounts/times are not uint256")
        if not _NONCE.fullmatch(nonce):
            raise AuthorizationInvalid("the authorization's nonce is not 32 bytes of hex")
        value, after, before = (int(n) for n in numbers)
        return cls(
            to_checksum_address(payer),
            to_checksum_address(payee),
            value,
            after,
            before,
            bytes.fromhex(nonce[2:]),
        )


def typed_data(authorization: Authorization, domain: TokenDomain) -> dict[str, Any]:
    return {
        "types": TYPES,
        "primaryType": PRIMARY_TYPE,
        "domain": domain.as_json(),
        "message": authorization.message(),
    }


def recover_payer(authorization: Authorization, domain: TokenDomain, signature: bytes) -> str:
    """The address that signed this authorization (checksum), or AuthorizationInvalid."""
    if len(signature) != 65:
        raise AuthorizationInvalid("the signature is not 65 bytes")
    signable = encode_typed_data(full_message=typed_data(authorization, domain))
    try:
        return str(Account.recover_message(signable, signature=signature))
    except Exception:  # eth-keys raises several types for a bad point or v
        raise AuthorizationInvalid("the signature does not recover") from None


def settle_calldata(authorization: Authorization, signature: bytes) -> bytes:
    """transferWithAuthorization(..., v, r, s) with the r || s || v signature split."""
    r, s, v = signature[:32], signature[32:64], signature[64]
    v = v + 27 if v < 27 else v
    args = encode(
        ["address", "address", "uint256", "uint256", "uint256", "bytes32", "uint8", "bytes32",
         "bytes32"],
        [authorization.payer, authorization.payee, authorization.value,
         authorization.valid_after, authorization.valid_before, authorization.nonce, v, r, s],
    )  # fmt: skip
    return keccak(text=SETTLE_SIGNATURE)[:4] + args


TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
AUTHORIZATION_USED_TOPIC = keccak(text="AuthorizationUsed(address,bytes32)")
