"""ERC-8004 on Anima's registries (contracts/IdentityRegistry.sol, ValidationRegistry.sol,
ReputationRegistry.sol): the registration file, call data, and proven reads.

Reads go through the verifying chain client as storage proofs (not eth_call, which a
node could answer with anything): the slot layout is documented in the contracts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from anima_chain_api.client import ChainClient
from anima_chain_api.types import VerifiedReceipt
from anima_economy.errors import RegistrationMismatch, ValidationRejected

REGISTRATION_TYPE = "https://eips.ethereum.org/EIPS/eip-8004#registration-v1"
TRUST_TEE = "tee-attestation"
TRUST_REPUTATION = "reputation"
LOG_ENDPOINT = "anima-log"
ATTESTATION_ENDPOINT = "anima-attestation"
WALLET_ENDPOINT = "agentWallet"
REGISTERED_TOPIC = keccak(text="Registered(uint256,string,address)")
MAX_URI_BYTES = 2048  # a longer on-chain URI is not read (a proof per 32 bytes)

# Storage slots (see the contracts' comments).
IDENTITY_OWNERS, IDENTITY_URIS, IDENTITY_HASHES = 0, 1, 2
VALIDATION_STATUSES = 1


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def mapping_slot(key: bytes | int, slot: int) -> int:
    """keccak256(pad32(key) . pad32(slot)): where a mapping's value lives."""
    raw = key.to_bytes(32, "big") if isinstance(key, int) else key.rjust(32, b"\0")
    return int.from_bytes(keccak(raw + slot.to_bytes(32, "big")), "big")


@dataclass(frozen=True, slots=True)
class AgentCard:
    """The registration file's fields Anima writes and reads."""

    name: str
    description: str
    wallet: str  # CAIP-10: eip155:<chain>:<address>
    log_url: str  # the agent's tlog-tiles prefix (…/v1/logs/<agent>)
    log_verifier_key: str  # its C2SP note verifier key
    attestation_url: str  # …/attestation, answers fresh TEE evidence for ?nonce=
    endpoints: tuple[tuple[str, str], ...] = ()  # more (name, URL) pairs: x402 services…

    def to_bytes(self) -> bytes:
        document = {
            "type": REGISTRATION_TYPE,
            "name": self.name,
            "description": self.description,
            "endpoints": [
                {"name": WALLET_ENDPOINT, "endpoint": self.wallet},
                {"name": LOG_ENDPOINT, "endpoint": self.log_url,
                 "verifierKey": self.log_verifier_key},
                {"name": ATTESTATION_ENDPOINT, "endpoint": self.attestation_url},
                *({"name": n, "endpoint": u} for n, u in self.endpoints),
            ],
            "supportedTrust": [TRUST_REPUTATION, TRUST_TEE],
        }  # fmt: skip
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> AgentCard:
        try:
            document = json.loads(raw)
            if not isinstance(document, dict) or document.get("type") != REGISTRATION_TYPE:
                raise TypeError("not a registration-v1 document")
            by_name: dict[str, dict[str, Any]] = {}
            extra: list[tuple[str, str]] = []
            for item in document["endpoints"]:
                name, url = str(item["name"]), str(item["endpoint"])
                if name in (WALLET_ENDPOINT, LOG_ENDPOINT, ATTESTATION_ENDPOINT):
                    by_name[name] = item
                else:
                    extra.append((name, url))
            return cls(
                name=str(document["name"]),
                description=str(document.get("description", "")),
                wallet=str(by_name[WALLET_ENDPOINT]["endpoint"]),
                log_url=str(by_name[LOG_ENDPOINT]["endpoint"]),
                log_verifier_key=str(by_name[LOG_ENDPOINT]["verifierKey"]),
                attestation_url=str(by_name[ATTESTATION_ENDPOINT]["endpoint"]),
                endpoints=tuple(extra),
            )
        except (ValueError, KeyError, TypeError):
            raise RegistrationMismatch(
                "the registration file is not an ERC-8004 registration naming the agent's "
                "wallet, log (with verifier key) and attestation endpoint"
            ) from None

    def wallet_address(self) -> str:
        parts = self.wallet.split(":")
        if len(parts) != 3 or parts[0] != "eip155":
            raise RegistrationMismatch(f"the registration's wallet {self.wallet!r} is not CAIP-10")
        return to_checksum_address(parts[2])


# ---------------------------------------------------------------- call data


def register_call(uri: str, file_hash: bytes) -> bytes:
    return selector("register(string,bytes32)") + encode(["string", "bytes32"], [uri, file_hash])


def validation_request_call(
    validator: str, agent_id: int, request_uri: str, request_hash: bytes
) -> bytes:
    return selector("validationRequest(address,uint256,string,bytes32)") + encode(
        ["address", "uint256", "string", "bytes32"],
        [validator, agent_id, request_uri, request_hash],
    )


def validation_response_call(
    request_hash: bytes, response: int, response_uri: str, response_hash: bytes, tag: bytes
) -> bytes:
    return selector("validationResponse(bytes32,uint8,string,bytes32,bytes32)") + encode(
        ["bytes32", "uint8", "string", "bytes32", "bytes32"],
        [request_hash, response, response_uri, response_hash, tag.ljust(32, b"\0")],
    )


def registered_agent_id(receipt: VerifiedReceipt, identity: bytes) -> int:
    """The agent id a verified register() receipt's Registered event names."""
    for log in receipt.logs:
        if log.address == identity and log.topics and log.topics[0] == REGISTERED_TOPIC:
            return int.from_bytes(log.topics[1], "big")
    raise RegistrationMismatch("the registration's receipt has no Registered event")


# ---------------------------------------------------------------- proven reads


@dataclass(frozen=True, slots=True)
class OnChainIdentity:
    agent_id: int
    owner: str
    uri: str
    registration_hash: bytes
    block_number: int  # the verified block the reads were proven against


async def read_identity(chain: ChainClient, identity: bytes, agent_id: int) -> OnChainIdentity:
    fixed = await chain.storage(identity, [
        mapping_slot(agent_id, IDENTITY_OWNERS),
        mapping_slot(agent_id, IDENTITY_URIS),
        mapping_slot(agent_id, IDENTITY_HASHES),
    ])  # fmt: skip
    owner_word, uri_head, file_hash = fixed.values
    if owner_word == 0:
        raise RegistrationMismatch(f"no agent {agent_id} in the identity registry")
    uri = await _read_string(
        chain, identity, mapping_slot(agent_id, IDENTITY_URIS), uri_head, fixed.block.number
    )
    return OnChainIdentity(
        agent_id,
        to_checksum_address(owner_word.to_bytes(20, "big")),
        uri,
        file_hash.to_bytes(32, "big"),
        fixed.block.number,
    )


async def _read_string(chain: ChainClient, address: bytes, slot: int, head: int, block: int) -> str:
    """A Solidity string in storage: short ones (< 32 bytes) in the slot itself, long
    ones' length there and their bytes from keccak256(slot) on."""
    if head & 1 == 0:
        length = (head & 0xFF) // 2
        raw = head.to_bytes(32, "big")[:length]
    else:
        length = (head - 1) // 2
        if length > MAX_URI_BYTES:
            raise RegistrationMismatch(f"the on-chain URI is {length} bytes (over {MAX_URI_BYTES})")
        first = int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")
        words = (length + 31) // 32
        data = await chain.storage(address, [first + i for i in range(words)], block_number=block)
        raw = b"".join(v.to_bytes(32, "big") for v in data.values)[:length]
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise RegistrationMismatch("the on-chain URI is not UTF-8") from None


@dataclass(frozen=True, slots=True)
class ValidationStatus:
    request_hash: bytes
    validator: str
    agent_id: int
    response: int
    response_hash: bytes
    tag: bytes
    last_update: int
    block_number: int


async def read_validation(
    chain: ChainClient, registry: bytes, request_hash: bytes
) -> ValidationStatus:
    base = mapping_slot(request_hash, VALIDATION_STATUSES)
    proven = await chain.storage(registry, [base + i for i in range(6)])
    validator, agent_id, response, response_hash, tag, last_update = proven.values
    if validator == 0:
        raise ValidationRejected(f"no validation request 0x{request_hash.hex()} on chain")
    return ValidationStatus(
        request_hash,
        to_checksum_address(validator.to_bytes(20, "big")),
        agent_id,
        response,
        response_hash.to_bytes(32, "big"),
        tag.to_bytes(32, "big"),
        last_update,
        proven.block.number,
    )
