"""AgentLog and LogRegistry against the real signer core (INSECURE simulated TEE)."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from anima_dev.inprocess_log import InProcessSequencer
from anima_runtime.log import durable
from anima_runtime.log.errors import (
    CheckpointRejected,
    InvalidLogRequest,
    SequencerFailed,
    UnknownLog,
)
from anima_runtime.log.items import LogItem
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.tiles_store import PublishedCheckpoint
from anima_signer.core import Signer
from anima_signer_api.errors import PolicyDenied
from anima_signer_api.types import (
    MAX_PENDING_LOG_ENTRIES,
    Agent,
    LogAppendResult,
    LogEntryInput,
    PersonalMessage,
    SequencedEntry,
    SignRequest,
    Transaction,
    TxType,
)
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.entry import EntryKind, decode_entry
from anima_verify.tlog.reader import DirectorySource
from anima_verify.tlog.verify import verify_tiled_log
from tests.log.conftest import AGENT, LogOpener, agent_verifier

DENIED_TX = Transaction(  # the policy allows no chain
    type=TxType.EIP1559,
    chain_id=1,
    nonce=0,
    gas_limit=21_000,
    to="0x" + "11" * 20,
    max_fee_per_gas=1,
    max_priority_fee_per_gas=1,
)


def item(text: str, kind: EntryKind = EntryKind.MESSAGE_IN) -> LogItem:
    return LogItem(kind, "user", "room", text.encode())


async def test_concurrent_appends_share_flushes(
    tmp_path: Path, signer: Signer, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, sequencer)
    checkpoints: list[PublishedCheckpoint] = []
    log.add_checkpoint_listener(checkpoints.append)
    requests = [[item(f"{p}.{k}") for k in range(1 + p % 3)] for p in range(300)]
    results = await asyncio.gather(*(log.append(r) for r in requests))
    for request, indices in zip(requests, results, strict=True):
        assert len(indices) == len(request)
        assert indices == list(range(indices[0], indices[0] + len(request)))  # kept together
        for one, index in zip(request, indices, strict=True):
            assert log.index.payload(index) == one.payload
    assert sorted(i for r in results for i in r) == list(range(1, log.size))  # 0: creation
    assert len(checkpoints) < 30  # group commit: far fewer flushes than callers
    assert [c.size for c in checkpoints] == sorted({c.size for c in checkpoints})
    assert (
        verify_tiled_log(
            DirectorySource(log.store.directory),
            [agent_verifier(signer)],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        ).size
        == log.size
    )
    assert await log.append([]) == []
    await log.close()


async def test_a_large_request_is_split_but_stays_in_order(
    tmp_path: Path, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, sequencer)
    indices = await log.append([item(str(i)) for i in range(10_000)])
    assert indices == list(range(1, 10_001))
    await log.close()


async def test_entries_the_enclave_wrote_are_collected_with_their_payloads(
    tmp_path: Path, signer: Signer, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, sequencer)
    creation = json.loads(log.index.payload(0))
    assert creation  # the lifecycle entry's payload came with the first sync
    signed = signer.sign(SignRequest(AGENT, PersonalMessage(b"pay 1 eth")))
    with pytest.raises(PolicyDenied):
        signer.sign(SignRequest(AGENT, DENIED_TX))
    await log.sync()
    entries = log.store.read_entries(0, log.size)
    kinds = [decode_entry(e).kind for e in entries]
    assert kinds == [EntryKind.LIFECYCLE, EntryKind.SIGNATURE, EntryKind.POLICY_DECISION]
    assert signed.log_index == 1
    for index in (1, 2):
        assert decode_entry(entries[index]).matches_payload(log.index.payload(index))
    await log.close()


async def test_background_sync_collects_signature_entries(
    tmp_path: Path, signer: Signer, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, sequencer, sync_interval_s=0.05)
    signer.sign(SignRequest(AGENT, PersonalMessage(b"hello")))
    for _ in range(100):
        if log.size == 2:
            break
        await asyncio.sleep(0.02)
    assert log.size == 2
    await log.close()


async def test_actor_and_room_are_logged_in_nfkc_form(
    tmp_path: Path, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    """The enclave takes NFKC labels only: the runtime sends fullwidth letters and
    composed accents in that form, and the entry says so."""
    log = await open_log(tmp_path, sequencer)
    [index] = await log.append(
        [LogItem(EntryKind.MESSAGE_IN, "\uff42\uff4f\uff42", "caf" + "e\u0301", b"hi")]
    )
    [entry] = log.store.read_entries(index, index + 1)
    decoded = decode_entry(entry)
    assert (decoded.actor, decoded.room) == ("bob", "caf\u00e9")
    await log.close()


async def test_invalid_items_are_refused_before_they_can_spoil_a_batch(
    tmp_path: Path, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, sequencer)
    bad = [
        (LogItem(EntryKind.SIGNATURE, "user", "r", b""), "written by the signer only"),
        (LogItem(EntryKind.POLICY_DECISION, "user", "r", b""), "written by the signer only"),
        (LogItem(EntryKind.ACTION, "signer", "r", b""), "reserved for the signer"),
        (LogItem(EntryKind.ACTION, "a" * 257, "r", b""), "actor or room is not valid"),
        (LogItem(EntryKind.ACTION, "\U0001f600" * 256, "\U0001f600" * 256, b""), "too long"),
        (LogItem(EntryKind.ACTION, "Signer", "r", b""), "imitates 'signer'"),
        (LogItem(EntryKind.ACTION, "signer\u200b", "r", b""), "U\\+200B"),
        (
            LogItem(EntryKind.ACTION, "\uff53\uff49\uff47\uff4e\uff45\uff52", "r", b""),
            "'signer' is reserved for the signer's own entries \\(given as actor '\uff53",
        ),
        (LogItem(EntryKind.ACTION, "a", "tab\there", b""), "room holds U\\+0009"),
        (LogItem(EntryKind.ACTION, "\ud800", "r", b""), "not valid"),
        (LogItem("chat", "a", "r", b""), "not a log entry kind"),  # type: ignore[arg-type]
        (LogItem(EntryKind.ACTION, "a", "r", "text"), "payload must be bytes"),  # type: ignore[arg-type]
    ]
    good = asyncio.gather(*(log.append([item(str(i))]) for i in range(20)))
    for one, message in bad:
        with pytest.raises(InvalidLogRequest, match=message):
            await log.append([item("fine"), one])
    assert len(await good) == 20
    await log.close()


class TamperingSequencer:
    """The real sequencer, with its answers altered in transit (a hostile channel)."""

    def __init__(self, inner: InProcessSequencer, tamper: int) -> None:
        self._inner = inner
        self._tamper = tamper

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._inner.get_agent(agent_id)

    async def append_log(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult:
        result = await self._inner.append_log(agent_id, host_size, inputs)
        if not inputs:
            return result
        entries = list(result.entries)
        k = self._tamper
        entry = decode_entry(entries[k].entry)
        changed = dataclasses.replace(entry, time_ms=entry.time_ms + 1).encode()
        entries[k] = SequencedEntry(changed, entries[k].payload)
        return dataclasses.replace(result, entries=tuple(entries))


async def test_a_root_the_host_cannot_recompute_is_never_published(
    tmp_path: Path, signer: Signer, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, TamperingSequencer(sequencer, tamper=2))
    with pytest.raises(CheckpointRejected, match=r"host's tiles give .* refusing to publish"):
        await log.append([item("a"), item("b"), item("c")])
    assert log.size == 1
    assert (
        verify_tiled_log(
            DirectorySource(log.store.directory),
            [agent_verifier(signer)],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        ).size
        == 1
    )
    await log.close()
    # With an honest channel the same log recovers the entries the enclave sequenced.
    log = await open_log(tmp_path, sequencer)
    assert log.size == 4
    await log.close()


async def test_a_host_that_lost_its_log_is_told_so(
    tmp_path: Path, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path / "log", sequencer)
    await log.append([item("a"), item("b")])
    await log.sync()  # the enclave now knows the host stored 3 entries
    await log.close()
    shutil.rmtree(tmp_path / "log")
    with pytest.raises(SequencerFailed, match="the host lost entries"):
        await open_log(tmp_path / "log", sequencer)


async def test_a_full_enclave_tail_is_collected_and_the_append_retried(
    tmp_path: Path, signer: Signer, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, sequencer)
    for _ in range(MAX_PENDING_LOG_ENTRIES // 1024 - 1):
        signer.sign_many([SignRequest(AGENT, PersonalMessage(b"m"))] * 1024)
    pending = MAX_PENDING_LOG_ENTRIES - 1024
    indices = await log.append([item(str(i)) for i in range(2000)])
    assert indices[0] == 1 + pending
    assert log.size == 1 + pending + 2000
    await log.close()


async def test_registry_opens_each_log_once(tmp_path: Path, signer: Signer) -> None:
    signer.create_agent(agent_id="bob", wallet_count=1, policy=signer.get_agent(AGENT).policy)
    root = tmp_path / "logs"
    registry = LogRegistry(root=root, sequencer=InProcessSequencer(signer), sync_interval_s=None)
    first, second = await asyncio.gather(registry.open(AGENT), registry.open(AGENT))
    assert first is second is registry.get(AGENT)
    await (await registry.open("bob")).append([item("hi")])
    with pytest.raises(UnknownLog):
        registry.get("carol")
    with pytest.raises(InvalidLogRequest, match="must be 3-64 characters"):
        await registry.open("../etc")
    await registry.close()
    again = LogRegistry(root=root, sequencer=InProcessSequencer(signer), sync_interval_s=None)
    (root / "not-a-log").mkdir()
    assert await again.open_existing() == [AGENT, "bob"]
    assert again.get("bob").size == 2
    await again.close()


def _non_ascii_base64(checkpoint: Path) -> None:
    """Replace the first base64 character of the signature line with an e-acute."""
    text = checkpoint.read_text()
    at = text.rindex(" ") + 1
    checkpoint.write_text(text[:at] + "\u00e9" + text[at + 1 :])


async def test_a_corrupt_checkpoint_skips_only_its_log(
    tmp_path: Path, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: a checkpoint with non-ASCII base64 raised a bare ValueError while
    the logs were opened at start-up, so `anima log serve` came up with no log at all.
    The corrupt one is skipped with a warning and left as it is; the others open."""
    signer.create_agent(agent_id="bob", wallet_count=1, policy=signer.get_agent(AGENT).policy)
    root = tmp_path / "logs"
    registry = LogRegistry(root=root, sequencer=InProcessSequencer(signer), sync_interval_s=None)
    for agent_id in (AGENT, "bob"):
        await (await registry.open(agent_id)).append([item("hi")])
    await registry.close()
    checkpoint = root / AGENT / "tiles" / "checkpoint"
    _non_ascii_base64(checkpoint)
    damaged = checkpoint.read_bytes()

    again = LogRegistry(root=root, sequencer=InProcessSequencer(signer), sync_interval_s=None)
    with caplog.at_level("WARNING", logger="anima_runtime.log.registry"):
        assert await again.open_existing() == ["bob"]
    assert again.get("bob").size == 2
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"skipping the log of agent {AGENT}" in warning and "not valid base64" in warning
    assert checkpoint.read_bytes() == damaged
    await again.close()


class LosingSequencer:
    """The real sequencer; the first answer to an append is lost on the way back."""

    def __init__(self, inner: InProcessSequencer) -> None:
        self._inner = inner
        self.lost = False

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._inner.get_agent(agent_id)

    async def append_log(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult:
        result = await self._inner.append_log(agent_id, host_size, inputs)
        if inputs and not self.lost:
            self.lost = True
            raise ConnectionResetError("connection reset by peer")
        return result


async def test_payloads_of_a_lost_answer_are_kept_for_the_tail(
    tmp_path: Path, sequencer: InProcessSequencer, open_log: LogOpener
) -> None:
    log = await open_log(tmp_path, LosingSequencer(sequencer))
    with pytest.raises(SequencerFailed, match="connection reset by peer"):
        await log.append([item("first"), item("second")])
    assert log.size == 1  # the enclave has them; the host does not know yet
    [index] = await log.append([item("third")])
    assert index == 3
    assert [log.index.payload(i) for i in (1, 2, 3)] == [b"first", b"second", b"third"]


def _disk_full(name: str, path: Path) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failure", ["disk full", "answer rejected"])
async def test_payloads_survive_a_failure_to_store_what_the_enclave_sequenced(
    tmp_path: Path,
    sequencer: InProcessSequencer,
    open_log: LogOpener,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    """Regression: payloads were kept for the next tail only when AppendLog itself
    failed; when storing its answer failed (ENOSPC, CheckpointRejected), the enclave
    had the entries and the next sync stored them without their payloads."""
    if failure == "disk full":
        log = await open_log(tmp_path, sequencer)
        monkeypatch.setattr(durable, "_step", _disk_full)
        with pytest.raises(OSError, match="No space left"):
            await log.append([item("first"), item("second")])
        monkeypatch.undo()
    else:  # tampers with answers to appends, not to syncs
        log = await open_log(tmp_path, TamperingSequencer(sequencer, tamper=1))
        with pytest.raises(CheckpointRejected):
            await log.append([item("first"), item("second")])
    assert log.size == 1  # the enclave has them; the host stored nothing
    await log.sync()
    assert log.size == 3
    assert [log.index.payload(i) for i in (1, 2)] == [b"first", b"second"]
