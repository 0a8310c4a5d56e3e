"""A TEE validator for ERC-8004: answers validation requests addressed to it by checking
the agent the way discovery does (registration hash, fresh evidence under the
validator's measurement policy, the registered keys bound, the log's signed
checkpoint) and posting the response on chain: 100 when everything holds, 0 with the
reason when not. Its evidence document is hashed into the response, so anyone can
re-check it.

The validator is another party (in the dev stack, another enclave agent whose
wallet sends through the verifying chain client); the agent under validation does
not control it. Simulated evidence is tagged as such on chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from anima_chain_api.client import ChainClient
from anima_chain_api.types import TransactionIntent, TransactionOutcome
from anima_economy.discovery import attest, fetch_registration, open_log
from anima_economy.erc8004 import read_identity, read_validation, validation_response_call
from anima_economy.errors import RegistrationMismatch, ValidationRejected
from anima_verify.attestation import MeasurementPolicy

TAG_TEE = b"tee-attestation"
TAG_INSECURE = b"tee-insecure-simulated"  # a simulated enclave: proves no hardware


@dataclass(frozen=True, slots=True)
class ValidationOutcome:
    request_hash: bytes
    agent_id: int
    response: int  # 100 verified, 0 refused
    reason: str
    evidence: bytes  # the JSON whose keccak256 is the on-chain responseHash
    transaction: TransactionOutcome


class TeeValidator:
    def __init__(
        self,
        *,
        chain: ChainClient,
        http: httpx.AsyncClient,
        identity_registry: bytes,
        validation_registry: bytes,
        policy: MeasurementPolicy,
        signer_agent_id: str,  # the validator's own enclave agent (its wallet answers)
        address: str,
        evidence_base_url: str = "",
    ) -> None:
        self._chain, self._http = chain, http
        self._identity, self._registry = identity_registry, validation_registry
        self._policy, self._agent_id = policy, signer_agent_id
        self._address = to_checksum_address(address)
        self._evidence_base_url = evidence_base_url

    async def validate(self, request_hash: bytes) -> ValidationOutcome:
        status = await read_validation(self._chain, self._registry, request_hash)
        if status.validator != self._address:
            raise ValidationRejected(
                f"request 0x{request_hash.hex()} names validator {status.validator}, not this one"
            )
        evidence: dict[str, object] = {"agentId": status.agent_id,
                                       "requestHash": "0x" + request_hash.hex()}  # fmt: skip
        tag = TAG_TEE
        try:
            identity = await read_identity(self._chain, self._identity, status.agent_id)
            card = await fetch_registration(self._http, identity)
            attested = await attest(self._http, card, self._policy)
            checkpoint = await open_log(self._http, card)
        except (RegistrationMismatch, ValidationRejected) as refused:
            response, reason = 0, refused.message
        else:
            response, reason = 100, "verified"
            if attested.quote.insecure:
                tag = TAG_INSECURE
            evidence |= {
                "registrationHash": "0x" + identity.registration_hash.hex(),
                "tee": attested.quote.tee,
                "insecure": attested.quote.insecure,
                "tcbStatus": attested.quote.tcb_status,
                "mrtd": attested.quote.mrtd.hex(),
                "nonce": attested.nonce.hex(),
                "wallets": list(attested.wallets),
                "logVerifierKey": attested.log_verifier_key,
                "logSize": checkpoint.size,
                "logRoot": checkpoint.root_hash.hex(),
            }
        evidence |= {"response": response, "reason": reason}
        document = json.dumps(evidence, sort_keys=True, separators=(",", ":")).encode()
        digest = keccak(document)
        uri = f"{self._evidence_base_url}/{digest.hex()}.json" if self._evidence_base_url else ""
        sent = await self._chain.send_transaction(
            TransactionIntent(
                agent_id=self._agent_id,
                to=self._registry,
                data=validation_response_call(request_hash, response, uri, digest, tag),
                idempotency_key=f"validation:{request_hash.hex()}:{digest.hex()[:32]}",
            )
        )
        if not sent.receipt.success:
            raise ValidationRejected(f"the validation response for 0x{request_hash.hex()} reverted")
        return ValidationOutcome(request_hash, status.agent_id, response, reason, document, sent)
