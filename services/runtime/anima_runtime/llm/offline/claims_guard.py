"""Replies the offline model must not repeat as the agent's own: a character's message
examples are made up, so a figure, an address or an unfilled {{placeholder}} in one
would be presented as fact ("13456.124 OM" as the agent's balance).

And the answers a provider verified: a provider result whose `data["answers"]` lists
topic words (the EVM wallet provider: balance, wallet ...) answers a question about
them with its own text, which names what it was verified against.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from anima_runtime.plugins.types import ProviderResult

# An amount (decimals, thousands separators, a currency sign, a percentage, or a number
# followed by a token or currency symbol), an address or hash, or a template slot.
_CLAIMS = re.compile(
    r"\d+\.\d+"
    r"|\d{1,3}(?:,\d{3})+"
    r"|[$€£¥]\s*\d"
    r"|\d+\s*%"
    r"|\b\d+\s*[A-Z]{2,6}\b"
    r"|\b0x[0-9a-fA-F]{8,}"
    r"|\{\{[^}]*\}\}"
)


def makes_unverified_claims(reply: str) -> bool:
    """Whether a (filled) example reply states a figure, address or placeholder."""
    return _CLAIMS.search(reply) is not None


def verified_answer(text: str, providers: Mapping[str, ProviderResult]) -> str | None:
    """A provider's verified sentence when the question is about one of its topics."""
    lowered = text.lower()
    for result in providers.values():
        topics = result.data.get("answers") if isinstance(result.data, Mapping) else None
        if result.text and topics and any(topic in lowered for topic in topics):
            return result.text
    return None
