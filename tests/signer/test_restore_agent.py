"""Signer.restore_agent verifies everything before it writes anything: the log must be the
tree of a checkpoint signed by the key the agent root derives, and the anchored one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.errors import AgentExists, InvalidRequest
from anima_signer_api.types import LogEntryInput
from anima_verify.errors import AnimaError
from anima_verify.lifedata import AnchorState, ManifestNotAnchored
from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.errors import RootMismatch
from anima_verify.tlog.note import parse_note
from tests.signer.conftest import OPEN_POLICY, open_signer


def _entry(n: int) -> LogEntryInput:
    return LogEntryInput(
        kind=EntryKind.MESSAGE_IN,
        actor="user",
        room="r",
        payload_sha256=bytes([n]) * 32,
        payload_size=n,
    )


async def test_nothing_is_written_until_everything_verifies(tmp_path: Path) -> None:
    node_a = await open_signer(tmp_path / "a")
    other = await open_signer(tmp_path / "other")
    node_b = await open_signer(tmp_path / "b")
    try:
        node_a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        result = node_a.append_log("alice", 0, [_entry(i) for i in range(1, 6)])
        entries = [e.entry for e in result.entries]
        root = node_a._keys.agent_root("alice")
        snapshot = node_a.signer_state_snapshot("alice")
        checkpoint = parse_checkpoint(parse_note(result.checkpoint).text)
        anchor = AnchorState(
            manifest_hash=bytes(32),
            checkpoint_root=checkpoint.root_hash,
            version=1,
            checkpoint_size=checkpoint.size,
            epoch=0,
        )
        other.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        foreign = other.append_log("alice", 0, [])
        good = {
            "agent_root": root,
            "snapshot": snapshot,
            "log_entries": entries,
            "checkpoint": result.checkpoint,
            "anchor": anchor,
        }
        attacks: list[tuple[dict[str, object], type[Exception]]] = [
            ({"log_entries": entries[:-1]}, RootMismatch),  # an entry missing
            ({"log_entries": [*entries[:-1], entries[-1] + b"x"]}, RootMismatch),  # altered
            ({"log_entries": [entries[1], entries[0], *entries[2:]]}, RootMismatch),  # reordered
            ({"checkpoint": foreign.checkpoint}, AnimaError),  # another enclave's checkpoint
            ({"agent_root": bytes(32)}, AnimaError),  # a root that is not alice's
            (
                {"anchor": dataclasses.replace(anchor, checkpoint_size=checkpoint.size - 1)},
                ManifestNotAnchored,
            ),
            (
                {"anchor": dataclasses.replace(anchor, checkpoint_root=bytes(32))},
                ManifestNotAnchored,
            ),
        ]
        for change, error in attacks:
            with pytest.raises(error):
                node_b.restore_agent(**{**good, **change})  # type: ignore[arg-type]
            assert node_b.list_agents() == []
        legacy = dataclasses.replace(
            snapshot, record=dataclasses.replace(snapshot.record, key_derivation_version=1)
        )
        with pytest.raises(InvalidRequest, match="version 2"):
            node_b.restore_agent(**{**good, "snapshot": legacy})  # type: ignore[arg-type]
        restored = node_b.restore_agent(**good)  # type: ignore[arg-type]
        assert restored.wallets == node_a.get_agent("alice").wallets
        with pytest.raises(AgentExists):
            node_b.restore_agent(**good)  # type: ignore[arg-type]
        assert node_b.get_agent("alice") == restored
    finally:
        for signer in (node_a, other, node_b):
            signer.close()


async def test_a_restored_agent_keeps_its_log_origin(tmp_path: Path) -> None:
    node_a = await open_signer(tmp_path / "a")
    node_b = await Signer.open(
        tee=InsecureSimulatedTee(state_dir=tmp_path / "b"),
        state_dir=tmp_path / "b",
        log_origin_prefix="elsewhere.anima/agents",
    )
    try:
        agent = node_a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        result = node_a.append_log("alice", 0, [])
        restored = node_b.restore_agent(
            agent_root=node_a._keys.agent_root("alice"),
            snapshot=node_a.signer_state_snapshot("alice"),
            log_entries=[e.entry for e in result.entries],
            checkpoint=result.checkpoint,
            anchor=None,
        )
        assert restored.log_verifier_key == agent.log_verifier_key
        assert node_b.log_origin("alice") == node_a.log_origin("alice")
    finally:
        node_a.close()
        node_b.close()
