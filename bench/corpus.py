"""Realistic chat-length sentences for the memory benchmarks, made deterministically.

No text corpus can be downloaded here, so sentences are composed from many
templates and vocabularies covering what an agent's memory holds: chat
messages, facts about people, questions, trading and wallet talk, plans,
opinions. Lengths (5-35 words) and topic overlap resemble a chat log, which is
harder for vector search than random text (many near neighbours).
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def _options(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


NAMES = _options(
    "Alice|Bob|Carol|Dave|Erin|Frank|Grace|Heidi|Ivan|Judy|Mallory|Niaj|Olivia|Peggy|Rupert|"
    "Sybil|Trent|Victor|Walter|Yara|Zoe|Omar|Priya|Kenji|Lucia|Mateo|Aisha|Sven|Ingrid|Tariq"
)
PLACES = _options(
    "Lisbon|Berlin|Tokyo|Nairobi|Toronto|Austin|Seoul|Paris|Madrid|Oslo|Lagos|Denver|Kyoto|"
    "Prague|Dublin|Lima|Cairo|Hanoi|Zurich|Melbourne|the office|the gym|the airport|home"
)
TOKENS = ("ETH", "USDC", "BTC", "SOL", "DAI", "the stablecoin", "the governance token", "LP tokens")
AMOUNTS = ("0.1", "0.5", "2", "15", "250", "1,000", "a small amount of", "half of my")
DAYS = (
    "today",
    "tomorrow",
    "on Monday",
    "on Friday",
    "next week",
    "this weekend",
    "at noon",
    "tonight",
    "in two hours",
    "before the market opens",
)
FOODS = _options("sushi|pasta|tacos|ramen|salad|pizza|curry|dumplings|pancakes|falafel")
HOBBIES = (
    "climbing",
    "playing chess",
    "painting",
    "running marathons",
    "baking bread",
    "birdwatching",
    "learning Rust",
    "surfing",
    "playing the cello",
    "gardening",
)
FEELINGS = _options("happy|tired|excited|worried|curious|annoyed|relieved|nervous|grateful|bored")
TOPICS = (
    "gas fees",
    "the new L2",
    "restaking",
    "the merge",
    "zero-knowledge proofs",
    "account abstraction",
    "the ETF news",
    "MEV bots",
    "blob fees",
    "the DAO vote",
    "the bridge exploit",
    "validator rewards",
)
OBJECTS = (
    "my laptop",
    "the report",
    "the contract audit",
    "a birthday present",
    "the plane tickets",
    "my passport",
    "the rent",
    "the slides",
    "a new phone",
    "the grocery list",
)

TEMPLATES = (
    "Can you remind me to send {object} to {name} {day}?",
    "I moved to {place} last year and I still miss {place2}.",
    "{name} told me they are {feeling} about {topic}.",
    "My favourite food is {food}, but {name} prefers {food2}.",
    "Please transfer {amount} {token} to {name}'s wallet {day}.",
    "What do you think about {topic}? I'm a bit {feeling}.",
    "I've been {hobby} every weekend since I moved to {place}.",
    "Don't let me spend more than {amount} {token} on {topic} {day}.",
    "{name} and I are meeting in {place} {day} to talk about {object}.",
    "The user said their sister {name} works in {place} as a {job}.",
    "Honestly I'm {feeling} because {object} is still not done.",
    "Is it a good time to swap {token} for {token2} with {topic} going on?",
    "I forgot {object} at {place} again, can you note that?",
    "We decided to pay for {object} with {token} instead of cash.",
    "My friend {name} recommended {food} in {place}, have you tried it?",
    "Keep in mind that I never approve transactions {day} without asking me.",
    "{name} is allergic to {food}, so don't suggest it for the dinner {day}.",
    "Last time we talked about {topic} you said it was overhyped.",
    "I started {hobby} because {name} wouldn't stop talking about it.",
    "Could you summarise what happened with {topic} while I was in {place}?",
    "The budget for {object} is {amount} {token} and not a cent more.",
    "I feel {feeling} today, maybe it's because of {topic}.",
    "Book a table for {food} in {place} {day} for me and {name}.",
    "Why did {token} drop so much after {topic}?",
    "Note: {name}'s birthday is {day} and they love {hobby}.",
)
JOBS = _options("nurse|teacher|engineer|designer|lawyer|chef|pilot|farmer|journalist|trader")
TAILS = (
    "",
    "",
    "",
    " Thanks!",
    " No rush.",
    " It's important.",
    " Let me know what you think.",
    " I'll explain more later.",
    " By the way, the weather here is terrible.",
    " Also, remember what I said about keeping things simple and cheap.",
)


def sentences(count: int, *, seed: int = 7) -> list[str]:
    """`count` distinct sentences, the same ones for the same seed."""
    seen: set[str] = set()
    out: list[str] = []
    for sentence in _stream(random.Random(seed)):
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
            if len(out) == count:
                return out
    raise AssertionError("unreachable: the stream is endless")


def _stream(rng: random.Random) -> Iterator[str]:
    while True:
        template = rng.choice(TEMPLATES)
        values = {
            "name": rng.choice(NAMES),
            "place": rng.choice(PLACES),
            "place2": rng.choice(PLACES),
            "feeling": rng.choice(FEELINGS),
            "topic": rng.choice(TOPICS),
            "food": rng.choice(FOODS),
            "food2": rng.choice(FOODS),
            "amount": rng.choice(AMOUNTS),
            "token": rng.choice(TOKENS),
            "token2": rng.choice(TOKENS),
            "day": rng.choice(DAYS),
            "hobby": rng.choice(HOBBIES),
            "object": rng.choice(OBJECTS),
            "job": rng.choice(JOBS),
        }
        yield template.format(**values) + rng.choice(TAILS)
