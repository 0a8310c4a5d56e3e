"""`anima agent migrate --relay-from`: anchor a peer migration on chain.

The destination holds the agent at the source's recovery epoch + 1 and hands back
its handover (ImportAgent: the log since the source's confirmed size, checkpointed).
The same step as after a recovery (anima_dasync.handover.publish_handover): the
manifest after the anchored one, at the new epoch, with the log since the anchored
checkpoint, and the anchor update the destination's enclave signs, relayed from an
account the RPC node signs for. From then on the source, shown that anchor
(CheckAnchor), refuses the agent at its older epoch even if its host rolled its
sealed state back to before the export.

The anchor is read before the export (verified from --trusted-block, as `anima agent
recover` reads it), so a bad chain argument hands nothing over.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dev.anchor import read_anchor_proof, verified_blocks
from anima_dev.recover_cli import DASYNC_TOKEN_ENV, JsonRpc, anchor_handover, hex_argument
from anima_verify.errors import AnimaError, ErrorKind

if TYPE_CHECKING:
    from anima_signer_api.migration_client import ImportedAgent
    from anima_verify.attestation.policy import MeasurementPolicy
    from anima_verify.lifedata import AnchorState


class MigrationNotAnchored(AnimaError):
    """The agent moved, but its handover cannot be anchored as things stand."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MIGRATION_NOT_ANCHORED"


def add_anchor_arguments(migrate: argparse.ArgumentParser) -> None:
    chain = migrate.add_argument_group("anchoring the move on chain (all together)")
    chain.add_argument(
        "--relay-from",
        metavar="0xADDRESS",
        help="anchor the move: publish the manifest at the next epoch (with the handover "
        "entries) to --da and relay the destination-signed update from this account, which "
        "the RPC node signs for (anvil: a dev account); the source is fenced on chain from "
        f"then on. Token: {DASYNC_TOKEN_ENV} (the destination's dasync caller)",
    )
    chain.add_argument("--rpc", help="the chain's JSON-RPC URL (not trusted)")
    chain.add_argument("--anchor", help="AgentAnchor contract address (0x...)")
    chain.add_argument("--anchor-agent", help="the agent's slot in the anchor (0x address)")
    chain.add_argument("--trusted-block", help="a block hash you trust (0x...)")
    chain.add_argument("--da", type=Path, help="the agent's local DA directory")
    chain.add_argument("--chain-id", type=int, help="default: the node's")


@dataclass(frozen=True)
class AnchorPlan:
    """What the anchoring needs, checked and read before anything moves."""

    chain: JsonRpc
    contract: bytes
    anchored: AnchorState
    backend: LocalDirectoryBackend
    relay_from: str
    chain_id: int
    token: str


_NEEDED = ("rpc", "anchor", "anchor_agent", "trusted_block", "da")


async def plan_anchor(args: argparse.Namespace, command: str) -> AnchorPlan | None:
    """None without --relay-from; else the anchor as the chain holds it now."""
    given = [name for name in (*_NEEDED, "chain_id") if getattr(args, name) is not None]
    if args.relay_from is None:
        if given:
            raise SystemExit(f"{command}: --{given[0].replace('_', '-')} goes with --relay-from")
        return None
    missing = [f"--{name.replace('_', '-')}" for name in _NEEDED if getattr(args, name) is None]
    if missing:
        raise SystemExit(f"{command}: --relay-from needs {', '.join(missing)}")
    token = os.environ.get(DASYNC_TOKEN_ENV, "")
    if not token:
        raise SystemExit(f"{command}: set {DASYNC_TOKEN_ENV} to the destination's dasync token")
    chain = JsonRpc(args.rpc)
    contract = hex_argument(args.anchor, 20, "--anchor", command)
    slot = hex_argument(args.anchor_agent, 20, "--anchor-agent", command)
    trusted = hex_argument(args.trusted_block, 32, "--trusted-block", command)
    head, _ = await asyncio.to_thread(verified_blocks, chain, trusted)
    anchored, _ = await asyncio.to_thread(read_anchor_proof, chain, contract, slot, head)
    chain_id = args.chain_id or int(str(await asyncio.to_thread(chain.rpc, "eth_chainId")), 16)
    return AnchorPlan(
        chain=chain,
        contract=contract,
        anchored=anchored,
        backend=LocalDirectoryBackend(root=args.da),
        relay_from=args.relay_from,
        chain_id=chain_id,
        token=token,
    )


async def anchor_migration(
    plan: AnchorPlan,
    imported: ImportedAgent,
    *,
    destination: str,
    policy: MeasurementPolicy,
) -> dict[str, Any]:
    """Publish the next-epoch manifest and relay the destination-signed anchor update."""
    agent_id = imported.agent.agent_id
    anchored = plan.anchored
    skip = anchored.checkpoint_size - imported.handover_first_index
    if skip < 0 or anchored.checkpoint_size > imported.log_size:
        raise MigrationNotAnchored(
            f"agent {agent_id!r} moved, but its anchor (log size {anchored.checkpoint_size}) "
            f"is not within the handed-over log [{imported.handover_first_index}, "
            f"{imported.log_size}): the entries between live in the source host's log "
            "storage. Sync and anchor the source before migrating"
        )
    return await anchor_handover(
        signer=destination,
        token=plan.token,
        policy=policy,
        agent_id=agent_id,
        backend=plan.backend,
        anchored=anchored,
        entries=imported.handover_entries[skip:],
        checkpoint=imported.handover_checkpoint,
        chain=plan.chain,
        chain_id=plan.chain_id,
        contract=plan.contract,
        relay_from=plan.relay_from,
    )
