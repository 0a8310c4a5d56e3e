"""Wiring the verifying chain client into `anima runtime serve`: its arguments, the client,
and the EVM plugin it enables (`@elizaos/plugin-evm`).

Without --chain the runtime has no chain: characters naming plugin-evm are told it is
unknown here, as with any plugin this runtime lacks.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from eth_utils.address import to_checksum_address

from anima_chain_api.client import ChainClient
from anima_chain_api.errors import ChainServiceError
from anima_chain_api.types import parse_address
from anima_runtime.plugins.evm import EvmToken, evm_plugin_factory
from anima_runtime.plugins.types import Plugin
from anima_runtime.plugins.x402 import X402_PLUGIN_NAME, X402Asset, x402_plugin_factory
from anima_runtime.plugins.x402.plugin import SignerPort
from anima_verify.errors import AnimaError

CHAIN_TOKEN_ENV = "ANIMA_CHAIN_TOKEN"  # noqa: S105 (a variable name, not a token)
EVM_PLUGIN_NAMES = ("@elizaos/plugin-evm", "@ai16z/plugin-evm")


class ChainSetupProblem(Exception):
    """The chain client cannot be used as configured (an environment problem: exit 3)."""


def add_chain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chain",
        metavar="HOST:PORT",
        help=f"the verifying chain client (enables @elizaos/plugin-evm; token: {CHAIN_TOKEN_ENV})",
    )
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--chain-cert", type=Path, help="the chain client's certificate (PEM)")
    trust.add_argument(
        "--chain-insecure-plaintext",
        action="store_true",
        help="INSECURE: talk to the chain client without TLS (development only)",
    )
    parser.add_argument(
        "--evm-token",
        action="append",
        default=[],
        type=_token,
        metavar="SYMBOL=0xADDRESS[:DECIMALS[:BALANCES_SLOT]]",
        help="an ERC-20 the EVM plugin may send and report (repeat for several)",
    )
    parser.add_argument(
        "--x402-asset",
        action="append",
        default=[],
        type=_x402_asset,
        metavar="0xADDRESS:NAME:VERSION",
        help=f"an EIP-3009 token {X402_PLUGIN_NAME} may pay x402 sellers with (its EIP-712 "
        "name and version; repeat for several); the owner's policy still decides",
    )


def _token(text: str) -> EvmToken:
    symbol, _, rest = text.partition("=")
    address, *numbers = rest.split(":")
    try:
        decimals = int(numbers[0]) if numbers else 18
        slot = int(numbers[1]) if len(numbers) > 1 else 0
        if not symbol.isalnum() or not 0 <= decimals <= 36 or slot < 0 or len(numbers) > 2:
            raise ValueError
        return EvmToken(symbol.upper(), parse_address(address, "token"), decimals, slot)
    except (ValueError, AnimaError):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected SYMBOL=0xADDRESS[:DECIMALS[:BALANCES_SLOT]]"
        ) from None


def chain_token(args: argparse.Namespace) -> str | None:
    """The chain client's token when --chain is given (None without it); checked before
    the runtime connects anywhere, so a missing Secret fails the start at once."""
    if not args.chain:
        return None
    token = os.environ.get(CHAIN_TOKEN_ENV, "")
    if not token:
        raise ChainSetupProblem(f"--chain needs {CHAIN_TOKEN_ENV} (a chain client token)")
    if not args.chain_cert and not args.chain_insecure_plaintext:
        raise ChainSetupProblem("--chain needs --chain-cert (or --chain-insecure-plaintext)")
    return token


def _x402_asset(text: str) -> X402Asset:
    address, _, rest = text.partition(":")
    name, _, version = rest.partition(":")
    try:
        checked = "0x" + parse_address(address, "x402 asset").hex()
    except AnimaError:
        checked = ""
    if not checked or not name or not version:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0xADDRESS:NAME:VERSION")
    return X402Asset(to_checksum_address(checked), name, version)


@asynccontextmanager
async def chain_plugins(
    args: argparse.Namespace, directory: SignerPort
) -> AsyncIterator[Mapping[str, Callable[[], Plugin]]]:
    """The EVM plugin by its names when --chain is given (its client checked at once by
    asking for the verified head), and the x402 plugin when --x402-asset is; else nothing."""
    token = chain_token(args)
    if token is None:
        yield {}
        return
    client = ChainClient.connect(
        args.chain,
        token,
        certificate_pem=args.chain_cert.read_bytes() if args.chain_cert else None,
        insecure_plaintext=args.chain_insecure_plaintext,
    )
    try:
        try:
            head = await client.head()
        except ChainServiceError as exc:
            raise ChainSetupProblem(
                f"the chain client at {args.chain} did not answer: {exc.message}"
            ) from None
        factory = evm_plugin_factory(
            chain=client, directory=directory, tokens={t.symbol: t for t in args.evm_token}
        )
        plugins = dict.fromkeys(EVM_PLUGIN_NAMES, factory)
        if args.x402_asset:
            assets = {a.address.lower(): a for a in args.x402_asset}
            plugins[X402_PLUGIN_NAME] = x402_plugin_factory(
                chain=client, signer=directory, chain_id=head.chain_id, assets=assets
            )
        yield plugins
    finally:
        await client.close()


x402_asset = _x402_asset  # the same token syntax for selling (anima_runtime.x402_sell)
