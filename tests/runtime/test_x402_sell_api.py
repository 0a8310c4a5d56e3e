"""The runtime's own HTTP app selling /v1/agents/{id}/messages behind x402 (create_runtime_app
with an AgentSale): the 402 names agent {id}'s wallet from the signer, a garbled payment is
refused before the facilitator or the model is asked, unpriced routes and the body limit
are untouched, and the serve flags are read strictly. The paid path over anvil and the dev
facilitator is tests/economy/test_x402_runtime_sell.py."""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from x402.http.constants import PAYMENT_REQUIRED_HEADER, PAYMENT_SIGNATURE_HEADER

from anima_dev.inprocess_log import InProcessSequencer
from anima_economy.eip3009 import TokenDomain
from anima_economy.seller import Price
from anima_runtime.api.http import create_runtime_app
from anima_runtime.chain_wiring import ChainSetupProblem
from anima_runtime.handler import RuntimeHandler
from anima_runtime.x402_sell import AgentSale, add_sell_arguments, sell_config, signer_wallet_of
from anima_signer.core import Signer
from tests.runtime.conftest import AGENT
from tests.runtime.test_api import AUTH, host  # noqa: F401 (the fixture)
from tests.runtime.test_manager import Host, runtime_config

TOKEN = "0x" + "ab" * 20
TURN = {"room_id": "r1", "text": "hi"}
DOMAIN = TokenDomain("Anima Dollar", "1", 31337, "0x" + "AB" * 20)


def facilitator_never_called() -> httpx.AsyncClient:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the facilitator was asked: {request.url}")

    return httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url="http://fac")


async def selling_client(opened: Host, signer: Signer) -> httpx.AsyncClient:
    async def get_agent(agent_id: str) -> object:
        return signer.get_agent(agent_id)

    manager = await opened.open()
    sale = AgentSale(
        {"messages": Price(1000, "one turn")},
        signer_wallet_of(get_agent),
        DOMAIN,
        facilitator_never_called(),
    )
    app = create_runtime_app(
        RuntimeHandler.of(manager, opened.config),
        opened.config,
        attestation=InProcessSequencer(opened.signer).attestation,
        x402_sale=sale,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rt.test")


@pytest.fixture
async def selling(host: Host, signer: Signer) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with await selling_client(host, signer) as client:
        yield client


async def test_an_unpaid_turn_is_402_naming_the_agents_own_wallet(
    selling: httpx.AsyncClient, signer: Signer
) -> None:
    wallet = signer.get_agent(AGENT).wallets[0].address
    response = await selling.post(f"/v1/agents/{AGENT}/messages", json=TURN, headers=AUTH)
    assert response.status_code == 402
    required = json.loads(base64.b64decode(response.headers[PAYMENT_REQUIRED_HEADER]))
    [offer] = required["accepts"]
    assert offer["payTo"].lower() == str(wallet).lower()
    assert offer["amount"] == "1000" and offer["asset"].lower() == TOKEN
    assert offer["extra"] == {"name": "Anima Dollar", "version": "1"}


async def test_a_garbled_payment_is_refused_without_asking_the_facilitator(
    selling: httpx.AsyncClient,
) -> None:
    response = await selling.post(
        f"/v1/agents/{AGENT}/messages",
        json=TURN,
        headers={**AUTH, PAYMENT_SIGNATURE_HEADER: base64.b64encode(b'{"x": 1}').decode()},
    )
    assert response.status_code == 402 and "does not parse" in response.json()["error"]


async def test_unpriced_routes_and_unknown_agents_answer_as_before(
    selling: httpx.AsyncClient,
) -> None:
    assert (await selling.get("/v1/agents", headers=AUTH)).status_code == 200
    unknown = await selling.post("/v1/agents/nobody/messages", json=TURN, headers=AUTH)
    assert unknown.status_code == 404  # nobody to pay: the route's own answer


async def test_the_body_limit_still_comes_before_payment(
    tmp_path: Path,
    host: Host,  # noqa: F811
    signer: Signer,
) -> None:
    host.config = runtime_config(tmp_path, limits={"max_body_bytes": 2048})
    async with await selling_client(host, signer) as client:
        response = await client.post(
            f"/v1/agents/{AGENT}/messages", content=b"x" * 4096, headers=AUTH
        )
    assert response.status_code == 413


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_sell_arguments(parser)
    return parser.parse_args(argv)


def test_selling_is_off_by_default_and_its_flags_are_read_strictly() -> None:
    assert sell_config(parse()) is None
    config = sell_config(parse("--x402-sell", "messages=1000", "--x402-sell-asset",
                               f"{TOKEN}:Anima Dollar:1", "--x402-sell-chain-id", "31337",
                               "--x402-facilitator", "http://127.0.0.1:4021"))  # fmt: skip
    assert config is not None and config.prices["messages"].amount == 1000
    assert config.domain.chain_id == 31337 and config.domain.token.lower() == TOKEN
    with pytest.raises(ChainSetupProblem, match="needs --x402-sell-asset"):
        sell_config(parse("--x402-sell", "messages=1000"))
    for bad in ("messages=0", "messages=-1", "=5", "/messages=5", "messages=1.5"):
        with pytest.raises(argparse.ArgumentError, match="SUFFIX=AMOUNT"):
            parse("--x402-sell", bad)
