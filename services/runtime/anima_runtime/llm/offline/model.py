"""OfflineModel: the ChatModel behind `provider: offline` (see the package docstring for
what it answers and how)."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from anima_memory_api.errors import EmbeddingFailed
from anima_memory_api.types import Matrix
from anima_runtime.agent.formats import format_fact_ops, format_response
from anima_runtime.agent.state import State
from anima_runtime.character.model import Character
from anima_runtime.errors import ModelFailed
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.llm.offline.facts import fact_ops
from anima_runtime.llm.offline.questions import asked_keys, unknown_answer
from anima_runtime.llm.offline.recall import acknowledgment, recall, similarity, speaker_name
from anima_runtime.plugins.types import Action, Content

Embed = Callable[[Sequence[str]], Awaitable[Matrix]]

ACTION_MIN = 0.6  # an action's best example must be this close to the message ...
ACTION_MARGIN = 0.05  # ... and this much closer than NONE's
KNOWLEDGE_MIN = 0.45
EXAMPLE_MIN = 0.55
EXAMPLE_OVER_KNOWLEDGE = 0.1  # a message example wins over knowledge by this much
PASSAGE_CHARS = 320

_USER = re.compile(r"\{\{\s*user\d*\s*\}\}", re.IGNORECASE)
_AGENT = re.compile(r"\{\{\s*(?:agentName|char|name)\s*\}\}", re.IGNORECASE)
_QUESTION = re.compile(
    r"^(?:what|what's|whats|where|where's|when|who|who's|whom|whose|which|why|how|how's|do|does"
    r"|did|is|are|am|was|were|can|could|would|will|should|have|has)\b"
    r"|\b(?:tell me|explain|describe|do you know|do you remember|remind me)\b",
    re.IGNORECASE,
)
_FALLBACKS = (  # the topic after a colon: a label reads well there, capitalized or not
    "I can't say much to that. Ask me about this instead: {topic}.",
    "That's outside what I know. What I do know about: {topic}.",
    "I don't have a good answer for that. A subject I know well: {topic}.",
)


@dataclass(frozen=True, slots=True)
class _Pick:
    text: str
    source: str  # fact, memory, unknown, knowledge, example, fallback
    score: float = 0.0
    matched: str = ""

    def note(self) -> str:
        matched = f" {_excerpt(self.matched)!r}" if self.matched else ""
        return f"text from {self.source}{matched} ({self.score:.2f})"


@dataclass(frozen=True, slots=True)
class _Index:
    """Embedded lines (an action's triggers, a character's example prompts) and what
    answers each."""

    lines: tuple[str, ...]
    replies: tuple[str, ...]
    vectors: Matrix

    def best(self, vector: Matrix) -> tuple[int, float]:
        if not self.lines:
            return -1, -1.0
        scores = self.vectors @ vector
        i = int(np.argmax(scores))
        return i, float(scores[i])


_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _Lru(OrderedDict[_K, _V]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def recall(self, key: _K) -> _V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def remember(self, key: _K, value: _V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class OfflineModel:
    """The ChatModel that needs no weights from a hub (see the module docstring)."""

    def __init__(self, embed: Embed, *, cached_indexes: int = 256, cached_texts: int = 4096):
        self._embed = embed
        self._indexes: _Lru[Hashable, _Index] = _Lru(cached_indexes)  # actions, characters
        self._texts: _Lru[str, Matrix] = _Lru(cached_texts)  # knowledge sentences

    @property
    def name(self) -> str:
        return "offline (retrieval over MiniLM)"

    async def complete(self, request: ModelRequest) -> str:
        state = request.state
        try:
            if request.purpose is Purpose.FACTS:
                if state.message.entity_id == state.message.agent_id:
                    return format_fact_ops([])
                known = [
                    s.memory for s in state.facts if s.memory.entity_id == state.message.entity_id
                ]
                ops = fact_ops(state.message.content.text, known, speaker_name(state))
                return format_fact_ops(ops)
            if request.purpose is Purpose.RESPONSE:
                return format_response(await self._respond(state))
            if request.purpose is Purpose.CONTINUE:
                return format_response(await self._continue(state))
        except EmbeddingFailed as e:
            raise ModelFailed(f"the offline model could not embed: {e}") from e
        raise ModelFailed(f"the offline model does not answer {request.purpose!r} requests")

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        words = re.findall(r"\S+\s*", await self.complete(request))
        for start in range(0, len(words), 8):
            yield "".join(words[start : start + 8])

    async def aclose(self) -> None:
        self._indexes.clear()
        self._texts.clear()

    # ------------------------------------------------------------------ response

    async def _message_vector(self, state: State) -> Matrix:
        """The state's vector of the message, or its embedding when the state has none."""
        vector = _unit(state.message_vector)
        if vector.size == 0:
            vector = _unit(_rows(await self._embed([state.message.content.text]), 1)[0])
        return vector

    async def _respond(self, state: State) -> Content:
        vector = await self._message_vector(state)
        action, action_note = await self._choose_action(state, vector)
        if action == "IGNORE":
            return Content(text="", actions=("IGNORE",), thought=f"offline: {action_note}")
        examples = await self._examples(state.character)
        pick = await self._answer(state, vector, examples)
        if pick.source in ("fallback", "statement"):  # templated: in the character's manner
            pick = _Pick(_styled(pick.text, state.character, examples), pick.source)
        thought = f"offline: {action_note}; {pick.note()}"
        return Content(text=pick.text, actions=(action,), thought=thought)

    async def _choose_action(self, state: State, vector: Matrix) -> tuple[str, str]:
        scores: dict[str, float] = {}
        for action in state.actions:
            # CONTINUE means "my own answer is unfinished": a judgement about the agent's
            # text that retrieval cannot make, so the user's message never selects it.
            if action.name.upper() == "CONTINUE":
                continue
            index = await self._action_index(action)
            _, score = index.best(vector)
            if index.lines:
                scores[action.name.upper()] = max(score, scores.get(action.name.upper(), -1.0))
        none = scores.pop("NONE", 0.0)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        if ranked and ranked[0][1] >= ACTION_MIN and ranked[0][1] >= none + ACTION_MARGIN:
            name, score = ranked[0]
            return name, f"action {name} ({score:.2f}, NONE {none:.2f})"
        best = f"best {ranked[0][0]} {ranked[0][1]:.2f}, " if ranked else ""
        return "NONE", f"action NONE ({best}NONE {none:.2f}, needs {ACTION_MIN:.2f})"

    async def _answer(self, state: State, vector: Matrix, examples: _Index) -> _Pick:
        text = state.message.content.text
        question = _is_question(text)
        if question:
            found = recall(state, vector)
            if found is not None:
                return _Pick(found.text, found.source, found.score, found.matched)
            asked = asked_keys(text)
            if asked:  # about the user, who has not said: better than a guess
                return _Pick(unknown_answer(asked), f"no known fact for {', '.join(asked)}")
        knowledge = await self._knowledge(state, vector) if question else None
        example = self._example(state, vector, examples)
        if knowledge is not None and (
            example is None or example.score < knowledge.score + EXAMPLE_OVER_KNOWLEDGE
        ):
            return knowledge
        if example is not None:
            return example
        told = acknowledgment(text)
        if told:
            return _Pick(told, "statement")
        return _fallback(state)

    def _example(self, state: State, vector: Matrix, examples: _Index) -> _Pick | None:
        if not examples.lines:
            return None
        scores = examples.vectors @ vector
        last_said = _said(state)[-1:] or [""]
        for i in np.argsort(-scores, kind="stable")[:5]:
            if scores[i] < EXAMPLE_MIN:
                break
            reply = _fill(examples.replies[i], speaker_name(state), state.character.name)
            if reply and reply != last_said[0]:
                return _Pick(reply, "message example", float(scores[i]), examples.lines[i])
        return None

    async def _knowledge(
        self, state: State, vector: Matrix, *, unsaid: bool = False
    ) -> _Pick | None:
        said = " ".join(_said(state)) if unsaid else ""
        ranked = sorted(
            ((similarity(s, vector), n, s) for n, s in enumerate(state.knowledge)),
            key=lambda item: (-item[0], item[1]),
        )
        for score, _, scored in ranked:
            if score < KNOWLEDGE_MIN:
                break
            passage = await self._passage(scored.memory.text, vector)
            if _is_prose(passage) and passage not in said:
                return _Pick(passage, "knowledge", score, scored.memory.text)
        return None

    async def _passage(self, text: str, vector: Matrix) -> str:
        """The part of a knowledge chunk that answers best: the whole of a short chunk, else
        its most similar sentence and the ones after it, up to PASSAGE_CHARS."""
        text = " ".join(text.split())
        if len(text) <= PASSAGE_CHARS:
            return text
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
        scores = (await self._vectors(sentences)) @ vector
        start = int(np.argmax(scores))
        passage = sentences[start]
        for sentence in sentences[start + 1 :]:
            if len(passage) + 1 + len(sentence) > PASSAGE_CHARS:
                break
            passage += " " + sentence
        if len(passage) > PASSAGE_CHARS:
            passage = passage[:PASSAGE_CHARS].rsplit(" ", 1)[0] + "..."
        return passage

    # ------------------------------------------------------------------ continue

    async def _continue(self, state: State) -> Content:
        vector = await self._message_vector(state)
        more = await self._knowledge(state, vector, unsaid=True)
        if more is not None:
            return Content(text=more.text, actions=(), thought=f"offline: continue; {more.note()}")
        examples = await self._examples(state.character)
        text = _styled("That's all I have to say on that for now.", state.character, examples)
        return Content(text=text, actions=(), thought="offline: continue; nothing more to add")

    # ------------------------------------------------------------------ embeddings

    async def _action_index(self, action: Action) -> _Index:
        key = ("action", action.name, action.similes, action.examples)
        cached = self._indexes.recall(key)
        if cached is not None:
            return cached
        pairs = [(piece, reply) for line, reply in _triggers(action) for piece in _pieces(line)]
        pairs += [(s.replace("_", " ").lower(), "") for s in action.similes if s.strip()]
        index = await self._index(pairs)
        self._indexes.remember(key, index)
        return index

    async def _examples(self, character: Character) -> _Index:
        key = ("character", character.name, character.username, character.message_examples)
        cached = self._indexes.recall(key)
        if cached is not None:
            return cached
        index = await self._index(_example_pairs(character))
        self._indexes.remember(key, index)
        return index

    async def _index(self, pairs: list[tuple[str, str]]) -> _Index:
        unique = list(dict.fromkeys(pairs))
        lines = tuple(line for line, _ in unique)
        vectors = await self._embed(lines) if lines else np.zeros((0, 0), np.float32)
        return _Index(lines, tuple(reply for _, reply in unique), _rows(vectors, len(lines)))

    async def _vectors(self, texts: Sequence[str]) -> Matrix:
        rows = {t: row for t in texts if (row := self._texts.recall(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in rows))
        if missing:
            embedded = _rows(await self._embed(missing), len(missing))
            for text, row in zip(missing, embedded, strict=True):
                rows[text] = row
                self._texts.remember(text, row)
        return np.stack([rows[t] for t in texts]).astype(np.float32)


# ------------------------------------------------------------------ helpers


def _rows(vectors: Matrix, count: int) -> Matrix:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise ModelFailed(f"the embedder returned {matrix.shape} for {count} texts")
    return matrix


def _unit(vector: Matrix) -> Matrix:
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    return flat / np.float32(norm) if norm > 0 else flat


def _is_question(text: str) -> bool:
    return text.rstrip().endswith("?") or _QUESTION.search(text.strip()) is not None


def _is_prose(passage: str) -> bool:
    """Knowledge worth saying: a sentence, not a label such as "Protocol and etiquette"."""
    words = passage.split()
    return len(words) >= 6 and (passage.rstrip()[-1:] in ".!?\"')" or len(words) >= 12)


def _said(state: State) -> list[str]:
    return [m.text for m in state.recent if m.entity_id == state.message.agent_id]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


def _triggers(action: Action) -> list[tuple[str, str]]:
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


def _pieces(line: str) -> list[str]:
    """A line and its clauses: "Shut up. Stop replying to me." also stands for "shut up"."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?,;])\s+", line) if len(p.strip()) > 1]
    return [line, *parts] if len(parts) > 1 else [line]


def _example_pairs(character: Character) -> list[tuple[str, str]]:
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


def _fill(reply: str, speaker: str, agent: str) -> str:
    text = _AGENT.sub(agent, _USER.sub(speaker or "you", reply))
    if _USER.match(reply) and text[:1].islower():
        text = text[:1].upper() + text[1:]
    return text.strip()


def _fallback(state: State) -> _Pick:
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
    return _Pick(answer, "fallback")


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


def _styled(text: str, character: Character, examples: _Index) -> str:
    """The character's manner on a templated line: third person if its style says so,
    lowercase if every example reply is."""
    style = " ".join((*character.style_all, *character.style_chat, *character.bio)).lower()
    if re.search(r"third[- ]person", style):
        name = character.name
        text = re.sub(r"\bI'm\b", f"{name} is", text)
        text = re.sub(r"\bI'd\b", f"{name} would", text)
        text = re.sub(r"\bI have\b", f"{name} has", text)
        text = re.sub(r"\b(?:I|me)\b", name, text)
    replies = [r for r in examples.replies if re.search(r"[A-Za-z]", r)]
    if len(replies) >= 3 and all(r == r.lower() for r in replies):
        text = text.lower()
    return text
