"""Canonical fingerprints of sign requests and stored answers for idempotency keys."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from enum import Enum
from typing import Any

from anima_signer_api.types import (
    Ed25519Signature,
    EthSignature,
    Payload,
    SignedTransaction,
    SignResult,
)

_RESULT_TYPES: dict[str, type[SignResult]] = {
    "eth_signature": EthSignature,
    "transaction": SignedTransaction,
    "ed25519": Ed25519Signature,
}
_RESULT_NAMES = {cls: name for name, cls in _RESULT_TYPES.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def fingerprint(payload: Payload) -> bytes:
    """SHA-256 over a canonical JSON of the payload and its type."""
    document = {"type": type(payload).__name__, "payload": _plain(payload)}
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).digest()


def result_to_json(result: SignResult) -> str:
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    encoded = {k: v.hex() if isinstance(v, bytes) else v for k, v in fields.items()}
    return json.dumps({"type": _RESULT_NAMES[type(result)], "fields": encoded}, sort_keys=True)


def result_from_json(text: str) -> SignResult:
    document = json.loads(text)
    cls = _RESULT_TYPES[document["type"]]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in document["fields"]:
            continue  # a field added later (log_index): its default
        value = document["fields"][f.name]
        kwargs[f.name] = bytes.fromhex(value) if f.type == "bytes" else value
    return cls(**kwargs)
