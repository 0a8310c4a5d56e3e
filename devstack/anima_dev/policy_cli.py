"""`anima policy show|sign|apply|explain|approvals|approve`: the owner's side of the
enclave's policy engine.

`sign` and `approve` sign with the owner's key from a local key file (hex, one line):
the development story. A real owner signs the same EIP-712 data in their wallet
(the data is printed with --print-typed-data) and hands over the signature.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import stat
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account

from anima_signer_api import convert
from anima_signer_api.cli import add_signer_arguments, connect_signer, measurement_policy
from anima_signer_api.client import SignerClient
from anima_signer_api.policy_document import (
    approval_typed_data,
    owner_typed_data,
    parse_document,
)
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    from anima_core.cli import SubParsers

COMMAND = "anima policy"


def register(commands: SubParsers) -> None:
    policy = commands.add_parser("policy", help="owner policies: show, sign, apply, explain")
    sub = policy.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")

    show = sub.add_parser("show", help="the agent's active owner policy")
    show.add_argument("agent_id")
    add_signer_arguments(show)
    show.set_defaults(func=_show)

    sign = sub.add_parser("sign", help="sign a policy document with the owner's key file")
    sign.add_argument("document", type=Path, help="the policy document (JSON)")
    sign.add_argument("--agent-address", required=True, help="the agent's wallet 0 address")
    sign.add_argument("--key-file", type=Path, help="the owner's private key (hex), dev only")
    sign.add_argument("--print-typed-data", action="store_true", help="print what to sign")
    sign.add_argument("--out", type=Path, help="signature file (default: DOCUMENT.sig)")
    sign.set_defaults(func=_sign)

    apply = sub.add_parser("apply", help="hand a signed document to the enclave")
    apply.add_argument("agent_id")
    apply.add_argument("document", type=Path)
    apply.add_argument("--signature", type=Path, help="signature file (default: DOCUMENT.sig)")
    add_signer_arguments(apply)
    apply.set_defaults(func=_apply)

    explain = sub.add_parser("explain", help="dry run: which rule decides a request, and why")
    explain.add_argument("agent_id")
    explain.add_argument(
        "request", type=Path, help='a SignRequest as protobuf JSON, e.g. {"transaction": {...}}'
    )
    add_signer_arguments(explain)
    explain.set_defaults(func=_explain)

    approvals = sub.add_parser("approvals", help="requests waiting for the owner's co-signature")
    approvals.add_argument("agent_id")
    add_signer_arguments(approvals)
    approvals.set_defaults(func=_approvals)

    approve = sub.add_parser("approve", help="co-sign one waiting request with the owner's key")
    approve.add_argument("agent_id")
    approve.add_argument("approval_id")
    approve.add_argument("--key-file", type=Path, required=True)
    add_signer_arguments(approve)
    approve.set_defaults(func=_approve)


def owner_key(path: Path) -> str:
    """The owner's key from a file only its user may read (the dev story)."""
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SystemExit(f"{COMMAND}: {path} is readable by others; chmod 600 it")
    return path.read_text().strip()


def sign_document(text: str, *, agent_address: str, key: str) -> bytes:
    typed = owner_typed_data(parse_document(text), agent_address=agent_address)
    return bytes(Account.sign_typed_data(key, full_message=typed).signature)


def _sign(args: argparse.Namespace) -> int:
    text = args.document.read_text()
    try:
        typed = owner_typed_data(parse_document(text), agent_address=args.agent_address)
    except AnimaError as exc:
        print(f"{COMMAND}: {exc.message}", file=sys.stderr)
        return 1
    if args.print_typed_data:
        print(json.dumps(typed, indent=2))
        return 0
    if args.key_file is None:
        raise SystemExit(
            f"{COMMAND} sign: give --key-file, or --print-typed-data to sign elsewhere"
        )
    signature = bytes(
        Account.sign_typed_data(owner_key(args.key_file), full_message=typed).signature
    )
    out = args.out or args.document.with_name(args.document.name + ".sig")
    out.write_text("0x" + signature.hex() + "\n")
    print(f"signed policy v{typed['message']['version']} -> {out}")
    return 0


def _signature(path: Path) -> bytes:
    text = path.read_text().strip()
    return bytes.fromhex(text.removeprefix("0x"))


def _run(args: argparse.Namespace, call: Callable[[SignerClient], Awaitable[Any]]) -> int:
    async def go() -> Any:
        policy = measurement_policy(args)
        async with await connect_signer(args, policy=policy, command=COMMAND) as client:
            return await call(client)

    try:
        found = asyncio.run(go())
    except AnimaError as exc:
        print(f"{COMMAND}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{COMMAND}: cannot reach signer at {args.signer}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(found, indent=2))
    return 0


def _show(args: argparse.Namespace) -> int:
    async def call(client: SignerClient) -> Any:
        status = await client.get_policy(args.agent_id)
        return {
            "agent_id": status.agent_id,
            "owner": status.owner,
            "version": status.version,
            "document": json.loads(status.document) if status.document else None,
            "owner_signature": "0x" + status.owner_signature.hex(),
        }

    return _run(args, call)


def _apply(args: argparse.Namespace) -> int:
    signature_file = args.signature or args.document.with_name(args.document.name + ".sig")
    text, signature = args.document.read_text(), _signature(signature_file)

    async def call(client: SignerClient) -> Any:
        status = await client.apply_policy(args.agent_id, text, signature)
        return {"agent_id": status.agent_id, "applied_version": status.version}

    return _run(args, call)


def _explain(args: argparse.Namespace) -> int:
    request = convert.sign_request_from_json(args.request.read_text(), agent_id=args.agent_id)

    async def call(client: SignerClient) -> Any:
        explained = await client.explain_sign(request)
        return {
            "allowed": explained.allowed,
            "rule": explained.rule,
            "policy_version": explained.policy_version,
            "reason": explained.reason,
        }

    return _run(args, call)


def _approvals(args: argparse.Namespace) -> int:
    async def call(client: SignerClient) -> Any:
        return [
            {
                "approval_id": p.approval_id,
                "rule": p.rule,
                "policy_version": p.policy_version,
                "request_hash": p.request_hash.hex(),
                "request": convert.sign_request_to_json(p.agent_id, p.payload),
                "expires_ms": p.expires_ms,
            }
            for p in await client.list_approvals(args.agent_id)
        ]

    return _run(args, call)


def _approve(args: argparse.Namespace) -> int:
    key = owner_key(args.key_file)

    async def call(client: SignerClient) -> Any:
        agent = await client.get_agent(args.agent_id)
        waiting = await client.list_approvals(args.agent_id)
        found = [p for p in waiting if p.approval_id == args.approval_id]
        if not found:
            raise SystemExit(f"{COMMAND}: no open approval {args.approval_id}")
        pending = found[0]
        typed = approval_typed_data(
            agent_id=args.agent_id,
            agent_address=agent.wallets[0].address,
            approval_id=pending.approval_id,
            request_hash=pending.request_hash,
        )
        signature = bytes(Account.sign_typed_data(key, full_message=typed).signature)
        result = await client.approve(args.agent_id, pending.approval_id, signature)
        return {"approved": pending.approval_id, "log_index": result.log_index}

    return _run(args, call)
