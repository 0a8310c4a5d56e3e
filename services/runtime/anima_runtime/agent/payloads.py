"""What the agent writes into its log: canonical JSON payloads with secrets redacted.

A payload is canonical JSON (sorted keys, no whitespace, UTF-8) of the entry's
document plus the payload version, with every character secret value replaced
by "[redacted]". Prompts are never logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from anima_runtime.agent.compose import describe_error
from anima_runtime.character.model import REDACTED, Character
from anima_runtime.log.items import LogItem
from anima_verify.tlog.entry import EntryKind

AGENT_ACTOR = "agent"  # the log actor of the agent's own entries
PAYLOAD_VERSION = 1
MAX_DATA_BYTES = 64 * 1024  # an action's or evaluator's data, as logged
# Shorter values are not searched for: configuration kept under `secrets` ("3000",
# "true", "gpt-4o") would otherwise blank ordinary words in what users say, and
# credentials (API keys, tokens, private keys) are longer than this.
MIN_SECRET_CHARS = 8

ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=lambda o: dict(o) if isinstance(o, Mapping) else str(o),
)


class Redactor:
    """Replaces the character's secret values wherever they would be logged, stored or
    sent: every secret string, a `settings.secrets` value shadowed by a top-level one
    included; never a boolean or number (`true`, `3000` are ordinary words)."""

    def __init__(self, character: Character) -> None:
        values = character.secrets.every_value()
        # Longest first: a secret that holds another is replaced whole.
        self._values = sorted(
            (v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True
        )

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def document(self, value: Any) -> Any:
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.document(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.document(v) for v in value]
        return value

    def log_item(
        self,
        kind: EntryKind,
        document: Mapping[str, Any],
        *,
        room: str,
        actor: str = AGENT_ACTOR,
    ) -> LogItem:
        """The log entry of `document`: versioned, redacted, canonical JSON."""
        payload = {"v": PAYLOAD_VERSION, **self.document(document)}
        return LogItem(kind=kind, actor=actor, room=room, payload=ENCODER.encode(payload).encode())


def loggable(data: Mapping[str, Any]) -> dict[str, Any]:
    """A plugin's data as plain JSON, or a note of why it could not be logged."""
    try:
        encoded = ENCODER.encode(dict(data))
    except (TypeError, ValueError) as exc:
        return {"unloggable": describe_error(exc)}
    if len(encoded) > MAX_DATA_BYTES:  # characters; at least as many bytes
        return {"omitted": f"{len(encoded)} characters of data; at most {MAX_DATA_BYTES}"}
    plain: dict[str, Any] = json.loads(encoded)
    return plain
