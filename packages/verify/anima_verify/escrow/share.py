"""Escrowed shares of an agent root, sealed with HPKE (RFC 9180, `cryptography`'s).

At creation the agent's enclave splits its agent root k-of-n and seals one
share document to each guardian's X25519 key. The document carries what the
guardian needs to decide alone, without trusting the host: the agent, the
measurement policy a recovering enclave must satisfy, and the agent's log
public key, which the recovered root must derive (that is what authenticates
the shares after combining). A guardian releases its share only to a key bound
in evidence that satisfies that policy (anima_verify.escrow.release).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.agent_id import is_agent_id
from anima_verify.attestation.policy import MeasurementPolicy
from anima_verify.escrow.errors import EscrowShareRefused, MalformedEscrowShare
from anima_verify.escrow.shamir import MAX_SHARES, SECRET_SIZE, Share

ESCROW_SHARE_VERSION = 1
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_GUARDIAN_INFO = b"anima/escrow/share-to-guardian/v1\x00"
_RELEASE_INFO = b"anima/escrow/share-to-recovering-enclave/v1\x00"
_FIELDS = {"v", "agent_id", "escrow_id", "index", "threshold", "shares", "share"}
_FIELDS |= {"policy", "identity"}


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowShare:
    """One guardian's share and the terms under which it may be released."""

    agent_id: str
    escrow_id: str  # hex; the same for every share of one split (shares never mix)
    share: Share
    threshold: int
    shares: int
    policy_json: str  # MeasurementPolicy JSON a recovering enclave must satisfy
    identity: bytes  # the agent's log public key: the combined root must derive it

    def __repr__(self) -> str:
        return f"EscrowShare(agent_id={self.agent_id!r}, index={self.share.index})"

    def policy(self) -> MeasurementPolicy:
        return MeasurementPolicy.from_json(self.policy_json)

    def to_bytes(self) -> bytes:
        doc = {
            "v": ESCROW_SHARE_VERSION,
            "agent_id": self.agent_id,
            "escrow_id": self.escrow_id,
            "index": self.share.index,
            "threshold": self.threshold,
            "shares": self.shares,
            "share": self.share.value.hex(),
            "policy": self.policy_json,
            "identity": self.identity.hex(),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> EscrowShare:
        try:
            doc = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MalformedEscrowShare("escrow share is not JSON") from None
        if not isinstance(doc, dict) or set(doc) != _FIELDS:
            fields = sorted(_FIELDS)
            raise MalformedEscrowShare(f"escrow share must have exactly the fields {fields}")
        if doc["v"] != ESCROW_SHARE_VERSION:
            raise MalformedEscrowShare(f"unknown escrow share version {doc['v']!r}")
        try:
            share = Share(_int(doc["index"]), bytes.fromhex(_str(doc["share"])))
            parsed = cls(
                agent_id=_str(doc["agent_id"]),
                escrow_id=_str(doc["escrow_id"]),
                share=share,
                threshold=_int(doc["threshold"]),
                shares=_int(doc["shares"]),
                policy_json=_str(doc["policy"]),
                identity=bytes.fromhex(_str(doc["identity"])),
            )
        except ValueError as exc:
            raise MalformedEscrowShare(f"escrow share field: {exc}") from None
        parsed.check()
        return parsed

    def check(self) -> None:
        if not is_agent_id(self.agent_id):
            raise MalformedEscrowShare("escrow share names no valid agent id")
        if not 1 <= self.threshold <= self.shares <= MAX_SHARES:
            raise MalformedEscrowShare("escrow share threshold/count out of range")
        if not 1 <= self.share.index <= self.shares or len(self.share.value) != SECRET_SIZE:
            raise MalformedEscrowShare("escrow share index or value out of range")
        if len(self.identity) != 32 or len(self.escrow_id) != 32:
            raise MalformedEscrowShare("escrow share identity or escrow id has the wrong size")
        self.policy()  # MalformedMeasurementPolicy if the terms do not parse


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("expected an integer")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _info(prefix: bytes, agent_id: str, extra: bytes = b"") -> bytes:
    return prefix + agent_id.encode() + b"\x00" + extra


def seal_to_guardian(share: EscrowShare, guardian: X25519PublicKey) -> bytes:
    return SUITE.encrypt(share.to_bytes(), guardian, _info(_GUARDIAN_INFO, share.agent_id))


def open_as_guardian(sealed: bytes, guardian: X25519PrivateKey, *, agent_id: str) -> EscrowShare:
    return _open(sealed, guardian, _info(_GUARDIAN_INFO, agent_id), agent_id)


def seal_to_recovering_enclave(share: EscrowShare, recipient: X25519PublicKey) -> bytes:
    info = _info(_RELEASE_INFO, share.agent_id, public_bytes(recipient))
    return SUITE.encrypt(share.to_bytes(), recipient, info)


def open_released(sealed: bytes, recipient: X25519PrivateKey, *, agent_id: str) -> EscrowShare:
    info = _info(_RELEASE_INFO, agent_id, public_bytes(recipient.public_key()))
    return _open(sealed, recipient, info, agent_id)


def _open(sealed: bytes, key: X25519PrivateKey, info: bytes, agent_id: str) -> EscrowShare:
    try:
        plain = SUITE.decrypt(sealed, key, info)
    except (InvalidTag, ValueError):
        raise EscrowShareRefused(
            f"a sealed share for agent {agent_id!r} does not open: sealed to another key, "
            "for another agent, or altered"
        ) from None
    share = EscrowShare.from_bytes(plain)
    if share.agent_id != agent_id:  # pragma: no cover - the HPKE info binds the agent
        raise EscrowShareRefused(f"share is for agent {share.agent_id!r}, not {agent_id!r}")
    return share


def public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
