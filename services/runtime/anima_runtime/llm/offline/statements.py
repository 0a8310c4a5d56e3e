"""Reading what a message states about its speaker: the message cut into clauses
(questions left out, fillers such as "well," and "btw" taken off), and each clause read
by the first statement rule (statement_rules.py) that matches it whole.

Questions are left out; conditionals and reported speech ("if I lived...", "she says I
...") match no rule.
"""

from __future__ import annotations

import re

from anima_runtime.llm.offline.claims import Claim
from anima_runtime.llm.offline.statement_rules import RULES
from anima_runtime.llm.offline.words import normalized

MAX_CLAUSE_CHARS = 300

_FILLER = re.compile(
    r"^(?:(?:well|so|also|oh|btw|by the way|actually|and|but|hi|hello|hey|anyway|fyi|"
    r"just so you know|yeah|yes|no|ok|okay|um|uh|hmm|guess what|fun fact)\b[\s,!.:-]*)+",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"(?<=[.!;\n])\s+|,?\s+(?:and|but|so|also|plus)\s+(?=(?:i|i'm|i've|my)\b)|,\s*(?=(?:i|i'm|my)\b)",
    re.IGNORECASE,
)


def claims_in(text: str) -> list[Claim]:
    """Every claim the rules read in a message, in order."""
    return [claim for clause in _clauses(text) for claim in _claims_of(clause)]


def _clauses(text: str) -> list[str]:
    text = normalized(text)
    sentences = re.split(r"(?<=[.!?])\s+|\n+", text)
    clauses: list[str] = []
    for sentence in sentences:
        if sentence.rstrip().endswith("?"):
            continue
        for part in _CLAUSE_BREAK.split(sentence):
            part = _FILLER.sub("", part.strip()).strip()
            if 0 < len(part) <= MAX_CLAUSE_CHARS:  # a fact is stated briefly
                clauses.append(part)
    return clauses


def _claims_of(clause: str) -> list[Claim]:
    for pattern, build in RULES:
        found = pattern.fullmatch(clause)
        if found:
            return [c for c in build(found) if c.value or c.retract]
    return []
