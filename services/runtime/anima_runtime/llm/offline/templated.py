"""The offline model's templated lines, said when nothing retrieved answers: small talk
answered in kind, a pointer to what the character knows about, a line of its bio; each
in the character's manner (third person, lowercase) where its style asks for it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from anima_runtime.agent.state import State
from anima_runtime.character.model import Character
from anima_runtime.llm.offline.recall import speaker_name

_FALLBACKS = (  # the topic after a colon: a label reads well there, capitalized or not
    "I can't say much to that. Ask me about this instead: {topic}.",
    "That's outside what I know. What I do know about: {topic}.",
    "I don't have a good answer for that. A subject I know well: {topic}.",
)


def fallback(state: State) -> str:
    """A short templated line: small talk answered in kind, else a pointer to what the
    character knows about (topics, else its short knowledge entries), else its bio."""
    character, text = state.character, " ".join(state.message.content.text.lower().split())
    seed = int.from_bytes(hashlib.sha256((state.message.id or text).encode()).digest()[:8], "big")
    name = speaker_name(state)
    to_you = f", {name}" if name else ""
    topics = [t.strip() for t in character.topics if t.strip()] or [
        k.text.strip() for k in character.knowledge if 0 < len(k.text.split()) <= 6
    ]
    bio = [_as_self(b, character.name) for b in character.bio]
    bio = [b for b in bio if b]
    if re.search(r"\b(?:how are you|how's it going|how are things|what's up|whats up|sup)\b", text):
        answer = f"I'm well, thanks{to_you}. What's on your mind?"
    elif re.match(
        r"(?:hi|hello|hey|yo|hiya|howdy|greetings|gm|good (?:morning|afternoon|evening))\b", text
    ):
        answer = f"Hello{to_you}! What's on your mind?"
    elif re.search(r"\b(?:nice|good|pleased|great) to meet you\b", text):
        answer = f"Nice to meet you too{to_you}."
    elif re.search(r"\b(?:thanks|thank you|thx|ty)\b", text):
        answer = f"You're welcome{to_you}."
    elif re.search(r"\b(?:bye|goodbye|good night|see you|later|cya)\b", text):
        answer = f"Goodbye{to_you}!"
    elif topics:
        topic = topics[(seed >> 8) % len(topics)].rstrip(".!")
        answer = _FALLBACKS[seed % len(_FALLBACKS)].format(topic=topic)
    elif bio:
        answer = f"I can't say much to that. {bio[seed % len(bio)]}"
    else:
        answer = f"I'm {character.name}. I don't have an answer to that."
    return answer


def _as_self(line: str, name: str) -> str:
    """A bio line as the character says it ("C-3PO is a droid." -> "I'm a droid."), or ""
    when it does not start with the character (a fragment, or about someone else)."""
    first = re.split(r"(?<=[.!?])\s+", " ".join(line.split()))[0]
    own = re.escape(name)
    for pattern, replacement in ((rf"^{own} is\b", "I'm"), (rf"^{own} was\b", "I was"),
                                 (rf"^{own} has\b", "I have"), (r"^I\b", "I")):  # fmt: skip
        if re.match(pattern, first):
            return re.sub(pattern, replacement, first)
    return ""


def styled(text: str, character: Character, replies: Sequence[str]) -> str:
    """The character's manner on a templated line: third person if its style says so,
    lowercase if every example reply (`replies`) is."""
    style = " ".join((*character.style_all, *character.style_chat, *character.bio)).lower()
    if re.search(r"third[- ]person", style):
        name = character.name
        text = re.sub(r"\bI'm\b", f"{name} is", text)
        text = re.sub(r"\bI'd\b", f"{name} would", text)
        text = re.sub(r"\bI have\b", f"{name} has", text)
        text = re.sub(r"\b(?:I|me)\b", name, text)
    replies = [r for r in replies if re.search(r"[A-Za-z]", r)]
    if len(replies) >= 3 and all(r == r.lower() for r in replies):
        text = text.lower()
    return text
