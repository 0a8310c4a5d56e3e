"""Property: on any bytes the runtime's agent-record parser (the "runtime" life-data
part node B's runtime hosts an agent from) raises only InvalidAgentRecord, and any
record it accepts after an edit still carries a checked character."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from anima_runtime.character.load import load_character
from anima_runtime.errors import InvalidAgentRecord
from anima_runtime.manager.portable import export_record, parse_record
from anima_runtime.manager.records import AgentRecord
from tests.fuzz.targets import mutate

ADA = Path(__file__).resolve().parents[2] / "examples" / "characters" / "ada.character.json"
CHARACTER = load_character(ADA)
RECORD = export_record(
    AgentRecord(
        agent_id="ada-1",
        name=CHARACTER.name,
        running=True,
        created_at="2026-12-07T00:00:00+00:00",
        wallets=("0x000000000000000000000000000000000000dEaD",),
        log_verifier_key="anima.local/agents/ada-1+01234567+AAAA",
    ),
    CHARACTER,
)


def attack(data: bytes) -> None:
    try:
        parsed = parse_record(data)
    except InvalidAgentRecord:
        return
    assert parsed.record.name == parsed.character.name
    assert parsed.record.running


def test_the_record_round_trips() -> None:
    parsed = parse_record(RECORD)
    assert parsed.record.agent_id == "ada-1" and parsed.character.name == CHARACTER.name
    assert json.loads(RECORD)["format"] == "anima.runtime.agent"


@given(data=st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    attack(data)


@given(rng=st.randoms(use_true_random=False))
def test_mutated_records(rng: random.Random) -> None:
    attack(mutate(RECORD, rng))
