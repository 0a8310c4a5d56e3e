"""C2SP signed-note keys (https://c2sp.org/signed-note), Ed25519 flavour.

A verifier key is `name+keyid+base64(0x01 || public key)`, where keyid is the
first four bytes of SHA-256(name || "\\n" || 0x01 || public key).
"""

from __future__ import annotations

import base64
import hashlib

ED25519_ALGORITHM = b"\x01"


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" for c in name)


def key_id(name: str, public_key: bytes) -> bytes:
    digest = hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + public_key).digest()
    return digest[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string for an Ed25519 public key under a key name."""
    if not _valid_name(name):
        raise ValueError(f"note key name {name!r} must be non-empty, without spaces or '+'")
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    encoded = base64.b64encode(ED25519_ALGORITHM + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"
