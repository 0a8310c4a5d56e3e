"""How much one turn may take in, recall and wait for (`TurnLimits`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """How much one turn may take in, recall and wait for."""

    max_message_bytes: int = 16 * 1024  # UTF-8, after stripping
    max_user_name_chars: int = 64
    recent_messages: int = 20
    similar_messages: int = 5
    # MiniLM cosine: a question and the statement that answers it are often only 0.4-0.5
    # apart; unrelated sentences score about 0-0.15.
    similar_min_score: float = 0.4
    facts: int = 6
    fact_min_score: float = 0.3
    speaker_facts: int = 6  # facts about the sender, at a lower bar
    speaker_fact_min_score: float = 0.1
    knowledge: int = 5
    knowledge_min_score: float = 0.35
    lore_lines: int = 10
    character_examples: int = 3
    action_examples: int = 5
    provider_timeout_s: float = 10.0  # each provider, and each action's validate
    model_timeout_s: float = 120.0
    action_timeout_s: float = 60.0
    evaluator_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_message_bytes <= 64 * 1024:  # the memory service stores 64 KiB
            raise ValueError("max_message_bytes must be within [1, 65536]")
        for name in (
            "max_user_name_chars",
            "recent_messages",
            "similar_messages",
            "facts",
            "speaker_facts",
            "knowledge",
            "lore_lines",
            "character_examples",
            "action_examples",
        ):
            if not 0 <= getattr(self, name) <= 400:  # recall asks for up to 2 x 400 + 1
                raise ValueError(f"{name} must be within [0, 400]")
        for name in (
            "similar_min_score",
            "fact_min_score",
            "speaker_fact_min_score",
            "knowledge_min_score",
        ):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [-1, 1]")
        for name in ("provider_timeout_s", "model_timeout_s", "action_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if not self.evaluator_timeout_s > 0:
            raise ValueError("evaluator_timeout_s must be positive")
