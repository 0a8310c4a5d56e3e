"""The lines the offline model answers with, as its character and actions give them:
(what a user said, what the agent answered) from an action's examples and from the
character's messageExamples, and a reply with its {{user}} and {{agentName}} filled in."""

from __future__ import annotations

import re

from anima_runtime.character.model import Character
from anima_runtime.plugins.types import Action

_USER = re.compile(r"\{\{\s*user\d*\s*\}\}", re.IGNORECASE)
_AGENT = re.compile(r"\{\{\s*(?:agentName|char|name)\s*\}\}", re.IGNORECASE)


def triggers(action: Action) -> list[tuple[str, str]]:
    """(what a user said, what the agent answered) for each use of the action in its
    examples: the user line is the nearest earlier line by another speaker. An example
    that marks no action contributes its first speaker's lines."""
    names = {action.name.upper(), *(s.upper() for s in action.similes)}
    pairs: list[tuple[str, str]] = []
    for conversation in action.examples:
        acted = [i for i, line in enumerate(conversation) if (line.action or "").upper() in names]
        for i in acted:
            prior = next(
                (
                    line
                    for line in reversed(conversation[:i])
                    if line.speaker != conversation[i].speaker and line.text.strip()
                ),
                None,
            )
            if prior is not None:
                pairs.append((prior.text.strip(), conversation[i].text.strip()))
        if not acted and conversation:
            first = conversation[0].speaker
            pairs += [(c.text.strip(), "") for c in conversation if c.speaker == first and c.text]
    return pairs


def pieces(line: str) -> list[str]:
    """A line and its clauses: "Shut up. Stop replying to me." also stands for "shut up"."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?,;])\s+", line) if len(p.strip()) > 1]
    return [line, *parts] if len(parts) > 1 else [line]


def example_pairs(character: Character) -> list[tuple[str, str]]:
    """(user line, the character's reply) from the messageExamples: the reply is the run of
    character lines after the user's (two at most)."""
    own = {character.name.lower(), character.username.lower()} - {""}
    pairs: list[tuple[str, str]] = []
    for conversation in character.message_examples:
        speakers = {line.speaker for line in conversation}
        users = {s for s in speakers if _USER.fullmatch(s.strip())} or {
            s for s in speakers if s.lower() not in own
        }
        for i, line in enumerate(conversation):
            if line.speaker not in users or not line.text.strip():
                continue
            j = i + 1
            while j < len(conversation) and conversation[j].speaker in users:
                j += 1
            reply: list[str] = []
            while j < len(conversation) and conversation[j].speaker not in users:
                if conversation[j].text.strip():
                    reply.append(conversation[j].text.strip())
                j += 1
            if reply:
                pairs.append((line.text.strip(), " ".join(reply[:2])))
    return pairs


def fill(reply: str, speaker: str, agent: str) -> str:
    text = _AGENT.sub(agent, _USER.sub(speaker or "you", reply))
    if _USER.match(reply) and text[:1].islower():
        text = text[:1].upper() + text[1:]
    return text.strip()
