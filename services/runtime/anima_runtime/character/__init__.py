"""ElizaOS character files (v0.25 and v1 shapes): load, check, inspect.

`load_character(path)` and `parse_character(data, source=...)` return a
`Character`; a file that is not a valid character raises
`anima_runtime.errors.InvalidCharacter` naming the field and the reason.
"""

from anima_runtime.character.load import (
    MAX_CHARACTER_BYTES,
    load_character,
    parse_character,
    parse_character_json,
)
from anima_runtime.character.model import REDACTED, Character, KnowledgeItem, Secrets

__all__ = [
    "MAX_CHARACTER_BYTES",
    "REDACTED",
    "Character",
    "KnowledgeItem",
    "Secrets",
    "load_character",
    "parse_character",
    "parse_character_json",
]
