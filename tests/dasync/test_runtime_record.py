"""The runtime record in da-sync's rounds, against a real signer (simulated TEE): a
changed record goes up as a new sealed `runtime` chunk, an unchanged one costs no
upload, a runtime that cannot answer fails the round without publishing anything,
and a record that is not the asked agent's is refused before the enclave seals it.

The runtime is a stand-in holding a record (the real runtime has no RPC that edits
an agent's record; tests/dasync/test_restore_node.py syncs a real runtime's record
and hosts it on node B), except where it is unreachable: there the real gRPC client
talks to a closed port."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from anima_dasync.app import start_dasync
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.runtime_source import (
    GrpcRuntime,
    RuntimeRecordRefused,
    RuntimeSource,
    checked_record,
)
from anima_dasync.syncer import Syncer
from anima_runtime_api.client import RuntimeClient
from anima_runtime_api.errors import RuntimeUnreachable
from anima_signer_api.client import SignerClient
from anima_verify.lifedata import parse_signed_manifest
from tests.dasync.test_dasync_service import Stack, _config, stack
from tests.dasync.test_recover_grpc import AGENT

__all__ = ["stack"]  # the signer + log fixture, used here too

SECRET = "sk-live-runtime-record-secret-0123456789"


def _record(agent_id: str = AGENT, *, bio: str = "a careful agent") -> bytes:
    """A record shaped like ExportAgent's ("anima.runtime.agent" v1), a secret inside."""
    character = {"name": "Ada", "bio": bio, "settings": {"secrets": {"OPENAI_API_KEY": SECRET}}}
    doc = {
        "format": "anima.runtime.agent",
        "version": 1,
        "agent_id": agent_id,
        "name": "Ada",
        "created_at": "2026-12-07T00:00:00Z",
        "wallets": ["0x" + "ab" * 20],
        "log_verifier_key": "test.anima/agents/alice+0123+AAAA",
        "model": "test",
        "character": json.dumps(character),
    }
    return json.dumps(doc, sort_keys=True).encode()


class HeldRecord:
    """A runtime holding one record, or one that cannot be reached."""

    def __init__(self, record: bytes) -> None:
        self.record_json = record
        self.unreachable: RuntimeSource | None = None
        self.calls = 0

    async def record(self, agent_id: str) -> bytes:
        self.calls += 1
        if self.unreachable is not None:
            return await self.unreachable.record(agent_id)
        return checked_record(agent_id, self.record_json)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kinds(backend: LocalDirectoryBackend, version: int) -> list[str]:
    return [
        c.kind for c in parse_signed_manifest(backend.get_manifest(AGENT, version)).manifest.chunks
    ]


async def test_a_changed_record_goes_up_sealed_and_an_unchanged_one_not_at_all(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runtime = HeldRecord(_record())
    backend = LocalDirectoryBackend(root=stack.tmp / "da")
    async with await stack.node.client("dasync") as dasync:
        syncer = Syncer(signer=dasync, backend=backend, logs=stack.logs, runtime=runtime)
        first = await syncer.sync(AGENT)
        unchanged = await syncer.sync(AGENT)
        runtime.record_json = _record(bio="a careful agent, now in Lisbon")
        changed = await syncer.sync(AGENT)
        await stack.append(1)
        log_only = await syncer.sync(AGENT)
    assert (first.published, first.runtime) == (True, True)
    assert (unchanged.published, unchanged.runtime, unchanged.uploaded_bytes) == (False, False, 0)
    assert (changed.published, changed.runtime, changed.anchored.version) == (True, True, 2)
    assert (log_only.published, log_only.runtime, log_only.anchored.version) == (True, False, 3)
    assert runtime.calls == 4  # read every round, sealed only when it changed
    assert _kinds(backend, 1) == ["signer-state", "runtime", "log"]
    assert _kinds(backend, 2)[3:] == ["signer-state", "runtime", "log"]  # the new record
    assert _kinds(backend, 3)[6:] == ["signer-state", "log"]  # and no third one
    manifest = parse_signed_manifest(backend.get_manifest(AGENT, 3)).manifest
    assert manifest.counts["runtime"] == 2
    assert manifest.counts["log_entries"] == len(stack.entries)
    # Sealed by the enclave before it left: the secret is in no published byte, no log line.
    for path in (stack.tmp / "da").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in caplog.text


async def test_an_unreachable_runtime_fails_the_round_and_the_next_one_succeeds(
    stack: Stack,
) -> None:
    runtime = HeldRecord(_record())
    backend = LocalDirectoryBackend(root=stack.tmp / "da")
    dead = RuntimeClient.connect(f"127.0.0.1:{_closed_port()}", "t", insecure_plaintext=True)
    async with await stack.node.client("dasync") as dasync:
        syncer = Syncer(signer=dasync, backend=backend, logs=stack.logs, runtime=runtime)
        await syncer.sync(AGENT)
        await stack.append(2)  # the log grew, then the runtime went away
        runtime.unreachable = GrpcRuntime(dead)
        with pytest.raises(RuntimeUnreachable):
            await syncer.sync(AGENT)
        assert backend.latest_version(AGENT) == 1  # no manifest that misses the round
        assert syncer.latest(AGENT)[0] == 1
        runtime.unreachable = None
        again = await syncer.sync(AGENT)
    await dead.close()
    assert (again.published, again.runtime, again.anchored.version) == (True, False, 2)
    manifest = parse_signed_manifest(backend.get_manifest(AGENT, 2)).manifest
    # Nothing dropped: the record of round 1 is still listed, the new entries are in.
    assert [c.kind for c in manifest.chunks].count("runtime") == 1
    assert manifest.counts["log_entries"] == len(stack.entries)


async def test_another_agents_record_is_refused_before_sealing(stack: Stack) -> None:
    runtime = HeldRecord(_record("bob"))
    backend = LocalDirectoryBackend(root=stack.tmp / "da")
    async with await stack.node.client("dasync") as dasync:
        syncer = Syncer(signer=dasync, backend=backend, logs=stack.logs, runtime=runtime)
        with pytest.raises(RuntimeRecordRefused, match="another agent's record") as refused:
            await syncer.sync(AGENT)
        assert backend.latest_version(AGENT) == 0 and not list((stack.tmp / "da").rglob("*.*"))
        assert SECRET not in str(refused.value)
        runtime.record_json = _record()  # the runtime answers right again
        assert (await syncer.sync(AGENT)).runtime


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"", "0 bytes"),
        (b"x" * ((8 << 20) + 1), "bytes"),
        (b"\xff" + SECRET.encode(), "not JSON"),
        (b'{"secret": "' + SECRET.encode() + b'"', "not JSON"),
        (b"[1, 2]", "not an 'anima.runtime.agent' record"),
        (json.dumps({"format": "other", "agent_id": AGENT}).encode(), "not an"),
        (json.dumps({"format": "anima.runtime.agent"}).encode(), "another agent's"),
    ],
)
def test_what_is_not_a_record_is_refused_without_quoting_it(answer: bytes, why: str) -> None:
    with pytest.raises(RuntimeRecordRefused, match=why) as refused:
        checked_record(AGENT, answer)
    assert SECRET not in str(refused.value)


@given(st.binary(max_size=512))
def test_any_bytes_are_the_record_or_refused(answer: bytes) -> None:
    with contextlib.suppress(RuntimeRecordRefused):
        assert checked_record(AGENT, answer) == answer
    assert checked_record(AGENT, _record()) == _record()


async def test_the_service_reads_the_runtime_its_config_names(stack: Stack) -> None:
    """start_dasync wires `runtime` (plaintext here, refused in production): a runtime
    that is down fails the round and nothing is published."""
    config = _config(stack.tmp, stack.node).model_copy(
        update={
            "runtime": f"127.0.0.1:{_closed_port()}",
            "runtime_token": SecretStr("admin-token"),
            "insecure_runtime_plaintext": True,
        }
    )
    running = await start_dasync(config, logs=stack.logs)
    try:
        assert running.runtime is not None
        with pytest.raises(RuntimeUnreachable):
            await running.syncer.sync(AGENT)
        assert running.syncer.latest(AGENT) == (0, b"")
    finally:
        await running.stop(grace=0.2)
    assert LocalDirectoryBackend(root=stack.tmp / "da").latest_version(AGENT) == 0


class CountingSeals:
    """The signer client, counting SealLifeData requests."""

    def __init__(self, signer: SignerClient) -> None:
        self._signer = signer
        self.seals: list[tuple[list[str], bool]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._signer, name)

    async def seal_life_data(self, agent_id: str, **kwargs: Any) -> Any:
        self.seals.append(([k for k, _, _ in kwargs["parts"]], kwargs["include_signer_state"]))
        return await self._signer.seal_life_data(agent_id, **kwargs)


async def test_a_large_round_is_sealed_in_several_requests_the_state_once(stack: Stack) -> None:
    runtime = HeldRecord(_record())
    backend = LocalDirectoryBackend(root=stack.tmp / "da")
    async with await stack.node.client("dasync") as dasync:
        counting = CountingSeals(dasync)
        syncer = Syncer(
            signer=cast(SignerClient, counting),
            backend=backend,
            logs=stack.logs,
            runtime=runtime,
            seal_request_bytes=1,  # every part its own request
        )
        outcome = await syncer.sync(AGENT)
    assert counting.seals == [(["runtime"], False), (["log"], True)]
    assert outcome.anchored.version == 1
    assert _kinds(backend, 1) == ["runtime", "signer-state", "log"]
