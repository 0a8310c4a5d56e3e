"""`anima chain head|balance`: what the chain client verified, and against which block.

The token is read from the environment (ANIMA_CHAIN_TOKEN), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from anima_chain_api.endpoint import DEFAULT_ADDRESS
from anima_chain_api.errors import ChainServiceError
from anima_chain_api.types import parse_address, show_address
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    from anima_chain_api.client import ChainClient

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

TOKEN_ENV = "ANIMA_CHAIN_TOKEN"  # noqa: S105 (a variable name, not a token)
WEI_PER_ETH = 10**18


def add_client_commands(sub: SubParsers) -> None:
    head = sub.add_parser("head", help="the newest block header the chain client verified")
    _client_arguments(head)
    head.set_defaults(func=_head)
    balance = sub.add_parser(
        "balance", help="an address's balance, proven against a verified block"
    )
    balance.add_argument(
        "address", help="0x-prefixed 20-byte address (EIP-55 checked if mixed case)"
    )
    balance.add_argument(
        "--block", type=int, default=0, help="a verified block number (default: head)"
    )
    _client_arguments(balance)
    balance.set_defaults(func=_balance)


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chain", default=DEFAULT_ADDRESS, help="chain client host:port")
    trust = parser.add_mutually_exclusive_group(required=True)
    trust.add_argument("--certificate", type=Path, help="the service's TLS certificate (PEM)")
    trust.add_argument(
        "--insecure-plaintext", action="store_true", help="INSECURE: connect without TLS"
    )


def _connect(args: argparse.Namespace) -> ChainClient:
    from anima_chain_api.client import ChainClient

    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise SystemExit(f"anima chain: set {TOKEN_ENV} to a caller token")
    return ChainClient.connect(
        args.chain,
        token,
        certificate_pem=args.certificate.read_bytes() if args.certificate else None,
        insecure_plaintext=args.insecure_plaintext,
    )


def format_ether(wei: int) -> str:
    whole, fraction = divmod(wei, WEI_PER_ETH)
    return f"{whole}.{fraction:018d}".rstrip("0").rstrip(".") + " ETH"


async def _head_async(args: argparse.Namespace) -> None:
    async with _connect(args) as client:
        head = await client.head()
    print(f"verified head: block {head.block.number} 0x{head.block.hash.hex()}")
    print(f"  state root   0x{head.block.state_root.hex()}")
    print(f"  chain id     {head.chain_id}, base fee {head.base_fee_per_gas} wei")
    print(
        f"  linked to checkpoint 0x{head.checkpoint_hash.hex()} (reorgs seen: {head.reorgs_seen})"
    )


async def _balance_async(args: argparse.Namespace, address: bytes) -> None:
    async with _connect(args) as client:
        account = await client.account(address, block_number=args.block)
    print(
        f"{show_address(address)}: {format_ether(account.balance)} ({account.balance} wei),"
        f" nonce {account.nonce}"
    )
    block = account.block
    print(f"  proven against {block.describe()}, state root 0x{block.state_root.hex()}")


def _run(coroutine: object) -> int:
    try:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    except (ChainServiceError, AnimaError) as exc:
        print(f"anima chain: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _head(args: argparse.Namespace) -> int:
    return _run(_head_async(args))


def _balance(args: argparse.Namespace) -> int:
    try:
        address = parse_address(args.address)
    except AnimaError as exc:
        print(f"anima chain: {exc.message}", file=sys.stderr)
        return 2
    return _run(_balance_async(args, address))
