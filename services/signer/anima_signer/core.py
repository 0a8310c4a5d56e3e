"""The enclave signer's logic, free of any transport.

Every public method takes and returns plain domain types; the gRPC layer in
api/ only converts. Signing methods are synchronous and thread-safe so batches
can run off the event loop.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_core.attestation.evidence import MAX_NONCE_SIZE, MIN_NONCE_SIZE, bind_report_data
from anima_core.tlog.note import verifier_key
from anima_signer import eth, policy
from anima_signer.binding import bound_keys
from anima_signer.errors import IdempotencyConflict, InvalidRequest, SignerError, UnknownAgent
from anima_signer.idempotency import fingerprint, result_from_json, result_to_json
from anima_signer.keys import KEY_DERIVATION_VERSION, KeyRing, eth_address, validate_agent_id
from anima_signer.models import (
    MAX_BATCH_ITEMS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_WALLETS,
    Agent,
    AttestationBundle,
    Ed25519Message,
    Ed25519Signature,
    EthSignature,
    PersonalMessage,
    SignedTransaction,
    SigningPolicy,
    SignRequest,
    SignResult,
    Transaction,
    TypedData,
    Wallet,
)
from anima_signer.store import AgentRecord, SignerStore
from anima_signer.tee.base import TeeBackend

_RAW = (Encoding.Raw, PublicFormat.Raw)


class Signer:
    """Agents, their keys, the policy gate and attestation, inside the enclave."""

    def __init__(
        self, *, tee: TeeBackend, keyring: KeyRing, store: SignerStore, log_origin_prefix: str
    ) -> None:
        self._tee = tee
        self._keys = keyring
        self._store = store
        self._log_origin_prefix = log_origin_prefix.rstrip("/")
        self._agents: dict[str, Agent] = {}
        self._idempotency_lock = threading.Lock()

    @classmethod
    async def open(cls, *, tee: TeeBackend, state_dir: Path, log_origin_prefix: str) -> Signer:
        """Load durable state from state_dir and the root secret from the TEE."""
        keyring = KeyRing(root_secret=await tee.root_secret())
        store = SignerStore(path=state_dir / "signer.sqlite3")
        return cls(tee=tee, keyring=keyring, store=store, log_origin_prefix=log_origin_prefix)

    def close(self) -> None:
        self._store.close()

    @property
    def tee_name(self) -> str:
        return self._tee.name

    # ------------------------------------------------------------ agents

    def create_agent(self, *, agent_id: str, wallet_count: int, policy: SigningPolicy) -> Agent:
        validate_agent_id(agent_id)
        if not 1 <= wallet_count <= MAX_WALLETS:
            raise InvalidRequest(f"wallet_count must be between 1 and {MAX_WALLETS}")
        if not 0 <= policy.max_value_wei < 2**256:
            raise InvalidRequest("max_value_wei must be a uint256")
        if any(not 0 < c < 2**64 for c in policy.allowed_chain_ids):
            raise InvalidRequest("allowed chain ids must be positive 64-bit integers")
        record = AgentRecord(
            agent_id=agent_id,
            wallet_count=wallet_count,
            policy=policy,
            created_at=datetime.now(UTC).replace(microsecond=0),
            key_derivation_version=KEY_DERIVATION_VERSION,
        )
        self._store.add_agent(record)
        return self.get_agent(agent_id)

    def get_agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is not None:
            return agent
        record = self._store.agent(agent_id)
        if record is None:
            raise UnknownAgent(agent_id)
        public_keys = [
            self._keys.wallet_key(agent_id, i).public_key for i in range(record.wallet_count)
        ]
        wallets = tuple(
            Wallet(index=i, address=eth_address(key), public_key=key.format(compressed=True))
            for i, key in enumerate(public_keys)
        )
        log_public = self._keys.log_key(agent_id).public_key().public_bytes(*_RAW)
        agent = Agent(
            agent_id=agent_id,
            wallets=wallets,
            log_verifier_key=verifier_key(self.log_origin(agent_id), log_public),
            log_public_key=log_public,
            signing_public_key=self._keys.signing_key(agent_id).public_key().public_bytes(*_RAW),
            policy=record.policy,
            created_at=record.created_at,
            key_derivation_version=record.key_derivation_version,
        )
        self._agents[agent_id] = agent
        return agent

    def list_agents(self) -> list[Agent]:
        return [self.get_agent(r.agent_id) for r in self._store.agents()]

    def log_origin(self, agent_id: str) -> str:
        """The agent's log origin, which is also the name of its note verifier key."""
        return f"{self._log_origin_prefix}/{agent_id}"

    # ------------------------------------------------------------ signing

    def sign(self, request: SignRequest) -> SignResult:
        agent = self.get_agent(request.agent_id)
        key = request.idempotency_key
        if not key:
            return self._sign_once(agent, request)
        if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
            raise InvalidRequest(f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_CHARS}")
        request_fingerprint = fingerprint(request.payload)
        # One lock so two concurrent retries cannot both sign.
        with self._idempotency_lock:
            stored = self._store.idempotent_response(agent.agent_id, key)
            if stored is not None:
                if stored[0] != request_fingerprint:
                    raise IdempotencyConflict(key)
                return result_from_json(stored[1])
            result = self._sign_once(agent, request)
            self._store.save_idempotent_response(
                agent.agent_id, key, request_fingerprint, result_to_json(result)
            )
            return result

    def sign_many(self, requests: list[SignRequest]) -> list[SignResult | SignerError]:
        """Each request succeeds or fails on its own; order is kept."""
        if len(requests) > MAX_BATCH_ITEMS:
            raise InvalidRequest(f"a batch holds at most {MAX_BATCH_ITEMS} requests")
        results: list[SignResult | SignerError] = []
        for request in requests:
            try:
                results.append(self.sign(request))
            except SignerError as exc:
                results.append(exc)
        return results

    def _wallet_index(self, agent: Agent, index: int) -> int:
        if not 0 <= index < len(agent.wallets):
            raise InvalidRequest(
                f"wallet_index {index} is out of range; agent has {len(agent.wallets)} wallets"
            )
        return index

    def _sign_eth_digest(self, agent: Agent, index: int, digest: bytes) -> EthSignature:
        key = self._keys.wallet_key(agent.agent_id, index)
        return EthSignature(agent.wallets[index].address, digest, eth.sign_digest(key, digest))

    def _sign_once(self, agent: Agent, request: SignRequest) -> SignResult:
        payload = request.payload
        agent_id = agent.agent_id
        if isinstance(payload, PersonalMessage):
            index = self._wallet_index(agent, payload.wallet_index)
            digest = eth.personal_message_digest(payload.message)
            policy.check(agent.policy, payload)
            return self._sign_eth_digest(agent, index, digest)
        if isinstance(payload, TypedData):
            index = self._wallet_index(agent, payload.wallet_index)
            digest, chain_id = eth.typed_data_digest(payload.typed_data_json)
            policy.check(agent.policy, payload, typed_data_chain_id=chain_id)
            return self._sign_eth_digest(agent, index, digest)
        if isinstance(payload, Transaction):
            index = self._wallet_index(agent, payload.wallet_index)
            fields = eth.transaction_dict(payload)  # validate before policy: precise errors
            policy.check(agent.policy, payload)
            raw, tx_hash, signature = eth.sign_transaction(
                self._keys.wallet_key(agent_id, index), payload, fields
            )
            return SignedTransaction(agent.wallets[index].address, raw, tx_hash, signature)
        if isinstance(payload, Ed25519Message):
            if len(payload.message) > MAX_MESSAGE_BYTES:
                raise InvalidRequest(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
            policy.check(agent.policy, payload)
            key = self._keys.signing_key(agent_id)
            return Ed25519Signature(agent.signing_public_key, key.sign(payload.message))
        raise InvalidRequest("the request carries no payload to sign")

    # ------------------------------------------------------------ attestation

    async def attest(
        self, *, nonce: bytes, tls_public_key: bytes, agent_id: str = ""
    ) -> AttestationBundle:
        if not MIN_NONCE_SIZE <= len(nonce) <= MAX_NONCE_SIZE:
            raise InvalidRequest(f"nonce must be {MIN_NONCE_SIZE} to {MAX_NONCE_SIZE} bytes")
        agent = self.get_agent(agent_id) if agent_id else None
        keys = bound_keys(agent)
        report_data = bind_report_data(bound_keys=keys, tls_public_key=tls_public_key, nonce=nonce)
        evidence = await self._tee.attest(report_data)
        return AttestationBundle(
            tee=evidence.tee,
            quote=evidence.quote,
            collateral_json=evidence.collateral_json,
            tls_public_key=tls_public_key,
            bound_keys=keys,
        )
