"""The offline model's English rules: facts read from first-person statements, the
question forms that ask for them back, recall of what the user told before, and the
person swaps it answers with.

Rules, not understanding: a clause is read only when it starts with the speaker
("I live in Lisbon", "my name is Ada"); questions, conditionals and reported
speech are skipped; a name is taken from "I'm X" only when X is capitalized and
no common adjective or nationality. Values are kept as the user wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from anima_memory_api.types import Matrix, Memory, ScoredMemory
from anima_runtime.agent.formats import FactOp

if TYPE_CHECKING:
    from anima_runtime.agent.state import State


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


MAX_CLAUSE_CHARS = 300
_OPPOSITE = {"likes:": "dislikes:", "dislikes:": "likes:"}


@dataclass(frozen=True, slots=True)
class Claim:
    key: str  # lives_in, works_at, likes:cats, favorite:color, has:dog named rex ...
    value: str  # what a known fact must mention to say the same thing
    predicate: str  # third person without its subject: "lives in Lisbon", "'s name is Ada"
    retract: bool = False

    def text(self, subject: str) -> str:
        return subject + ("" if self.predicate.startswith("'s") else " ") + self.predicate


def claims_in(text: str) -> list[Claim]:
    """Every claim the rules read in a message, in order."""
    return [claim for clause in _clauses(text) for claim in _claims_of(clause)]


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


def mentions(text: str, phrase: str) -> bool:
    words = _words(phrase)
    return bool(words) and f" {words} " in f" {_words(text)} "


# ------------------------------------------------------------------ questions

_MY = (  # "what's my", "do you remember my", "tell me my" ...
    r"\b(?:(?:what|who|where|when|which)(?:'s| is| are| was| were)?"
    r"|do you (?:know|remember)|tell me|remind me(?: of)?) my "
)
_ASKED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), key)
    for pattern, key in (
        (_MY + r"(?:favou?rite|fave?) (\w+)", "favorite:{0}"),
        (r"\bwhere (?:do|did) i (?:live|stay)\b|\bwhere am i (?:living|based|staying)\b"
         r"|\bwhere i live\b|" + _MY + r"(?:home ?town|address|city)\b", "lives_in"),
        (r"\bwhere (?:do|did) i work\b|\bwho do i work for\b|\bwhere am i working\b"
         r"|\bwhere i work\b|" + _MY + r"(?:employer|company)\b", "works_at"),
        (r"\bwhat (?:do|did) i do for (?:a )?(?:living|work)\b|\bwhat do i work as\b"
         r"|\bwhat i do for (?:a )?living\b|" + _MY + r"(?:job|profession|occupation)\b",
         "works_as works_at"),
        (_MY + r"name\b|\bwho am i\b|\bwhat am i called\b", "name"),
        (r"\bwhere am i from\b|\bwhere (?:was i born|do i come from)\b|\bwhere i'm from\b",
         "from"),
        (_MY + r"(?:birthday|bday)\b|\bwhen was i born\b", "birthday"),
        (r"\bhow old am i\b|" + _MY + r"age\b", "age"),
        (r"\bwhat (?:do|things do|else do) i (?:like|love|enjoy)\b|\bwhat i (?:like|love)\b"
         r"|" + _MY + r"(?:hobbies|hobby|interests)\b", "likes:"),
        (r"\bwhat (?:do|things do) i (?:hate|dislike)\b", "dislikes:"),
        (r"\bdo i have (?:a|an|any)\b|\bwhat (?:pets? )?do i have\b|" + _MY + r"pets?\b", "has:"),
    )
)  # fmt: skip
_WHAT: dict[str, str] = {
    "lives_in": "where you live", "works_at": "where you work", "works_as": "what you do",
    "name": "your name", "from": "where you are from", "birthday": "your birthday",
    "age": "how old you are", "likes:": "what you like", "dislikes:": "what you dislike",
}  # fmt: skip


def asked_keys(question: str) -> tuple[str, ...]:
    """Fact keys (or key prefixes ending in ':') a question about the user asks for."""
    text = _normalized(question)
    for pattern, keys in _ASKED:
        found = pattern.search(text)
        if found:
            return tuple(k.format(*(g.lower() for g in found.groups())) for k in keys.split())
    return ()


def key_asked(key: str, asked: Iterable[str]) -> bool:
    return any(key == a or (a.endswith(":") and key.startswith(a)) for a in asked)


def unknown_answer(asked: Sequence[str]) -> str:
    what = _WHAT.get(asked[0]) if asked else None
    if what is None and asked and asked[0].startswith("favorite:"):
        what = f"your favorite {asked[0].split(':', 1)[1]}"
    elif what is None and asked and asked[0] == "has:":
        what = "what you have"
    return f"You haven't told me {what or 'that'} yet."


# ------------------------------------------------------------------ recall

RECALL_MIN = 0.45  # cosine plus the bonuses below
KEY_BONUS = 0.6  # the fact's key is what the question asks for ("where do I live" -> lives_in)
LEXICAL_WEIGHT = 0.35  # times the share of the question's content words the fact has
FACT_PREFERENCE = 0.05  # a stored fact over an earlier message saying the same
_STOP = _wordset(
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
    if not asked and not re.search(r"\b(?:i|me|my|mine|myself)\b", _normalized(text), re.I):
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
    words = re.findall(r"[a-z0-9]+", _normalized(text).lower().replace("'s", ""))
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


# ------------------------------------------------------------------ person swaps

_SUBJECT = re.compile(
    r"^(?P<who>(?i:the user|user|the person)|[A-Z][\w.-]*(?: [A-Z][\w.-]*)?)(?P<own>'s)?\s+"
)
_NOT_SUBJECTS = _wordset("he she they it this that there these those i you we the a an my")
_THIRD_TO_BASE = {"is": "are", "was": "were", "has": "have", "does": "do", "doesn't": "don't",
                  "isn't": "aren't", "wasn't": "weren't", "hasn't": "haven't"}  # fmt: skip
_ADVERBS = _wordset("really also still now just no longer usually often never always")


def second_person(fact: str, names: Iterable[str] = ()) -> str:
    """ "Ada lives in Lisbon" -> "you live in Lisbon"; "The user's name is Ada" -> "your
    name is Ada". Other facts only get "the user" turned into "you"."""
    text = _normalized(fact).rstrip(".!")
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
    text = _normalized(fact).rstrip(".!")
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
_AFTER_SUBJECT = _wordset(
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

_FILLER = re.compile(
    r"^(?:(?:well|so|also|oh|btw|by the way|actually|and|but|hi|hello|hey|anyway|fyi|"
    r"just so you know|yeah|yes|no|ok|okay|um|uh|hmm|guess what|fun fact)\b[\s,!.:-]*)+",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"(?<=[.!;\n])\s+|,?\s+(?:and|but|so|also|plus)\s+(?=(?:i|i'm|i've|my)\b)|,\s*(?=(?:i|i'm|my)\b)",
    re.IGNORECASE,
)
_TAIL = (
    r"(?:\s+(?:now|anymore|any more|currently|these days|right now|at the moment|nowadays|"
    r"too|as well|lol|haha|though|btw|actually))*[\s.!,:;)~]*"
)
_ADV = r"(?:\s+(?:really|also|actually|currently|now|still|just|recently|totally|absolutely|do))*"
_NOT = r"(?:do not|don't|dont)"
_PLACE_CUT = re.compile(
    r"\s+(?:with|since|because|for|but|and|where|which|who|so|as|near|if|when|until|last|this"
    r"|next|yesterday|today|recently|earlier|in (?:19|20)\d\d|\d+ \w+ ago|a \w+ \w* ?ago)\b.*$"
    r"|\s*[,(].*$",
    re.IGNORECASE,
)
_THING_CUT = re.compile(r"\s+(?:because|but|since|so|when|if|though)\b.*$|\s*[,(].*$", re.I)
_VAGUE = _wordset(
    "it this that you u ya them him her here there these those something anything "
    "nothing everything stuff things everyone someone"
)
_NOT_NAMES = _wordset(
    """fine good great ok okay alright here back home done ready sorry sure tired happy sad
    hungry busy bored new lost confused well cool excited glad late free sick single married
    vegan vegetarian not so very just also still the a an in on at out up down afraid
    scared curious serious honest fine bad right wrong old young interested sleepy angry
    american british english french german italian spanish canadian chinese japanese indian
    irish scottish welsh dutch portuguese brazilian mexican russian australian korean swedish
    polish greek turkish african european asian christian catholic jewish muslim hindu
    buddhist atheist gay straight human"""
)
_NOT_HELD = _wordset(
    """question problem idea issue feeling meeting lot bit minute moment second sec few couple
    chance look try doubt headache cold day time suggestion request favor favour theory dream
    plan point clue way thing fever"""
)
_JOBS = _wordset(
    """nurse doctor teacher engineer developer programmer designer artist writer lawyer chef
    cook pilot student scientist researcher accountant architect musician photographer
    journalist farmer firefighter paramedic pharmacist dentist surgeon professor librarian
    electrician plumber carpenter mechanic consultant manager analyst translator editor
    actor actress baker barista waiter waitress cashier driver soldier police officer
    entrepreneur founder"""
)


def _clauses(text: str) -> list[str]:
    text = _normalized(text)
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


def _normalized(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\bim\b", "i'm", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(i|I)\s+m\b", r"\1'm", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", _normalized(text).lower()))


def _opposite(key: str) -> str:
    for prefix, other in _OPPOSITE.items():
        if key.startswith(prefix):
            return other + key[len(prefix) :]
    return ""


def _place(value: str) -> str:
    value = _PLACE_CUT.sub("", value).strip(" .!,'\"")
    words = value.split()
    if not words or len(words) > 6 or words[0].lower() in _VAGUE:
        return ""
    if value.islower() and words[0] not in {"the", "a", "an"}:
        small = {"of", "and", "de", "da", "do", "la", "le", "del", "upon"}
        value = " ".join(w if w in small else w.capitalize() for w in words)
    return value


def _thing(value: str) -> str:
    value = _THING_CUT.sub("", value).strip(" .!,'\"")
    words = value.split()
    if not words or len(words) > 8 or words[0].lower() in _VAGUE:
        return ""
    if words[0].lower() in {"the", "way", "how", "when", "what", "being"} and len(words) > 4:
        return ""
    return value


def _name(value: str) -> str:
    words: list[str] = []
    for word in value.strip(" .,!;:").split():
        if not re.fullmatch(r"[A-Za-z][A-Za-z'.-]*", word) or word.lower() in {
            "and", "but", "i", "from", "by", "btw", "nice", "here", "so"}:  # fmt: skip
            break
        words.append(word if not word.islower() else word.capitalize())
        if len(words) == 3:
            break
    if not words or words[0].lower() in _NOT_NAMES | _VAGUE | {"not", "a", "an", "the"}:
        return ""
    return " ".join(words)


def _thing_key(thing: str) -> str:
    words = re.sub(r"^(?:the|a|an|to|my)\s+", "", thing.lower())
    return " ".join(re.findall(r"[a-z0-9'-]+", words))


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


_Build = Callable[[re.Match[str]], list[Claim]]
_RULES: list[tuple[re.Pattern[str], _Build]] = []


def _rule(pattern: str, flags: int = re.IGNORECASE) -> Callable[[_Build], _Build]:
    def register(build: _Build) -> _Build:
        _RULES.append((re.compile(f"(?:{pattern}){_TAIL}", flags), build))
        return build

    return register


def _claims_of(clause: str) -> list[Claim]:
    for pattern, build in _RULES:
        found = pattern.fullmatch(clause)
        if found:
            return [c for c in build(found) if c.value or c.retract]
    return []


def _one(key: str, value: str, predicate: str, *, retract: bool = False) -> list[Claim]:
    return [Claim(key, value, predicate, retract)] if value or retract else []


# Retractions come first: they contain the positive forms.
@_rule(
    rf"i {_NOT} (?:live|stay) (?:in|at) (?P<v>.+?) any ?more|i no longer live (?:in|at) (?P<w>.+?)"
    r"|i(?:'m| am) (?:not|no longer) living (?:in|at) (?P<x>.+?)(?: any ?more)?"
    r"|i(?: have|'ve)? (?:moved|relocated) (?:away )?(?:from|out of) (?P<y>(?:(?! to ).)+)"
)
def _left_place(m: re.Match[str]) -> list[Claim]:
    value = _place(next(g for g in m.groups() if g))
    return _one("lives_in", value, "", retract=True)


@_rule(
    rf"i {_NOT} work (?:at|for) (?P<v>.+?) any ?more|i no longer work (?:at|for) (?P<w>.+?)"
    r"|i(?:'m| am) (?:not|no longer) working (?:at|for) (?P<x>.+?)(?: any ?more)?"
    r"|i (?:quit|left|lost) my job(?: (?:at|with) (?P<y>.+?))?"
    r"|i got (?:fired|laid off)(?: from (?P<z>.+?))?"
)
def _left_job(m: re.Match[str]) -> list[Claim]:
    group = next((g for g in m.groups() if g), "")
    return _one("works_at", _place(group) if group else "", "", retract=True)


@_rule(
    rf"i {_NOT} (?:like|love|enjoy) (?P<v>.+?) any ?more|i no longer (?:like|love|enjoy) (?P<w>.+?)"
)
def _unliked(m: re.Match[str]) -> list[Claim]:
    thing = _thing(next(g for g in m.groups() if g))
    return _one(f"likes:{_thing_key(thing)}", "", "", retract=True) if thing else []


@_rule(
    rf"i {_NOT} have (?:a |an |my )?(?P<v>.+?) any ?more|i no longer have (?:a |an |my )?(?P<w>.+?)"
)
def _lost(m: re.Match[str]) -> list[Claim]:
    thing = _thing(next(g for g in m.groups() if g))
    return _one("has:", _thing_key(thing).split(" ")[-1], "", retract=True) if thing else []


@_rule(
    r"my name(?: is|'s) (?P<v>.+?)|(?:you can )?call me (?P<w>.+?)|i(?:'m| am) called (?P<x>.+?)"
)
def _named(m: re.Match[str]) -> list[Claim]:
    name = _name(next(g for g in m.groups() if g))
    return _one("name", name, f"'s name is {name}")


# Case-sensitive: "I'm Ada" names the user, "I'm tired" does not.
@_rule(r"[Ii](?:'m| am) (?P<v>[A-Z][a-z'-]+(?: [A-Z][a-z'-]+)?)", flags=0)
def _introduced(m: re.Match[str]) -> list[Claim]:
    value = m.group("v")
    if any(w.lower() in _NOT_NAMES or w.lower().endswith(("ing", "ed", "ly", "ful", "ous", "ive"))
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
    place = _place(next(g for g in m.groups() if g))
    return _one("lives_in", place, f"lives in {place}")


@_rule(
    r"i(?:'m| am) (?:originally )?from (?P<v>.+?)|i (?:originally )?come from (?P<w>.+?)"
    r"|i was born (?:and raised )?in (?P<x>.+?)|i grew up in (?P<y>.+?)"
)
def _origin(m: re.Match[str]) -> list[Claim]:
    place = _place(next(g for g in m.groups() if g))
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
    place = _place(next((m.group(g) for g in "vwxy" if m.group(g)), ""))
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


def _works_as_claim(job: str) -> list[Claim]:
    job = _THING_CUT.sub("", re.sub(r"\s+(?:at|for|in)\s.*$", "", job)).strip(" .!,")
    if not job or len(job.split()) > 4 or job.split()[0].lower() in _VAGUE:
        return []
    return _one("works_as", job, f"works as {_article(job)} {job}")


@_rule(
    rf"i{_ADV} (?P<verb>like|love|enjoy|adore) (?P<v>.+?)"
    r"|i(?:'m| am) (?:a (?:big |huge )?fan of|really into|into|passionate about|crazy about)"
    r" (?P<w>.+?)"
)
def _likes(m: re.Match[str]) -> list[Claim]:
    thing = _thing(m.group("v") or m.group("w"))
    if not thing or re.match(r"to (?:think|say|know|ask|see)\b", thing, re.I):
        return []
    verb = (m.group("verb") or "like").lower()
    return _one(f"likes:{_thing_key(thing)}", f"{verb}s {thing}", f"{verb}s {thing}")


@_rule(
    rf"i{_ADV} (?P<verb>hate|dislike|detest|despise|can't stand|cannot stand) (?P<v>.+?)"
    rf"|i{_ADV} {_NOT} (?:really )?(?:like|love|enjoy) (?P<w>.+?)"
)
def _dislikes(m: re.Match[str]) -> list[Claim]:
    thing = _thing(m.group("v") or m.group("w"))
    verb = (m.group("verb") or "").lower()
    predicate = f"{verb}s {thing}" if verb in {"hate", "dislike", "detest", "despise"} else (
        f"doesn't like {thing}")  # fmt: skip
    return _one(f"dislikes:{_thing_key(thing)}", predicate, predicate) if thing else []


@_rule(r"my (?:favou?rite|fave?) (?P<cat>[a-z]+(?: [a-z]+)?) (?P<be>is|are|'s) (?P<v>.+?)")
def _favorite(m: re.Match[str]) -> list[Claim]:
    thing, category = _thing(m.group("v")), m.group("cat").lower()
    be = "is" if m.group("be") == "'s" else m.group("be").lower()
    return _one(f"favorite:{category}", thing, f"'s favorite {category} {be} {thing}")


@_rule(r"my (?:birthday|bday|b-day) is (?:on )?(?P<v>.+?)|i was born on (?P<w>.+?)")
def _birthday(m: re.Match[str]) -> list[Claim]:
    day = _thing(next(g for g in m.groups() if g))
    return _one("birthday", day, f"'s birthday is {day}")


@_rule(r"i(?:'m| am) (?P<v>\d{1,3})(?: years old| yo| yrs old| years of age)?")
def _age(m: re.Match[str]) -> list[Claim]:
    age = m.group("v")
    return _one("age", age, f"is {age} years old") if 0 < int(age) < 120 else []


@_rule(r"my (?P<who>[a-z]+)(?:'s name is| is called| is named| goes by) (?P<v>.+?)")
def _named_other(m: re.Match[str]) -> list[Claim]:
    who, name = m.group("who").lower(), _name(m.group("v"))
    return _one(f"name_of:{who}", name, f"'s {who} is called {name}")


@_rule(r"i(?: have| have got|'ve got| own) (?P<v>(?:a|an|one|two|three|four|five|\d+) .+?)")
def _has(m: re.Match[str]) -> list[Claim]:
    thing = _thing(re.sub(r"\s+(?:and|but)\s.*$", "", m.group("v")))
    noun_phrase = re.split(r"\s+(?:named|called|who|that|which|with)\b", thing)[0].split()
    if not thing or len(noun_phrase) < 2 or len(noun_phrase) > 5:
        return []
    head = noun_phrase[-1].lower().rstrip("s") or noun_phrase[-1].lower()
    if head in _NOT_HELD or noun_phrase[-1].lower() in _NOT_HELD:
        return []
    return _one(f"has:{_thing_key(thing)}", thing, f"has {thing}")
