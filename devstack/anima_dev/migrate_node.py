"""`anima agent migrate --from-memory/--to-memory/--from-runtime/--to-runtime`: the
agent's memories, character and runtime record move with its signer state.

Order: node A's runtime stops the agent (no turn writes memories or log entries
after the export), then A's memory service exports the memories (vectors included)
and A's runtime its record; the signer move follows. Its handover completes the log:
A's stored entries before the size A's signer had confirmed, then the handed-over
entries, under the destination's checkpoint. Everything is staged in --out
(owner-only: the record holds the character's secrets) before node B imports it the
way a recovery does (anima_dev.restore_node: import_memories, then host_agent), so
a rerun after a failed import finishes from the staging: the signer move, which
cannot happen twice, is not redone. If the signer move itself is refused, A's
runtime starts the agent again.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_dasync.memories import pack_export
from anima_dev.restore_node import STAGED, OpenedParts, RestoreIncomplete, staged
from anima_memory_api.client import MemoryClient
from anima_runtime_api.client import RuntimeClient

if TYPE_CHECKING:
    from anima_signer_api.migration_client import ImportedAgent

#: Node A's tokens: its memory service's admin (ExportMemories), its runtime's admin
#: (ExportAgent) and API caller (StopAgent, StartAgent, its log). Node B's come from
#: `anima agent recover`'s variables (ANIMA_MEMORY_TOKEN, ANIMA_RUNTIME_ADMIN_TOKEN).
SOURCE_MEMORY_TOKEN_ENV = "ANIMA_SOURCE_MEMORY_TOKEN"  # noqa: S105 (a variable name)
SOURCE_RUNTIME_ADMIN_ENV = "ANIMA_SOURCE_RUNTIME_ADMIN_TOKEN"
SOURCE_RUNTIME_API_ENV = "ANIMA_SOURCE_RUNTIME_TOKEN"
NODES = ("from_memory", "to_memory", "from_runtime", "to_runtime")


def add_node_arguments(migrate: argparse.ArgumentParser) -> None:
    nodes = migrate.add_argument_group(
        "moving the memories and runtime record (all four services, with --out)"
    )
    for side, node in (("from", "node A"), ("to", "node B")):
        for service in ("memory", "runtime"):
            nodes.add_argument(
                f"--{side}-{service}", metavar="HOST:PORT", help=f"{node}'s {service} (gRPC)"
            )
            nodes.add_argument(
                f"--{side}-{service}-cert", type=Path, help="its TLS certificate (PEM) to pin"
            )
    nodes.add_argument(
        "--out", type=Path, help="stage the moved memories, record and log here (owner-only)"
    )


def moves_node(args: argparse.Namespace, command: str) -> bool:
    given = [name for name in NODES if getattr(args, name) is not None]
    if not given:
        return False
    if len(given) != len(NODES) or args.out is None:
        raise SystemExit(
            f"{command}: --from-memory, --to-memory, --from-runtime and --to-runtime go "
            "together, with --out"
        )
    return True


def staged_move(out: Path, agent_id: str) -> OpenedParts | None:
    """What an earlier run staged for this agent (its signer move is done), or None."""
    path = out / STAGED
    if not path.exists():
        return None
    try:
        index: dict[str, Any] = json.loads(path.read_bytes())
        log_key = str(index["log_verifier_key"])
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise RestoreIncomplete(f"{path} is not a staged move ({exc!r}): move it away") from None
    return staged(out, agent_id, log_key)


@dataclass(frozen=True)
class SourceParts:
    """What node A's services held of the agent, taken with the agent stopped there."""

    memories: bytes  # the export stream, packed (anima_dasync.memories)
    memory_count: int
    record: bytes  # the runtime's record, secrets included
    runtime: RuntimeClient  # A's API caller: its stored log, a restart if nothing moved


def _token(env: str, command: str) -> str:
    token = os.environ.get(env, "")
    if not token:
        raise SystemExit(f"{command}: set {env} to a caller token")
    return token


def connect(address: str, cert: Path | None, token_env: str, command: str, kind: type[Any]) -> Any:
    pem = None if cert is None else cert.read_bytes()
    return kind.connect(address, _token(token_env, command), certificate_pem=pem)


async def take_from_a(args: argparse.Namespace, command: str) -> SourceParts:
    """Stop the agent on A's runtime, then export its memories and record."""
    runtime: RuntimeClient = connect(
        args.from_runtime, args.from_runtime_cert, SOURCE_RUNTIME_API_ENV, command, RuntimeClient
    )
    admin: RuntimeClient = connect(
        args.from_runtime, args.from_runtime_cert, SOURCE_RUNTIME_ADMIN_ENV, command, RuntimeClient
    )
    memory: MemoryClient = connect(
        args.from_memory, args.from_memory_cert, SOURCE_MEMORY_TOKEN_ENV, command, MemoryClient
    )
    try:
        await runtime.stop_agent(args.agent_id)
        async with memory, admin:
            export = [chunk async for chunk in memory.export(args.agent_id)]
            record = await admin.export_agent(args.agent_id)
    except BaseException:
        await runtime.close()
        raise
    return SourceParts(
        memories=pack_export(c.SerializeToString() for c in export),
        memory_count=sum(len(c.batch.memories) for c in export),
        record=record,
        runtime=runtime,
    )


async def opened_parts(source: SourceParts, imported: ImportedAgent) -> OpenedParts:
    """The moved agent as a restore would have opened it: memories, record, the log."""
    agent = imported.agent
    if not imported.handover_checkpoint:
        raise RestoreIncomplete(
            f"agent {agent.agent_id!r} moved, but its handover has no witnessed checkpoint "
            "yet: node B's runtime cannot verify its log"
        )
    entries = await _stored_log(source.runtime, agent.agent_id, imported.handover_first_index)
    log = entries + imported.handover_entries
    return OpenedParts(
        agent_id=agent.agent_id,
        log_verifier_key=agent.log_verifier_key,
        wallets=tuple(w.address for w in agent.wallets),
        checkpoint=imported.handover_checkpoint,
        parts=[
            ("memories", source.memories, source.memory_count),
            ("runtime", source.record, 1),
            ("log", json.dumps([e.hex() for e in log]).encode(), len(log)),
        ],
    )


async def _stored_log(runtime: RuntimeClient, agent_id: str, size: int) -> list[bytes]:
    """A's stored entries [0, size): what its signer knew the host had stored."""
    out: list[bytes] = []
    while len(out) < size:
        page = await runtime.entries(agent_id, start=len(out), end=size)
        if not page.entries:
            raise RestoreIncomplete(
                f"node A's runtime returned {len(out)} of the {size} entries its signer "
                f"counted as stored for agent {agent_id!r}"
            )
        out.extend(e.encoded for e in page.entries)
    return out
