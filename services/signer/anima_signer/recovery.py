"""Restoring an agent into this enclave from verified life data.

What the restore trusts: the agent root (rebuilt from guardian shares and checked
against the agent's identity), and nothing from the host until it verifies here.
The log's entries must be exactly the tree of a checkpoint signed by the key the
root derives, and, when an anchor is given, that checkpoint must be the anchored
one; only then is anything written, in one transaction (anima_signer.core).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from anima_signer.idempotency import result_from_json
from anima_signer.keys import agent_log_public_key
from anima_signer.store import IdempotencyRecord, StoredAgent, agent_from_json, agent_to_json
from anima_signer_api.errors import InvalidRequest
from anima_signer_api.types import MAX_IDEMPOTENCY_KEY_CHARS
from anima_verify.lifedata import AnchorState, ManifestNotAnchored, check_log_snapshot
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.merkle import CompactRange, leaf_hash
from anima_verify.tlog.note import parse_verifier_key, verifier_key

#: 2 added the idempotency records; a version-1 chunk (none) still opens.
SIGNER_STATE_VERSION = 2
_READABLE_VERSIONS = (1, 2)
#: Records one chunk may carry (a snapshot is rebuilt whole on each sync).
MAX_IDEMPOTENCY_RECORDS = 100_000


@dataclass(frozen=True, slots=True)
class SignerStateSnapshot:
    """The signer's per-agent state that travels in a `signer-state` chunk: the agent,
    its log origin and its idempotency records, so a request retried after a recovery
    gets its original answer rather than a second signature."""

    record: StoredAgent
    log_origin: str
    idempotency: tuple[IdempotencyRecord, ...] = ()

    def to_bytes(self) -> bytes:
        doc = {
            "v": SIGNER_STATE_VERSION,
            "agent": json.loads(agent_to_json(self.record)),
            "log_origin": self.log_origin,
            "idempotency": [
                {"key": r.key, "fingerprint": r.fingerprint.hex(), "response": r.response_json}
                for r in self.idempotency
            ],
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SignerStateSnapshot:
        try:
            doc = json.loads(data)
            if doc["v"] not in _READABLE_VERSIONS or not isinstance(doc["log_origin"], str):
                raise ValueError("version or origin")
            record = agent_from_json(json.dumps(doc["agent"]).encode())
            records = tuple(_idempotency_record(r) for r in doc.get("idempotency", []))
            if len(records) > MAX_IDEMPOTENCY_RECORDS:
                raise ValueError(f"more than {MAX_IDEMPOTENCY_RECORDS} idempotency records")
            if len({r.key for r in records}) != len(records):
                raise ValueError("an idempotency key appears twice")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidRequest(f"the signer-state chunk does not parse: {exc}") from None
        except RecursionError:  # found by tests/fuzz: deeply nested JSON
            raise InvalidRequest("the signer-state chunk does not parse: nested too deep") from None
        return cls(record=record, log_origin=doc["log_origin"], idempotency=records)


def _idempotency_record(raw: dict[str, str]) -> IdempotencyRecord:
    key, fingerprint, response = raw["key"], bytes.fromhex(raw["fingerprint"]), raw["response"]
    if not isinstance(key, str) or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValueError(f"an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters")
    if len(fingerprint) != 32 or not isinstance(response, str):
        raise ValueError(f"the idempotency record {key!r} is malformed")
    try:
        result_from_json(response)  # a stored answer must be one this signer can return
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"the answer stored under idempotency key {key!r} is malformed") from None
    return IdempotencyRecord(key=key, fingerprint=fingerprint, response_json=response)


def verified_frontier(
    *,
    agent_id: str,
    agent_root: bytes,
    origin: str,
    entries: Sequence[bytes],
    checkpoint: bytes,
    anchor: AnchorState | None,
) -> CompactRange:
    """The restored log's frontier, once every entry is the checkpoint's tree, the
    checkpoint is signed by the agent's log key and (if given) is the anchored one."""
    verifier = parse_verifier_key(verifier_key(origin, agent_log_public_key(agent_id, agent_root)))
    signed = open_checkpoint(checkpoint, [verifier])
    check_log_snapshot(entries, signed)
    if anchor is not None and (
        anchor.checkpoint_size != signed.checkpoint.size
        or not hmac.compare_digest(anchor.checkpoint_root, signed.checkpoint.root_hash)
    ):
        raise ManifestNotAnchored(
            f"the restored log checkpoint (size {signed.checkpoint.size}) is not the anchored "
            f"one (size {anchor.checkpoint_size})"
        )
    frontier = CompactRange()
    frontier.extend(leaf_hash(e) for e in entries)
    return frontier
