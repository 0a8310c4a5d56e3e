"""`anima agent migrate`: move a live agent from one signer to another.

Three calls, each over attested TLS: the destination's challenge and evidence
(MigrationChallenge), the source's export sealed to the destination's attested key
(ExportAgent: the source checks that evidence against the agent's own measurement
policy, logs the handover and stops signing for the agent), and the import
(ImportAgent: the destination checks the root derives the agent's log key, which
this command read from the source before the move). The envelope passes through
this process sealed; it cannot open it.

The destination holds the agent at the source's recovery epoch + 1; with
--relay-from the move is anchored on chain at that epoch (anima_dev.migrate_anchor),
which fences the source on chain terms too. With the four --from/--to services the
agent's memories, character and runtime record move to node B's services as well
(anima_dev.migrate_node), resumably. The source's unstored log tail moves with the
agent and the destination's host collects it with AppendLog.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_dev.migrate_anchor import (
    AnchorPlan,
    add_anchor_arguments,
    anchor_migration,
    plan_anchor,
)
from anima_dev.migrate_node import (
    add_node_arguments,
    moves_node,
    opened_parts,
    staged_move,
    take_from_a,
)
from anima_dev.recover_cli import take_over
from anima_dev.restore_node import stage
from anima_signer_api.cli import agent_summary, measurement_policy, print_summary, signer_token
from anima_signer_api.client import SignerClient
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    from anima_signer_api.cli import SubParsers
    from anima_signer_api.migration_client import ImportedAgent
    from anima_verify.attestation.policy import MeasurementPolicy

COMMAND = "anima agent migrate"
#: The destination's caller token, where it differs from the source's (ANIMA_SIGNER_TOKEN).
DESTINATION_TOKEN_ENV = "ANIMA_DESTINATION_TOKEN"  # noqa: S105 (a variable name)


def register(agent: SubParsers) -> None:
    migrate = agent.add_parser("migrate", help="move a live agent to a peer signer (enclave)")
    migrate.add_argument("agent_id")
    migrate.add_argument("--from", dest="source", required=True, help="source signer host:port")
    migrate.add_argument("--to", dest="destination", required=True, help="destination host:port")
    trust = migrate.add_mutually_exclusive_group(required=True)
    trust.add_argument(
        "--measurement-policy",
        type=Path,
        help="allowed measurements of both signers' channels (JSON file)",
    )
    trust.add_argument(
        "--insecure-allow-simulated",
        action="store_true",
        help="INSECURE: accept simulated TEEs on the channels (development only)",
    )
    add_anchor_arguments(migrate)
    add_node_arguments(migrate)
    migrate.add_argument("--json", action="store_true", help="print JSON")
    migrate.set_defaults(func=_migrate)


async def migrate_agent(
    source: SignerClient, destination: SignerClient, agent_id: str
) -> tuple[dict[str, Any], ImportedAgent]:
    """The three calls; the destination must end up with the agent the source had."""
    before = await source.get_agent(agent_id)
    offer = await destination.migration_challenge(agent_id)
    envelope, handed = await source.export_agent(
        agent_id, challenge=offer.challenge, recipient=offer.recipient, evidence=offer.evidence
    )
    imported = await destination.import_agent(
        agent_id, log_verifier_key=before.log_verifier_key, envelope=envelope
    )
    agent, size = imported.agent, imported.log_size
    if agent.wallets != before.wallets:  # pragma: no cover - the import checks the root
        raise RuntimeError("the destination's wallets differ from the source's")
    summary = agent_summary(agent)
    summary["log"] = {"handover_size": handed, "size": size}
    return summary, imported


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    policy = measurement_policy(args)
    token = signer_token(COMMAND)
    destination_token = os.environ.get(DESTINATION_TOKEN_ENV) or token
    node = moves_node(args, COMMAND)
    opened = staged_move(args.out, args.agent_id) if node else None
    if opened is not None:  # an earlier run moved the signer side: finish node B
        summary: dict[str, Any] = {
            "agent_id": opened.agent_id,
            "log_verifier_key": opened.log_verifier_key,
            "signer": f"moved by an earlier run (staged in {args.out})",
        }
        summary["node"] = await take_over(_node_b(args), opened)
        return summary
    plan = await plan_anchor(args, COMMAND)  # before anything moves
    source = await take_from_a(args, COMMAND) if node else None
    try:
        try:
            summary, imported = await _move(args, policy, token, destination_token)
        except AnimaError:
            if source is not None:  # nothing moved where the export was refused
                with contextlib.suppress(AnimaError):
                    await source.runtime.start_agent(args.agent_id)
            raise
        if source is not None:
            opened = await opened_parts(source, imported)
            stage(args.out, opened)
    finally:
        if source is not None:
            await source.runtime.close()
    if plan is not None:
        summary["handover"] = await _anchor(args, plan, imported, policy)
    if opened is not None:
        summary["node"] = await take_over(_node_b(args), opened)
    return summary


def _node_b(args: argparse.Namespace) -> argparse.Namespace:
    """Node B's services as `anima agent recover` names them (its take_over step)."""
    return argparse.Namespace(
        memory=args.to_memory,
        memory_cert=args.to_memory_cert,
        runtime=args.to_runtime,
        runtime_cert=args.to_runtime_cert,
        out=args.out,
    )


async def _anchor(
    args: argparse.Namespace, plan: AnchorPlan, imported: ImportedAgent, policy: MeasurementPolicy
) -> dict[str, Any]:
    try:
        return await anchor_migration(plan, imported, destination=args.destination, policy=policy)
    except RuntimeError as exc:  # AnchorUpdateFailed, or the RPC node refused the relay
        raise SystemExit(f"{COMMAND}: moved, but the handover was not anchored: {exc}") from None


async def _move(
    args: argparse.Namespace, policy: MeasurementPolicy, token: str, destination_token: str
) -> tuple[dict[str, Any], ImportedAgent]:
    async with (
        await SignerClient.connect_attested(address=args.source, token=token, policy=policy) as src,
        await SignerClient.connect_attested(
            address=args.destination, token=destination_token, policy=policy
        ) as dst,
    ):
        return await migrate_agent(src, dst, args.agent_id)


def _migrate(args: argparse.Namespace) -> int:
    try:
        summary = asyncio.run(_run(args))
    except AnimaError as exc:
        print(f"{COMMAND}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 2
    print_summary(summary, as_json=args.json)
    return 0
