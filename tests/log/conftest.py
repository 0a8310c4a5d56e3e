"""Fixtures for the host's log storage: a real signer core on the INSECURE simulated
TEE as sequencer, and, for storage-only tests, checkpoints signed with a test key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_dev.inprocess_log import InProcessSequencer
from anima_runtime.log.sequencer import LogSequencer
from anima_runtime.log.service import AgentLog
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.types import SigningPolicy
from anima_verify.tlog.checkpoint import Checkpoint
from anima_verify.tlog.merkle import CompactRange, leaf_hash
from anima_verify.tlog.note import Verifier, parse_verifier_key, sign_note, verifier_key

ORIGIN_PREFIX = "test.anima/agents"
AGENT = "alice"
SIGNING_POLICY = SigningPolicy(allow_personal_messages=True, allow_raw_ed25519=True)


async def open_signer(state_dir: Path) -> Signer:
    state_dir.mkdir(parents=True, exist_ok=True)
    return await Signer.open(
        tee=InsecureSimulatedTee(state_dir=state_dir),
        state_dir=state_dir,
        log_origin_prefix=ORIGIN_PREFIX,
    )


@pytest.fixture
async def signer(tmp_path: Path) -> AsyncIterator[Signer]:
    s = await open_signer(tmp_path / "signer")
    s.create_agent(agent_id=AGENT, wallet_count=1, policy=SIGNING_POLICY)
    yield s
    s.close()


@pytest.fixture
def sequencer(signer: Signer) -> InProcessSequencer:
    return InProcessSequencer(signer)


LogOpener = Callable[..., Awaitable[AgentLog]]


@pytest.fixture
async def open_log(sequencer: InProcessSequencer) -> AsyncIterator[LogOpener]:
    """Opens AgentLogs (no background sync unless asked) and closes them before the
    signer closes, even when a test fails mid-flush."""
    opened: list[AgentLog] = []

    async def open_(
        directory: Path, sequencer_: LogSequencer | None = None, **options: Any
    ) -> AgentLog:
        options.setdefault("sync_interval_s", None)
        log = await AgentLog.open(
            agent_id=AGENT, directory=directory, sequencer=sequencer_ or sequencer, **options
        )
        opened.append(log)
        return log

    yield open_
    for log in opened:
        await log.close()


def agent_verifier(signer: Signer, agent_id: str = AGENT) -> Verifier:
    return parse_verifier_key(signer.get_agent(agent_id).log_verifier_key)


# ---------------------------------------------------------------- storage-only tests


@dataclass
class NoteSigner:
    """Signs checkpoints for a log whose entries the test chooses (storage tests)."""

    origin: str
    key: Ed25519PrivateKey
    frontier: CompactRange

    @property
    def verifier(self) -> Verifier:
        public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return parse_verifier_key(verifier_key(self.origin, public))

    def extend(self, entries: Iterable[bytes]) -> bytes:
        """Add entries to the signer's tree; the signed checkpoint for its new size."""
        self.frontier.extend(leaf_hash(e) for e in entries)
        return self.note(self.frontier.size, self.frontier.root())

    def note(self, size: int, root: bytes, origin: str | None = None) -> bytes:
        text = Checkpoint(origin=origin or self.origin, size=size, root_hash=root).to_text()
        return sign_note(text, name=self.origin, private_key=self.key).to_bytes()


@pytest.fixture
def notes() -> NoteSigner:
    return NoteSigner("example.test/log", Ed25519PrivateKey.generate(), CompactRange())


def entry(i: int) -> bytes:
    return f"entry number {i}".encode()


def entries(start: int, end: int) -> list[bytes]:
    return [entry(i) for i in range(start, end)]
