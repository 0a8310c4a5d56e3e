"""The questions about the user the offline model recognizes ("where do I live?", "what's
my favorite color?"), the fact keys each asks for, and what it says when none is known."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from anima_runtime.llm.offline.words import normalized

_QUESTION = re.compile(
    r"^(?:what|what's|whats|where|where's|when|who|who's|whom|whose|which|why|how|how's|do|does"
    r"|did|is|are|am|was|were|can|could|would|will|should|have|has)\b"
    r"|\b(?:tell me|explain|describe|do you know|do you remember|remind me)\b",
    re.IGNORECASE,
)
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


def is_question(text: str) -> bool:
    """A question of any kind: it ends with "?" or reads like one ("tell me about X")."""
    return text.rstrip().endswith("?") or _QUESTION.search(text.strip()) is not None


def asked_keys(question: str) -> tuple[str, ...]:
    """Fact keys (or key prefixes ending in ':') a question about the user asks for."""
    text = normalized(question)
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
