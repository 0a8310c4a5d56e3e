"""The owner's policy document: its JSON shape, strict parsing, and the EIP-712 data the
owner signs. Pure: no I/O, no CEL (the enclave compiles the rules), no keys.

An owner writes a document, signs `owner_typed_data(...)` with the key of the
address named at the agent's creation, and hands both to ApplyPolicy. The
signature covers SHA-256 of the document's exact UTF-8 bytes and binds the
agent (id and first wallet address, so a document for one deployment's agent
does not apply to another's) and the version (the enclave takes only higher
versions, so an old document cannot be replayed).

Shape (unknown keys anywhere are refused, so a typo never silently drops a limit):

    {"schema": "anima.policy/v1", "agent_id": "alice", "version": 2,
     "lists": {"blocked": ["0x..."]},
     "rules": [{"id": "no-blocked", "effect": "deny", "when": "eth.tx.to in lists.blocked"},
               {"id": "small", "effect": "allow", "payloads": ["transaction"],
                "chain_ids": [31337], "when": "wei_le(eth.tx.max_cost, '10000')"}],
     "windows": [{"id": "daily-eth", "asset": "native", "chain_id": 31337,
                  "rolling_seconds": 86400, "max_amount": "10000", "max_count": 5}],
     "cosign": {"rule_ids": ["large"], "ttl_seconds": 3600}}

Amounts are decimal strings (CEL integers are 64-bit; wei is not).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from anima_signer_api.errors import PolicyRejected
from anima_signer_api.types import UINT256_MAX

SCHEMA: Final = "anima.policy/v1"
MAX_DOCUMENT_BYTES: Final = 64 * 1024
MAX_RULES: Final = 256
MAX_WINDOWS: Final = 64
MAX_LISTS: Final = 32
MAX_LIST_ADDRESSES: Final = 1024
MAX_CONDITION_CHARS: Final = 2048
MAX_VERSION: Final = 2**63 - 1
MAX_WINDOW_SECONDS: Final = 366 * 86400
PAYLOAD_KINDS: Final = frozenset({"transaction", "typed_data", "personal_message", "raw_ed25519"})
CALENDAR_PERIODS: Final = frozenset({"hour", "day", "month"})
# Assets a window counts: the chain's coin (value plus the worst-case fee), every
# signature ("any": a rate limit), or an ERC-20 token contract's amounts.
NATIVE: Final = "native"
ANY: Final = "any"
# Names the engine uses itself; a document may not take them.
RESERVED_RULE_IDS: Final = frozenset(
    {"default_deny", "no_policy", "cosign_required", "cosign_queue_full", "policy_changed"}
)

_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DOMAIN: Final = {"name": "Anima Policy", "version": "1"}
_TYPES: Final = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
    "AnimaPolicy": [
        {"name": "agentId", "type": "string"},
        {"name": "agentAddress", "type": "address"},
        {"name": "version", "type": "uint64"},
        {"name": "documentHash", "type": "bytes32"},
    ],
}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    effect: str  # "allow" | "deny"
    when: str  # a CEL condition; "" matches every request the filters let through
    payloads: frozenset[str]  # empty: every kind
    chain_ids: frozenset[int]  # empty: any chain (and chain-less payloads)
    to: frozenset[str]  # lowercase; empty: any target


@dataclass(frozen=True, slots=True)
class Window:
    id: str
    asset: str  # NATIVE, ANY, or a lowercase token address
    chain_id: int | None
    rolling_seconds: int | None
    calendar: str | None  # one of CALENDAR_PERIODS
    max_amount: int | None
    max_count: int | None


@dataclass(frozen=True, slots=True)
class Cosign:
    rule_ids: frozenset[str]  # allow rules whose requests wait for the owner's approval
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    agent_id: str
    version: int
    lists: dict[str, frozenset[str]]
    rules: tuple[Rule, ...]
    windows: tuple[Window, ...]
    cosign: Cosign | None
    text: str  # the exact document the owner signed


_APPROVAL_TYPES: Final = {
    "EIP712Domain": _TYPES["EIP712Domain"],
    "AnimaApproval": [
        {"name": "agentId", "type": "string"},
        {"name": "agentAddress", "type": "address"},
        {"name": "approvalId", "type": "bytes32"},
        {"name": "requestHash", "type": "bytes32"},
    ],
}


def approval_typed_data(
    *, agent_id: str, agent_address: str, approval_id: str, request_hash: bytes
) -> dict[str, Any]:
    """The EIP-712 data the owner signs to co-sign one pending request: its approval id
    and the hash of the exact request (so the approval fits no other payload)."""
    return {
        "types": _APPROVAL_TYPES,
        "primaryType": "AnimaApproval",
        "domain": dict(_DOMAIN),
        "message": {
            "agentId": agent_id,
            "agentAddress": agent_address,
            "approvalId": "0x" + approval_id,
            "requestHash": "0x" + request_hash.hex(),
        },
    }


def document_hash(text: str) -> bytes:
    """SHA-256 of the document's UTF-8 bytes, as the owner's signature binds it."""
    return hashlib.sha256(text.encode()).digest()


def owner_typed_data(document: PolicyDocument, *, agent_address: str) -> dict[str, Any]:
    """The EIP-712 data the owner signs to approve `document` for the agent."""
    return {
        "types": _TYPES,
        "primaryType": "AnimaPolicy",
        "domain": dict(_DOMAIN),
        "message": {
            "agentId": document.agent_id,
            "agentAddress": agent_address,
            "version": document.version,
            "documentHash": "0x" + document_hash(document.text).hex(),
        },
    }


# ---------------------------------------------------------------- parsing


def _fail(path: str, problem: str) -> PolicyRejected:
    return PolicyRejected(f"policy {path}: {problem}")


def _object(value: object, path: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be a JSON object")
    unknown = set(value) - required - optional
    if unknown:
        raise _fail(
            path, f"unknown field(s) {sorted(unknown)} (allowed: {sorted(required | optional)})"
        )
    missing = required - set(value)
    if missing:
        raise _fail(path, f"missing field(s) {sorted(missing)}")
    return value


def _int(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"must be an integer from {low} to {high}")
    return value


def _wei(value: object, path: str) -> int:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 78:
        raise _fail(path, "must be a decimal string of wei")
    amount = int(value)
    if amount > UINT256_MAX:
        raise _fail(path, "exceeds 2**256-1")
    return amount


def _id(value: object, path: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise _fail(path, "must be 1-64 of a-z 0-9 _ . - starting with a letter or digit")
    return value


def _address(value: object, path: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise _fail(path, "must be a 0x-prefixed 20-byte hex address")
    return value.lower()


def _list(value: object, path: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise _fail(path, f"must be a list of at most {limit} items")
    return value


def _rule(raw: object, path: str) -> Rule:
    fields = _object(raw, path, {"id", "effect"}, {"when", "payloads", "chain_ids", "to"})
    rule_id = _id(fields["id"], f"{path}.id")
    if rule_id in RESERVED_RULE_IDS:
        raise _fail(f"{path}.id", f"{rule_id!r} is reserved")
    if fields["effect"] not in ("allow", "deny"):
        raise _fail(f"{path}.effect", "must be 'allow' or 'deny'")
    when = fields.get("when", "")
    if not isinstance(when, str) or len(when) > MAX_CONDITION_CHARS:
        raise _fail(f"{path}.when", f"must be a CEL string of at most {MAX_CONDITION_CHARS} chars")
    payloads = _list(fields.get("payloads", []), f"{path}.payloads", len(PAYLOAD_KINDS))
    if any(p not in PAYLOAD_KINDS for p in payloads):
        raise _fail(f"{path}.payloads", f"must name kinds from {sorted(PAYLOAD_KINDS)}")
    chain_ids = _list(fields.get("chain_ids", []), f"{path}.chain_ids", 64)
    targets = _list(fields.get("to", []), f"{path}.to", MAX_LIST_ADDRESSES)
    return Rule(
        id=rule_id,
        effect=fields["effect"],
        when=when,
        payloads=frozenset(payloads),
        chain_ids=frozenset(_int(c, f"{path}.chain_ids", 1, 2**64 - 1) for c in chain_ids),
        to=frozenset(_address(a, f"{path}.to") for a in targets),
    )


def _window(raw: object, path: str) -> Window:
    fields = _object(
        raw,
        path,
        {"id", "asset"},
        {"chain_id", "rolling_seconds", "calendar", "max_amount", "max_count"},
    )
    asset = fields["asset"]
    if asset not in (NATIVE, ANY):
        asset = _address(asset, f"{path}.asset")
    rolling = fields.get("rolling_seconds")
    calendar = fields.get("calendar")
    if (rolling is None) == (calendar is None):
        raise _fail(path, "needs exactly one of rolling_seconds and calendar")
    if rolling is not None:
        rolling = _int(rolling, f"{path}.rolling_seconds", 1, MAX_WINDOW_SECONDS)
    if calendar is not None and calendar not in CALENDAR_PERIODS:
        raise _fail(f"{path}.calendar", f"must be one of {sorted(CALENDAR_PERIODS)}")
    max_amount = fields.get("max_amount")
    max_count = fields.get("max_count")
    if max_amount is None and max_count is None:
        raise _fail(path, "needs max_amount, max_count or both")
    if asset == ANY and max_amount is not None:
        raise _fail(f"{path}.max_amount", "an 'any' window counts signatures: use max_count")
    chain_id = fields.get("chain_id")
    return Window(
        id=_id(fields["id"], f"{path}.id"),
        asset=asset,
        chain_id=None if chain_id is None else _int(chain_id, f"{path}.chain_id", 1, 2**64 - 1),
        rolling_seconds=rolling,
        calendar=calendar,
        max_amount=None if max_amount is None else _wei(max_amount, f"{path}.max_amount"),
        max_count=None if max_count is None else _int(max_count, f"{path}.max_count", 0, 2**32),
    )


def parse_document(text: str) -> PolicyDocument:
    """Parse and check a document's shape; PolicyRejected names what is wrong."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise PolicyRejected(f"policy document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        raw = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise PolicyRejected(f"policy document is not valid JSON: {exc}") from exc
    fields = _object(
        raw, "document", {"schema", "agent_id", "version", "rules"}, {"lists", "windows", "cosign"}
    )
    if fields["schema"] != SCHEMA:
        raise _fail("schema", f"must be {SCHEMA!r}")
    if not isinstance(fields["agent_id"], str):
        raise _fail("agent_id", "must be a string")
    lists_raw = fields.get("lists", {})
    if not isinstance(lists_raw, dict) or len(lists_raw) > MAX_LISTS:
        raise _fail("lists", f"must be an object of at most {MAX_LISTS} named address lists")
    lists = {
        _id(name, f"lists.{name}"): frozenset(
            _address(a, f"lists.{name}") for a in _list(v, f"lists.{name}", MAX_LIST_ADDRESSES)
        )
        for name, v in lists_raw.items()
    }
    rules = tuple(
        _rule(r, f"rules[{i}]") for i, r in enumerate(_list(fields["rules"], "rules", MAX_RULES))
    )
    windows = tuple(
        _window(w, f"windows[{i}]")
        for i, w in enumerate(_list(fields.get("windows", []), "windows", MAX_WINDOWS))
    )
    for what, ids in (("rules", [r.id for r in rules]), ("windows", [w.id for w in windows])):
        if len(set(ids)) != len(ids):
            raise _fail(what, "ids must be unique")
    cosign = None
    if "cosign" in fields:
        c = _object(fields["cosign"], "cosign", {"rule_ids", "ttl_seconds"}, set())
        cosign = Cosign(
            rule_ids=frozenset(
                _id(r, "cosign.rule_ids")
                for r in _list(c["rule_ids"], "cosign.rule_ids", MAX_RULES)
            ),
            ttl_seconds=_int(c["ttl_seconds"], "cosign.ttl_seconds", 1, 7 * 86400),
        )
        allow_ids = {r.id for r in rules if r.effect == "allow"}
        if not cosign.rule_ids <= allow_ids:
            raise _fail("cosign.rule_ids", "must name allow rules of this document")
    return PolicyDocument(
        agent_id=fields["agent_id"],
        version=_int(fields["version"], "version", 1, MAX_VERSION),
        lists=lists,
        rules=rules,
        windows=windows,
        cosign=cosign,
        text=text,
    )


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
