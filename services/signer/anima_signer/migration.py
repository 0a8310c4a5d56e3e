"""Peer migration inside the enclave: move a live agent to a peer enclave.

Three steps (rules and envelope format in anima_verify.escrow.migration):
the destination makes a challenge and evidence binding a fresh key
(`migration_challenge`); the source checks that evidence against the agent's
measurement policy, seals the agent root and its signer state to the key, logs
the handover and stops acting for the agent, all in one transaction
(`export_agent`); the destination opens the envelope, checks the root derives
the agent's known log key and the log state is signed by it, and installs the
agent in one transaction, its log continuing from the handover (`import_agent`).

Two fences. Locally, the source's sealed state records the handover, so it refuses
the agent (AgentMigrated) after a restart too; a host that rolls that state back
undoes it. On chain, the destination holds the agent at the source's recovery epoch
+ 1 and hands back its log since the source's last collected entry, so the host can
anchor the move (anima_dasync.handover.publish_handover, as after a recovery);
the source, shown that anchor (CheckAnchor), is fenced at the older epoch whatever
its disk says.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from anima_signer import log_payloads
from anima_signer.keys import agent_log_public_key, validate_agent_id
from anima_signer.store import MOVABLE_TABLES, LogStateRecord, StoredAgent, agent_from_json
from anima_signer.store import agent_to_json as stored_agent_json
from anima_signer_api.errors import AgentExists, AgentMigrated, InvalidRequest, LogNotWitnessed
from anima_signer_api.types import Agent, LogAppendResult, SequencedEntry
from anima_verify.attestation.errors import MalformedMeasurementPolicy
from anima_verify.attestation.evidence import Evidence
from anima_verify.attestation.policy import MeasurementPolicy
from anima_verify.escrow.errors import MigrationRefused
from anima_verify.escrow.migration import (
    migration_report_data,
    new_challenge,
    open_at_destination,
    seal_to_destination,
    verify_destination,
)
from anima_verify.escrow.share import public_bytes
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.merkle import CompactRange
from anima_verify.tlog.note import parse_verifier_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from anima_signer.keys import KeyRing
    from anima_signer.sequencer import EnclaveLogs
    from anima_signer.store import SignerStore
    from anima_signer.tee.base import TeeBackend
    from anima_signer_api.errors import SignerError

BUNDLE_VERSION = 1
#: The largest envelope an export makes and an import takes: half the signer's default
#: 64 MiB message limit. An export above it is refused before the handover commits
#: (the source keeps the agent): let the host collect the log tail first.
MAX_ENVELOPE_BYTES = 32 * 1024 * 1024
#: Destinations' open challenges, at most (one per agent; the oldest goes first).
MAX_OPEN_MIGRATIONS = 64
_KEY_SIZE = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationBundle:
    """What travels in the envelope: the agent root and the agent's signer state."""

    agent_id: str
    challenge: bytes
    agent_root: bytes
    epoch: int
    record: StoredAgent
    policy_json: str  # the agent's measurement policy: it keeps it at the destination
    log: LogStateRecord
    tail: tuple[SequencedEntry, ...]  # [log.released, size): not stored by the host yet
    rows: dict[str, list[tuple[bytes, bytes]]]
    idempotency: list[tuple[str, bytes]]

    def __repr__(self) -> str:  # never the root
        return f"MigrationBundle(agent_id={self.agent_id!r}, log_size={self.log_size})"

    @property
    def log_size(self) -> int:
        return CompactRange.from_bytes(self.log.frontier).size

    def to_bytes(self) -> bytes:
        doc = {
            "v": BUNDLE_VERSION,
            "agent_id": self.agent_id,
            "challenge": self.challenge.hex(),
            "agent_root": self.agent_root.hex(),
            "epoch": self.epoch,
            "agent": json.loads(stored_agent_json(self.record)),
            "policy": self.policy_json,
            "log": {
                "origin": self.log.origin,
                "frontier": self.log.frontier.hex(),
                "last_time_ms": self.log.last_time_ms,
                "checkpoint": self.log.checkpoint.hex(),
                "released": self.log.released,
            },
            "tail": [
                [_b64(e.entry), None if e.payload is None else _b64(e.payload)] for e in self.tail
            ],
            "rows": {t: [[_b64(k), _b64(v)] for k, v in items] for t, items in self.rows.items()},
            "idempotency": [[k, _b64(v)] for k, v in self.idempotency],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> MigrationBundle:
        """Parse an opened envelope; MigrationRefused names what does not parse."""
        try:
            doc: dict[str, Any] = json.loads(data)
            if doc["v"] != BUNDLE_VERSION:
                raise ValueError(f"unknown version {doc['v']!r}")
            log = doc["log"]
            rows = {
                str(t): [(_unb64(k), _unb64(v)) for k, v in items]
                for t, items in doc["rows"].items()
            }
            if set(rows) - set(MOVABLE_TABLES):
                raise ValueError("rows of a table that does not move")
            bundle = cls(
                agent_id=str(doc["agent_id"]),
                challenge=bytes.fromhex(doc["challenge"]),
                agent_root=bytes.fromhex(doc["agent_root"]),
                epoch=int(doc["epoch"]),
                record=agent_from_json(json.dumps(doc["agent"]).encode()),
                policy_json=str(doc["policy"]),
                log=LogStateRecord(
                    agent_id=str(doc["agent_id"]),
                    origin=str(log["origin"]),
                    frontier=bytes.fromhex(log["frontier"]),
                    last_time_ms=int(log["last_time_ms"]),
                    checkpoint=bytes.fromhex(log["checkpoint"]),
                    released=int(log["released"]),
                ),
                tail=tuple(
                    SequencedEntry(_unb64(e), None if p is None else _unb64(p))
                    for e, p in doc["tail"]
                ),
                rows=rows,
                idempotency=[(str(k), _unb64(v)) for k, v in doc["idempotency"]],
            )
            MeasurementPolicy.from_json(bundle.policy_json)
        except (
            binascii.Error,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
            MalformedMeasurementPolicy,
        ) as exc:
            raise MigrationRefused(
                f"the migration envelope's contents do not parse: {exc}"
            ) from None
        return bundle


def _b64(data: bytes) -> str:
    # The bulk (log tail, idempotency records) as base64: a third smaller than hex.
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True, slots=True)
class _OpenMigration:
    key: X25519PrivateKey
    challenge: bytes


class MigrationOperations:
    """Mixed into Signer (anima_signer.core), which provides these and `get_agent`."""

    _keys: KeyRing
    _tee: TeeBackend
    _store: SignerStore
    _log: EnclaveLogs
    _clock_ms: Callable[[], int]
    _fenced: dict[str, SignerError]
    _agents: dict[str, Agent]

    def get_agent(self, agent_id: str) -> Agent:  # provided by Signer
        raise NotImplementedError

    def append_log(self, agent_id: str, host_size: int, inputs: Any) -> LogAppendResult:
        raise NotImplementedError  # provided by Signer

    def _agent_from(self, record: StoredAgent, *, log_origin: str) -> Agent:  # by Signer
        raise NotImplementedError

    def _fence_migrated(self) -> None:
        """On open: agents this enclave handed to a peer stay refused."""
        for record in self._store.agents():
            if self._store.migrated(record.agent_id) is not None:
                self._fence(record.agent_id)

    def _fence(self, agent_id: str) -> None:
        self._fenced[agent_id] = AgentMigrated(agent_id)
        self._agents.pop(agent_id, None)
        self._log.close(agent_id, AgentMigrated(agent_id))

    def _open_migrations(self) -> tuple[dict[str, _OpenMigration], threading.Lock]:
        held = self.__dict__.get("_migrations")
        if held is None:
            held = self.__dict__.setdefault("_migrations", ({}, threading.Lock()))
        return held  # type: ignore[no-any-return]

    # ------------------------------------------------------------ destination

    async def migration_challenge(self, agent_id: str) -> tuple[bytes, bytes, Evidence]:
        """(challenge, recipient key, evidence binding both to `agent_id`); a new one
        replaces this agent's open one."""
        validate_agent_id(agent_id)
        if self._store.agent(agent_id) is not None:
            raise AgentExists(agent_id)
        key = X25519PrivateKey.generate()
        challenge = new_challenge(self._clock_ms())
        report_data = migration_report_data(
            agent_id=agent_id, recipient=key.public_key(), challenge=challenge
        )
        evidence = await self._tee.attest(report_data)
        opened, lock = self._open_migrations()
        with lock:
            opened.pop(agent_id, None)
            while len(opened) >= MAX_OPEN_MIGRATIONS:
                opened.pop(next(iter(opened)))
            opened[agent_id] = _OpenMigration(key, challenge)
        return challenge, public_bytes(key.public_key()), evidence

    def import_agent(
        self, agent_id: str, *, log_verifier_key: str, envelope: bytes
    ) -> tuple[Agent, int, LogAppendResult]:
        """Install an agent a peer exported to this signer's open challenge, at the
        source's recovery epoch + 1: the agent, its log size, and the handover (the log
        from the source's last collected entry, checkpointed) for the host to anchor.
        Everything is checked first; a refusal writes nothing and keeps the challenge
        open, so the genuine envelope still imports."""
        validate_agent_id(agent_id)
        if len(envelope) > MAX_ENVELOPE_BYTES:
            raise InvalidRequest(f"envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
        if self._store.agent(agent_id) is not None:
            raise AgentExists(agent_id)
        opened, lock = self._open_migrations()
        with lock:
            pending = opened.get(agent_id)
        if pending is None:
            raise MigrationRefused(
                f"no migration of agent {agent_id!r} is open here (or it was imported "
                "already): MigrationChallenge first"
            )
        # No age check here: the source checked the challenge's age before it handed the
        # agent over and fenced itself; refusing a late import would strand the agent.
        bundle = MigrationBundle.from_bytes(
            open_at_destination(
                envelope, agent_id=agent_id, recipient_key=pending.key, challenge=pending.challenge
            )
        )
        _check_bundle(
            bundle, agent_id=agent_id, challenge=pending.challenge, log_key=log_verifier_key
        )
        try:
            self._keys.use_agent_root(agent_id, bundle.agent_root)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        with self._log.batch() as batch:
            self._store.add_migrated_agent(
                bundle.record,
                agent_root=bundle.agent_root,
                # The next epoch: anchored, it fences the source (CheckAnchor there).
                epoch=bundle.epoch + 1,
                policy_json=bundle.policy_json,
                rows=bundle.rows,
                idempotency=bundle.idempotency,
            )
            batch.import_log(agent_id, record=bundle.log, tail=bundle.tail)
            agent = self._agent_from(bundle.record, log_origin=bundle.log.origin)
            payload = log_payloads.agent_created(agent, event="agent_migrated_in")
            size = batch.append_enclave(agent_id, EntryKind.LIFECYCLE, payload) + 1
        with lock:
            if opened.get(agent_id) is pending:
                del opened[agent_id]
        return self.get_agent(agent_id), size, self._handover(agent_id, bundle.log.released)

    def _handover(self, agent_id: str, released: int) -> LogAppendResult:
        """The log from the source's collected size, checkpointed; without a checkpoint
        while witnesses have not cosigned it (the host collects it later, AppendLog)."""
        try:
            return self.append_log(agent_id, released, [])
        except LogNotWitnessed:
            return LogAppendResult(first_index=released, size=released, entries=(), checkpoint=b"")

    # ------------------------------------------------------------ source

    def export_agent(
        self,
        agent_id: str,
        *,
        challenge: bytes,
        recipient: bytes,
        evidence: Evidence,
        now: int | None = None,
    ) -> tuple[bytes, int]:
        """(envelope, log size after the handover entry). The same request again gets
        the same envelope (a lost answer); any other after the handover: AgentMigrated."""
        validate_agent_id(agent_id)
        handed = self._store.migrated(agent_id)
        if handed is not None:
            return _same_handover(
                handed, agent_id=agent_id, challenge=challenge, recipient=recipient
            )
        self.get_agent(agent_id)
        try:
            root = self._keys.agent_root(agent_id)
            recipient_key = X25519PublicKey.from_public_bytes(recipient)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        policy_json = self._store.measurement_policy(agent_id)
        if policy_json is None:
            raise InvalidRequest(
                f"agent {agent_id!r} has no measurement policy to check a destination "
                "against: EscrowAgentRoot records it"
            )
        destination = verify_destination(
            evidence,
            agent_id=agent_id,
            recipient=recipient_key,
            challenge=challenge,
            policy=MeasurementPolicy.from_json(policy_json),
            now_ms=self._clock_ms(),
            now=now,
        )
        with self._log.batch() as batch:
            if self._store.migrated(agent_id) is not None:  # a concurrent export won
                raise AgentMigrated(agent_id)
            handover = log_payloads.agent_migrated(
                agent_id=agent_id,
                recipient=recipient,
                challenge=challenge,
                destination_tee=destination.tee,
                destination_mrtd=destination.mrtd,
            )
            batch.append_enclave(agent_id, EntryKind.LIFECYCLE, handover)
            log, tail = batch.handover(agent_id)
            record = self._store.agent(agent_id)
            assert record is not None  # get_agent found it above
            bundle = MigrationBundle(
                agent_id=agent_id,
                challenge=challenge,
                agent_root=root,
                epoch=self._store.recovery_epoch(agent_id),
                record=record,
                policy_json=policy_json,
                log=log,
                tail=tail,
                rows=self._store.movable_rows(agent_id),
                idempotency=self._store.idempotency_rows(agent_id),
            )
            envelope = seal_to_destination(
                bundle.to_bytes(), agent_id=agent_id, recipient=recipient_key, challenge=challenge
            )
            if len(envelope) > MAX_ENVELOPE_BYTES:  # rolls the handover back
                raise InvalidRequest(
                    f"agent {agent_id!r}'s state seals to {len(envelope)} bytes, above "
                    f"{MAX_ENVELOPE_BYTES}: have the host collect its log tail (AppendLog) "
                    "and try again; nothing was handed over"
                )
            size = bundle.log_size
            self._store.put_migrated(
                agent_id,
                json.dumps(
                    {
                        "challenge": challenge.hex(),
                        "recipient": recipient.hex(),
                        "envelope": _b64(envelope),
                        "log_size": size,
                    }
                ).encode(),
            )
            self._store.on_commit(lambda: self._fence(agent_id))
        return envelope, size


def _same_handover(
    handed: bytes, *, agent_id: str, challenge: bytes, recipient: bytes
) -> tuple[bytes, int]:
    record = json.loads(handed)
    same = hmac.compare_digest(bytes.fromhex(record["challenge"]), challenge) and (
        hmac.compare_digest(bytes.fromhex(record["recipient"]), recipient)
    )
    if not same:
        raise AgentMigrated(agent_id)
    return _unb64(record["envelope"]), int(record["log_size"])


def _check_bundle(
    bundle: MigrationBundle, *, agent_id: str, challenge: bytes, log_key: str
) -> None:
    """The envelope is this agent's, for this challenge, its root derives the agent's
    known log key (only a holder of the root can seal such an envelope), and its log
    state is a checkpoint that key signed."""
    if bundle.agent_id != agent_id or bundle.record.agent_id != agent_id:
        raise MigrationRefused(f"the migration envelope carries another agent than {agent_id!r}")
    if not hmac.compare_digest(bundle.challenge, challenge):
        raise MigrationRefused("the migration envelope was made for another challenge")
    if bundle.record.key_derivation_version < 2 or len(bundle.agent_root) != _KEY_SIZE:
        raise MigrationRefused("the migration envelope carries no agent root")
    expected = parse_verifier_key(log_key)
    derived = agent_log_public_key(agent_id, bundle.agent_root)
    if not hmac.compare_digest(derived, expected.public_key) or expected.name != bundle.log.origin:
        raise MigrationRefused(
            f"the migrated root does not derive the log key {log_key.split('+')[0]!r} of "
            f"agent {agent_id!r}: this is not the agent you asked for"
        )
    signed = open_checkpoint(bundle.log.checkpoint, [expected])
    frontier = CompactRange.from_bytes(bundle.log.frontier)
    if (
        signed.checkpoint.size != frontier.size
        or signed.checkpoint.root_hash != frontier.root()
        or bundle.log.released + len(bundle.tail) != frontier.size
    ):
        raise MigrationRefused("the migrated log state is not the tree its checkpoint signs")
