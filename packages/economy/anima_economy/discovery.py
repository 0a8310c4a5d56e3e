"""Discovery: given an ERC-8004 agent id, read its identity through proofs, fetch its
registration file and check it against the on-chain hash, verify fresh TEE evidence
binding the keys it registered, and open its log's signed checkpoint. The report says
what was verified; anything that does not hold raises and says why.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from anima_chain_api.client import ChainClient
from anima_economy.erc8004 import (
    AgentCard,
    OnChainIdentity,
    ValidationStatus,
    read_identity,
    read_validation,
)
from anima_economy.errors import RegistrationMismatch, ValidationRejected
from anima_verify.attestation import (
    Evidence,
    MeasurementPolicy,
    VerifiedQuote,
    bind_report_data,
    verify_evidence,
)
from anima_verify.errors import AnimaError
from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint
from anima_verify.tlog.note import parse_verifier_key

MAX_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class AttestedKeys:
    quote: VerifiedQuote
    nonce: bytes
    signer_agent_id: str  # the enclave's name for the agent whose keys the quote binds
    wallets: tuple[str, ...]  # checksum addresses
    log_verifier_key: str


@dataclass(frozen=True, slots=True)
class DiscoveryReport:
    identity: OnChainIdentity
    card: AgentCard
    registration_hash_matches: bool  # always True in a returned report
    attestation: AttestedKeys
    checkpoint: Checkpoint  # the log's, signed by the registered verifier key
    validations: tuple[ValidationStatus, ...]

    def summary(self) -> list[str]:
        quote = self.attestation.quote
        mode = "INSECURE simulated TEE" if quote.insecure else f"{quote.tee} ({quote.tcb_status})"
        lines = [
            f"agent {self.identity.agent_id} owned by {self.identity.owner} "
            f"(proven at block {self.identity.block_number})",
            f"registration file {self.identity.uri}: keccak256 matches the chain",
            f"attestation: {mode}, fresh nonce, binds wallet {self.card.wallet_address()} "
            "and the registered log key",
            f"log: checkpoint of {self.checkpoint.size} entries signed by the registered key",
        ]
        lines += [
            f"validation 0x{v.request_hash.hex()[:16]}…: {v.response}/100 by {v.validator}"
            for v in self.validations
        ]
        return lines


async def fetch_registration(http: httpx.AsyncClient, identity: OnChainIdentity) -> AgentCard:
    if not identity.uri.startswith(("https://", "http://")):
        raise RegistrationMismatch(f"the registration URI {identity.uri!r} is not http(s)")
    async with http.stream("GET", identity.uri) as response:
        if response.status_code != 200:
            raise RegistrationMismatch(f"{identity.uri} answered HTTP {response.status_code}")
        raw = b""
        async for chunk in response.aiter_bytes():  # read no more than the limit allows
            raw += chunk
            if len(raw) > MAX_FILE_BYTES:
                raise RegistrationMismatch(f"the registration file is over {MAX_FILE_BYTES} bytes")
    found = keccak(raw)
    if found != identity.registration_hash:
        raise RegistrationMismatch(
            f"the registration file at {identity.uri} hashes to 0x{found.hex()}, but agent "
            f"{identity.agent_id}'s on-chain hash is 0x{identity.registration_hash.hex()}"
        )
    card = AgentCard.from_bytes(raw)
    if card.wallet_address() != identity.owner:
        raise RegistrationMismatch(
            f"the registration names wallet {card.wallet_address()}, but agent "
            f"{identity.agent_id} is owned by {identity.owner}"
        )
    return card


def _b64(value: object, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationRejected(f"the attestation's {what} is not base64") from None


async def attest(
    http: httpx.AsyncClient, card: AgentCard, policy: MeasurementPolicy
) -> AttestedKeys:
    """Fresh evidence from the agent's attestation endpoint, verified under `policy`, whose
    bound keys must be the registration's wallet and log key."""
    nonce = secrets.token_bytes(32)
    response = await http.get(card.attestation_url, params={"nonce": nonce.hex()})
    if response.status_code != 200:
        raise ValidationRejected(f"the attestation endpoint answered HTTP {response.status_code}")
    try:
        body = response.json()
        tee = str(body["tee"])
        quote, tls_key = _b64(body["quote"], "quote"), _b64(body["tls_public_key"], "TLS key")
        bound = _b64(body["bound_keys"], "bound keys")
        collateral = body.get("collateral_json")
    except (ValueError, KeyError, TypeError):
        raise ValidationRejected("the attestation answer is not Anima's attestation JSON") from None
    evidence = Evidence(tee, quote, None if collateral is None else _b64(collateral, "collateral"))
    expected = bind_report_data(bound_keys=bound, tls_public_key=tls_key, nonce=nonce)
    try:
        verified = verify_evidence(evidence, expected_report_data=expected, policy=policy)
    except AnimaError as exc:
        raise ValidationRejected(f"the attestation does not verify: {exc.message}") from None
    try:
        keys = json.loads(bound)
        wallets = tuple(to_checksum_address(w[1]) for w in keys["wallets"])
        log_key, signer_agent = str(keys["log_verifier_key"]), str(keys["agent_id"])
    except (ValueError, KeyError, TypeError, IndexError):
        raise ValidationRejected("the attested keys do not parse") from None
    if log_key != card.log_verifier_key:
        raise ValidationRejected("the attested log key is not the one the agent registered")
    if card.wallet_address() not in wallets:
        raise ValidationRejected(
            f"the attested wallets {list(wallets)} do not include the registered "
            f"{card.wallet_address()}: the evidence is another agent's"
        )
    return AttestedKeys(verified, nonce, signer_agent, wallets, log_key)


async def open_log(http: httpx.AsyncClient, card: AgentCard) -> Checkpoint:
    response = await http.get(card.log_url.rstrip("/") + "/checkpoint")
    if response.status_code != 200:
        raise ValidationRejected(f"the log's checkpoint answered HTTP {response.status_code}")
    try:
        verifier = parse_verifier_key(card.log_verifier_key)
        return open_checkpoint(response.content, [verifier]).checkpoint
    except AnimaError as exc:
        raise ValidationRejected(f"the log's checkpoint does not verify: {exc.message}") from None


async def discover(
    chain: ChainClient,
    http: httpx.AsyncClient,
    *,
    identity_registry: bytes,
    validation_registry: bytes,
    agent_id: int,
    policy: MeasurementPolicy,
    validations: Sequence[bytes] = (),
) -> DiscoveryReport:
    identity = await read_identity(chain, identity_registry, agent_id)
    card = await fetch_registration(http, identity)
    attested = await attest(http, card, policy)
    checkpoint = await open_log(http, card)
    statuses = []
    for request_hash in validations:
        status = await read_validation(chain, validation_registry, request_hash)
        if status.agent_id != agent_id:
            raise ValidationRejected(
                f"validation 0x{request_hash.hex()} is for agent {status.agent_id}, "
                f"not agent {agent_id}"
            )
        statuses.append(status)
    return DiscoveryReport(identity, card, True, attested, checkpoint, tuple(statuses))
