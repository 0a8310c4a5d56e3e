"""How a statement rule cuts its value out of the rest of a clause: a place ("Lisbon
since May" -> "Lisbon"), a thing, a job or a name; "" when what is left is vague ("it",
"something"), too long to be one, or no name at all ("I'm tired"). Values are kept as
the user wrote them, but for the capitals of a place written in lowercase."""

from __future__ import annotations

import re

from anima_runtime.llm.offline.words import wordset

_PLACE_CUT = re.compile(
    r"\s+(?:with|since|because|for|but|and|where|which|who|so|as|near|if|when|until|last|this"
    r"|next|yesterday|today|recently|earlier|in (?:19|20)\d\d|\d+ \w+ ago|a \w+ \w* ?ago)\b.*$"
    r"|\s*[,(].*$",
    re.IGNORECASE,
)
_THING_CUT = re.compile(r"\s+(?:because|but|since|so|when|if|though)\b.*$|\s*[,(].*$", re.I)
_VAGUE = wordset(
    "it this that you u ya them him her here there these those something anything "
    "nothing everything stuff things everyone someone"
)
NOT_NAMES = wordset(
    """fine good great ok okay alright here back home done ready sorry sure tired happy sad
    hungry busy bored new lost confused well cool excited glad late free sick single married
    vegan vegetarian not so very just also still the a an in on at out up down afraid
    scared curious serious honest fine bad right wrong old young interested sleepy angry
    american british english french german italian spanish canadian chinese japanese indian
    irish scottish welsh dutch portuguese brazilian mexican russian australian korean swedish
    polish greek turkish african european asian christian catholic jewish muslim hindu
    buddhist atheist gay straight human"""
)


def place(value: str) -> str:
    value = _PLACE_CUT.sub("", value).strip(" .!,'\"")
    words = value.split()
    if not words or len(words) > 6 or words[0].lower() in _VAGUE:
        return ""
    if value.islower() and words[0] not in {"the", "a", "an"}:
        small = {"of", "and", "de", "da", "do", "la", "le", "del", "upon"}
        value = " ".join(w if w in small else w.capitalize() for w in words)
    return value


def thing(value: str) -> str:
    value = _THING_CUT.sub("", value).strip(" .!,'\"")
    words = value.split()
    if not words or len(words) > 8 or words[0].lower() in _VAGUE:
        return ""
    if words[0].lower() in {"the", "way", "how", "when", "what", "being"} and len(words) > 4:
        return ""
    return value


def job(value: str) -> str:
    value = _THING_CUT.sub("", re.sub(r"\s+(?:at|for|in)\s.*$", "", value)).strip(" .!,")
    if not value or len(value.split()) > 4 or value.split()[0].lower() in _VAGUE:
        return ""
    return value


def name(value: str) -> str:
    words: list[str] = []
    for word in value.strip(" .,!;:").split():
        if not re.fullmatch(r"[A-Za-z][A-Za-z'.-]*", word) or word.lower() in {
            "and", "but", "i", "from", "by", "btw", "nice", "here", "so"}:  # fmt: skip
            break
        words.append(word if not word.islower() else word.capitalize())
        if len(words) == 3:
            break
    if not words or words[0].lower() in NOT_NAMES | _VAGUE | {"not", "a", "an", "the"}:
        return ""
    return " ".join(words)


def thing_key(thing: str) -> str:
    """A thing as a key names it: "the Beatles" -> "beatles"."""
    words = re.sub(r"^(?:the|a|an|to|my)\s+", "", thing.lower())
    return " ".join(re.findall(r"[a-z0-9'-]+", words))


def article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"
