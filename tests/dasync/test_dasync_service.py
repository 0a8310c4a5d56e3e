"""The da-sync service over gRPC (TLS, caller tokens) against a real signer: SyncAgent
publishes the log since the last manifest and the enclave's state, only when the
log grew; the enclave signs the anchor update; a restart resumes from the backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
import pytest

from anima.dasync.v1 import dasync_pb2 as pb
from anima.dasync.v1 import dasync_pb2_grpc as pb_grpc
from anima_core import channels
from anima_core.auth import bearer_metadata, token_digest
from anima_dasync.app import TLS_SERVER_NAME, RunningDaSync, start_dasync
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.config import DaSyncConfig, DaSyncMisconfigured
from anima_dasync.log_source import LogSnapshot, read_log
from anima_signer_api.types import LogAppendResult
from anima_verify.eth import recover_address
from anima_verify.lifedata import AnchorState, parse_signed_manifest
from anima_verify.lifedata.anchor import update_digest
from anima_verify.tlog.reader import DirectorySource
from anima_verify.tlog.tiles import encode_entry_bundle, entries_path
from tests.dasync.test_recover_grpc import AGENT, TOKENS, Node, _entry, _start
from tests.signer.conftest import OPEN_POLICY

ADMIN = "dasync-admin-token-for-tests"
CHAIN_ID = 31337
CONTRACT = bytes.fromhex("11" * 20)


class DirectoryLogs:
    """Agents' tiled logs in a directory: the same reading code as over HTTP."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def read(self, agent_id: str, start: int) -> LogSnapshot:
        return read_log(DirectorySource(self.root / agent_id), start)

    def write(self, agent_id: str, entries: list[bytes], checkpoint: bytes) -> None:
        """The log as a host stores it (one entry bundle holds up to 256 entries)."""
        base = self.root / agent_id
        path = base / entries_path(0, len(entries))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_entry_bundle(entries))
        (base / "checkpoint").write_bytes(checkpoint)


def _config(tmp: Path, node: Node) -> DaSyncConfig:
    return DaSyncConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "da_dir": tmp / "da",
            "state_dir": tmp / "dasync",
            "signer": node.address,
            "signer_token": TOKENS["dasync"],
            "insecure_allow_simulated_signer": True,
            "anchor_chain_id": CHAIN_ID,
            "anchor_contract": "0x" + CONTRACT.hex(),
            "callers": {"admin": token_digest(ADMIN)},
        }
    )


@dataclass
class Stack:
    node: Node
    logs: DirectoryLogs
    entries: list[bytes]
    tmp: Path

    async def append(self, n: int) -> LogAppendResult:
        async with await self.node.client("runtime") as runtime:
            result = await runtime.append_log(
                AGENT, len(self.entries), [_entry(i) for i in range(1, n + 1)]
            )
        self.entries += [e.entry for e in result.entries]
        self.logs.write(AGENT, self.entries, result.checkpoint)
        return result


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    node = await _start(tmp_path / "signer")
    async with await node.client("admin") as admin:
        await admin.create_agent(AGENT, policy=OPEN_POLICY)
    s = Stack(node=node, logs=DirectoryLogs(tmp_path / "logs"), entries=[], tmp=tmp_path)
    await s.append(2)
    yield s
    await node.running.stop(grace=0.2)


async def _serve(stack: Stack) -> tuple[RunningDaSync, pb_grpc.DaSyncServiceStub, grpc.aio.Channel]:
    running = await start_dasync(_config(stack.tmp, stack.node), logs=stack.logs)
    channel = channels.client_channel(
        f"127.0.0.1:{running.port}",
        certificate_pem=running.certificate_pem,
        insecure_plaintext=False,
        server_name=TLS_SERVER_NAME,
        max_message_bytes=4 * 1024 * 1024,
        service="da-sync",
    )
    return running, pb_grpc.DaSyncServiceStub(channel), channel


async def test_sync_publishes_only_what_grew_and_resumes_after_a_restart(stack: Stack) -> None:
    running, stub, channel = await _serve(stack)
    auth = bearer_metadata(ADMIN)
    try:
        first = await stub.SyncAgent(pb.SyncAgentRequest(agent_id=AGENT), metadata=auth)
        assert (first.version, first.published, first.log_size) == (1, True, len(stack.entries))
        update = first.anchor_update
        assert (update.chain_id, update.contract) == (CHAIN_ID, CONTRACT)
        # The enclave's anchor key signed exactly this state for this chain and contract.
        state = AnchorState(
            manifest_hash=first.manifest_hash,
            checkpoint_root=first.checkpoint_root,
            version=1,
            checkpoint_size=first.log_size,
            epoch=0,
        )
        digest = update_digest(
            chain_id=CHAIN_ID, contract=CONTRACT, agent=update.agent_address, state=state
        )
        signer = recover_address(digest, update.r + update.s + bytes([update.v]))
        assert signer.lower() == "0x" + update.agent_address.hex()
        again = await stub.SyncAgent(pb.SyncAgentRequest(agent_id=AGENT), metadata=auth)
        assert (again.version, again.published) == (1, False)  # the log did not grow
        await stack.append(3)
        second = await stub.SyncAgent(pb.SyncAgentRequest(agent_id=AGENT), metadata=auth)
        assert (second.version, second.published, second.log_size) == (2, True, 6)
    finally:
        await channel.close(None)
        await running.stop(grace=0.2)
    backend = LocalDirectoryBackend(root=stack.tmp / "da")
    v2 = parse_signed_manifest(backend.get_manifest(AGENT, 2)).manifest
    assert (
        v2.previous == parse_signed_manifest(backend.get_manifest(AGENT, 1)).manifest.digest().hex()
    )
    assert v2.digest() == second.manifest_hash
    assert [c.kind for c in v2.chunks] == ["signer-state", "log", "signer-state", "log"]
    # A restart reloads what was published: the next version is 3, not a second 1.
    running, stub, channel = await _serve(stack)
    try:
        latest = await stub.GetLatestManifest(
            pb.GetLatestManifestRequest(agent_id=AGENT), metadata=auth
        )
        assert (latest.version, latest.manifest_hash) == (2, second.manifest_hash)
        await stack.append(1)
        third = await stub.SyncAgent(pb.SyncAgentRequest(agent_id=AGENT), metadata=auth)
        assert (third.version, third.log_size) == (3, 7)
    finally:
        await channel.close(None)
        await running.stop(grace=0.2)


async def test_bad_callers_and_unknown_agents_publish_nothing(stack: Stack) -> None:
    running, stub, channel = await _serve(stack)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.SyncAgent(
                pb.SyncAgentRequest(agent_id=AGENT), metadata=bearer_metadata("wrong-token")
            )
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as info:  # no log for this agent
            await stub.SyncAgent(
                pb.SyncAgentRequest(agent_id="nobody"), metadata=bearer_metadata(ADMIN)
            )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        stack.logs.write(
            "mallory", stack.entries, (stack.logs.root / AGENT / "checkpoint").read_bytes()
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:  # a log, but no such agent in the signer
            await stub.SyncAgent(
                pb.SyncAgentRequest(agent_id="mallory"), metadata=bearer_metadata(ADMIN)
            )
        assert (
            info.value.code() == grpc.StatusCode.INTERNAL
            or info.value.code() == grpc.StatusCode.NOT_FOUND
        )
    finally:
        await channel.close(None)
        await running.stop(grace=0.2)
    backend = LocalDirectoryBackend(root=stack.tmp / "da")
    assert backend.latest_version(AGENT) == 0 and backend.latest_version("mallory") == 0


def test_the_service_fails_closed_without_callers_or_a_signer_token(tmp_path: Path) -> None:
    base = {"signer_token": "t", "insecure_allow_simulated_signer": True}
    with pytest.raises(DaSyncMisconfigured, match="callers"):
        DaSyncConfig.model_validate(base).check_startable()
    with pytest.raises(DaSyncMisconfigured, match="SIGNER_TOKEN"):
        DaSyncConfig.model_validate({"callers": {"admin": token_digest("x")}}).check_startable()
