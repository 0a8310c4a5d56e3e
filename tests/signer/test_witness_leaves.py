"""Witness rounds take their leaf hashes from the sequencer's memory
(EnclaveLogs.leaves_since) instead of re-reading and re-hashing the entries: the
same leaves as the store holds, kept only for entries the host has not confirmed,
and read from the store again whenever memory does not hold them all (a restart)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_signer.core import Signer
from anima_signer.sequencer import EnclaveLogs
from anima_signer.store import SignerStore
from anima_signer.witnessing import WitnessEndpoint
from anima_signer_api.errors import LogNotWitnessed
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.merkle import leaf_hash
from anima_verify.tlog.note import parse_note
from tests.signer.conftest import OPEN_POLICY
from tests.signer.test_witnessing import (
    AGENT,
    FlakyWitness,
    open_signer,
    request,
    served_witness,
)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[list[tuple[FlakyWitness, WitnessEndpoint]]]:
    (tmp_path / "w").mkdir()
    with (
        served_witness(tmp_path / "w", "w1.test") as one,
        served_witness(tmp_path / "w", "w2.test") as other,
    ):
        yield [one, other]


def count_store_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Starts of every log_since (the store read a round falls back to)."""
    starts: list[int] = []
    original = SignerStore.log_since

    def counted(self: SignerStore, agent_id: str, start: int) -> object:
        starts.append(start)
        return original(self, agent_id, start)

    monkeypatch.setattr(SignerStore, "log_since", counted)
    return starts


def stored_leaves(signer: Signer, start: int, end: int) -> list[bytes]:
    return [leaf_hash(e.entry) for e in signer._store.pending(AGENT, start, end)]


async def test_rounds_use_the_sequencers_leaves_which_match_the_store(
    tmp_path: Path, two: list[tuple[FlakyWitness, WitnessEndpoint]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_store_reads(monkeypatch)
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 2)
    logs: EnclaveLogs = signer._log
    policy = WitnessPolicy(tuple(e.key for _, e in two), 2)
    try:
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        host = 0
        for n in range(4):
            signer.sign_many([request(100 * n + i) for i in range(30)])
            held = logs.leaves_since(AGENT, host)
            assert held is not None
            checkpoint, _, leaves = held
            size = host + len(leaves)
            assert leaves == stored_leaves(signer, host, size)
            assert parse_note(checkpoint).text.splitlines()[1] == str(size)
            tail = signer.append_log(AGENT, host, [])  # confirms [0, host)
            assert policy.check(parse_note(tail.checkpoint))
            # What the host confirmed is forgotten; nothing before it can be asked for.
            assert logs.leaves_since(AGENT, host) is not None
            if host:
                assert logs.leaves_since(AGENT, host - 1) is None
            host = tail.size
        assert reads == [], "every round took the leaves from memory"
        for witness, _ in two:
            witness.down = True
        with pytest.raises(LogNotWitnessed):
            signer.sign(request(998))  # committed, never witnessed
        for witness, _ in two:
            witness.down = False
    finally:
        signer.close()

    # After a restart memory lacks that entry: the next round reads the store once.
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 2)
    try:
        signer.sign(request(999))
        assert reads == [host]
        signer.sign(request(1000))
        assert reads == [host], "from then on, from memory again"
        tail = signer.append_log(AGENT, host, [])
        assert tail.size == host + 3 and policy.check(parse_note(tail.checkpoint))
    finally:
        signer.close()


async def test_an_unwitnessed_signer_keeps_no_leaves(tmp_path: Path) -> None:
    signer = await open_signer(tmp_path / "s", [], 0)
    try:
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        signer.sign_many([request(i) for i in range(10)])
        assert signer._log.leaves_since(AGENT, 0) is None
    finally:
        signer.close()
