"""Fixtures: a real anvil (module-wide) with the AuthorizedToken (EIP-3009, checks
signatures) and the ERC-8004 registries compiled from contracts/; a real signer on the
INSECURE simulated TEE whose agent is governed by its owner's signed policy; the
verifying chain client in this process; a seller app behind x402 and the dev
facilitator, both in process over httpx's ASGI transport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from fastapi import FastAPI

from anima_chain.app import RunningChain, start_chain
from anima_chain_api.client import ChainClient
from anima_core.auth import token_digest
from anima_dev.contracts import compile_contracts, dev_account, send_from_dev_account, set_balance
from anima_dev.local_chain import LocalChain, local_chain
from anima_economy.eip3009 import TokenDomain
from anima_economy.facilitator import DevFacilitator, DevFacilitatorConfig, JsonRpc, facilitator_app
from anima_economy.payer import X402Payer
from anima_economy.seller import Price, X402Middleware
from anima_signer.app import start_signer
from anima_signer.config import SignerConfig
from anima_signer_api.client import SignerClient
from anima_signer_api.policy_document import SCHEMA, owner_typed_data, parse_document
from anima_verify.attestation import MeasurementPolicy
from tests.chain.client.conftest import CHAIN_TOKEN, chain_config, checkpoint_of

CHAIN_ID = 31337
UNIT = 10**6  # the token has 6 decimals, as USDC
TOKEN_NAME = "Anima Dollar"
AGENT = "economy-agent"
OWNER_KEY = "0x" + "4f" * 32
OWNER = Account.from_key(OWNER_KEY).address
SIGNER_TOKENS = {"admin": "signer-admin-token", "runtime": "signer-runtime-token"}
SIM_TRUST = MeasurementPolicy.insecure_simulated_for_development()
PER_REQUEST = 2 * UNIT  # the owner's limit for one payment
PER_WINDOW = 5 * UNIT  # and for a day
PRICE = UNIT  # what the seller asks for /weather
DEAR_PRICE = 3 * UNIT  # above PER_REQUEST: /oracle


def deploy(chain: LocalChain, name: str, types: list[str], args: list[Any]) -> str:
    compiled = compile_contracts()[name]
    data = compiled.bytecode + encode(types, args)
    receipt = send_from_dev_account(chain, {"data": "0x" + data.hex(), "gas": hex(5_000_000)})
    return to_checksum_address(str(receipt["contractAddress"]))


@dataclass(frozen=True)
class Contracts:
    token: str
    identity: str
    validation: str
    reputation: str


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil"), chain_id=CHAIN_ID) as chain:
        yield chain


@pytest.fixture(scope="module")
def contracts(anvil: LocalChain) -> Contracts:
    token = deploy(anvil, "AuthorizedToken", ["string", "string", "uint256"],
                   [TOKEN_NAME, "ADOL", 10**9 * UNIT])  # fmt: skip
    identity = deploy(anvil, "IdentityRegistry", [], [])
    validation = deploy(anvil, "ValidationRegistry", ["address"], [identity])
    reputation = deploy(anvil, "ReputationRegistry", ["address"], [identity])
    return Contracts(token, identity, validation, reputation)


def policy_document(version: int, contracts: Contracts, payees: list[str]) -> str:
    """The owner's payment rules: EIP-3009 authorizations for this token on this chain, to
    listed payees, at most PER_REQUEST each and PER_WINDOW a day; registry calls."""
    return json.dumps({
        "schema": SCHEMA, "agent_id": AGENT, "version": version,
        "lists": {"payees": payees},
        "rules": [
            {"id": "x402-over-per-request-limit", "effect": "deny", "payloads": ["typed_data"],
             "when": "eth.eip_712.primary_type == 'TransferWithAuthorization' && "
                     f"wei_gt(eth.eip_712.message.value, '{PER_REQUEST}')"},
            {"id": "x402-payments", "effect": "allow", "payloads": ["typed_data"],
             "chain_ids": [CHAIN_ID], "to": [contracts.token],
             "when": "eth.eip_712.primary_type == 'TransferWithAuthorization' && "
                     "listed(eth.eip_712.message.to, 'payees') && "
                     f"wei_le(eth.eip_712.message.value, '{PER_REQUEST}')"},
            {"id": "registries", "effect": "allow", "payloads": ["transaction"],
             "chain_ids": [CHAIN_ID], "to": [contracts.identity, contracts.validation],
             "when": "eth.tx.value == '0'"},
            {"id": "feedback-authorizations", "effect": "allow",
             "payloads": ["personal_message"], "when": "eth.message.size == 32"},
        ],
        "windows": [{"id": "x402-daily", "asset": contracts.token.lower(), "chain_id": CHAIN_ID,
                     "calendar": "day", "max_amount": str(PER_WINDOW)}],
    })  # fmt: skip


@dataclass
class Economy:
    anvil: LocalChain
    contracts: Contracts
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
        data = "0x70a08231" + bytes(12).hex() + holder[2:].lower()
        result = self.anvil.rpc("eth_call", [{"to": self.contracts.token, "data": data}, "latest"])
        return int(str(result), 16)

    async def apply(self, version: int, payees: list[str]) -> None:
        text = policy_document(version, self.contracts, payees)
        typed = owner_typed_data(parse_document(text), agent_address=self.wallet)
        signature = bytes(Account.sign_typed_data(OWNER_KEY, full_message=typed).signature)
        await self.admin.apply_policy(AGENT, text, signature)


@pytest.fixture
async def economy(
    tmp_path: Path, anvil: LocalChain, contracts: Contracts
) -> AsyncIterator[Economy]:
    signer_running = await start_signer(
        SignerConfig.model_validate(
            {
                "listen": "127.0.0.1:0",
                "state_dir": tmp_path / "signer",
                "tee": "sim",
                "callers": {n: token_digest(t) for n, t in SIGNER_TOKENS.items()},
                "log_origin_prefix": "test.anima/agents",
            }
        )
    )
    address = f"127.0.0.1:{signer_running.port}"
    admin = await SignerClient.connect_attested(
        address=address, token=SIGNER_TOKENS["admin"], policy=SIM_TRUST
    )
    agent = await admin.create_agent(AGENT, owner=OWNER)
    wallet = to_checksum_address(agent.wallets[0].address)
    set_balance(anvil, bytes.fromhex(wallet[2:]), 10**18)
    token = contracts.token
    send_from_dev_account(anvil, {"to": token, "data": "0xa9059cbb" + encode(
        ["address", "uint256"], [wallet, 100 * UNIT]).hex()})  # fmt: skip
    seller = dev_account(anvil, 3)
    signer = await SignerClient.connect_attested(
        address=address, token=SIGNER_TOKENS["runtime"], policy=SIM_TRUST
    )
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
