"""The X402_FETCH action: fetch the URL a message names; if the server answers 402, pay
it through anima_economy's payer (the enclave signs within the owner's policy, the
settlement is believed only from a proven receipt) and reply with what was bought.

The fetched body is the seller's text: it is quoted, cut short, and never followed
as an instruction. A refusal is said in words, with the enclave's rule, and nothing
is paid. The payment, its receipt and refusals are in the action's result data,
which the runtime logs with the action.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from anima_economy.eip3009 import TokenDomain
from anima_economy.payer import ProvesReceipts, X402Payer
from anima_runtime.agent.state import State
from anima_runtime.plugins.types import (
    Action,
    ActionResult,
    AgentContext,
    Content,
    ExampleLine,
    HandlerCallback,
    Message,
    Plugin,
)
from anima_signer_api.types import Agent, SignRequest, SignResult
from anima_verify.errors import AnimaError

log = logging.getLogger(__name__)
X402_PLUGIN_NAME = "@anima/plugin-x402"
MAX_QUOTED = 400  # characters of the seller's answer put in the reply
_URL = re.compile(r"https?://[^\s<>\"']+")


class SignerPort(Protocol):
    """What the plugin needs of the runtime's signer client."""

    async def get_agent(self, agent_id: str) -> Agent: ...

    async def sign(self, request: SignRequest) -> SignResult: ...


@dataclass(frozen=True, slots=True)
class X402Asset:
    """A token the agent may pay x402 sellers with (its EIP-712 domain)."""

    address: str  # checksum
    name: str
    version: str


def x402_plugin_factory(
    *,
    chain: ProvesReceipts,
    signer: SignerPort,
    chain_id: int,
    assets: Mapping[str, X402Asset],  # lowercase address -> asset
    timeout_s: float = 20.0,
) -> Callable[[], Plugin]:
    domains = {
        key.lower(): TokenDomain(a.name, a.version, chain_id, a.address)
        for key, a in assets.items()
    }

    async def fetch(
        context: AgentContext, message: Message, state: State, callback: HandlerCallback
    ) -> ActionResult:
        found = _URL.search(message.content.text)
        if found is None:
            text = "I can't fetch that: name an http(s) URL."
            await callback(Content(text=text))
            return ActionResult(success=False, text=text, data={"refused": "no_url"})
        url = found.group(0).rstrip(".,;)")
        journal: list[dict[str, Any]] = []
        agent = await signer.get_agent(context.agent_id)
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as http:
            payer = X402Payer(http=http, signer=signer, chain=chain, agent_id=context.agent_id,
                              wallet=agent.wallets[0].address, chain_id=chain_id,
                              assets=domains, journal=journal.append)  # fmt: skip
            try:
                paid = await payer.request("GET", url)
            except AnimaError as exc:
                log.warning("agent %s: x402 fetch of %s refused: %s", context.agent_id, url,
                            exc.reason)  # fmt: skip
                text = f"I did not pay for {url}: {exc.message}"
                await callback(Content(text=text))
                return ActionResult(success=False, text=text,
                                    data={"refused": exc.reason, "journal": journal})  # fmt: skip
            except httpx.HTTPError as exc:
                text = f"I could not reach {url} ({type(exc).__name__})."
                await callback(Content(text=text))
                return ActionResult(success=False, text=text, data={"refused": "unreachable"})
        quoted = paid.response.text[:MAX_QUOTED]
        if paid.payment is None:
            text = (
                f"{url} answered {paid.response.status_code} without asking to be paid: «{quoted}»"
            )
        else:
            payment = paid.payment
            text = (
                f"Paid {payment.requirements.amount} (base units of {payment.requirements.asset}) "
                f"to {payment.requirements.pay_to} for {url}: settled in transaction "
                f"0x{payment.transaction.hex()} (block {payment.block_number}, receipt verified). "
                f"The seller's answer: «{quoted}»"
            )
        await callback(Content(text=text))
        return ActionResult(
            success=paid.response.status_code < 400,
            text=text,
            data={"url": url, "status": paid.response.status_code, "journal": journal},
        )

    def plugin() -> Plugin:
        return Plugin(
            name=X402_PLUGIN_NAME,
            description="Fetch a URL, paying x402 sellers within the owner's policy",
            actions=(_fetch_action(fetch),),
        )

    return plugin


def _fetch_action(handler: Any) -> Action:
    examples = tuple(
        (
            ExampleLine(speaker="{{user1}}", text=ask),
            ExampleLine(speaker="{{agentName}}", text="Fetching it.", action="X402_FETCH"),
        )
        for ask in (
            "Buy the forecast at https://weather.example/today",
            "Fetch http://127.0.0.1:8080/report and pay if it asks",
        )
    )
    return Action(
        name="X402_FETCH",
        similes=("PAID_FETCH", "BUY_RESOURCE", "X402_PAY"),
        description="Fetch an http(s) URL; pay a 402 Payment Required within the owner's policy",
        handler=handler,
        examples=examples,
    )
