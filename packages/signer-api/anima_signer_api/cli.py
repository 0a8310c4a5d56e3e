"""`anima agent ...` and the flags every signer caller shares.

Tokens are read from the environment (ANIMA_SIGNER_TOKEN), never from the
command line, where other users of the machine could see them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_signer_api.client import SignerClient
from anima_signer_api.types import Agent, SigningPolicy, policy_as_dict
from anima_verify.attestation import MeasurementPolicy
from anima_verify.errors import AnimaError

TOKEN_ENV = "ANIMA_SIGNER_TOKEN"  # noqa: S105 (a variable name, not a token)
DEFAULT_SIGNER = "127.0.0.1:7443"

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: SubParsers) -> SubParsers:
    """Register `anima agent`; its subcommands, for others to add to (`agent recover`)."""
    return _register_agent(commands)


# ---------------------------------------------------------------- anima agent


def _register_agent(commands: SubParsers) -> SubParsers:
    agent = commands.add_parser("agent", help="create and inspect agents in a signer")
    sub = agent.add_subparsers(dest="agent_command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        add_signer_arguments(p)
        p.add_argument("--json", action="store_true", help="print JSON")

    create = sub.add_parser("create", help="create an agent; the enclave derives its keys")
    create.add_argument("agent_id")
    create.add_argument("--wallets", type=int, default=1, help="wallet keys to derive (1-16)")
    create.add_argument("--chain-id", type=int, action="append", default=[], dest="chain_ids")
    create.add_argument("--max-value-wei", type=int, default=0)
    create.add_argument("--allow-personal-messages", action="store_true")
    create.add_argument("--allow-typed-data", action="store_true")
    create.add_argument("--allow-raw-ed25519", action="store_true")
    create.add_argument(
        "--owner",
        default="",
        help="the owner's Ethereum address: only policies it signs govern the agent "
        "(`anima policy`); the flags above are then refused",
    )
    common(create)
    create.set_defaults(func=_agent_create)

    show = sub.add_parser("show", help="show an agent's keys with fresh attestation")
    show.add_argument("agent_id")
    common(show)
    show.set_defaults(func=_agent_show)
    return sub


# ---------------------------------------------------------------- signer callers
# Shared by every command that talks to a signer (anima agent, anima log serve).


def add_signer_arguments(parser: argparse.ArgumentParser) -> None:
    """--signer and how to trust it: --measurement-policy FILE or --insecure-allow-simulated."""
    parser.add_argument("--signer", default=DEFAULT_SIGNER, help="signer host:port")
    trust = parser.add_mutually_exclusive_group(required=True)
    trust.add_argument("--measurement-policy", type=Path, help="allowed measurements (JSON)")
    trust.add_argument(
        "--insecure-allow-simulated",
        action="store_true",
        help="INSECURE: accept a simulated TEE (development only)",
    )


def measurement_policy(args: argparse.Namespace) -> MeasurementPolicy:
    if args.insecure_allow_simulated:
        return MeasurementPolicy.insecure_simulated_for_development()
    return MeasurementPolicy.from_file(args.measurement_policy)


def signer_token(command: str) -> str:
    """The caller token, from TOKEN_ENV only; exits naming `command` when it is unset."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise SystemExit(f"{command}: set {TOKEN_ENV} to a caller token")
    return token


async def connect_signer(
    args: argparse.Namespace, *, policy: MeasurementPolicy, command: str
) -> SignerClient:
    """An attested client for the add_signer_arguments flags, trusted under `policy`."""
    token = signer_token(command)
    return await SignerClient.connect_attested(address=args.signer, token=token, policy=policy)


def agent_summary(agent: Agent) -> dict[str, Any]:
    return {
        "agent_id": agent.agent_id,
        "wallets": [{"index": w.index, "address": w.address} for w in agent.wallets],
        "log_verifier_key": agent.log_verifier_key,
        "signing_public_key": agent.signing_public_key.hex(),
        "owner": agent.owner,
        "policy": "owner-signed (anima policy show)"
        if agent.owner
        else policy_as_dict(agent.policy),
        "created_at": agent.created_at.isoformat(),
    }


async def _with_client(args: argparse.Namespace, create: bool) -> dict[str, Any]:
    policy = measurement_policy(args)
    async with await connect_signer(args, policy=policy, command="anima agent") as client:
        if create:
            await client.create_agent(
                args.agent_id,
                wallet_count=args.wallets,
                owner=args.owner,
                policy=SigningPolicy(
                    allowed_chain_ids=frozenset(args.chain_ids),
                    max_value_wei=args.max_value_wei,
                    allow_personal_messages=args.allow_personal_messages,
                    allow_typed_data=args.allow_typed_data,
                    allow_raw_ed25519=args.allow_raw_ed25519,
                ),
            )
        agent, verified = await client.attest_agent(args.agent_id, policy=policy)
    summary = agent_summary(agent)
    summary["attestation"] = {
        "tee": verified.tee,
        "insecure": verified.insecure,
        "tcb_status": verified.tcb_status,
        "mrtd": verified.mrtd.hex(),
        "report_data": verified.report_data.hex(),
    }
    return summary


def _agent_command(args: argparse.Namespace, *, create: bool) -> int:
    try:
        summary = asyncio.run(_with_client(args, create))
    except AnimaError as exc:  # the signer's typed errors included (SignerClient raises them)
        print(f"anima agent: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"anima agent: cannot reach signer at {args.signer}: {exc}", file=sys.stderr)
        return 2
    print_summary(summary, as_json=args.json)
    return 0


def print_summary(summary: dict[str, Any], *, as_json: bool) -> None:
    """A command's result: indented JSON, or one `key: value` line each."""
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        print(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


def _agent_create(args: argparse.Namespace) -> int:
    return _agent_command(args, create=True)


def _agent_show(args: argparse.Namespace) -> int:
    return _agent_command(args, create=False)
