"""An agent as callers see it (AgentView) and as it is persisted (AgentRecord, files).

Under <data_dir>/agents/<id>/: the character document as given (mode 0600: it
may hold secrets) and agent.json (running flag, creation time, wallet
addresses, log verifier key), each replaced atomically and durably.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima_core.config import ConfigError
from anima_runtime.character.load import load_character
from anima_runtime.character.model import Character
from anima_runtime.errors import InvalidCharacter
from anima_runtime.log.durable import fsync_dir

CHARACTER_FILE = "character.json"
RECORD_FILE = "agent.json"
RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """agent.json: what survives a restart besides the character and the log."""

    agent_id: str
    name: str
    running: bool
    created_at: str
    wallets: tuple[str, ...]
    log_verifier_key: str
    model: str = ""
    knowledge_dir: str | None = None

    def to_json(self) -> bytes:
        data = {
            "version": RECORD_VERSION,
            "agent_id": self.agent_id,
            "name": self.name,
            "running": self.running,
            "created_at": self.created_at,
            "wallets": list(self.wallets),
            "log_verifier_key": self.log_verifier_key,
            "model": self.model,
            "knowledge_dir": self.knowledge_dir,
        }
        return json.dumps(data, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> AgentRecord:
        try:
            doc = json.loads(data)
            if doc.get("version") != RECORD_VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            record = cls(
                agent_id=_typed(doc, "agent_id", str),
                name=_typed(doc, "name", str),
                running=_typed(doc, "running", bool),
                created_at=_typed(doc, "created_at", str),
                wallets=_strings(doc, "wallets"),
                log_verifier_key=_typed(doc, "log_verifier_key", str),
                model=_typed(doc, "model", str),
                knowledge_dir=_knowledge_dir(doc),
            )
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"agent record {source} is unreadable: {exc}") from None
        if record.agent_id != source.parent.name:
            raise ConfigError(f"agent record {source} names agent {record.agent_id!r}")
        return record


def _typed(doc: Mapping[str, Any], key: str, kind: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"{key} is not a {kind.__name__}")
    return value


def _strings(doc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _typed(doc, key, list)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{key} is not a list of strings")
    return tuple(items)


def _knowledge_dir(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("knowledge_dir")
    if value is not None and not (isinstance(value, str) and Path(value).is_absolute()):
        raise ValueError("knowledge_dir is neither null nor an absolute path")
    return value


# ---------------------------------------------------------------- files


def document_bytes(character: Character) -> bytes:
    """The character's document as it is persisted (InvalidCharacter if it has none)."""
    document = character.document()
    if not document:  # built in code, not loaded from a document: nothing to write back
        raise InvalidCharacter(
            f"character {character.name!r} has no document to persist; load or parse one"
        )
    return json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"


def read_agent(directory: Path) -> tuple[AgentRecord, Character]:
    path = directory / RECORD_FILE
    return AgentRecord.from_json(path.read_bytes(), path), load_character(
        directory / CHARACTER_FILE
    )


def write_new_agent(directory: Path, document: bytes, record: AgentRecord) -> None:
    directory.mkdir(mode=0o700)
    write_private(directory / CHARACTER_FILE, document)
    write_private(directory / RECORD_FILE, record.to_json())
    fsync_dir(directory.parent)


def write_private(path: Path, data: bytes) -> None:
    """Owner-only file, replaced atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover tmp file kept its old mode
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)  # the rename itself survives a power cut
