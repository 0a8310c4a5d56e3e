"""The restore's staging (anima_dev.restore_node): what a rerun resumes from. Owner-only
files, a round trip, and a staging of another agent or a damaged one refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anima_dev.restore_node import STAGED, OpenedParts, RestoreIncomplete, stage, staged

OPENED = OpenedParts(
    agent_id="ada-1",
    log_verifier_key="anima.local/agents/ada-1+01234567+AAAA",
    wallets=("0x000000000000000000000000000000000000dEaD",),
    checkpoint=b"anima.local/agents/ada-1\n3\nAAAA\n\n- sig\n",
    parts=[
        ("memories", b"\x00\x00\x00\x01x", 1),
        ("runtime", b'{"secret": 1}', 1),
        ("log", json.dumps(["00", "01"]).encode(), 2),
    ],
)


def test_staging_round_trips_owner_only(tmp_path: Path) -> None:
    stage(tmp_path / "out", OPENED)
    assert staged(tmp_path / "out", OPENED.agent_id, OPENED.log_verifier_key) == OPENED
    for path in (tmp_path / "out").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
    assert OPENED.log_entries() == [b"\x00", b"\x01"]
    assert staged(tmp_path / "none", OPENED.agent_id, OPENED.log_verifier_key) is None


def test_another_agents_or_a_damaged_staging_is_refused(tmp_path: Path) -> None:
    stage(tmp_path, OPENED)
    with pytest.raises(RestoreIncomplete, match="another agent"):
        staged(tmp_path, "bob", OPENED.log_verifier_key)
    with pytest.raises(RestoreIncomplete, match="another agent"):
        staged(tmp_path, OPENED.agent_id, "anima.local/agents/ada-1+76543210+BBBB")
    (tmp_path / "0001.runtime").unlink()
    with pytest.raises(RestoreIncomplete, match="not a staged restore"):
        staged(tmp_path, OPENED.agent_id, OPENED.log_verifier_key)
    (tmp_path / STAGED).write_text("{not json")
    with pytest.raises(RestoreIncomplete, match="not a staged restore"):
        staged(tmp_path, OPENED.agent_id, OPENED.log_verifier_key)
