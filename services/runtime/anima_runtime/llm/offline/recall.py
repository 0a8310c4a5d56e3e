"""Recall: a question about the user answered from the facts known about them or from
their own earlier statements ("You told me you live in Lisbon."), scored by closeness to
the question, by the words they share and by whether the fact's key is the one asked
for; and the acknowledgment of a statement the rules read."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anima_memory_api.types import Matrix, ScoredMemory
from anima_runtime.llm.offline.facts import key_of
from anima_runtime.llm.offline.persons import first_person, second_person, swap_persons
from anima_runtime.llm.offline.questions import asked_keys, key_asked
from anima_runtime.llm.offline.statements import claims_in
from anima_runtime.llm.offline.words import normalized, wordset

if TYPE_CHECKING:
    from anima_runtime.agent.state import State

RECALL_MIN = 0.45  # cosine plus the bonuses below
KEY_BONUS = 0.6  # the fact's key is what the question asks for ("where do I live" -> lives_in)
LEXICAL_WEIGHT = 0.35  # times the share of the question's content words the fact has
FACT_PREFERENCE = 0.05  # a stored fact over an earlier message saying the same
_STOP = wordset(
    """what whats where when who whom whose which why how do does did is are am was were can
    could would will should have has had i me my mine myself you your the a an to of in on at
    for and or remember know tell told say said again please recall about"""
)


@dataclass(frozen=True, slots=True)
class Recalled:
    text: str  # "You told me you live in Lisbon."
    source: str  # fact | memory
    score: float
    matched: str  # the stored text it came from


def recall(state: State, vector: Matrix) -> Recalled | None:
    """The answer to a question about the user from the known facts and the user's own
    earlier statements, or None when nothing is close enough."""
    text = state.message.content.text
    asked = asked_keys(text)
    if not asked and not re.search(r"\b(?:i|me|my|mine|myself)\b", normalized(text), re.I):
        return None
    names = [speaker_name(state)]
    wanted = _stems(text)
    found: list[tuple[float, str, str, str, str]] = []  # score, phrase, source, matched, key
    fact_keys: set[str] = set()
    for scored in state.facts:
        fact, key = scored.memory, key_of(scored.memory)
        if fact.entity_id != state.message.entity_id:
            continue  # another user's fact
        fact_keys.add(key)
        score = (
            similarity(scored, vector) + FACT_PREFERENCE + _related(wanted, fact.text, key, asked)
        )
        found.append((score, second_person(fact.text, names), "fact", fact.text, key))
    for scored in state.memories:
        said = scored.memory
        if said.entity_id != state.message.entity_id or said.id == state.message.id:
            continue
        if "?" in said.text:
            continue
        cosine = similarity(scored, vector)
        claims = claims_in(said.text)
        for claim in claims:
            if not claim.retract and claim.key not in fact_keys:
                score = cosine + _related(wanted, claim.text("the user"), claim.key, asked)
                phrase = second_person(claim.text("The user"))
                found.append((score, phrase, "memory", said.text, claim.key))
        sentences = re.split(r"(?<=[.!?])\s+", said.text.strip())
        own = next((s for s in sentences if re.match(r"(?:i|my|i'm|i've)\b", s, re.I)), "")
        if own and not claims:
            score = cosine + _related(wanted, own, "", asked)
            found.append((score, swap_persons(own.rstrip(".!")), "memory", said.text, ""))
    if asked:  # "what's my name?" is answered by a name or not at all
        found = [f for f in found if key_asked(f[4], asked)]
    found.sort(key=lambda item: -item[0])
    if not found or found[0][0] < RECALL_MIN:
        return None
    score, phrase, source, matched, _ = found[0]
    phrases = [phrase]
    if any(a.endswith(":") for a in asked):  # "what do I like?": every liking it knows
        phrases = list(dict.fromkeys(f[1] for f in found if key_asked(f[4], asked)))[:3] or phrases
    return Recalled(f"You told me {_joined(phrases)}.", source, score, matched)


def acknowledgment(text: str) -> str:
    """What the agent says to a statement the rules read ("Good to know: you live in
    Porto."); "" when they read none."""
    claims = claims_in(text)
    names = [c.value for c in claims if c.key == "name" and not c.retract]
    told = [second_person(c.text("The user")) for c in claims if c.key != "name" and not c.retract]
    said = [f"Nice to meet you, {names[0]}."] if names else []
    said += [f"Good to know: {_joined(list(dict.fromkeys(told))[:3])}."] if told else []
    return " ".join(said) or ("Noted, thanks for telling me." if claims else "")


def speaker_name(state: State) -> str:
    """The user's name: as the runtime gave it, else from a known name fact; "" if unknown."""
    fields = state.message.content.fields
    for value in (
        state.values.get("senderName"),
        state.values.get("userName"),
        fields.get("name"),
        fields.get("userName"),
        fields.get("user_name"),
        fields.get("senderName"),
    ):
        name = value.strip() if isinstance(value, str) else ""
        if name and name != state.message.entity_id and _not_an_id(name):
            return name
    for scored in state.facts:
        fact = scored.memory
        if fact.entity_id == state.message.entity_id and key_of(fact) == "name":
            claims = claims_in(first_person(fact.text))
            if claims and claims[0].key == "name":
                return claims[0].value
    return ""


def similarity(scored: ScoredMemory, vector: Matrix) -> float:
    """Cosine to the message when the memory came with its vector, else the store's score."""
    own = scored.memory.vector
    return float(own @ vector) if own.shape == vector.shape else float(scored.score)


def _related(wanted: set[str], text: str, key: str, asked: Sequence[str]) -> float:
    shared = len(wanted & _stems(text)) / len(wanted) if wanted else 0.0
    return LEXICAL_WEIGHT * shared + (KEY_BONUS if key and key_asked(key, asked) else 0.0)


def _stems(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", normalized(text).lower().replace("'s", ""))
    return {_stem(w) for w in words if w not in _STOP}


def _stem(word: str) -> str:
    """Crude, but "live", "lives", "lived" and "living" meet, as do "name" and "named"."""
    for suffix, replacement in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"),
                                ("ss", "ss"), ("ing", ""), ("ed", ""), ("s", "")):  # fmt: skip
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + replacement
            break
    return word.rstrip("e") if len(word) > 3 else word


def _joined(phrases: Sequence[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _not_an_id(name: str) -> bool:
    return re.search(r"[A-Za-z]", name) is not None and not re.fullmatch(
        r"[0-9a-fA-F-]{32,36}", name
    )
