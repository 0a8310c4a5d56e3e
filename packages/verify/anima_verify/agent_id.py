"""The agent id grammar, shared by every service: safe as a path element, a
key-derivation label part and a log origin suffix (no '/', no '+', no spaces)."""

from __future__ import annotations

import re

AGENT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{2,63}")
AGENT_ID_RULE = (
    "3-64 characters of lowercase letters, digits, '-' or '_', starting with a letter or digit"
)


def is_agent_id(value: object) -> bool:
    return isinstance(value, str) and AGENT_ID_PATTERN.fullmatch(value) is not None
