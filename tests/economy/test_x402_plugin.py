"""The runtime's x402 plugin (X402_FETCH) against a loopback seller on anvil: it pays a
402 within the owner's policy and says what it bought; over the limit it says the
enclave's rule and pays nothing; without a URL it asks for one."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from anima_dev.economy import PRICE, TOKEN_NAME, serve
from anima_runtime.chain_wiring import _x402_asset
from anima_runtime.plugins.types import Content, Message, Plugin
from anima_runtime.plugins.x402 import X402Asset, x402_plugin_factory
from tests.economy.conftest import (
    AGENT,
    CHAIN_ID,
    Economy,
    facilitator_for,
    seller_app,
)


@dataclass
class _Context:
    agent_id: str = AGENT


def _message(text: str) -> Message:
    return Message(id="00000000-0000-4000-8000-000000000001", agent_id=AGENT,
                   entity_id="user-1", room_id="room-1", content=Content(text=text),
                   created_at_ms=0)  # fmt: skip


async def _act(plugin: Plugin, text: str) -> tuple[bool, str, dict[str, Any]]:
    said: list[str] = []

    async def callback(content: Content) -> None:
        said.append(content.text)

    (action,) = plugin.actions
    result = await action.handler(_Context(), _message(text), None, callback)  # type: ignore[arg-type]
    assert result is not None and said == [result.text]
    return result.success, result.text, dict(result.data)


@pytest.fixture
async def shop(economy: Economy) -> AsyncIterator[tuple[Economy, str, Plugin]]:
    _, facilitator = facilitator_for(economy)
    async with facilitator, serve(seller_app(economy, facilitator)) as url:
        token = economy.contracts.token
        plugin = x402_plugin_factory(
            chain=economy.chain, signer=economy.signer, chain_id=CHAIN_ID,
            assets={token.lower(): X402Asset(token, TOKEN_NAME, "1")},
        )()  # fmt: skip
        yield economy, url, plugin


async def test_the_agent_buys_within_policy(shop: tuple[Economy, str, Plugin]) -> None:
    economy, url, plugin = shop
    before = economy.balance(economy.wallet)
    ok, text, data = await _act(plugin, f"Buy the forecast at {url}/weather please.")
    assert ok, text
    assert f"Paid {PRICE}" in text and "receipt verified" in text and "sunny" in text
    assert economy.balance(economy.wallet) == before - PRICE
    [paid] = data["journal"]
    assert paid["event"] == "x402.paid" and paid["url"] == f"{url}/weather"


async def test_over_the_limit_the_agent_says_the_rule_and_pays_nothing(
    shop: tuple[Economy, str, Plugin],
) -> None:
    economy, url, plugin = shop
    before = economy.balance(economy.wallet)
    ok, text, data = await _act(plugin, f"Buy the answer at {url}/oracle")
    assert not ok and "x402-over-per-request-limit" in text and text.startswith("I did not pay")
    assert data["refused"] == "PAYMENT_REFUSED"
    assert economy.balance(economy.wallet) == before


async def test_without_a_url_it_asks_for_one(shop: tuple[Economy, str, Plugin]) -> None:
    _, _, plugin = shop
    ok, text, data = await _act(plugin, "Buy me something nice")
    assert not ok and data == {"refused": "no_url"} and "URL" in text


def test_the_x402_asset_argument_is_read_strictly() -> None:
    token = "0x" + "ab" * 20
    asset = _x402_asset(f"{token}:Anima Dollar:1")
    assert (asset.address.lower(), asset.name, asset.version) == (token, "Anima Dollar", "1")
    for bad in (f"{token}:Anima Dollar", "0x12:Name:1", f"{token}::1", "Name:1"):
        with pytest.raises(argparse.ArgumentTypeError, match="0xADDRESS:NAME:VERSION"):
            _x402_asset(bad)
