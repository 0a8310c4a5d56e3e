"""A claim: what a statement rule reads in one clause of the user's ("I live in Lisbon"),
keyed by the one thing it is about, so that facts about the same thing can be found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Claim:
    key: str  # lives_in, works_at, likes:cats, favorite:color, has:dog named rex ...
    value: str  # what a known fact must mention to say the same thing
    predicate: str  # third person without its subject: "lives in Lisbon", "'s name is Ada"
    retract: bool = False

    def text(self, subject: str) -> str:
        return subject + ("" if self.predicate.startswith("'s") else " ") + self.predicate
