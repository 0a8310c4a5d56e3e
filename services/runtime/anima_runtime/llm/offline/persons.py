"""Person swaps: a stored fact as the agent says it to the user ("Ada lives in Lisbon"
-> "you live in Lisbon"), as the rules read it ("I live in Lisbon"), and the user's own
words said back ("I told you" -> "you told me")."""

from __future__ import annotations

import re
from collections.abc import Iterable

from anima_runtime.llm.offline.words import normalized, wordset

_SUBJECT = re.compile(
    r"^(?P<who>(?i:the user|user|the person)|[A-Z][\w.-]*(?: [A-Z][\w.-]*)?)(?P<own>'s)?\s+"
)
_NOT_SUBJECTS = wordset("he she they it this that there these those i you we the a an my")
_THIRD_TO_BASE = {"is": "are", "was": "were", "has": "have", "does": "do", "doesn't": "don't",
                  "isn't": "aren't", "wasn't": "weren't", "hasn't": "haven't"}  # fmt: skip
_ADVERBS = wordset("really also still now just no longer usually often never always")


def second_person(fact: str, names: Iterable[str] = ()) -> str:
    """ "Ada lives in Lisbon" -> "you live in Lisbon"; "The user's name is Ada" -> "your
    name is Ada". Other facts only get "the user" turned into "you"."""
    text = normalized(fact).rstrip(".!")
    split = _user_subject(text, names)
    if split is None:
        text = re.sub(r"\bthe user's\b", "your", text, flags=re.IGNORECASE)
        return re.sub(
            r"\bthe user(?: (\S+))?",
            lambda m: "you" + (" " + _base_form(m.group(1)) if m.group(1) else ""),
            text,
            flags=re.IGNORECASE,
        )
    possessive, rest = split
    rest = re.sub(r"\b(?:the user's|his|her|their)\b", "your", rest, flags=re.IGNORECASE)
    if possessive:
        return "your " + rest
    words = rest.split(" ")
    for i, word in enumerate(words):
        if word.lower() not in _ADVERBS:
            words[i] = _base_form(word)
            break
    return "you " + " ".join(words)


def first_person(fact: str) -> str:
    """ "Ada lives in Lisbon" -> "I live in Lisbon": lets the rules read stored facts."""
    text = normalized(fact).rstrip(".!")
    if _user_subject(text, ()) is None:
        return text
    second = second_person(text)
    for you, me in (("your", "my"), ("you are", "I am"), ("you were", "I was"), ("you", "I")):
        if second.startswith(you + " "):
            return me + second[len(you) :]
    return second


def _user_subject(text: str, names: Iterable[str]) -> tuple[bool, str] | None:
    """(possessive, the rest) when a fact's subject is the user; None when it is not."""
    found = _SUBJECT.match(text) or _SUBJECT.match(text[:1].upper() + text[1:])
    if found is None:
        return None
    who = found.group("who").lower()
    users = {"the user", "user", "the person", *(n.lower() for n in names if n)}
    if who not in users and (
        who.split()[0] in _NOT_SUBJECTS or re.search(r"\bthe user\b", text, re.I)
    ):
        return None
    return bool(found.group("own")), text[found.end() :]


_SWAP = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
         "i'm": "you're", "i've": "you've", "i'd": "you'd", "i'll": "you'll",
         "your": "my", "yours": "mine", "yourself": "myself",
         "you're": "I'm", "you've": "I've", "you'll": "I'll", "you'd": "I'd"}  # fmt: skip
_AFTER_SUBJECT = wordset(
    """am are was were have had do did can could will would should may might must know
    knew said told asked think thought want wanted mean meant need like love see saw said"""
)


def swap_persons(text: str) -> str:
    """The user's own words as the agent says them back: "I told you" -> "you told me"."""
    parts = re.split(r"(\b[A-Za-z]+(?:'[a-z]+)?\b)", text)
    words = parts[1::2]
    out = list(words)
    for i, word in enumerate(words):
        lower, after = word.lower(), words[i + 1].lower() if i + 1 < len(words) else ""
        if lower == "i" or (lower == "you" and (i == 0 or after in _AFTER_SUBJECT)):
            out[i] = "you" if lower == "i" else "I"
            if after in {"am", "are", "was", "were"}:
                out[i + 1] = {
                    "i": {"am": "are", "was": "were"},
                    "you": {"are": "am", "were": "was"},
                }[lower].get(after, words[i + 1])
        elif lower == "you":
            out[i] = "me"
        elif lower in _SWAP and out[i] == word:
            out[i] = _SWAP[lower]
    parts[1::2] = out
    return "".join(parts)


def _base_form(verb: str) -> str:
    lower = verb.lower()
    if lower in _THIRD_TO_BASE:
        return _THIRD_TO_BASE[lower]
    if lower.endswith("ies") and len(lower) > 4:
        return verb[:-3] + "y"
    if lower.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]
    if lower.endswith("s") and not lower.endswith("ss"):
        return verb[:-1]
    return verb


# ------------------------------------------------------------------ statements
