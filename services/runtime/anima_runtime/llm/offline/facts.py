"""The fact decision: what the statement rules read in a message, compared by key with
the facts known about its speaker, becomes operations on them (agent/formats.py): add a
fact not known yet, update one whose value changed, delete one the user retracts, or
nothing for a fact already known."""

from __future__ import annotations

import re
from collections.abc import Sequence

from anima_memory_api.types import Memory
from anima_runtime.agent.formats import FactOp
from anima_runtime.llm.offline.persons import first_person
from anima_runtime.llm.offline.statements import claims_in
from anima_runtime.llm.offline.words import mentions

_OPPOSITE = {"likes:": "dislikes:", "dislikes:": "likes:"}


def fact_ops(text: str, known: Sequence[Memory], speaker: str) -> list[FactOp]:
    """Operations that bring the known facts in line with what `text` states."""
    claims = claims_in(text)
    named = next((c.value for c in claims if c.key == "name" and not c.retract), "")
    subject = speaker or named or "The user"
    keyed = [(key_of(m), m) for m in known]
    ops: list[FactOp] = []
    touched: set[str] = set()
    for claim in claims:
        same = [m for k, m in keyed if _same_key(k, claim.key) and m.id not in touched]
        if claim.retract:
            gone = [m for m in same if not claim.value or mentions(m.text, claim.value)]
            ops.extend(FactOp(op="delete", id=m.id) for m in gone)
            touched.update(m.id for m in gone)
            continue
        if any(mentions(m.text, claim.value) for m in same):
            continue  # already known
        text = claim.text("The user" if claim.key == "name" else subject)
        # A key holds one value (as the fact evaluator keeps them): a new value replaces
        # the known one, and "I hate X" replaces "likes X". Things had are keyed whole
        # ("has:dog named rex"), so a second dog is a second fact.
        replaced = same + [m for k, m in keyed if k == _opposite(claim.key) and m.id not in touched]
        if replaced:
            ops.append(FactOp(op="update", id=replaced[0].id, claim=text, key=claim.key))
            touched.add(replaced[0].id)
        elif all(op.key != claim.key for op in ops):
            ops.append(FactOp(op="add", claim=text, key=claim.key))
    return ops


def key_of(fact: Memory) -> str:
    """A known fact's key: the one it was stored with, else what the rules read in it."""
    key = fact.fields.get("key")
    if isinstance(key, str) and key.strip():
        return canonical_key(key)
    claims = claims_in(first_person(fact.text))
    return claims[0].key if len(claims) == 1 else ""


_KEY_ALIASES = {
    "job": "works_as", "occupation": "works_as", "profession": "works_as",
    "work": "works_at", "employer": "works_at", "company": "works_at", "workplace": "works_at",
    "home": "lives_in", "location": "lives_in", "city": "lives_in", "residence": "lives_in",
    "hometown": "from", "origin": "from", "birthplace": "from", "bday": "birthday",
}  # fmt: skip


def canonical_key(key: str) -> str:
    """An LLM's key in these rules' terms: "sam.job" -> "works_as", "sam.favorite_color" ->
    "favorite:color"."""
    key = re.sub(r"^[^.:]+\.(?=[^.]+$)", "", key.strip().lower())
    key = re.sub(r"^favou?rite[_ ]", "favorite:", key)
    return _KEY_ALIASES.get(key, key)


def _same_key(known: str, key: str) -> bool:
    return known == key or (key.endswith(":") and known.startswith(key))


def _opposite(key: str) -> str:
    for prefix, other in _OPPOSITE.items():
        if key.startswith(prefix):
            return other + key[len(prefix) :]
    return ""
