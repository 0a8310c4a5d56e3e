"""Bad input on the paying side: over the owner's limits, another network or asset, a payee
the owner never listed, a lying facilitator, an expired or replayed authorization.
Each one: a clear error, nothing paid, and the refusal in the journal."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from eth_utils.address import to_checksum_address
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from x402.http.constants import PAYMENT_RESPONSE_HEADER, PAYMENT_SIGNATURE_HEADER
from x402.http.utils import encode_payment_required_header, encode_payment_response_header
from x402.schemas import PaymentRequired, PaymentRequirements, SettleResponse

from anima_dev.economy import PER_DAY, PRICE, TOKEN_NAME
from anima_economy.eip3009 import Authorization, TokenDomain, typed_data
from anima_economy.errors import MalformedPaymentMessage, PaymentRefused, SettlementNotProven
from anima_signer_api.errors import PolicyDenied
from anima_signer_api.types import SignRequest, TypedData
from tests.economy.conftest import (
    AGENT,
    CHAIN_ID,
    Economy,
    facilitator_for,
)

Market = tuple[Economy, httpx.AsyncClient]


def refusals(economy: Economy) -> list[dict[str, Any]]:
    return [e for e in economy.journal if e["event"] == "x402.refused"]


async def test_a_payment_over_the_per_request_limit_is_refused_in_the_enclave(
    market: Market,
) -> None:
    economy, http = market
    before = economy.balance(economy.wallet)
    with pytest.raises(PaymentRefused, match=r"enclave refused.*x402-over-per-request-limit"):
        await economy.payer(http).request("GET", "/oracle")  # 3 units > 2 per request
    assert economy.balance(economy.wallet) == before
    [refusal] = refusals(economy)
    assert refusal["reason"] == "PAYMENT_REFUSED" and refusal["url"] == "/oracle"


async def test_the_daily_window_stops_payments_at_its_limit(market: Market) -> None:
    economy, http = market
    payer = economy.payer(http)
    before = economy.balance(economy.wallet)
    for _ in range(PER_DAY // PRICE):
        assert (await payer.request("GET", "/weather")).payment is not None
    with pytest.raises(PaymentRefused, match="x402-daily"):
        await payer.request("GET", "/weather")
    assert economy.balance(economy.wallet) == before - PER_DAY
    assert len(refusals(economy)) == 1


def asking(requirements: dict[str, Any]) -> FastAPI:
    """A seller that answers every request with a 402 for `requirements`."""
    app = FastAPI()
    required = PaymentRequired(
        x402_version=2, accepts=[PaymentRequirements.model_validate(requirements)]
    )

    @app.get("/thing")
    async def thing() -> JSONResponse:
        return JSONResponse(
            {}, status_code=402,
            headers={"PAYMENT-REQUIRED": encode_payment_required_header(required)},
        )  # fmt: skip

    return app


def offer(economy: Economy, **changes: Any) -> dict[str, Any]:
    return {
        "scheme": "exact", "network": f"eip155:{CHAIN_ID}", "asset": economy.contracts.token,
        "amount": str(PRICE), "payTo": economy.seller, "maxTimeoutSeconds": 60,
    } | changes  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"network": "eip155:1"}, "eip155:1"),
        ({"asset": "0x" + "ab" * 20}, "0x" + "ab" * 20),
        ({"scheme": "upto"}, "upto"),
    ],
)
async def test_a_402_for_another_network_asset_or_scheme_is_refused_before_signing(
    economy: Economy, changes: dict[str, Any], why: str
) -> None:
    app = asking(offer(economy, **changes))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as h:
        with pytest.raises(PaymentRefused, match=f"asks for .*{why}.*pays only with"):
            await economy.payer(h).request("GET", "/thing")
    assert refusals(economy)[0]["reason"] == "PAYMENT_REFUSED"


async def test_a_payee_the_owner_never_listed_is_refused_by_the_enclave(
    economy: Economy,
) -> None:
    app = asking(offer(economy, payTo="0x" + "cd" * 20))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as h:
        with pytest.raises(PaymentRefused, match="enclave refused"):
            await economy.payer(h).request("GET", "/thing")


@pytest.mark.parametrize("body", ["not base64!", "eyJ4NDAyVmVyc2lvbiI6IDF9"])  # {"x402Version": 1}
async def test_a_malformed_402_is_refused(economy: Economy, body: str) -> None:
    app = FastAPI()

    @app.get("/thing")
    async def thing() -> JSONResponse:
        return JSONResponse({}, status_code=402, headers={"PAYMENT-REQUIRED": body})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as h:
        with pytest.raises(MalformedPaymentMessage):
            await economy.payer(h).request("GET", "/thing")
    assert refusals(economy)[0]["reason"] == "MALFORMED_PAYMENT_MESSAGE"


def lying_seller(economy: Economy, transaction: str) -> FastAPI:
    """A seller (or its facilitator) that claims a settlement it never made."""
    app = FastAPI()
    required = PaymentRequired(x402_version=2, accepts=[PaymentRequirements.model_validate(
        offer(economy))])  # fmt: skip

    @app.get("/thing")
    async def thing(request: Any = None) -> JSONResponse:
        return JSONResponse(
            {},
            status_code=402,
            headers={"PAYMENT-REQUIRED": encode_payment_required_header(required)},
        )

    @app.middleware("http")
    async def claim(request: Any, call_next: Any) -> Any:
        if PAYMENT_SIGNATURE_HEADER in request.headers:
            settled = SettleResponse(success=True, transaction=transaction,
                                     network=f"eip155:{CHAIN_ID}")  # fmt: skip
            return JSONResponse({"data": "paid?"},
                                headers={PAYMENT_RESPONSE_HEADER:
                                         encode_payment_response_header(settled)})  # fmt: skip
        return await call_next(request)

    return app


async def test_a_facilitator_that_lies_about_settlement_is_caught_on_chain(
    economy: Economy,
) -> None:
    # A real transaction of the agent's token, but not this payment's.
    unrelated = economy.anvil.rpc("eth_getBlockByNumber", ["0x2", False])
    assert isinstance(unrelated, dict) and unrelated["transactions"]
    for claimed in ("0x" + "77" * 32, str(unrelated["transactions"][0])):
        before = economy.balance(economy.wallet)
        app = lying_seller(economy, claimed)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as h:
            with pytest.raises(SettlementNotProven):
                await economy.payer(h).request("GET", "/thing")
        assert economy.balance(economy.wallet) == before
    assert [r["reason"] for r in refusals(economy)] == ["SETTLEMENT_NOT_PROVEN"] * 2


async def test_an_expired_authorization_is_refused_by_the_facilitator(market: Market) -> None:
    economy, http = market
    before = economy.balance(economy.wallet)
    late = economy.payer(http, clock=lambda: time.time() - 3600)  # signs for an hour ago
    with pytest.raises(PaymentRefused, match=r"seller refused.*AUTHORIZATION_INVALID"):
        await late.request("GET", "/weather")
    assert economy.balance(economy.wallet) == before


async def test_a_replayed_authorization_is_refused_and_pays_once(market: Market) -> None:
    economy, http = market
    seen: list[str] = []

    async def keep(request: httpx.Request) -> None:
        if PAYMENT_SIGNATURE_HEADER in request.headers:
            seen.append(request.headers[PAYMENT_SIGNATURE_HEADER])

    http.event_hooks["request"].append(keep)
    await economy.payer(http).request("GET", "/weather")
    after_first = economy.balance(economy.wallet)
    replay = await http.get("/weather", headers={PAYMENT_SIGNATURE_HEADER: seen[0]})
    assert replay.status_code == 402
    assert "AUTHORIZATION_INVALID" in replay.json()["error"]
    assert economy.balance(economy.wallet) == after_first


async def test_the_facilitator_refuses_requirements_it_does_not_serve(economy: Economy) -> None:
    _, client = facilitator_for(economy)
    async with client:
        supported = (await client.get("/supported")).json()
        assert supported["kinds"] == [
            {"x402Version": 2, "scheme": "exact", "network": f"eip155:{CHAIN_ID}"}
        ]
        bogus = {"x402Version": 2, "paymentPayload": {"x402Version": 2, "payload": {},
                 "accepted": offer(economy)}, "paymentRequirements": offer(economy)}  # fmt: skip
        answer = (await client.post("/verify", json=bogus)).json()
        assert answer["isValid"] is False and answer["invalidReason"] == "AUTHORIZATION_INVALID"
        settled = (await client.post("/settle", json=bogus)).json()
        assert settled["success"] is False


@pytest.mark.parametrize(
    ("chain_id", "token", "payee", "value", "rule"),
    [
        (1, None, None, PRICE, "default_deny"),  # another network
        (CHAIN_ID, "0x" + "ab" * 20, None, PRICE, "default_deny"),  # another asset
        (CHAIN_ID, None, "0x" + "cd" * 20, PRICE, "default_deny"),  # an unlisted payee
        (CHAIN_ID, None, None, 3 * PRICE, "x402-over-per-request-limit"),
    ],
)
async def test_a_hostile_host_asking_the_enclave_directly_is_refused(
    economy: Economy, chain_id: int, token: str | None, payee: str | None, value: int, rule: str
) -> None:
    """The payer's own checks are a courtesy: the enclave's policy is the limit, whatever
    typed data a compromised runtime hands it."""
    domain = TokenDomain(
        TOKEN_NAME, "1", chain_id, to_checksum_address(token or economy.contracts.token)
    )
    auth = Authorization.new(economy.wallet, to_checksum_address(payee or economy.seller), value,
                             now=int(time.time()), timeout_s=60)  # fmt: skip
    request = SignRequest(AGENT, TypedData(json.dumps(typed_data(auth, domain))))
    with pytest.raises(PolicyDenied) as refused:
        await economy.signer.sign(request)
    assert refused.value.rule == rule
