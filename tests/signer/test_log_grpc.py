"""AppendLog over real attested gRPC: the contract on the wire, access, bad input, kill -9."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc
import pytest

from anima.signer.v1 import signer_pb2 as pb
from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_dev.local_signer import local_signer
from anima_signer_api.client import DEFAULT_MAX_MESSAGE_BYTES, SignerClient
from anima_signer_api.errors import LogTailFull, SignerRpcError
from anima_signer_api.failures import SignFailure
from anima_signer_api.types import (
    MAX_APPEND_ENTRIES,
    MAX_APPEND_RESPONSE_BYTES,
    MAX_PENDING_LOG_ENTRIES,
    Agent,
    Ed25519Message,
    Ed25519Signature,
    SignRequest,
)
from anima_verify.tlog.entry import EntryKind, decode_entry
from anima_verify.tlog.merkle import leaf_hash, root_from_leaf_hashes
from tests.signer.conftest import OPEN_POLICY, SIM_TRUST, TOKENS, Served
from tests.signer.test_grpc import _raw_channel, make_agent
from tests.signer.test_sequencer import host_input, messages, open_note
from tests.signer.test_signing import tx


async def _agent(served: Served) -> Agent:
    await make_agent(served)
    async with await served.client("admin") as admin:
        return await admin.get_agent("alice")


async def test_append_log_round_trip(served: Served) -> None:
    agent = await _agent(served)
    async with await served.client() as runtime:
        signed = await runtime.sign(SignRequest("alice", Ed25519Message(b"gm")))
        assert isinstance(signed, Ed25519Signature) and signed.log_index == 1
        batch = await runtime.sign_batch(
            [SignRequest("alice", tx(nonce=1)), SignRequest("alice", tx(chain_id=1))]
        )
        assert not isinstance(batch[0], SignFailure) and batch[0].log_index == 2
        assert isinstance(batch[1], SignFailure)
        result = await runtime.append_log("alice", 0, messages(2))
    assert (result.first_index, result.size) == (4, 6)
    kinds = [decode_entry(e.entry).kind for e in result.entries]
    assert kinds == [
        EntryKind.LIFECYCLE,
        EntryKind.SIGNATURE,
        EntryKind.SIGNATURE,
        EntryKind.POLICY_DECISION,
        EntryKind.MESSAGE_IN,
        EntryKind.MESSAGE_IN,
    ]
    # Payloads come with the enclave's own entries only; an empty one would still be "set".
    assert [e.payload is not None for e in result.entries] == [True] * 4 + [False] * 2
    checkpoint = open_note(agent, result.checkpoint)
    assert checkpoint.root_hash == root_from_leaf_hashes(leaf_hash(e.entry) for e in result.entries)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (TOKENS["admin"], "PERMISSION_DENIED"),
        ("not-a-known-token", "UNAUTHENTICATED"),
    ],
)
async def test_only_the_runtime_may_append(served: Served, token: str, expected: str) -> None:
    await make_agent(served)
    async with await SignerClient.connect_attested(
        address=served.address, token=token, policy=SIM_TRUST
    ) as client:
        with pytest.raises(SignerRpcError) as info:
            await client.append_log("alice", 0, messages(1))
    assert info.value.code == expected
    async with await served.client() as runtime:
        assert (await runtime.append_log("alice", 0)).size == 1


def _wire_input(**changes: object) -> pb.LogEntryInput:
    fields: dict[str, object] = {
        "kind": pb.LOG_ENTRY_KIND_MESSAGE_IN,
        "actor": "user",
        "room": "r",
        "payload_sha256": hashlib.sha256(b"x").digest(),
        "payload_size": 1,
    }
    fields.update(changes)
    return pb.LogEntryInput(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (
            pb.AppendLogRequest(
                agent_id="alice",
                entries=[_wire_input(), _wire_input(kind=pb.LOG_ENTRY_KIND_UNSPECIFIED)],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "entries[1].kind",
        ),
        (
            pb.AppendLogRequest(agent_id="alice", entries=[_wire_input(kind=42)]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "entries[0].kind",
        ),
        (
            pb.AppendLogRequest(agent_id="alice", entries=[_wire_input(payload_sha256=b"")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "entries[0]: payload_sha256 must be 32 bytes",
        ),
        (
            pb.AppendLogRequest(
                agent_id="alice", entries=[_wire_input(kind=pb.LOG_ENTRY_KIND_SIGNATURE)]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "written by the signer only",
        ),
        (
            pb.AppendLogRequest(agent_id="alice", entries=[_wire_input(payload_size=1 << 63)]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "payload_size",
        ),
        (pb.AppendLogRequest(), grpc.StatusCode.INVALID_ARGUMENT, "agent_id is required"),
        (pb.AppendLogRequest(agent_id="nobody"), grpc.StatusCode.NOT_FOUND, "nobody"),
        (
            pb.AppendLogRequest(agent_id="alice", host_size=7),
            grpc.StatusCode.FAILED_PRECONDITION,
            "host_size 7 is larger",
        ),
        (
            pb.AppendLogRequest(
                agent_id="alice", entries=[_wire_input()] * (MAX_APPEND_ENTRIES + 1)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            f"limit is {MAX_APPEND_ENTRIES}",
        ),
    ],
)
async def test_bad_append_requests(
    served: Served, request_: pb.AppendLogRequest, code: grpc.StatusCode, reason: str
) -> None:
    await make_agent(served)
    channel, _ = await _raw_channel(served)
    async with channel:
        stub = pb_grpc.SignerServiceStub(channel)
        auth = (("authorization", f"Bearer {TOKENS['runtime']}"),)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.AppendLog(request_, metadata=auth)
        assert info.value.code() is code
        assert reason in (info.value.details() or "")
        after = await stub.AppendLog(pb.AppendLogRequest(agent_id="alice"), metadata=auth)
    assert after.size == 1


async def test_a_full_tail_of_the_largest_entries_fits_in_one_answer(served: Served) -> None:
    """A host that fell behind can always collect everything in one call."""
    assert DEFAULT_MAX_MESSAGE_BYTES >= MAX_APPEND_RESPONSE_BYTES
    await make_agent(served)
    # Long multi-byte labels make entries close to the 2048-byte ceiling.
    big = host_input(actor="é" * 256, room="😀" * 256, payload_size=(1 << 63) - 1)
    async with await served.client() as runtime:
        size = 1  # the agent's creation
        while size < MAX_PENDING_LOG_ENTRIES:
            count = min(MAX_APPEND_ENTRIES, MAX_PENDING_LOG_ENTRIES - size)
            size = (await runtime.append_log("alice", 0, [big] * count)).size
        with pytest.raises(LogTailFull, match="must collect") as info:
            await runtime.append_log("alice", 0, [big])
        assert info.value.agent_id == "alice"  # from the ErrorInfo's metadata
        full = await runtime.append_log("alice", 0)
    assert len(full.entries) == MAX_PENDING_LOG_ENTRIES
    assert max(len(e.entry) for e in full.entries) > 1700


async def test_the_log_survives_kill_9(tmp_path: Path) -> None:
    async def sequence(address: str, tokens: dict[str, str]) -> tuple[Agent, bytes, list[bytes]]:
        async with await SignerClient.connect_attested(
            address=address, token=tokens["admin"], policy=SIM_TRUST
        ) as admin:
            agent = await admin.create_agent("alice", policy=OPEN_POLICY)
        async with await SignerClient.connect_attested(
            address=address, token=tokens["runtime"], policy=SIM_TRUST
        ) as runtime:
            await runtime.sign(SignRequest("alice", Ed25519Message(b"before the crash")))
            stored = await runtime.append_log("alice", 0, messages(5))
            # Returned, but the host never confirms it: the enclave must keep it.
            last = await runtime.append_log("alice", stored.size, messages(3, start=5))
        return agent, last.checkpoint, [e.entry for e in (*stored.entries, *last.entries)]

    with local_signer(tmp_path) as first:
        agent, checkpoint, entries = await sequence(first.address, first.tokens)
        first.process.kill()
        first.process.wait()
    with local_signer(tmp_path) as second:
        async with await SignerClient.connect_attested(
            address=second.address, token=second.tokens["runtime"], policy=SIM_TRUST
        ) as runtime:
            again = await runtime.append_log("alice", 7)
            assert again.checkpoint == checkpoint
            assert [e.entry for e in again.entries] == entries[7:]
            more = await runtime.append_log("alice", 10, [host_input(b"after")])
    assert more.first_index == 10
    body = open_note(agent, more.checkpoint)
    leaves = [leaf_hash(e) for e in [*entries, *(e.entry for e in more.entries)]]
    assert body.root_hash == root_from_leaf_hashes(leaves)


def test_a_message_limit_too_small_for_a_full_tail_is_refused(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from tests.signer.conftest import signer_config

    with pytest.raises(ValidationError, match="carry a full log tail"):
        signer_config(tmp_path, max_message_bytes=4 * 1024 * 1024)
