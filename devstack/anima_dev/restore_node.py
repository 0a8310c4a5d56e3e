"""After the signer restore: node B's memory service and runtime take the agent over.

Order, each step resumable (rerunning `anima agent recover` finishes the job and
duplicates nothing): the signer first (it verifies every byte; recover_cli), then
the memories into node B's memory service (ImportMemories: verified as it streams,
all or nothing, refused where the agent has memories), then the agent into node B's
runtime (RestoreAgent: the record checked against the signer's keys, the log
against the log key). A repeated step is recognized, not redone: the memory
service holds exactly the export (same count and digest over every memory), or
the runtime already hosts the agent with the same keys. Anything else is refused
with RestoreIncomplete saying what to do.

The opened parts are staged in a directory (owner-only: the record holds the
character's secrets, the memories what users said) before any import, so a rerun
after the signer restore, which cannot happen twice, still has them.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima.memory.v1 import memory_pb2 as pb
from anima_dasync.memories import merge_memory_exports
from anima_memory_api.client import MemoryClient
from anima_memory_api.errors import ImportRefused
from anima_runtime_api.client import RuntimeClient
from anima_runtime_api.errors import AgentAlreadyExists, AgentNotFound
from anima_runtime_api.types import AgentView
from anima_verify.errors import AnimaError, ErrorKind

STAGED = "restored.json"


class RestoreIncomplete(AnimaError):
    """The signer holds the restored agent but node B's services could not take it over
    as they stand; the message says what to do before rerunning the recovery."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "RESTORE_INCOMPLETE"


@dataclass(frozen=True)
class OpenedParts:
    """What the signer's restore opened for the host's services."""

    agent_id: str
    log_verifier_key: str
    wallets: tuple[str, ...]
    checkpoint: bytes  # the anchored, signed checkpoint the log was restored against
    parts: list[tuple[str, bytes, int]]  # (kind, plaintext, items), manifest order

    def of_kind(self, kind: str) -> list[bytes]:
        return [plain for k, plain, _ in self.parts if k == kind]

    def log_entries(self) -> list[bytes]:
        return [bytes.fromhex(e) for plain in self.of_kind("log") for e in json.loads(plain)]


def stage(directory: Path, opened: OpenedParts) -> None:
    """Write the parts (owner-only), the index last: a staging without it is not one."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = []
    for n, (kind, plaintext, items) in enumerate(opened.parts):
        name = f"{n:04d}.{kind}"
        _write_private(directory / name, plaintext)
        files.append({"file": name, "kind": kind, "items": items})
    index = {
        "agent_id": opened.agent_id,
        "log_verifier_key": opened.log_verifier_key,
        "wallets": list(opened.wallets),
        "checkpoint": opened.checkpoint.decode(),
        "parts": files,
    }
    _write_private(directory / STAGED, json.dumps(index, indent=2).encode())


def staged(directory: Path, agent_id: str, log_verifier_key: str) -> OpenedParts | None:
    """The parts an earlier run staged for this agent and log key, or None."""
    path = directory / STAGED
    if not path.exists():
        return None
    try:
        index: dict[str, Any] = json.loads(path.read_bytes())
        if (index["agent_id"], index["log_verifier_key"]) != (agent_id, log_verifier_key):
            raise RestoreIncomplete(f"{path} stages another agent: use another --out")
        parts = [
            (str(p["kind"]), (directory / Path(p["file"]).name).read_bytes(), int(p["items"]))
            for p in index["parts"]
        ]
        return OpenedParts(
            agent_id=agent_id,
            log_verifier_key=log_verifier_key,
            wallets=tuple(str(w) for w in index["wallets"]),
            checkpoint=str(index["checkpoint"]).encode(),
            parts=parts,
        )
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise RestoreIncomplete(f"{path} is not a staged restore ({exc!r}): move it away") from None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


# ---------------------------------------------------------------- memories


async def import_memories(
    memory: MemoryClient, runtime: RuntimeClient, opened: OpenedParts
) -> dict[str, Any]:
    """The one place memories parts become node B's memories: the snapshot and deltas
    checked and merged whole (anima_dasync.memories.merge_memory_exports), then one
    ImportMemories, all or nothing. {"imported": n} or {"already": reason}."""
    plaintexts = opened.of_kind("memories")
    if not plaintexts:
        return {"imported": 0}
    merged = merge_memory_exports(plaintexts, agent_id=opened.agent_id)
    try:
        return {"imported": await memory.import_(_stream(merged))}
    except ImportRefused:
        pass  # the agent has memories there: an earlier run's, or not
    if await _hosted(runtime, opened):
        return {"already": "imported by an earlier run; the agent lives on node B since"}
    wanted = sorted(m.id for c in merged for m in c.batch.memories)
    exported = [m.id async for c in memory.export(opened.agent_id) for m in c.batch.memories]
    there = sorted(exported)
    if there == wanted:
        return {"already": f"node B holds exactly the {len(wanted)} restored memories"}
    raise RestoreIncomplete(
        f"node B's memory service holds other memories for agent {opened.agent_id!r} "
        f"than the {len(wanted)} restored ones: delete them there, then rerun the recovery"
    )


async def _stream(chunks: Sequence[pb.ExportChunk]) -> AsyncIterator[pb.ExportChunk]:
    for chunk in chunks:
        yield chunk


# ---------------------------------------------------------------- runtime


async def host_agent(runtime: RuntimeClient, opened: OpenedParts) -> tuple[AgentView | None, str]:
    """Node B's runtime hosts the agent: (its view, "restored"), or (None, "already")."""
    # da-sync publishes the record again when it changes: the newest is the agent's.
    record = (opened.of_kind("runtime") or [b""])[-1]
    if not record:
        raise RestoreIncomplete("the life data holds no runtime record: nothing to host")
    try:
        view = await runtime.restore_agent(
            opened.agent_id,
            record,
            log_entries=opened.log_entries(),
            checkpoint=opened.checkpoint,
        )
    except AgentAlreadyExists:
        if await _hosted(runtime, opened):
            return None, "already hosted (an earlier run)"
        raise RestoreIncomplete(
            f"node B's runtime hosts another agent {opened.agent_id!r}: remove it, then rerun"
        ) from None
    return view, "restored"


async def _hosted(runtime: RuntimeClient, opened: OpenedParts) -> bool:
    """Whether node B's runtime hosts this very agent (same wallets and log key)."""
    try:
        record = json.loads(await runtime.export_agent(opened.agent_id))
    except AgentNotFound:
        return False
    return (tuple(record["wallets"]), record["log_verifier_key"]) == (
        opened.wallets,
        opened.log_verifier_key,
    )
