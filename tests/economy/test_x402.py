"""x402 both ways on a real anvil: the agent pays a priced route through the enclave's
policy, the dev facilitator settles against a token that checks signatures, and the
payer believes the settlement only from a proven receipt."""

from __future__ import annotations

import httpx

from anima_dev.economy import PRICE
from tests.economy.conftest import Economy


async def test_a_priced_route_is_paid_within_policy_and_settled_on_chain(
    market: tuple[Economy, httpx.AsyncClient],
) -> None:
    economy, http = market
    before_agent, before_seller = economy.balance(economy.wallet), economy.balance(economy.seller)
    paid = await economy.payer(http).request("GET", "/weather")
    assert paid.response.status_code == 200 and paid.response.json() == {"forecast": "sunny"}
    assert paid.payment is not None
    assert economy.balance(economy.wallet) == before_agent - PRICE
    assert economy.balance(economy.seller) == before_seller + PRICE
    receipt = economy.anvil.rpc(
        "eth_getTransactionReceipt", ["0x" + paid.payment.transaction.hex()]
    )
    assert isinstance(receipt, dict) and receipt["status"] == "0x1"
    [entry] = economy.journal
    assert entry["event"] == "x402.paid" and entry["amount"] == str(PRICE)
    assert entry["transaction"] == "0x" + paid.payment.transaction.hex()


async def test_a_free_route_is_not_paid(market: tuple[Economy, httpx.AsyncClient]) -> None:
    economy, http = market
    before = economy.balance(economy.wallet)
    paid = await economy.payer(http).request("GET", "/free")
    assert paid.payment is None and paid.response.json() == {"free": "yes"}
    assert economy.balance(economy.wallet) == before and economy.journal == []
