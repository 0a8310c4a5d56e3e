"""Fixtures: a real anvil (module-wide) with the AuthorizedToken (EIP-3009, checks
signatures) and the ERC-8004 registries compiled from contracts/; a real signer on the
INSECURE simulated TEE whose agent is governed by its owner's signed policy; the
verifying chain client in this process; a seller app behind x402 and the dev
facilitator, both in process over httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from fastapi import FastAPI

from anima_chain.app import RunningChain, start_chain
from anima_chain_api.client import ChainClient
from anima_dev.contracts import dev_account, set_balance
from anima_dev.economy import (
    DEAR_PRICE,
    PRICE,
    TOKEN_NAME,
    UNIT,
    EconomyContracts,
    deploy_economy,
    give_token,
    payment_policy,
    token_balance,
)
from anima_dev.local_chain import LocalChain, local_chain
from anima_economy.eip3009 import TokenDomain
from anima_economy.facilitator import DevFacilitator, DevFacilitatorConfig, JsonRpc, facilitator_app
from anima_economy.payer import X402Payer
from anima_economy.seller import Price, X402Middleware
from anima_signer_api.client import SignerClient
from anima_signer_api.policy_document import owner_typed_data, parse_document
from tests.chain.client.conftest import (
    CHAIN_TOKEN,
    chain_config,
    checkpoint_of,
    signer_client,
    start_test_signer,
)

# The contracts, prices and the owner's limits are the demo's (anima_dev.economy):
# PER_REQUEST for one payment, PER_DAY a day; the seller asks PRICE for /weather and
# DEAR_PRICE (above PER_REQUEST) for /oracle.
CHAIN_ID = 31337
AGENT = "economy-agent"
OWNER_KEY = "0x" + "4f" * 32
OWNER = Account.from_key(OWNER_KEY).address
#: Beyond the demo's rules: the agent may sign 32-byte messages (ERC-8004 feedback).
FEEDBACK_RULE = {"id": "feedback-authorizations", "effect": "allow",
                 "payloads": ["personal_message"], "when": "eth.message.size == 32"}  # fmt: skip


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil"), chain_id=CHAIN_ID) as chain:
        yield chain


@pytest.fixture(scope="module")
def contracts(anvil: LocalChain) -> EconomyContracts:
    return deploy_economy(anvil)


@dataclass
class Economy:
    anvil: LocalChain
    contracts: EconomyContracts
    signer: SignerClient
    admin: SignerClient
    chain: ChainClient
    running: RunningChain
    wallet: str  # the agent's wallet 0
    seller: str  # the seller's payee
    domain: TokenDomain
    journal: list[dict[str, Any]] = field(default_factory=list)

    def payer(self, http: httpx.AsyncClient, **overrides: Any) -> X402Payer:
        options: dict[str, Any] = {
            "http": http, "signer": self.signer, "chain": self.chain, "agent_id": AGENT,
            "wallet": self.wallet, "chain_id": CHAIN_ID,
            "assets": {self.contracts.token.lower(): self.domain},
            "journal": self.journal.append,
        } | overrides  # fmt: skip
        return X402Payer(**options)

    def balance(self, holder: str) -> int:
        return token_balance(self.anvil, self.contracts.token, holder)

    async def apply(self, version: int, payees: list[str]) -> None:
        text = payment_policy(AGENT, self.contracts, payees, CHAIN_ID, version=version,
                              extra_rules=[FEEDBACK_RULE])  # fmt: skip
        typed = owner_typed_data(parse_document(text), agent_address=self.wallet)
        signature = bytes(Account.sign_typed_data(OWNER_KEY, full_message=typed).signature)
        await self.admin.apply_policy(AGENT, text, signature)


@pytest.fixture
async def economy(
    tmp_path: Path, anvil: LocalChain, contracts: EconomyContracts
) -> AsyncIterator[Economy]:
    signer_running = await start_test_signer(tmp_path)
    admin = await signer_client(signer_running, "admin")
    agent = await admin.create_agent(AGENT, owner=OWNER)
    wallet = to_checksum_address(agent.wallets[0].address)
    set_balance(anvil, bytes.fromhex(wallet[2:]), 10**18)
    token = contracts.token
    give_token(anvil, token, wallet, 100 * UNIT)
    seller = dev_account(anvil, 3)
    signer = await signer_client(signer_running, "runtime")
    running = await start_chain(
        chain_config(tmp_path, anvil.url, checkpoint_of(anvil)), signer=signer
    )
    chain = ChainClient.connect(
        f"127.0.0.1:{running.port}", CHAIN_TOKEN, certificate_pem=running.certificate_pem
    )
    domain = TokenDomain(TOKEN_NAME, "1", CHAIN_ID, token)
    found = Economy(anvil, contracts, signer, admin, chain, running, wallet,
                    to_checksum_address(seller), domain)  # fmt: skip
    await found.apply(1, [found.seller])
    try:
        yield found
    finally:
        await chain.close()
        await running.stop(grace=0.2)
        await signer.close()
        await admin.close()
        await signer_running.stop(grace=0.2)


def facilitator_for(economy: Economy) -> tuple[DevFacilitator, httpx.AsyncClient]:
    rpc = JsonRpc(httpx.AsyncClient(timeout=10), economy.anvil.url)
    submitter = dev_account(economy.anvil, 1)
    facilitator = DevFacilitator(
        DevFacilitatorConfig(economy.anvil.url, economy.domain, submitter), rpc
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=facilitator_app(facilitator)),
        base_url="http://facilitator",
    )
    return facilitator, client


def seller_app(economy: Economy, facilitator: httpx.AsyncClient) -> FastAPI:
    app = FastAPI()

    @app.get("/weather")
    async def weather() -> dict[str, str]:
        return {"forecast": "sunny"}

    @app.get("/oracle")
    async def oracle() -> dict[str, str]:
        return {"answer": "42"}

    @app.get("/free")
    async def free() -> dict[str, str]:
        return {"free": "yes"}

    app.add_middleware(
        X402Middleware,
        prices={"/weather": Price(PRICE, "today's weather"), "/oracle": Price(DEAR_PRICE)},
        pay_to=economy.seller,
        domain=economy.domain,
        facilitator=facilitator,
    )
    return app


@pytest.fixture
async def market(economy: Economy) -> AsyncIterator[tuple[Economy, httpx.AsyncClient]]:
    """The economy plus an HTTP client that reaches the seller (behind x402)."""
    _, facilitator = facilitator_for(economy)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=seller_app(economy, facilitator)),
        base_url="http://seller",
    )
    try:
        yield economy, http
    finally:
        await http.aclose()
        await facilitator.aclose()
