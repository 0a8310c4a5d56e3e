"""The enclave signer's logic, free of any transport.

Every public method takes and returns plain domain types; the gRPC layer in
api/ only converts. Signing and log methods are synchronous and thread-safe so
they can run off the event loop.

Every signature is appended to the agent's log (a SIGNATURE entry) and every
policy refusal too (POLICY_DECISION), in the same durable commit as any
idempotency record, before the answer leaves: no signature exists without its
entry. A batch shares one commit and one checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_utils.address import is_address

from anima_signer import log_payloads
from anima_signer.idempotency import fingerprint, result_from_json, result_to_json
from anima_signer.keys import KEY_DERIVATION_VERSION, KeyRing, validate_agent_id
from anima_signer.migration import MigrationOperations
from anima_signer.owner_policies import OwnerPolicies
from anima_signer.policy import windows
from anima_signer.policy.approvals import (
    approval_id,
    payload_to_json,
)
from anima_signer.policy.engine import CompiledPolicy
from anima_signer.policy.gate import CosignNeeded, OwnerGate
from anima_signer.recovery import SignerStateSnapshot, verified_frontier
from anima_signer.recovery_api import RecoveryOperations
from anima_signer.sequencer import EnclaveLogs, wall_clock_ms
from anima_signer.signing import sign_payload
from anima_signer.state_lock import StateDirLock
from anima_signer.store import STATE_FILE, SignerStore, StoredAgent, StoredApproval
from anima_signer.tee.base import TeeBackend
from anima_signer.witnessing import LogWitnessing, WitnessEndpoint
from anima_signer_api.binding import bound_keys
from anima_signer_api.errors import (
    AgentExists,
    AgentFencedHere,
    ApprovalUnavailable,
    CosignRequired,
    IdempotencyConflict,
    InvalidRequest,
    LogNotWitnessed,
    LogStateMismatch,
    LogTailFull,
    PolicyDenied,
    SignerError,
    SignerMisconfigured,
    UnknownAgent,
)
from anima_signer_api.types import (
    MAX_BATCH_ITEMS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_WALLETS,
    Agent,
    AttestationBundle,
    LogAppendResult,
    LogEntryInput,
    SigningPolicy,
    SignRequest,
    SignResult,
    Wallet,
)
from anima_verify.attestation.evidence import MAX_NONCE_SIZE, MIN_NONCE_SIZE, bind_report_data
from anima_verify.eth import eth_address
from anima_verify.lifedata import AgentFenced, AnchorState, SignerStateStale, check_fencing
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.merkle import CompactRange
from anima_verify.tlog.note import verifier_key

_RAW = (Encoding.Raw, PublicFormat.Raw)
_logger = logging.getLogger(__name__)
#: The unsealed store of signers before sealed state (readable and editable by the host).
PLAIN_STATE_FILE = "signer.sqlite3"


def _refuse_plain_state(state_dir: Path) -> None:
    """Fail closed on a state directory from before sealing, rather than start empty."""
    if (state_dir / PLAIN_STATE_FILE).exists():
        raise SignerMisconfigured(
            f"{state_dir / PLAIN_STATE_FILE} is an unsealed signer state from an older "
            "version; this signer keeps its state sealed and neither reads nor converts it. "
            "Move it out of the state directory to start anew"
        )


# Requests waiting for the owner's co-signature, at most, per agent.
MAX_OPEN_APPROVALS = 64
COSIGN_QUEUE_FULL = "cosign_queue_full"
POLICY_CHANGED = "policy_changed"


@dataclass(slots=True)
class _Attempt:
    """One sign request that reached the policy gate, waiting for its log entry."""

    position: int
    agent_id: str
    kind: EntryKind
    log_payload: bytes
    outcome: SignResult | SignerError
    idempotency: tuple[str, bytes] | None  # (key, request fingerprint) to record on success
    # The owner's policy: the windows to charge in the log commit, and the version.
    reservations: list[windows.Reservation] = dataclasses.field(default_factory=list)
    policy: CompiledPolicy | None = None
    request: SignRequest | None = None
    new_approval: StoredApproval | None = None  # a request now waiting for the owner
    use_approval: str = ""  # the owner's approval this signature uses up


def _decided(outcome: SignResult | SignerError | None) -> SignResult | SignerError:
    if outcome is None:  # pragma: no cover - every position is decided above
        raise RuntimeError("a sign request was left without an outcome")
    return outcome


class Signer(RecoveryOperations, MigrationOperations, OwnerPolicies):
    """Agents, their keys, the policy gate and attestation, inside the enclave.

    The owner's side (apply, show, dry run, co-signature) is in owner_policies.py;
    export, escrow and restore in recovery_api.py; peer migration in migration.py."""

    def __init__(
        self,
        *,
        tee: TeeBackend,
        keyring: KeyRing,
        store: SignerStore,
        log_origin_prefix: str,
        clock_ms: Callable[[], int] = wall_clock_ms,
        state_lock: StateDirLock | None = None,
        witnessing: LogWitnessing | None = None,
    ) -> None:
        """Prefer `open`, which also locks the state directory against a second signer.

        log_origin_prefix names the logs started from now on; a log keeps the
        origin it started with, since its checkpoints and key id depend on it.
        With `witnessing`, no signature and no checkpoint is answered before a
        quorum of witnesses cosigned a checkpoint that holds it (witnessing.py).
        """
        self._tee = tee
        self._witnessing = witnessing
        self._keys = keyring
        self._store = store
        self._state_lock = state_lock
        self._log_origin_prefix = log_origin_prefix.rstrip("/")
        self._agents: dict[str, Agent] = {}
        # Agents this enclave stopped acting for: fenced by a newer anchor, or moved to
        # a peer enclave (AgentMigrated).
        self._fenced: dict[str, SignerError] = {}
        self._idempotency_lock = threading.Lock()
        # Compiled owner policies by agent (None: owned, none applied yet); replaced
        # only after the commit that applies a new version.
        self._owner_policies: dict[str, CompiledPolicy | None] = {}
        self._clock_ms = clock_ms
        for stored in store.agents():
            # Version-2 agents derive their keys from an agent root (anima_signer.keys).
            if stored.key_derivation_version >= 2:
                keyring.use_agent_root(stored.agent_id, store.recovered_agent_root(stored.agent_id))
        self._log = EnclaveLogs(
            store=store, keyring=keyring, clock_ms=clock_ms, keep_leaves=witnessing is not None
        )
        if witnessing is not None:
            # Witness rounds take the leaf hashes the sequencer just computed.
            witnessing.use_leaf_source(self._log.leaves_since)
        self._fence_migrated()
        for agent_id, refused in sorted(store.refused().items()):
            _logger.error("agent %s is refused: %s", agent_id, refused.message)
        for agent_id, why in sorted(store.fenced().items()):
            # Fenced by an anchor before a restart: still fenced, whatever the host feeds.
            self._fenced[agent_id] = AgentFencedHere(agent_id, why)
        for agent_id in store.agents_without_log():
            # Agents from before the log existed: their log starts now.
            record = store.agent(agent_id)
            if record is None:  # pragma: no cover - agents_without_log lists stored agents
                raise UnknownAgent(agent_id)
            self._start_log(record, event="log_started")

    @classmethod
    async def open(
        cls,
        *,
        tee: TeeBackend,
        state_dir: Path,
        log_origin_prefix: str,
        clock_ms: Callable[[], int] = wall_clock_ms,
        witnesses: Sequence[WitnessEndpoint] = (),
        witness_quorum: int = 0,
        witness_timeout_s: float = 5.0,
    ) -> Signer:
        """Load durable state from state_dir and the root secret from the TEE.

        Holds state_dir until `close`: StateDirInUse while another signer holds it.
        Without `witnesses` the log is unwitnessed: INSECURE against a host that
        restores an older state directory (see witnessing.py).
        """
        with ExitStack() as on_failure:
            lock = StateDirLock.acquire(state_dir)
            on_failure.callback(lock.release)
            keyring = KeyRing(root_secret=await tee.root_secret())
            _refuse_plain_state(state_dir)
            store = SignerStore(path=state_dir / STATE_FILE, keyring=keyring)
            on_failure.callback(store.close)
            witnessing = None
            if witnesses:
                witnessing = LogWitnessing(
                    store=store,
                    endpoints=witnesses,
                    quorum=witness_quorum,
                    timeout_s=witness_timeout_s,
                )
                on_failure.callback(witnessing.close)
            signer = cls(
                tee=tee,
                keyring=keyring,
                store=store,
                log_origin_prefix=log_origin_prefix,
                clock_ms=clock_ms,
                state_lock=lock,
                witnessing=witnessing,
            )
            on_failure.pop_all()
        return signer

    def close(self) -> None:
        if self._witnessing is not None:
            self._witnessing.close()
        self._store.close()
        if self._state_lock is not None:
            self._state_lock.release()

    @property
    def tee_name(self) -> str:
        return self._tee.name

    # ------------------------------------------------------------ agents

    def create_agent(
        self,
        *,
        agent_id: str,
        wallet_count: int,
        policy: SigningPolicy | None = None,
        owner: str = "",
    ) -> Agent:
        """An owned agent (owner: an Ethereum address) signs nothing until its owner
        applies a signed policy, and its creator cannot set one; an agent without an
        owner keeps the minimal `policy` set here for its whole life."""
        validate_agent_id(agent_id)
        if owner:
            if not is_address(owner) or not owner.startswith("0x"):
                raise InvalidRequest(f"owner {owner[:64]!r} is not a 0x-prefixed 20-byte address")
            if policy is not None and policy != SigningPolicy():
                raise InvalidRequest(
                    "an owned agent's policy comes only from documents its owner signs; "
                    "leave the creation policy empty"
                )
        policy = policy or SigningPolicy()
        if not 1 <= wallet_count <= MAX_WALLETS:
            raise InvalidRequest(f"wallet_count must be between 1 and {MAX_WALLETS}")
        if not 0 <= policy.max_value_wei < 2**256:
            raise InvalidRequest("max_value_wei must be a uint256")
        if any(not 0 < c < 2**64 for c in policy.allowed_chain_ids):
            raise InvalidRequest("allowed chain ids must be positive 64-bit integers")
        record = StoredAgent(
            agent_id=agent_id,
            wallet_count=wallet_count,
            policy=policy,
            created_at=datetime.now(UTC).replace(microsecond=0),
            key_derivation_version=KEY_DERIVATION_VERSION,
            owner=owner.lower() if owner else None,
        )
        origin = self._new_log_origin(agent_id)
        # The agent and its log's first entry commit together.
        with self._log.batch() as batch:
            self._store.add_agent(record)
            if record.key_derivation_version >= 2:
                self._keys.use_agent_root(agent_id)
            agent = self._agent_from(record, log_origin=origin)
            batch.create(agent_id, origin=origin)
            batch.append_enclave(agent_id, EntryKind.LIFECYCLE, log_payloads.agent_created(agent))
            # Guardians configured: the shares commit with the agent, or neither does.
            self.escrow_at_takeover(agent_id)
        return self.get_agent(agent_id)

    def _start_log(self, record: StoredAgent, *, event: str) -> None:
        origin = self._new_log_origin(record.agent_id)
        agent = self._agent_from(record, log_origin=origin)
        with self._log.batch() as batch:
            batch.create(agent.agent_id, origin=origin)
            payload = log_payloads.agent_created(agent, event=event)
            batch.append_enclave(agent.agent_id, EntryKind.LIFECYCLE, payload)

    def get_agent(self, agent_id: str) -> Agent:
        fenced = self._fenced.get(agent_id)
        if fenced is not None:
            raise fenced
        agent = self._agents.get(agent_id)
        if agent is not None:
            return agent
        record = self._store.agent(agent_id)
        if record is None:
            raise UnknownAgent(agent_id)
        agent = self._agent_from(record, log_origin=self.log_origin(agent_id))
        self._agents[agent_id] = agent
        return agent

    def _agent_from(self, record: StoredAgent, *, log_origin: str) -> Agent:
        agent_id = record.agent_id
        public_keys = [
            self._keys.wallet_key(agent_id, i).public_key for i in range(record.wallet_count)
        ]
        wallets = tuple(
            Wallet(index=i, address=eth_address(key), public_key=key.format(compressed=True))
            for i, key in enumerate(public_keys)
        )
        log_public = self._keys.log_key(agent_id).public_key().public_bytes(*_RAW)
        return Agent(
            agent_id=agent_id,
            wallets=wallets,
            log_verifier_key=verifier_key(log_origin, log_public),
            log_public_key=log_public,
            signing_public_key=self._keys.signing_key(agent_id).public_key().public_bytes(*_RAW),
            policy=record.policy,
            created_at=record.created_at,
            key_derivation_version=record.key_derivation_version,
            owner=record.owner or "",
        )

    def list_agents(self) -> list[Agent]:
        stored = self._store.agents()
        return [self.get_agent(r.agent_id) for r in stored if r.agent_id not in self._fenced]

    def log_origin(self, agent_id: str) -> str:
        """The agent's log origin, which is also the name of its note verifier key.

        Stored when the log started: a later log_origin_prefix does not rename it.
        """
        origin = self._store.log_origin(agent_id)
        if origin is None:
            raise UnknownAgent(agent_id)
        return origin

    def _new_log_origin(self, agent_id: str) -> str:
        return f"{self._log_origin_prefix}/{agent_id}"

    # ------------------------------------------------------------ signing

    def sign(self, request: SignRequest) -> SignResult:
        """Sign under the agent's policy; the answer comes after its log entry is durable."""
        outcome = self._witnessed([request], self._sign_and_log([request]))[0]
        if isinstance(outcome, SignerError):
            raise outcome
        return outcome

    def sign_many(self, requests: Sequence[SignRequest]) -> list[SignResult | SignerError]:
        """Each request succeeds or fails on its own; order is kept; one commit for all."""
        if len(requests) > MAX_BATCH_ITEMS:
            raise InvalidRequest(f"a batch holds at most {MAX_BATCH_ITEMS} requests")
        return self._witnessed(requests, self._sign_and_log(requests))

    def _witnessed(
        self, requests: Sequence[SignRequest], outcomes: list[SignResult | SignerError]
    ) -> list[SignResult | SignerError]:
        """Each signature released only once a witnessed checkpoint holds its log entry
        (one round per agent for the whole batch); else LogNotWitnessed in its place.
        A replayed answer (idempotency key) waits for the same: its entry may have been
        committed by a run that never got its checkpoint witnessed."""
        if self._witnessing is None:
            return outcomes
        needed: dict[str, int] = {}
        for request, outcome in zip(requests, outcomes, strict=True):
            if not isinstance(outcome, SignerError):
                agent_id = request.agent_id
                needed[agent_id] = max(needed.get(agent_id, 0), outcome.log_index + 1)
        refused: dict[str, LogNotWitnessed] = {}
        for agent_id, size in needed.items():
            try:
                self._witness(agent_id, size)
            except LogNotWitnessed as exc:
                refused[agent_id] = exc
        if not refused:
            return outcomes
        return [
            refused.get(request.agent_id, outcome)
            if not isinstance(outcome, SignerError)
            else outcome
            for request, outcome in zip(requests, outcomes, strict=True)
        ]

    def _witness(self, agent_id: str, size: int) -> tuple[int, bytes]:
        if self._witnessing is None:  # pragma: no cover - callers check
            raise RuntimeError("no witnesses configured")
        vkey = self.get_agent(agent_id).log_verifier_key
        return self._witnessing.ensure(agent_id, size, log_verifier_key=vkey)

    def _sign_and_log(
        self, requests: Sequence[SignRequest], *, approval: str = ""
    ) -> list[SignResult | SignerError]:
        keyed = any(r.idempotency_key for r in requests)
        # One lock across check, sign and commit, so two concurrent retries cannot both sign.
        with self._idempotency_lock if keyed else nullcontext():
            outcomes: list[SignResult | SignerError | None] = [None] * len(requests)
            attempts: list[_Attempt] = []
            # A key used again within the batch is a retry of its first signed use.
            first_use: dict[tuple[str, str], tuple[int, bytes]] = {}
            repeats: list[tuple[int, int]] = []
            for position, request in enumerate(requests):
                try:
                    agent = self.get_agent(request.agent_id)
                    idempotency = self._idempotency(request)
                    if idempotency is not None:
                        key = (agent.agent_id, idempotency[0])
                        earlier = first_use.get(key)
                        if earlier is not None:
                            if earlier[1] != idempotency[1]:
                                raise IdempotencyConflict(key[1])
                            repeats.append((position, earlier[0]))
                            continue
                        replay = self._replay(key, idempotency[1])
                        if replay is not None:
                            outcomes[position] = replay
                            continue
                    attempt = self._attempt(position, agent, request, idempotency, approval)
                    if idempotency is not None and attempt.kind is EntryKind.SIGNATURE:
                        first_use[(agent.agent_id, idempotency[0])] = (position, idempotency[1])
                    attempts.append(attempt)
                except SignerError as exc:
                    outcomes[position] = exc
            if attempts:
                self._log_attempts(attempts, outcomes)
            for position, first in repeats:
                outcomes[position] = outcomes[first]
        return [_decided(o) for o in outcomes]

    def _idempotency(self, request: SignRequest) -> tuple[str, bytes] | None:
        """(key, request fingerprint), or None for a request without a key."""
        key = request.idempotency_key
        if not key:
            return None
        if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
            raise InvalidRequest(f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_CHARS}")
        return key, fingerprint(request.payload)

    def _replay(self, key: tuple[str, str], request_fingerprint: bytes) -> SignResult | None:
        """The stored answer for an (agent, key) already used; a new payload is refused."""
        stored = self._store.idempotent_response(*key)
        if stored is None:
            return None
        if stored[0] != request_fingerprint:
            raise IdempotencyConflict(key[1])
        return result_from_json(stored[1])

    def _attempt(
        self,
        position: int,
        agent: Agent,
        request: SignRequest,
        idempotency: tuple[str, bytes] | None,
        approval: str = "",
    ) -> _Attempt:
        """Sign, or record the refusal; malformed requests raise and are not logged.

        `approval`: the owner co-signed this request (approve)."""
        policy = self._owner_policy(agent) if agent.owner else None
        gate = OwnerGate(policy, approved=bool(approval)) if agent.owner else None
        try:
            result, chain_id = sign_payload(self._keys, agent, request, gate)
        except PolicyDenied as denied:
            return self._denied_attempt(position, agent.agent_id, request, denied)
        except CosignNeeded as needed:
            return self._pending_attempt(position, agent.agent_id, request, needed, policy)
        decided = None
        if gate is not None and gate.decision is not None:
            decided = (gate.decision.rule, gate.decision.policy_version)
        payload = log_payloads.signature(
            request.payload, result, chain_id=chain_id, decided_by=decided, approval_id=approval
        )
        return _Attempt(
            position,
            agent.agent_id,
            EntryKind.SIGNATURE,
            payload,
            result,
            idempotency,
            reservations=gate.reservations if gate is not None else [],
            policy=policy,
            request=request,
            use_approval=approval,
        )

    def _pending_attempt(
        self,
        position: int,
        agent_id: str,
        request: SignRequest,
        needed: CosignNeeded,
        policy: CompiledPolicy | None,
    ) -> _Attempt:
        """A request that waits for the owner: an open approval for it (a retry finds the
        one already open), and its decision logged."""
        assert policy is not None and policy.document.cosign is not None
        now_ms = self._clock_ms()
        request_hash = fingerprint(request.payload)
        open_ = self._store.approvals(agent_id, request_hash=request_hash, open_at_ms=now_ms)
        record = open_[0] if open_ else None
        new = None
        if record is None and len(self._store.approvals(agent_id, open_at_ms=now_ms)) >= (
            MAX_OPEN_APPROVALS
        ):
            # A runtime flooding the owner's queue gets refusals, not storage.
            full = PolicyDenied(
                COSIGN_QUEUE_FULL,
                f"{MAX_OPEN_APPROVALS} requests already wait for the owner's approval",
                policy_version=policy.version,
            )
            return self._denied_attempt(position, agent_id, request, full)
        if record is None:
            new = record = StoredApproval(
                agent_id=agent_id,
                approval_id=approval_id(agent_id, request_hash, now_ms),
                request_hash=request_hash,
                payload_json=payload_to_json(request.payload),
                rule=needed.decision.rule,
                policy_version=needed.decision.policy_version,
                created_ms=now_ms,
                expires_ms=now_ms + policy.document.cosign.ttl_seconds * 1000,
            )
        payload = log_payloads.cosign_pending(
            request.payload,
            rule=record.rule,
            policy_version=record.policy_version,
            approval_id=record.approval_id,
            expires_ms=record.expires_ms,
        )
        error = CosignRequired(record.approval_id, record.rule, record.expires_ms)
        return _Attempt(
            position, agent_id, EntryKind.POLICY_DECISION, payload, error, None, new_approval=new
        )

    @staticmethod
    def _denied_attempt(
        position: int, agent_id: str, request: SignRequest, denied: PolicyDenied
    ) -> _Attempt:
        payload = log_payloads.denial(
            request.payload,
            rule=denied.rule,
            message=denied.message,
            policy_version=int(denied.policy_version) if denied.policy_version else None,
        )
        return _Attempt(position, agent_id, EntryKind.POLICY_DECISION, payload, denied, None)

    def _log_attempts(
        self, attempts: list[_Attempt], outcomes: list[SignResult | SignerError | None]
    ) -> None:
        """One commit for every attempt's entry (and idempotency record), then the answers."""
        with self._log.batch() as batch:
            ledger = windows.Ledger(self._store, self._clock_ms())
            for attempt in attempts:
                charged = False
                if (
                    attempt.policy is not None
                    and attempt.request is not None
                    and (self._owner_policies.get(attempt.agent_id) is not attempt.policy)
                ):
                    # The owner applied a new policy after this request was judged: its
                    # signature is dropped, so nothing is signed under a replaced policy.
                    changed = PolicyDenied(
                        POLICY_CHANGED,
                        "the owner's policy changed while this request was judged; send it "
                        "again to have it judged under the new one",
                        policy_version=attempt.policy.version,
                    )
                    attempt = self._denied_attempt(
                        attempt.position, attempt.agent_id, attempt.request, changed
                    )
                if attempt.use_approval and not self._approval_open(
                    attempt.agent_id, attempt.use_approval
                ):
                    # Used or expired since it was checked: nothing is signed twice.
                    outcomes[attempt.position] = ApprovalUnavailable(
                        attempt.use_approval, "was used or expired meanwhile"
                    )
                    continue
                if attempt.reservations and attempt.policy is not None:
                    try:  # in this commit, under the store's write lock: no race
                        ledger.reserve(attempt.agent_id, attempt.policy, attempt.reservations)
                        charged = True
                    except PolicyDenied as denied:
                        assert attempt.request is not None
                        attempt = self._denied_attempt(
                            attempt.position, attempt.agent_id, attempt.request, denied
                        )
                try:
                    index = batch.append_enclave(
                        attempt.agent_id, attempt.kind, attempt.log_payload
                    )
                except LogTailFull as exc:
                    outcomes[attempt.position] = exc  # the signature is dropped unseen
                    if charged:
                        ledger.undo(attempt.agent_id, attempt.reservations)
                    continue
                if attempt.new_approval is not None:
                    self._store.add_approval(attempt.new_approval)
                if isinstance(attempt.outcome, SignerError):
                    outcomes[attempt.position] = attempt.outcome
                    continue
                if attempt.use_approval and not self._store.use_approval(
                    attempt.agent_id, attempt.use_approval, self._clock_ms()
                ):  # pragma: no cover - checked open above, in this same transaction
                    raise RuntimeError("an open approval could not be used")
                result = dataclasses.replace(attempt.outcome, log_index=index)
                if attempt.idempotency is not None:
                    key, request_fingerprint = attempt.idempotency
                    self._store.save_idempotent_response(
                        attempt.agent_id, key, request_fingerprint, result_to_json(result)
                    )
                outcomes[attempt.position] = result
            ledger.flush()  # the charges, in this same commit

    # ------------------------------------------------------------ recovery

    def signer_state_snapshot(self, agent_id: str) -> SignerStateSnapshot:
        """The per-agent state a `signer-state` life-data chunk carries."""
        record = self._store.agent(agent_id)
        if record is None:
            raise UnknownAgent(agent_id)
        return SignerStateSnapshot(
            record=record,
            log_origin=self.log_origin(agent_id),
            idempotency=tuple(self._store.idempotency_records(agent_id)),
        )

    def restore_agent(
        self,
        *,
        agent_root: bytes,
        snapshot: SignerStateSnapshot,
        log_entries: Sequence[bytes],
        checkpoint: bytes,
        anchor: AnchorState | None,
    ) -> Agent:
        """Take over a recovered agent: everything is verified first (anima_signer.recovery),
        then the agent, its root and its log are written in one transaction with the
        handover entry (`agent_recovered`); a failure leaves this signer as it was."""
        record = snapshot.record
        agent_id = validate_agent_id(record.agent_id)
        if record.key_derivation_version < 2:
            raise InvalidRequest("only agents with an agent root (version 2) can be restored")
        if self._store.agent(agent_id) is not None:
            raise AgentExists(agent_id)
        frontier = verified_frontier(
            agent_id=agent_id,
            agent_root=agent_root,
            origin=snapshot.log_origin,
            entries=log_entries,
            checkpoint=checkpoint,
            anchor=anchor,
        )
        self._keys.use_agent_root(agent_id, agent_root)
        with self._log.batch() as batch:
            epoch = (anchor.epoch if anchor is not None else 0) + 1  # the handover's epoch
            self._store.add_recovered_agent(record, agent_root, epoch)
            for kept in snapshot.idempotency:  # a retry after the move gets its first answer
                self._store.save_idempotent_response(
                    agent_id, kept.key, kept.fingerprint, kept.response_json
                )
            batch.restore(
                agent_id, origin=snapshot.log_origin, frontier=frontier, checkpoint=checkpoint
            )
            agent = self._agent_from(record, log_origin=snapshot.log_origin)
            payload = log_payloads.agent_created(agent, event="agent_recovered")
            batch.append_enclave(agent_id, EntryKind.LIFECYCLE, payload)
            self.escrow_at_takeover(agent_id)  # this signer's own guardians, if configured
        return self.get_agent(agent_id)

    def apply_anchor(self, agent_id: str, anchored: AnchorState) -> None:
        """Check a proven anchor (anima_signer.fencing) against this enclave's epoch and log:
        recovered elsewhere (a newer epoch) or older than the anchored checkpoint (a
        rolled-back disk), the agent is refused here from now on (AgentStateRefused)."""
        record = self._store.agent(agent_id)
        if record is None:
            raise UnknownAgent(agent_id)
        log = self._store.log_state(agent_id)
        size = 0 if log is None else CompactRange.from_bytes(log.frontier).size
        try:
            check_fencing(
                anchored, local_epoch=self._store.recovery_epoch(agent_id), local_log_size=size
            )
        except (AgentFenced, SignerStateStale) as refused:
            _logger.error("agent %s is fenced: %s", agent_id, refused.message)
            with self._store.transaction():
                self._store.fence(agent_id, refused.message)  # durable: a restart keeps it
            self._fenced[agent_id] = AgentFencedHere(agent_id, refused.message)
            self._agents.pop(agent_id, None)
            raise self._fenced[agent_id] from None

    # ------------------------------------------------------------ the log

    def append_log(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult:
        """Sequence the host's entries and hand back the tail it lacks, checkpointed.

        host_size is how many entries the host has stored durably; see the
        AppendLog comments in signer.proto for the whole contract.
        """
        self.get_agent(agent_id)
        if self._witnessing is None:
            return self._log.append(agent_id, host_size, inputs)
        witnessed = self._witnessing.witnessed_size(agent_id)
        if host_size > witnessed:
            # Entries committed but never witnessed (a log started before witnesses were
            # configured): witness them first; a rolled-back log is refused here.
            vkey = self.get_agent(agent_id).log_verifier_key
            witnessed = self._witnessing.catch_up(agent_id, log_verifier_key=vkey)
        if host_size > witnessed:
            # The host got entries only with witnessed checkpoints; the enclave keeps
            # the ones after the witnessed size to prove the next checkpoint from it.
            raise LogStateMismatch(
                f"host_size {host_size} is above {witnessed}, the witnessed size of the log "
                f"of agent {agent_id!r}: the host's log is not this enclave's"
            )
        result = self._log.append(agent_id, host_size, inputs)
        size, checkpoint = self._witness(agent_id, result.size)
        entries = self._store.pending(agent_id, host_size, size)
        if len(entries) != size - host_size:  # pragma: no cover - confirm kept them
            raise RuntimeError(f"the log tail of agent {agent_id!r} has gaps")
        return dataclasses.replace(result, size=size, entries=tuple(entries), checkpoint=checkpoint)

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
