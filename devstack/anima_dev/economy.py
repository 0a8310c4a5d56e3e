"""The agent economy on the dev chain (issue 17), as the demo and the benchmark run it:
deploy the ERC-8004 registries and the EIP-3009 token from contracts/, serve apps on
loopback, and tell the story: the agent registers (its registration file's hash on
chain), a TEE validator records its validation, discovery re-checks it, the agent
buys from an x402-priced service within its owner's policy, and a payment over the
limit is refused in the enclave and logged.

Run alone: `python -m anima_dev.economy` (starts anvil, the signer and the chain
client itself). INSECURE simulated TEE throughout: development only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from fastapi import FastAPI, Response

from anima_chain_api.client import ChainClient
from anima_dev.contracts import compile_contracts, dev_account, send_from_dev_account, set_balance
from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.local_chain_client import LocalChainClient, local_chain_client
from anima_dev.local_signer import LocalSigner, local_signer
from anima_economy.agent_identity import register, request_validation
from anima_economy.discovery import discover
from anima_economy.eip3009 import TokenDomain
from anima_economy.erc8004 import AgentCard
from anima_economy.errors import PaymentRefused
from anima_economy.facilitator import DevFacilitator, DevFacilitatorConfig, JsonRpc, facilitator_app
from anima_economy.payer import X402Payer
from anima_economy.seller import Price, X402Middleware
from anima_economy.validator import TeeValidator
from anima_runtime.log import queries
from anima_runtime.log.http import create_log_app
from anima_runtime.log.items import LogItem
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.sequencer import signer_attestation
from anima_signer_api.client import SignerClient
from anima_signer_api.policy_document import SCHEMA, owner_typed_data, parse_document
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy
from anima_verify.tlog.entry import EntryKind

UNIT = 10**6  # the token has 6 decimals, as USDC
TOKEN_NAME = "Anima Dollar"  # noqa: S105 (the token's EIP-712 name, no secret)
PRICE = UNIT  # /weather
DEAR_PRICE = 3 * UNIT  # /oracle: above the owner's per-request limit
PER_REQUEST = 2 * UNIT
PER_DAY = 5 * UNIT
SIM_TRUST = MeasurementPolicy.insecure_simulated_for_development()
Say = Callable[[str, str], None]


@dataclass(frozen=True)
class EconomyContracts:
    token: str
    identity: str
    validation: str
    reputation: str


def _deploy(chain: LocalChain, name: str, types: list[str], args: list[Any]) -> str:
    data = compile_contracts()[name].bytecode + encode(types, args)
    receipt = send_from_dev_account(chain, {"data": "0x" + data.hex(), "gas": hex(5_000_000)})
    return to_checksum_address(str(receipt["contractAddress"]))


def deploy_economy(chain: LocalChain) -> EconomyContracts:
    token = _deploy(chain, "AuthorizedToken", ["string", "string", "uint256"],
                    [TOKEN_NAME, "ADOL", 10**9 * UNIT])  # fmt: skip
    identity = _deploy(chain, "IdentityRegistry", [], [])
    validation = _deploy(chain, "ValidationRegistry", ["address"], [identity])
    reputation = _deploy(chain, "ReputationRegistry", ["address"], [identity])
    return EconomyContracts(token, identity, validation, reputation)


def give_token(chain: LocalChain, token: str, to: str, amount: int) -> None:
    data = "0xa9059cbb" + encode(["address", "uint256"], [to, amount]).hex()
    send_from_dev_account(chain, {"to": token, "data": data})


def token_balance(chain: LocalChain, token: str, holder: str) -> int:
    """The demo's own check, straight from anvil (outside the agent)."""
    data = "0x70a08231" + encode(["address"], [holder]).hex()
    return int(str(chain.rpc("eth_call", [{"to": token, "data": data}, "latest"])), 16)


def payment_policy(
    agent_id: str,
    contracts: EconomyContracts,
    payees: list[str],
    chain_id: int,
    *,
    per_day: int = PER_DAY,
    version: int = 1,
    extra_rules: Sequence[dict[str, Any]] = (),
) -> str:
    """The owner's rules: x402 authorizations in this token on this chain to listed payees,
    at most PER_REQUEST each and PER_DAY a day; the agent's registry calls; then
    `extra_rules` (the tests' feedback signatures, say)."""
    return json.dumps({
        "schema": SCHEMA, "agent_id": agent_id, "version": version,
        "lists": {"payees": payees},
        "rules": [
            {"id": "x402-over-per-request-limit", "effect": "deny", "payloads": ["typed_data"],
             "when": "eth.eip_712.primary_type == 'TransferWithAuthorization' && "
                     f"wei_gt(eth.eip_712.message.value, '{PER_REQUEST}')"},
            {"id": "x402-payments", "effect": "allow", "payloads": ["typed_data"],
             "chain_ids": [chain_id], "to": [contracts.token],
             "when": "eth.eip_712.primary_type == 'TransferWithAuthorization' && "
                     "listed(eth.eip_712.message.to, 'payees') && "
                     f"wei_le(eth.eip_712.message.value, '{PER_REQUEST}')"},
            {"id": "erc8004-registries", "effect": "allow", "payloads": ["transaction"],
             "chain_ids": [chain_id], "to": [contracts.identity, contracts.validation],
             "when": "eth.tx.value == '0'"},
            *extra_rules,
        ],
        "windows": [{"id": "x402-daily", "asset": contracts.token.lower(), "chain_id": chain_id,
                     "calendar": "day", "max_amount": str(per_day)}],
    })  # fmt: skip


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port until the context ends; its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the app server stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def shop_app(prices: dict[str, Price], pay_to: str, domain: TokenDomain,
             facilitator: httpx.AsyncClient) -> FastAPI:  # fmt: skip
    app = FastAPI(title="a local x402-priced service")

    @app.get("/weather")
    async def weather() -> dict[str, str]:
        return {"forecast": "sunny over Lisbon"}

    @app.get("/oracle")
    async def oracle() -> dict[str, str]:
        return {"answer": "42"}

    app.add_middleware(X402Middleware, prices=prices, pay_to=pay_to, domain=domain,
                       facilitator=facilitator)  # fmt: skip
    return app


@dataclass
class Market:
    """A seller behind x402 and its dev facilitator, both on loopback."""

    seller_url: str
    facilitator_url: str
    pay_to: str


@contextlib.asynccontextmanager
async def market(chain: LocalChain, domain: TokenDomain) -> AsyncIterator[Market]:
    pay_to = to_checksum_address(dev_account(chain, 3))
    async with contextlib.AsyncExitStack() as stack:
        rpc_http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        config = DevFacilitatorConfig(chain.url, domain, dev_account(chain, 1))
        facilitator = DevFacilitator(config, JsonRpc(rpc_http, chain.url))
        facilitator_url = await stack.enter_async_context(serve(facilitator_app(facilitator)))
        to_facilitator = await stack.enter_async_context(
            httpx.AsyncClient(base_url=facilitator_url, timeout=10)
        )
        prices = {"/weather": Price(PRICE, "today's weather"), "/oracle": Price(DEAR_PRICE)}
        seller_url = await stack.enter_async_context(
            serve(shop_app(prices, pay_to, domain, to_facilitator))
        )
        yield Market(seller_url, facilitator_url, pay_to)


async def economy_story(
    *,
    chain: LocalChain,
    signer: LocalSigner,
    verifier: LocalChainClient,
    state_dir: Path,
    say: Say,
) -> None:
    say("3e. the agent economy", "ERC-8004 identity with TEE validation, x402 payments")
    contracts = deploy_economy(chain)
    say("contracts", f"AuthorizedToken (EIP-3009) {contracts.token}, IdentityRegistry "
        f"{contracts.identity}, ValidationRegistry {contracts.validation}")  # fmt: skip
    owner_key = "0x" + secrets.token_hex(32)
    agent_id = "economy-agent"
    async with contextlib.AsyncExitStack() as stack:
        admin = await stack.enter_async_context(await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["admin"], policy=SIM_TRUST))  # fmt: skip
        runtime = await stack.enter_async_context(await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["runtime"], policy=SIM_TRUST))  # fmt: skip
        agent = await admin.create_agent(agent_id, owner=Account.from_key(owner_key).address)
        wallet = to_checksum_address(agent.wallets[0].address)
        domain = TokenDomain(TOKEN_NAME, "1", chain.chain_id, contracts.token)
        shop = await stack.enter_async_context(market(chain, domain))
        document = payment_policy(agent_id, contracts, [shop.pay_to], chain.chain_id)
        typed = owner_typed_data(parse_document(document), agent_address=wallet)
        owner_signature = bytes(Account.sign_typed_data(owner_key, full_message=typed).signature)
        await admin.apply_policy(agent_id, document, owner_signature)
        say(
            "owner policy",
            f"x402 payments to {shop.pay_to} only, at most {PER_REQUEST // UNIT} "
            f"ADOL each and {PER_DAY // UNIT} a day (signed by the owner, applied in the enclave)",
        )
        set_balance(chain, bytes.fromhex(wallet[2:]), 10**18)
        give_token(chain, contracts.token, wallet, 20 * UNIT)

        chain_client = ChainClient.connect(verifier.address, verifier.token,
                                           certificate_pem=verifier.certificate_pem)  # fmt: skip
        stack.push_async_callback(chain_client.close)
        logs = LogRegistry(root=state_dir / "economy-logs", sequencer=runtime, sync_interval_s=None)
        stack.push_async_callback(logs.close)
        log = await logs.open(agent_id)
        files: dict[str, bytes] = {}
        host = create_log_app(logs, attestation=signer_attestation(runtime))

        @host.get("/.well-known/agent-registration.json")
        async def registration() -> Response:
            return Response(files["card"], media_type="application/json")

        host_url = await stack.enter_async_context(serve(host))
        card = AgentCard(
            name="Anima demo agent", description="an Anima agent with a TEE-held wallet",
            wallet=f"eip155:{chain.chain_id}:{wallet}",
            log_url=f"{host_url}/v1/logs/{agent_id}", log_verifier_key=agent.log_verifier_key,
            attestation_url=f"{host_url}/v1/logs/{agent_id}/attestation",
            endpoints=(("x402-shop", shop.seller_url),),
        )  # fmt: skip
        files["card"] = card.to_bytes()
        identity, validations = (bytes.fromhex(contracts.identity[2:]),
                                 bytes.fromhex(contracts.validation[2:]))  # fmt: skip
        done = await register(chain_client, signer_agent_id=agent_id, identity=identity,
                              uri=f"{host_url}/.well-known/agent-registration.json",
                              file=files["card"])  # fmt: skip
        say(
            "registered",
            f"ERC-8004 agent {done.agent_id}; its registration file's keccak256 "
            f"on chain (tx 0x{done.transaction.hex()[:16]}…, signed in the enclave)",
        )

        validator_agent = await admin.create_agent(
            "tee-validator", policy=SigningPolicy(allowed_chain_ids=frozenset({chain.chain_id}),
                                                  max_value_wei=10**17))  # fmt: skip
        validator_address = to_checksum_address(validator_agent.wallets[0].address)
        set_balance(chain, bytes.fromhex(validator_address[2:]), 10**18)
        request = json.dumps({"agentId": done.agent_id, "trust": "tee-attestation"}).encode()
        request_hash = await request_validation(
            chain_client, signer_agent_id=agent_id, registry=validations,
            validator=validator_address, agent_id=done.agent_id, request_uri="", request=request,
        )  # fmt: skip
        async with httpx.AsyncClient(timeout=10) as http:
            validator = TeeValidator(chain=chain_client, http=http, identity_registry=identity,
                                     validation_registry=validations, policy=SIM_TRUST,
                                     signer_agent_id="tee-validator",
                                     address=validator_address)  # fmt: skip
            verdict = await validator.validate(request_hash)
            if verdict.response != 100:
                raise RuntimeError(f"the validator refused the agent: {verdict.reason}")
            say("validated", f"validator {validator_address} posted {verdict.response}/100 "
                "(tag tee-insecure-simulated) with its evidence's hash")  # fmt: skip
            report = await discover(chain_client, http, identity_registry=identity,
                                    validation_registry=validations, agent_id=done.agent_id,
                                    policy=SIM_TRUST, validations=[request_hash])  # fmt: skip
            for line in report.summary():
                say("discovered", line)

            journal: list[dict[str, Any]] = []
            payer = X402Payer(http=http, signer=runtime, chain=chain_client, agent_id=agent_id,
                              wallet=wallet, chain_id=chain.chain_id,
                              assets={contracts.token.lower(): domain},
                              journal=journal.append)  # fmt: skip
            before = token_balance(chain, contracts.token, wallet)
            paid = await payer.request("GET", f"{shop.seller_url}/weather")
            assert paid.payment is not None
            say(
                "bought",
                f"/weather for {PRICE / UNIT:g} ADOL: {paid.response.json()}; "
                f"settled in tx 0x{paid.payment.transaction.hex()[:16]}… (receipt proven, "
                f"enclave signature log #{paid.payment.signature_log_index})",
            )
            if token_balance(chain, contracts.token, wallet) != before - PRICE:
                raise RuntimeError("the wallet did not pay exactly the price")
            try:
                await payer.request("GET", f"{shop.seller_url}/oracle")
            except PaymentRefused as refused:
                say("refused", f"/oracle at {DEAR_PRICE / UNIT:g} ADOL: {refused.message}")
            else:
                raise RuntimeError("a payment over the owner's limit was not refused")
            if token_balance(chain, contracts.token, wallet) != before - PRICE:
                raise RuntimeError("the refused payment moved funds")
        items = [
            LogItem(EntryKind.ACTION, "x402", "economy", json.dumps(e, sort_keys=True).encode())
            for e in journal
        ]
        await log.append(items)
        await log.sync()
        kinds = [v.entry.kind for v in queries.entries(log, 0, None, max_page=1000).entries]
        if EntryKind.POLICY_DECISION not in kinds or kinds.count(EntryKind.ACTION) != 2:
            raise RuntimeError(f"the log lacks the refusal or the journal: {kinds}")
        say(
            "logged",
            f"the payment, its receipt and the refusal are in the agent's log "
            f"(size {log.size}; the enclave logged its own policy decision too)",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", type=Path)
    args = parser.parse_args()

    def say(step: str, text: str = "") -> None:
        print(f"  {step:>12}  {text}" if text else f"\n== {step}", flush=True)

    with contextlib.ExitStack() as stack:
        state_dir = args.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        chain = stack.enter_context(local_chain(state_dir / "anvil"))
        signer = stack.enter_context(local_signer(state_dir))
        verifier = stack.enter_context(local_chain_client(state_dir, chain=chain, signer=signer))
        asyncio.run(economy_story(chain=chain, signer=signer, verifier=verifier,
                                  state_dir=state_dir, say=say))  # fmt: skip
    say("done", "every economy check above passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
