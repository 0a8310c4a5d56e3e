"""OfflineModel: the ChatModel behind `provider: offline` (see the package docstring for
what it answers and how)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from anima_memory_api.errors import EmbeddingFailed
from anima_memory_api.types import Matrix
from anima_runtime.agent.formats import format_fact_ops, format_response
from anima_runtime.agent.state import State
from anima_runtime.character.model import Character
from anima_runtime.errors import ModelFailed
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.llm.offline.claims_guard import makes_unverified_claims, verified_answer
from anima_runtime.llm.offline.examples import example_pairs, fill, pieces, triggers
from anima_runtime.llm.offline.facts import fact_ops
from anima_runtime.llm.offline.index import Index, Lru, checked_rows, unit_vector
from anima_runtime.llm.offline.questions import asked_keys, is_question, unknown_answer
from anima_runtime.llm.offline.recall import acknowledgment, recall, similarity, speaker_name
from anima_runtime.llm.offline.templated import fallback, styled
from anima_runtime.plugins.types import Action, Content

Embed = Callable[[Sequence[str]], Awaitable[Matrix]]

ACTION_MIN = 0.6  # an action's best example must be this close to the message ...
ACTION_MARGIN = 0.05  # ... and this much closer than NONE's
KNOWLEDGE_MIN = 0.45
EXAMPLE_MIN = 0.55
EXAMPLE_OVER_KNOWLEDGE = 0.1  # a message example wins over knowledge by this much
PASSAGE_CHARS = 320


@dataclass(frozen=True, slots=True)
class _Pick:
    text: str
    source: str  # fact, memory, unknown, knowledge, example, fallback
    score: float = 0.0
    matched: str = ""

    def note(self) -> str:
        matched = f" {_excerpt(self.matched)!r}" if self.matched else ""
        return f"text from {self.source}{matched} ({self.score:.2f})"


class OfflineModel:
    """The ChatModel that needs no weights from a hub (see the package docstring)."""

    def __init__(self, embed: Embed, *, cached_indexes: int = 256, cached_texts: int = 4096):
        self._embed = embed
        self._indexes: Lru[Hashable, Index] = Lru(cached_indexes)  # actions, characters
        self._texts: Lru[str, Matrix] = Lru(cached_texts)  # knowledge sentences

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
        vector = unit_vector(state.message_vector)
        if vector.size == 0:
            embedded = await self._embed([state.message.content.text])
            vector = unit_vector(checked_rows(embedded, 1)[0])
        return vector

    async def _respond(self, state: State) -> Content:
        vector = await self._message_vector(state)
        action, action_note = await self._choose_action(state, vector)
        if action == "IGNORE":
            return Content(text="", actions=("IGNORE",), thought=f"offline: {action_note}")
        examples = await self._examples(state.character)
        pick = await self._answer(state, vector, examples)
        if pick.source in ("fallback", "statement"):  # templated: in the character's manner
            pick = _Pick(styled(pick.text, state.character, examples.replies), pick.source)
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

    async def _answer(self, state: State, vector: Matrix, examples: Index) -> _Pick:
        text = state.message.content.text
        question = is_question(text)
        if question:
            verified = verified_answer(text, state.providers)
            if verified is not None:
                return _Pick(verified, "a verified provider")
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
        return _Pick(fallback(state), "fallback")

    def _example(self, state: State, vector: Matrix, examples: Index) -> _Pick | None:
        if not examples.lines:
            return None
        scores = examples.vectors @ vector
        last_said = _said(state)[-1:] or [""]
        for i in np.argsort(-scores, kind="stable")[:5]:
            if scores[i] < EXAMPLE_MIN:
                break
            reply = fill(examples.replies[i], speaker_name(state), state.character.name)
            if makes_unverified_claims(reply):
                continue  # an example's made-up figure is never said as the agent's own
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
        text = styled(
            "That's all I have to say on that for now.", state.character, examples.replies
        )
        return Content(text=text, actions=(), thought="offline: continue; nothing more to add")

    # ------------------------------------------------------------------ embeddings

    async def _action_index(self, action: Action) -> Index:
        key = ("action", action.name, action.similes, action.examples)
        cached = self._indexes.recall(key)
        if cached is not None:
            return cached
        pairs = [(piece, reply) for line, reply in triggers(action) for piece in pieces(line)]
        pairs += [(s.replace("_", " ").lower(), "") for s in action.similes if s.strip()]
        index = await self._index(pairs)
        self._indexes.remember(key, index)
        return index

    async def _examples(self, character: Character) -> Index:
        key = ("character", character.name, character.username, character.message_examples)
        cached = self._indexes.recall(key)
        if cached is not None:
            return cached
        index = await self._index(example_pairs(character))
        self._indexes.remember(key, index)
        return index

    async def _index(self, pairs: list[tuple[str, str]]) -> Index:
        unique = list(dict.fromkeys(pairs))
        lines = tuple(line for line, _ in unique)
        vectors = await self._embed(lines) if lines else np.zeros((0, 0), np.float32)
        return Index(lines, tuple(reply for _, reply in unique), checked_rows(vectors, len(lines)))

    async def _vectors(self, texts: Sequence[str]) -> Matrix:
        rows = {t: row for t in texts if (row := self._texts.recall(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in rows))
        if missing:
            embedded = checked_rows(await self._embed(missing), len(missing))
            for text, row in zip(missing, embedded, strict=True):
                rows[text] = row
                self._texts.remember(text, row)
        return np.stack([rows[t] for t in texts]).astype(np.float32)


# ------------------------------------------------------------------ helpers


def _is_prose(passage: str) -> bool:
    """Knowledge worth saying: a sentence, not a label such as "Protocol and etiquette"."""
    words = passage.split()
    return len(words) >= 6 and (passage.rstrip()[-1:] in ".!?\"')" or len(words) >= 12)


def _said(state: State) -> list[str]:
    return [m.text for m in state.recent if m.entity_id == state.message.agent_id]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."
