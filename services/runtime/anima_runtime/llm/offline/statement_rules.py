"""The statement rules: one regular expression per way of stating a fact about oneself
in English, each with what it makes of a match (the claims, see claims.py). The
clause is matched whole (statements.py), so "I live in Lisbon" is read and "I live in
Lisbon? no" is not; the first rule that matches wins, in the order they stand here.

Rules, not understanding: a clause is read only when it starts with the speaker
("I live in Lisbon", "my name is Ada"); a name is taken from "I'm X" only when X is
capitalized and no common adjective or nationality.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from anima_runtime.llm.offline import values
from anima_runtime.llm.offline.claims import Claim
from anima_runtime.llm.offline.values import NOT_NAMES
from anima_runtime.llm.offline.words import wordset

# What may follow a statement and is no part of its value ("I live in Porto now lol").
_TAIL = (
    r"(?:\s+(?:now|anymore|any more|currently|these days|right now|at the moment|nowadays|"
    r"too|as well|lol|haha|though|btw|actually))*[\s.!,:;)~]*"
)
_ADV = r"(?:\s+(?:really|also|actually|currently|now|still|just|recently|totally|absolutely|do))*"
_NOT = r"(?:do not|don't|dont)"
_NOT_HELD = wordset(
    """question problem idea issue feeling meeting lot bit minute moment second sec few couple
    chance look try doubt headache cold day time suggestion request favor favour theory dream
    plan point clue way thing fever"""
)
_JOBS = wordset(
    """nurse doctor teacher engineer developer programmer designer artist writer lawyer chef
    cook pilot student scientist researcher accountant architect musician photographer
    journalist farmer firefighter paramedic pharmacist dentist surgeon professor librarian
    electrician plumber carpenter mechanic consultant manager analyst translator editor
    actor actress baker barista waiter waitress cashier driver soldier police officer
    entrepreneur founder"""
)

Build = Callable[[re.Match[str]], list[Claim]]
#: (the whole-clause pattern, what it makes of a match), in the order they are tried.
RULES: list[tuple[re.Pattern[str], Build]] = []


def _rule(pattern: str, flags: int = re.IGNORECASE) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        RULES.append((re.compile(f"(?:{pattern}){_TAIL}", flags), build))
        return build

    return register


def _one(key: str, value: str, predicate: str, *, retract: bool = False) -> list[Claim]:
    return [Claim(key, value, predicate, retract)] if value or retract else []


# Retractions come first: they contain the positive forms.
@_rule(
    rf"i {_NOT} (?:live|stay) (?:in|at) (?P<v>.+?) any ?more|i no longer live (?:in|at) (?P<w>.+?)"
    r"|i(?:'m| am) (?:not|no longer) living (?:in|at) (?P<x>.+?)(?: any ?more)?"
    r"|i(?: have|'ve)? (?:moved|relocated) (?:away )?(?:from|out of) (?P<y>(?:(?! to ).)+)"
)
def _left_place(m: re.Match[str]) -> list[Claim]:
    value = values.place(next(g for g in m.groups() if g))
    return _one("lives_in", value, "", retract=True)


@_rule(
    rf"i {_NOT} work (?:at|for) (?P<v>.+?) any ?more|i no longer work (?:at|for) (?P<w>.+?)"
    r"|i(?:'m| am) (?:not|no longer) working (?:at|for) (?P<x>.+?)(?: any ?more)?"
    r"|i (?:quit|left|lost) my job(?: (?:at|with) (?P<y>.+?))?"
    r"|i got (?:fired|laid off)(?: from (?P<z>.+?))?"
)
def _left_job(m: re.Match[str]) -> list[Claim]:
    group = next((g for g in m.groups() if g), "")
    return _one("works_at", values.place(group) if group else "", "", retract=True)


@_rule(
    rf"i {_NOT} (?:like|love|enjoy) (?P<v>.+?) any ?more|i no longer (?:like|love|enjoy) (?P<w>.+?)"
)
def _unliked(m: re.Match[str]) -> list[Claim]:
    thing = values.thing(next(g for g in m.groups() if g))
    return _one(f"likes:{values.thing_key(thing)}", "", "", retract=True) if thing else []


@_rule(
    rf"i {_NOT} have (?:a |an |my )?(?P<v>.+?) any ?more|i no longer have (?:a |an |my )?(?P<w>.+?)"
)
def _lost(m: re.Match[str]) -> list[Claim]:
    thing = values.thing(next(g for g in m.groups() if g))
    return _one("has:", values.thing_key(thing).split(" ")[-1], "", retract=True) if thing else []


@_rule(
    r"my name(?: is|'s) (?P<v>.+?)|(?:you can )?call me (?P<w>.+?)|i(?:'m| am) called (?P<x>.+?)"
)
def _named(m: re.Match[str]) -> list[Claim]:
    name = values.name(next(g for g in m.groups() if g))
    return _one("name", name, f"'s name is {name}")


# Case-sensitive: "I'm Ada" names the user, "I'm tired" does not.
@_rule(r"[Ii](?:'m| am) (?P<v>[A-Z][a-z'-]+(?: [A-Z][a-z'-]+)?)", flags=0)
def _introduced(m: re.Match[str]) -> list[Claim]:
    value = m.group("v")
    if any(w.lower() in NOT_NAMES or w.lower().endswith(("ing", "ed", "ly", "ful", "ous", "ive"))
           for w in value.split()):  # fmt: skip
        return []
    return _one("name", value, f"'s name is {value}")


@_rule(
    rf"i{_ADV} (?:live|reside|stay) (?:in|at) (?P<v>.+?)"
    rf"|i(?:'m| am){_ADV} (?:living|based) in (?P<w>.+?)"
    r"|i(?: have|'ve)?(?: just| recently| finally)? (?:moved|relocated)(?: from .+?)? to (?P<x>.+?)"
    r"|my home is in (?P<y>.+?)"
)
def _lives(m: re.Match[str]) -> list[Claim]:
    place = values.place(next(g for g in m.groups() if g))
    return _one("lives_in", place, f"lives in {place}")


@_rule(
    r"i(?:'m| am) (?:originally )?from (?P<v>.+?)|i (?:originally )?come from (?P<w>.+?)"
    r"|i was born (?:and raised )?in (?P<x>.+?)|i grew up in (?P<y>.+?)"
)
def _origin(m: re.Match[str]) -> list[Claim]:
    place = values.place(next(g for g in m.groups() if g))
    return _one("from", place, f"is from {place}")


@_rule(
    rf"i{_ADV} work (?:at|for) (?P<v>.+?)(?: as (?:a |an )?(?P<job>.+?))?"
    rf"|i(?:'m| am){_ADV} (?:working|employed) (?:at|for|by) (?P<w>.+?)"
    r"(?: as (?:a |an )?(?P<job2>.+?))?"
    r"|i (?:got a (?:new )?job|just started|started working|started a new job)"
    r" (?:at|with|for) (?P<x>.+?)"
    r"|my (?:employer|company) is (?P<y>.+?)"
)
def _works_at(m: re.Match[str]) -> list[Claim]:
    place = values.place(next((m.group(g) for g in "vwxy" if m.group(g)), ""))
    claims = _one("works_at", place, f"works at {place}")
    job = m.group("job") or m.group("job2")
    return claims + (_works_as_claim(job) if job else [])


@_rule(
    rf"i{_ADV} work as (?:a |an )?(?P<v>.+?)"
    r"|i(?:'m| am) (?:a |an )(?P<w>.+?) by (?:profession|trade)"
    r"|my (?:job|profession|occupation) is (?:being )?(?:a |an )?(?P<x>.+?)"
    r"|i(?:'m| am) employed as (?:a |an )?(?P<y>.+?)"
    r"|i(?:'m| am) (?:a |an )(?P<z>(?:[a-z-]+ )?(?:" + "|".join(sorted(_JOBS)) + "))"
)
def _works_as(m: re.Match[str]) -> list[Claim]:
    return _works_as_claim(next(g for g in m.groups() if g))


def _works_as_claim(raw: str) -> list[Claim]:
    job = values.job(raw)
    return _one("works_as", job, f"works as {values.article(job)} {job}")


@_rule(
    rf"i{_ADV} (?P<verb>like|love|enjoy|adore) (?P<v>.+?)"
    r"|i(?:'m| am) (?:a (?:big |huge )?fan of|really into|into|passionate about|crazy about)"
    r" (?P<w>.+?)"
)
def _likes(m: re.Match[str]) -> list[Claim]:
    thing = values.thing(m.group("v") or m.group("w"))
    if not thing or re.match(r"to (?:think|say|know|ask|see)\b", thing, re.I):
        return []
    verb = (m.group("verb") or "like").lower()
    return _one(f"likes:{values.thing_key(thing)}", f"{verb}s {thing}", f"{verb}s {thing}")


@_rule(
    rf"i{_ADV} (?P<verb>hate|dislike|detest|despise|can't stand|cannot stand) (?P<v>.+?)"
    rf"|i{_ADV} {_NOT} (?:really )?(?:like|love|enjoy) (?P<w>.+?)"
)
def _dislikes(m: re.Match[str]) -> list[Claim]:
    thing = values.thing(m.group("v") or m.group("w"))
    verb = (m.group("verb") or "").lower()
    predicate = f"{verb}s {thing}" if verb in {"hate", "dislike", "detest", "despise"} else (
        f"doesn't like {thing}")  # fmt: skip
    return _one(f"dislikes:{values.thing_key(thing)}", predicate, predicate) if thing else []


@_rule(r"my (?:favou?rite|fave?) (?P<cat>[a-z]+(?: [a-z]+)?) (?P<be>is|are|'s) (?P<v>.+?)")
def _favorite(m: re.Match[str]) -> list[Claim]:
    thing, category = values.thing(m.group("v")), m.group("cat").lower()
    be = "is" if m.group("be") == "'s" else m.group("be").lower()
    return _one(f"favorite:{category}", thing, f"'s favorite {category} {be} {thing}")


@_rule(r"my (?:birthday|bday|b-day) is (?:on )?(?P<v>.+?)|i was born on (?P<w>.+?)")
def _birthday(m: re.Match[str]) -> list[Claim]:
    day = values.thing(next(g for g in m.groups() if g))
    return _one("birthday", day, f"'s birthday is {day}")


@_rule(r"i(?:'m| am) (?P<v>\d{1,3})(?: years old| yo| yrs old| years of age)?")
def _age(m: re.Match[str]) -> list[Claim]:
    age = m.group("v")
    return _one("age", age, f"is {age} years old") if 0 < int(age) < 120 else []


@_rule(r"my (?P<who>[a-z]+)(?:'s name is| is called| is named| goes by) (?P<v>.+?)")
def _named_other(m: re.Match[str]) -> list[Claim]:
    who, name = m.group("who").lower(), values.name(m.group("v"))
    return _one(f"name_of:{who}", name, f"'s {who} is called {name}")


@_rule(r"i(?: have| have got|'ve got| own) (?P<v>(?:a|an|one|two|three|four|five|\d+) .+?)")
def _has(m: re.Match[str]) -> list[Claim]:
    thing = values.thing(re.sub(r"\s+(?:and|but)\s.*$", "", m.group("v")))
    noun_phrase = re.split(r"\s+(?:named|called|who|that|which|with)\b", thing)[0].split()
    if not thing or len(noun_phrase) < 2 or len(noun_phrase) > 5:
        return []
    head = noun_phrase[-1].lower().rstrip("s") or noun_phrase[-1].lower()
    if head in _NOT_HELD or noun_phrase[-1].lower() in _NOT_HELD:
        return []
    return _one(f"has:{values.thing_key(thing)}", thing, f"has {thing}")
