"""Selling the runtime's own routes behind x402, paid to the agent the route is about.

`--x402-sell SUFFIX=AMOUNT` prices `/v1/agents/{id}/SUFFIX` (e.g. `messages=10000`): the
payee is agent {id}'s wallet 0 as its signer reports it, so each agent is paid for its
own routes (the runtime serves many agents; the path names which one). The token is
`--x402-sell-asset 0xADDRESS:NAME:VERSION` on `--x402-sell-chain-id`, settled by the
facilitator at `--x402-facilitator URL`. Off unless --x402-sell is given. An unknown
agent is not priced: the route answers its own 404, and nobody is asked to pay for it.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp

from anima_economy.eip3009 import TokenDomain
from anima_economy.seller import Price, X402Middleware
from anima_runtime.chain_wiring import ChainSetupProblem, x402_asset
from anima_runtime.plugins.x402 import X402Asset
from anima_verify.errors import AnimaError

AGENTS_PREFIX = "/v1/agents/"

#: agent id -> its wallet address (checksummed), None for an agent that does not exist.
WalletOf = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class SellConfig:
    prices: Mapping[str, Price]  # route suffix under /v1/agents/{id}/ -> price
    domain: TokenDomain
    facilitator_url: str


@dataclass(frozen=True)
class AgentSale:
    """What create_runtime_app needs to sell routes: prices, payee lookup, token, facilitator."""

    prices: Mapping[str, Price]
    wallet_of: WalletOf
    domain: TokenDomain
    facilitator: httpx.AsyncClient  # base_url: the facilitator


class AgentX402Middleware(X402Middleware):
    """X402Middleware pricing `/v1/agents/{id}/{suffix}` with agent {id}'s wallet as payee."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prices: Mapping[str, Price],
        wallet_of: WalletOf,
        domain: TokenDomain,
        facilitator: httpx.AsyncClient,
    ) -> None:
        super().__init__(app, prices={}, pay_to="", domain=domain, facilitator=facilitator)
        self._suffix_prices, self._wallet_of = dict(prices), wallet_of

    async def sale(self, request: Request) -> tuple[Price, str] | None:
        path = request.url.path
        if not path.startswith(AGENTS_PREFIX):
            return None
        agent_id, _, suffix = path[len(AGENTS_PREFIX) :].partition("/")
        price = self._suffix_prices.get(suffix)
        if price is None or not agent_id:
            return None
        wallet = await self._wallet_of(agent_id)
        return None if wallet is None else (price, wallet)


def signer_wallet_of(get_agent: Callable[[str], Awaitable[object]]) -> WalletOf:
    """The payee lookup over the signer client's get_agent: wallet 0, None if unknown."""

    async def wallet_of(agent_id: str) -> str | None:
        try:
            agent = await get_agent(agent_id)
        except AnimaError:
            return None
        wallets = getattr(agent, "wallets", ())
        return str(wallets[0].address) if wallets else None

    return wallet_of


def add_sell_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--x402-sell",
        action="append",
        default=[],
        type=_priced_suffix,
        metavar="SUFFIX=AMOUNT",
        help="sell /v1/agents/{id}/SUFFIX for AMOUNT atomic token units, paid to agent {id}'s "
        "wallet (repeat for several; off unless given)",
    )
    parser.add_argument(
        "--x402-sell-asset",
        type=x402_asset,
        metavar="0xADDRESS:NAME:VERSION",
        help="the EIP-3009 token --x402-sell asks for (its EIP-712 name and version)",
    )
    parser.add_argument("--x402-sell-chain-id", type=int, help="the token's chain id")
    parser.add_argument("--x402-facilitator", metavar="URL", help="verifies and settles sales")


def _priced_suffix(text: str) -> tuple[str, Price]:
    suffix, _, amount = text.partition("=")
    if not suffix or suffix.startswith("/") or not amount.isdigit() or int(amount) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SUFFIX=AMOUNT (a positive integer)")
    return suffix, Price(int(amount), f"/v1/agents/{{id}}/{suffix}")


def sell_config(args: argparse.Namespace) -> SellConfig | None:
    """The selling configuration from the arguments; None (off) without --x402-sell."""
    if not args.x402_sell:
        return None
    if not args.x402_sell_asset or args.x402_sell_chain_id is None or not args.x402_facilitator:
        raise ChainSetupProblem(
            "--x402-sell needs --x402-sell-asset, --x402-sell-chain-id and --x402-facilitator"
        )
    asset: X402Asset = args.x402_sell_asset
    domain = TokenDomain(asset.name, asset.version, args.x402_sell_chain_id, asset.address)
    return SellConfig(dict(args.x402_sell), domain, args.x402_facilitator)


__all__ = [
    "AgentSale",
    "AgentX402Middleware",
    "SellConfig",
    "WalletOf",
    "add_sell_arguments",
    "sell_config",
    "signer_wallet_of",
]
