"""Honest answers about money: a character's made-up example figures are never said as the
agent's state; a balance question is answered from the verified wallet provider."""

from __future__ import annotations

import pytest

from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_runtime.character.model import Character
from anima_runtime.llm.offline import OfflineModel
from anima_runtime.llm.offline.claims_guard import makes_unverified_claims
from anima_runtime.plugins.evm.plugin import BALANCE_TOPICS
from anima_runtime.plugins.types import ExampleLine, ProviderResult
from tests.runtime.test_offline_model import _respond, _state

TREASURER = Character(
    name="Mira",
    bio=("Mira keeps the guild's treasury.",),
    message_examples=(
        (
            ExampleLine("{{user1}}", "What's your balance?"),
            ExampleLine("Mira", "My wallet holds 13456.124 OM right now, {{user1}}."),
        ),
        (
            ExampleLine("{{user1}}", "How much money do you have?"),
            ExampleLine("Mira", "I have {{balance}} in {{walletAddress}}."),
        ),
        (
            ExampleLine("{{user1}}", "Where is your wallet?"),
            ExampleLine("Mira", "It is 0x742d35Cc6634C0532925a3b844Bc454e4438f44e."),
        ),
        (
            ExampleLine("{{user1}}", "Do you like your job?"),
            ExampleLine("Mira", "I love keeping the books tidy."),
        ),
    ),
)
VERIFIED = (
    "My wallet 0xAbC0000000000000000000000000000000000001 holds 4.99 ETH"
    " (verified against block 12)."
)


@pytest.fixture
def model(minilm: MiniLmOnnxEmbedder) -> OfflineModel:
    return OfflineModel(minilm.embed)


@pytest.mark.parametrize(
    "question", ["What's your balance?", "How much money do you have?", "Where is your wallet?"]
)
async def test_example_figures_and_placeholders_are_never_said(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, question: str
) -> None:
    content = await _respond(model, await _state(minilm, question, character=TREASURER))
    assert "13456" not in content.text
    assert "{{" not in content.text and "OM" not in content.text.split()
    assert "0x742d" not in content.text


async def test_an_example_without_figures_is_still_used(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    content = await _respond(
        model, await _state(minilm, "Do you like your job?", character=TREASURER)
    )
    assert content.text == "I love keeping the books tidy."


@pytest.mark.parametrize("question", ["What's your balance?", "How much money is in your wallet?"])
async def test_a_balance_question_is_answered_from_the_verified_provider(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, question: str
) -> None:
    state = await _state(minilm, question, character=TREASURER)
    wallet = ProviderResult(text=VERIFIED, data={"answers": BALANCE_TOPICS, "verified": True})
    state = type(state)(
        **{
            **{f: getattr(state, f) for f in state.__slots__},
            "providers": {"EVMWalletProvider": wallet},
        }
    )
    content = await _respond(model, state)
    assert content.text == VERIFIED


@pytest.mark.parametrize(
    ("reply", "claims"),
    [
        ("My wallet holds 13456.124 OM.", True),
        ("I hold 5 ETH.", True),
        ("That costs $20.", True),
        ("Up 25% today.", True),
        ("1,000,000 reasons.", True),
        ("Send it to 0x742d35Cc6634C0532925a3b8.", True),
        ("I have {{balance}}.", True),
        ("I was born in 1815 and love mathematics.", False),
        ("Good to see you again.", False),
    ],
)
def test_what_counts_as_an_unverified_claim(reply: str, claims: bool) -> None:
    assert makes_unverified_claims(reply) is claims
