"""Group commit of unary signs (anima_signer.group_commit): concurrent calls share one
commit, one checkpoint and one witness round, and each still gets exactly the answer
Signer.sign gives it, only once its entry is committed (and witnessed)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from anima_signer.core import Signer
from anima_signer.group_commit import Outcome, SignGroupCommit
from anima_signer_api.errors import InvalidRequest, LogNotWitnessed, PolicyDenied, UnknownAgent
from anima_signer_api.types import (
    Agent,
    Ed25519Message,
    Ed25519Signature,
    EthSignature,
    PersonalMessage,
    SigningPolicy,
    SignRequest,
)
from anima_verify.tlog.entry import EntryKind
from tests.signer.conftest import OPEN_POLICY, Served, open_signer
from tests.signer.test_sequencer import HostLog
from tests.signer.test_witnessing import open_signer as open_witnessed_signer
from tests.signer.test_witnessing import served_witness


class Recording:
    """The real signer, recording the size of each group it is handed."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.groups: list[int] = []

    def sign_many(self, requests: Sequence[SignRequest]) -> list[Outcome]:
        self.groups.append(len(requests))
        return self.signer.sign_many(requests)


def message(i: int, agent_id: str = "alice") -> SignRequest:
    return SignRequest(agent_id, PersonalMessage(b"message %d" % i))


def signed_by(i: int, result: EthSignature) -> str:
    return str(
        Account.recover_message(encode_defunct(b"message %d" % i), signature=result.signature)
    )


@pytest.fixture
def agent(signer: Signer) -> Agent:
    return signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)


async def test_concurrent_signs_share_one_commit_and_each_entry_is_kept(
    signer: Signer, agent: Agent, tmp_path: Path
) -> None:
    recording = Recording(signer)
    queue = SignGroupCommit(recording)
    results = await asyncio.gather(*(queue.sign(message(i)) for i in range(50)))
    assert recording.groups == [50], "all 50 waited together: one sign_many, one commit"
    assert sorted(r.log_index for r in results) == list(range(1, 51))
    for i, result in enumerate(results):
        assert isinstance(result, EthSignature)
        assert signed_by(i, result) == agent.wallets[0].address
    # Committed before answering: a signer reopened from disk holds every entry.
    signer.close()
    reopened = await open_signer(tmp_path)
    try:
        host = HostLog(reopened, agent)
        host.append()
        assert len(host.entries) == 51
        for result in results:
            assert host.decoded(result.log_index).kind is EntryKind.SIGNATURE
            assert host.payload_json(result.log_index)["signature"] == result.signature.hex()
    finally:
        reopened.close()


async def test_each_caller_gets_its_own_outcome(signer: Signer, agent: Agent) -> None:
    signer.create_agent(agent_id="bob", wallet_count=1, policy=SigningPolicy())
    queue = SignGroupCommit(Recording(signer))
    outcomes = await asyncio.gather(
        queue.sign(message(1)),
        queue.sign(message(2, "nobody")),
        queue.sign(SignRequest("alice", PersonalMessage(b"x", wallet_index=7))),
        queue.sign(message(3, "bob")),  # bob's policy allows no personal messages
        queue.sign(SignRequest("alice", Ed25519Message(b"raw"))),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], EthSignature)
    assert isinstance(outcomes[1], UnknownAgent)
    assert isinstance(outcomes[2], InvalidRequest) and "wallet_index 7" in outcomes[2].message
    assert isinstance(outcomes[3], PolicyDenied)
    assert isinstance(outcomes[4], Ed25519Signature)
    # The same answers Signer.sign gives one by one.
    with pytest.raises(PolicyDenied):
        signer.sign(message(4, "bob"))


async def test_idle_calls_go_alone_and_groups_stay_within_max_group(
    signer: Signer, agent: Agent
) -> None:
    recording = Recording(signer)
    queue = SignGroupCommit(recording, max_group=4)
    await queue.sign(message(0))
    await queue.sign(message(1))
    assert recording.groups == [1, 1], "no waiting for company when idle"
    await asyncio.gather(*(queue.sign(message(i)) for i in range(10)))
    assert recording.groups[2:] == [4, 4, 2]
    with pytest.raises(ValueError, match="max_group"):
        SignGroupCommit(recording, max_group=0)


class Gate:
    """A signer whose first group blocks until released (to line up later callers)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.groups: list[list[bytes]] = []
        self.fail: Exception | None = None

    def sign_many(self, requests: Sequence[SignRequest]) -> list[Outcome]:
        self.groups.append([r.payload.message for r in requests])  # type: ignore[union-attr]
        self.entered.set()
        self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        return [InvalidRequest("not signed in this test") for _ in requests]


async def test_calls_arriving_during_a_commit_form_the_next_group_gone_callers_dropped() -> None:
    gate = Gate()
    queue = SignGroupCommit(gate)
    first = asyncio.ensure_future(queue.sign(message(0)))
    await asyncio.to_thread(gate.entered.wait, 10)
    later = [asyncio.ensure_future(queue.sign(message(i))) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    later[1].cancel()  # its caller went away before its group formed
    gate.release.set()
    outcomes = await asyncio.gather(first, *later, return_exceptions=True)
    assert gate.groups == [[b"message 0"], [b"message 1", b"message 3"]]
    assert isinstance(outcomes[0], InvalidRequest)
    assert isinstance(outcomes[2], asyncio.CancelledError)


async def test_an_unexpected_failure_reaches_every_caller_of_its_group_and_no_other() -> None:
    gate = Gate()
    gate.fail = OSError("disk full")
    queue = SignGroupCommit(gate)
    gate.release.set()
    outcomes = await asyncio.gather(
        *(queue.sign(message(i)) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, OSError) for o in outcomes)
    gate.fail = None
    with pytest.raises(InvalidRequest, match="not signed"):
        await queue.sign(message(9))  # the queue still works


async def test_a_group_is_witnessed_in_one_round_before_any_answer(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    with (
        served_witness(tmp_path / "w", "w1.test") as one,
        served_witness(tmp_path / "w", "w2.test") as other,
    ):
        signer = await open_witnessed_signer(tmp_path / "s", [one[1], other[1]], 2)
        try:
            signer.create_agent(agent_id="agent-w", wallet_count=1, policy=OPEN_POLICY)
            queue = SignGroupCommit(signer)
            calls = [one[0].calls, other[0].calls]
            results = await asyncio.gather(*(queue.sign(message(i, "agent-w")) for i in range(20)))
            # One round for the 20 (after first contact: register, then the checkpoint).
            assert [one[0].calls, other[0].calls] == [c + 2 for c in calls]
            witnessed = signer._witnessing.witnessed_size("agent-w")  # type: ignore[union-attr]
            assert max(r.log_index for r in results) < witnessed
            one[0].down = other[0].down = True  # no quorum: nothing is released
            outcomes = await asyncio.gather(
                *(queue.sign(message(100 + i, "agent-w")) for i in range(5)),
                return_exceptions=True,
            )
            assert all(isinstance(o, LogNotWitnessed) for o in outcomes)
        finally:
            signer.close()


async def test_concurrent_unary_calls_over_grpc(served: Served) -> None:
    async with await served.client("admin") as admin:
        agent = await admin.create_agent("alice", policy=OPEN_POLICY)
    async with await served.client() as client:
        results = await asyncio.gather(*(client.sign(message(i)) for i in range(40)))
        denied = await asyncio.gather(
            client.sign(SignRequest("alice", PersonalMessage(b"x", wallet_index=3))),
            return_exceptions=True,
        )
    assert sorted(r.log_index for r in results) == list(range(1, 41))
    for i, result in enumerate(results):
        assert isinstance(result, EthSignature)
        assert signed_by(i, result) == agent.wallets[0].address
    assert "wallet_index 3" in str(denied[0])
