"""Crash safety: a batch stopped after any file operation, and a writer killed with -9.

After either, reopening must find a checkpoint that verifies and names only
durable data, every acknowledged entry must be there, and the log resumes
(the enclave hands back the tail the host never stored).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anima_dev.inprocess_log import InProcessSequencer
from anima_runtime.log import durable
from anima_runtime.log.items import LogItem
from anima_runtime.log.service import TILES_DIR, AgentLog
from anima_runtime.log.tiles_store import TileStore
from anima_signer.core import Signer
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.merkle import leaf_hash, root_from_leaf_hashes
from anima_verify.tlog.note import Verifier
from anima_verify.tlog.reader import DirectorySource
from anima_verify.tlog.verify import verify_tiled_log
from tests.log import crash_writer
from tests.log.conftest import AGENT, NoteSigner, agent_verifier, entries, open_signer


class SimulatedCrash(Exception):
    pass


def crash_after(monkeypatch: pytest.MonkeyPatch, steps: int) -> list[str]:
    """Make the `steps`-th file operation from now raise; returns the operations seen."""
    seen: list[str] = []

    def step(name: str, path: Path) -> None:
        seen.append(f"{name} {path.name}")
        if len(seen) == steps:
            raise SimulatedCrash(f"crash at {name} {path}")

    monkeypatch.setattr(durable, "_step", step)
    return seen


def count_steps(
    monkeypatch: pytest.MonkeyPatch, directory: Path, verifier: Verifier, note: bytes
) -> int:
    store = TileStore.open(directory, verifier=verifier)
    seen = crash_after(monkeypatch, -1)
    store.append(entries(300, 600), note)
    monkeypatch.undo()
    store.close()
    return len(seen)


def note_for(notes: NoteSigner, size: int) -> bytes:
    return notes.note(size, root_from_leaf_hashes(leaf_hash(e) for e in entries(0, size)))


def test_a_batch_stopped_after_any_file_operation_leaves_a_valid_log(
    tmp_path: Path, notes: NoteSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base"
    store = TileStore.open(base, verifier=notes.verifier)
    store.append(entries(0, 300), notes.extend(entries(0, 300)))
    store.close()
    shutil.copytree(base, tmp_path / "probe")
    note = note_for(notes, 600)
    total = count_steps(monkeypatch, tmp_path / "probe", notes.verifier, note)
    assert total >= 12  # tiles, bundles, their fsyncs and renames, directories, checkpoint
    outcomes = set()
    for k in range(1, total + 1):
        work = tmp_path / f"crash{k}"
        shutil.copytree(base, work)
        store = TileStore.open(work, verifier=notes.verifier)
        crash_after(monkeypatch, k)
        with pytest.raises(SimulatedCrash):
            store.append(entries(300, 600), note)
        monkeypatch.undo()
        store.close()  # the process died: its lock goes with it

        reopened = TileStore.open(work, verifier=notes.verifier)
        size = verify_tiled_log(
            DirectorySource(work), [notes.verifier], witnesses=WitnessPolicy.insecure_unwitnessed()
        ).size
        assert reopened.size == size
        outcomes.add(size)
        if size == 300:
            reopened.append(entries(300, 600), note)
        assert (
            verify_tiled_log(
                DirectorySource(work),
                [notes.verifier],
                witnesses=WitnessPolicy.insecure_unwitnessed(),
            ).size
            == 600
        )
        assert reopened.read_entries(0, 600) == entries(0, 600)
        reopened.close()
    assert outcomes == {300, 600}  # the last steps publish the checkpoint


async def test_agent_log_recovers_the_tail_after_a_storage_crash(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequencer = InProcessSequencer(signer)
    directory = tmp_path / "log"
    for k in (1, 4, 9, 15):
        log = await AgentLog.open(
            agent_id=AGENT, directory=directory, sequencer=sequencer, sync_interval_s=None
        )
        acked = await log.append([LogItem(EntryKind.RESPONSE, "bot", "r", b"ok %d" % k)])
        crash_after(monkeypatch, k)
        items = [LogItem(EntryKind.MESSAGE_IN, "user", "r", b"lost? %d" % i) for i in range(300)]
        with pytest.raises(SimulatedCrash):
            await log.append(items)
        monkeypatch.undo()
        await log.close()

        log = await AgentLog.open(
            agent_id=AGENT, directory=directory, sequencer=sequencer, sync_interval_s=None
        )
        report = verify_tiled_log(
            DirectorySource(log.store.directory),
            [agent_verifier(signer)],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
        # The enclave sequenced the crashed batch: the tail came back on open.
        assert report.size == log.size == signer.append_log(AGENT, log.size, []).size
        assert log.index.payload(acked[0]) == b"ok %d" % k
        await log.close()


def run_and_kill(state: Path, rng: random.Random, acked: list[tuple[int, int, int]]) -> None:
    """Start the writer on `state`, read some acknowledgements, kill -9 it mid-flight."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.log.crash_writer", str(state)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    target = len(acked) + rng.randrange(200, 3000)
    while len(acked) < target and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        _, producer, seq, index = line.split()
        acked.append((int(producer), int(seq), int(index)))
    time.sleep(rng.random() * 0.05)  # land somewhere inside a flush
    child.send_signal(signal.SIGKILL)
    for line in child.stdout:  # acknowledged and printed before the kill
        _, producer, seq, index = line.split()
        acked.append((int(producer), int(seq), int(index)))
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= target


@pytest.mark.slow
@pytest.mark.parametrize("run", range(3))
async def test_kill_9_loses_no_acknowledged_entry(tmp_path: Path, run: int) -> None:
    rng = random.Random(run)
    acked: list[tuple[int, int, int]] = []
    for _ in range(2):  # kill, restart on the same state, kill again
        run_and_kill(tmp_path, rng, acked)

    signer = await open_signer(tmp_path / "signer")
    try:
        # Before anything syncs: the stored checkpoint verifies and covers every ack.
        report = verify_tiled_log(
            DirectorySource(tmp_path / "log" / TILES_DIR),
            [agent_verifier(signer)],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
        assert max(index for *_, index in acked) < report.size
        log = await AgentLog.open(
            agent_id=AGENT,
            directory=tmp_path / "log",
            sequencer=InProcessSequencer(signer),
            sync_interval_s=None,
        )
        assert log.size >= report.size
        assert len({index for *_, index in acked}) == len(acked)
        for producer, seq, index in acked:
            assert log.index.payload(index) == crash_writer.payload(producer, seq)
        more = await log.append([LogItem(EntryKind.ACTION, "bot", "r", b"after the crash")])
        assert more == [log.size - 1]
        await log.close()
        assert verify_tiled_log(
            DirectorySource(tmp_path / "log" / TILES_DIR),
            [agent_verifier(signer)],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
    finally:
        signer.close()
