"""The runtime sells its own routes behind x402 (anima_runtime.x402_sell): a route under
/v1/agents/{id}/ is paid to agent {id}'s wallet as its signer reports it. Real anvil, real
signer on the INSECURE simulated TEE, the dev facilitator; the buyer is another agent paying
through its enclave (X402Payer), the settlement proven on chain by the verifying client."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from fastapi import FastAPI
from x402.http.constants import PAYMENT_REQUIRED_HEADER, PAYMENT_SIGNATURE_HEADER
from x402.http.utils import encode_payment_signature_header
from x402.schemas import PaymentPayload, PaymentRequirements

from anima_dev.economy import PRICE, UNIT, give_token
from anima_economy.eip3009 import Authorization, typed_data
from anima_economy.errors import PaymentRefused
from anima_economy.seller import Price
from anima_runtime.x402_sell import AgentX402Middleware, signer_wallet_of
from tests.economy.conftest import OWNER, Economy, facilitator_for

SELLER_AGENT = "seller-agent"
Shop = tuple[Economy, httpx.AsyncClient, str]  # the economy, a client of the shop, the payee


def shop_app(economy: Economy, facilitator: httpx.AsyncClient) -> FastAPI:
    """Routes shaped like the runtime's, behind the runtime's selling middleware."""
    app = FastAPI()

    @app.get("/v1/agents/{agent_id}/weather")
    async def weather(agent_id: str) -> dict[str, str]:
        return {"agent": agent_id, "forecast": "sunny"}

    @app.get("/v1/agents/{agent_id}")
    async def agent(agent_id: str) -> dict[str, str]:
        return {"agent": agent_id}

    app.add_middleware(
        AgentX402Middleware,
        prices={"weather": Price(PRICE, "the agent's weather")},
        wallet_of=signer_wallet_of(economy.signer.get_agent),
        domain=economy.domain,
        facilitator=facilitator,
    )
    return app


@pytest.fixture
async def shop(economy: Economy) -> AsyncIterator[Shop]:
    made = await economy.admin.create_agent(SELLER_AGENT, owner=OWNER)
    payee = to_checksum_address(made.wallets[0].address)
    await economy.apply(2, [payee])  # the buyer's owner lets it pay the selling agent
    _, facilitator = facilitator_for(economy)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=shop_app(economy, facilitator)), base_url="http://rt"
    )
    try:
        yield economy, http, payee
    finally:
        await http.aclose()
        await facilitator.aclose()


async def test_an_unpaid_request_gets_402_naming_the_route_agents_wallet(shop: Shop) -> None:
    _, http, payee = shop
    response = await http.get(f"/v1/agents/{SELLER_AGENT}/weather")
    assert response.status_code == 402
    required = json.loads(base64.b64decode(response.headers[PAYMENT_REQUIRED_HEADER]))
    assert required["x402Version"] == 2
    [offer] = required["accepts"]
    assert offer["payTo"] == payee and offer["amount"] == str(PRICE)
    assert offer["network"] == "eip155:31337"


async def test_unpriced_routes_and_unknown_agents_are_not_sold(shop: Shop) -> None:
    _, http, _ = shop
    assert (await http.get(f"/v1/agents/{SELLER_AGENT}")).status_code == 200
    # No wallet to pay: the route answers for itself rather than asking a payment for nobody.
    assert (await http.get("/v1/agents/nobody/weather")).status_code == 200


async def test_another_agent_pays_through_its_enclave_and_settles_on_chain(shop: Shop) -> None:
    economy, http, payee = shop
    before_buyer, before_seller = economy.balance(economy.wallet), economy.balance(payee)
    paid = await economy.payer(http).request("GET", f"/v1/agents/{SELLER_AGENT}/weather")
    assert paid.response.status_code == 200
    assert paid.response.json() == {"agent": SELLER_AGENT, "forecast": "sunny"}
    assert paid.payment is not None  # X402Payer proved the transfer's receipt on chain
    assert paid.payment.requirements.pay_to == payee
    assert economy.balance(payee) == before_seller + PRICE
    assert economy.balance(economy.wallet) == before_buyer - PRICE


async def test_a_payment_to_the_wrong_payee_is_refused_and_nothing_moves(shop: Shop) -> None:
    economy, http, payee = shop
    url = f"/v1/agents/{SELLER_AGENT}/weather"
    key = Account.create()
    give_token(economy.anvil, economy.contracts.token, key.address, UNIT)
    thief = Account.create().address
    first = await http.get(url)
    offer = PaymentRequirements.model_validate(first.json()["accepts"][0])
    # A signed authorization moving the price to someone other than the route's agent.
    authorization = Authorization.new(key.address, thief, PRICE, now=int(time.time()),
                                      timeout_s=60)  # fmt: skip
    signature = Account.sign_typed_data(
        key.key, full_message=typed_data(authorization, economy.domain)
    ).signature
    payload = PaymentPayload(
        x402_version=2,
        accepted=offer,
        payload={"signature": "0x" + bytes(signature).hex(),
                 "authorization": authorization.as_wire()},
    )  # fmt: skip
    headers = {PAYMENT_SIGNATURE_HEADER: encode_payment_signature_header(payload)}
    refused = await http.get(url, headers=headers)
    assert refused.status_code == 402
    assert "payment invalid" in refused.json()["error"]
    assert "forecast" not in refused.text
    assert economy.balance(key.address) == UNIT and economy.balance(thief) == 0
    assert economy.balance(payee) == 0
    garbled = await http.get(url, headers={PAYMENT_SIGNATURE_HEADER: "not-base64!"})
    assert garbled.status_code == 402 and "does not parse" in garbled.json()["error"]


async def test_the_buyer_refuses_a_payee_its_owner_never_listed(economy: Economy) -> None:
    # Without policy version 2 the selling agent is not an allowed payee: the enclave refuses.
    made = await economy.admin.create_agent(SELLER_AGENT, owner=OWNER)
    assert made.wallets
    _, facilitator = facilitator_for(economy)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=shop_app(economy, facilitator)), base_url="http://rt"
    ) as http:
        with pytest.raises(PaymentRefused):
            await economy.payer(http).request("GET", f"/v1/agents/{SELLER_AGENT}/weather")
    await facilitator.aclose()
