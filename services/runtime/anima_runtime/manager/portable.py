"""An agent's runtime record as it travels in its life data ("anima.runtime.agent" v1).

What node B's runtime needs to host an agent restored into its signer: the
character document (secrets included: the enclave seals the whole record into a
life-data chunk before it leaves the host) and what agent.json keeps, less the
host's own paths (knowledge_dir) and state (running: a restored agent starts).
The wallets and log key travel so that a restore can check them against the
signer's, never to be trusted on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from anima_runtime.character.load import MAX_CHARACTER_BYTES, parse_character_json
from anima_runtime.character.model import Character
from anima_runtime.errors import InvalidAgentRecord, InvalidCharacter
from anima_runtime.manager.records import AgentRecord, document_bytes
from anima_verify import jsonsafe

FORMAT: Final = "anima.runtime.agent"
VERSION: Final = 1
#: The character plus a few short fields and JSON's string escaping.
MAX_RECORD_BYTES: Final = 2 * MAX_CHARACTER_BYTES + 64 * 1024
_FIELDS: Final = frozenset(
    {"format", "version", "agent_id", "name", "created_at", "wallets", "log_verifier_key",
     "model", "character"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PortableAgent:
    """A parsed record: the agent.json fields that travel, and the checked character."""

    record: AgentRecord
    character: Character


def export_record(record: AgentRecord, character: Character) -> bytes:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "agent_id": record.agent_id,
        "name": record.name,
        "created_at": record.created_at,
        "wallets": list(record.wallets),
        "log_verifier_key": record.log_verifier_key,
        "model": record.model,
        # As text: the restore re-runs the character loader's own checks on it.
        "character": document_bytes(character).decode(),
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()


def parse_record(data: bytes) -> PortableAgent:
    """The record in `data`; InvalidAgentRecord naming what is wrong."""
    if len(data) > MAX_RECORD_BYTES:
        raise InvalidAgentRecord(f"the agent record is larger than {MAX_RECORD_BYTES} bytes")
    try:
        doc = jsonsafe.loads(data.decode("utf-8"), what="the agent record")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidAgentRecord(f"the agent record is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidAgentRecord("the agent record is not a JSON object")
    if set(doc) != _FIELDS:
        raise InvalidAgentRecord(
            f"the agent record's fields are {sorted(doc)}, not {sorted(_FIELDS)}"
        )
    if doc["format"] != FORMAT or doc["version"] != VERSION:
        raise InvalidAgentRecord(
            f"the agent record is {doc['format']!r} v{doc['version']!r}, not {FORMAT!r} v{VERSION}"
        )
    wallets = doc["wallets"]
    if not isinstance(wallets, list) or not all(isinstance(w, str) for w in wallets):
        raise InvalidAgentRecord("the agent record's wallets are not a list of strings")
    try:
        character = parse_character_json(_text(doc, "character"), source="record.character")
    except InvalidCharacter as exc:
        raise InvalidAgentRecord(f"the agent record's character: {exc.message}") from None
    record = AgentRecord(
        agent_id=_text(doc, "agent_id"),
        name=_text(doc, "name"),
        running=True,
        created_at=_text(doc, "created_at"),
        wallets=tuple(wallets),
        log_verifier_key=_text(doc, "log_verifier_key"),
        model=_text(doc, "model"),
    )
    if record.name != character.name:
        raise InvalidAgentRecord("the agent record's name is not its character's")
    return PortableAgent(record=record, character=character)


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc[key]
    if not isinstance(value, str):
        raise InvalidAgentRecord(f"the agent record's {key} is not a string")
    return value
