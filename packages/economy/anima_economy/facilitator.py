"""A local x402 facilitator for the dev chain: POST /verify, POST /settle, GET /supported
(the x402 v2 facilitator protocol), `exact` scheme, one EIP-3009 token.

It is the seller's component, not the agent's: the buyer checks its settlement
claims on chain. It submits settlements from an account the node unlocks (anvil's
development accounts): a dev-chain facilitator, named as such.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from fastapi import FastAPI
from x402.schemas import (
    SettleRequest,
    SettleResponse,
    SupportedKind,
    SupportedResponse,
    VerifyRequest,
    VerifyResponse,
)

from anima_economy.eip3009 import Authorization, TokenDomain, recover_payer, settle_calldata
from anima_economy.errors import AuthorizationInvalid, EconomyError
from anima_economy.payer import SCHEME, network_of

RECEIPT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DevFacilitatorConfig:
    rpc_url: str
    domain: TokenDomain
    submitter: str  # an account the dev node unlocks (pays the settlement's gas)


class JsonRpc:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http, self._url = http, url

    async def __call__(self, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer: dict[str, Any] = (await self._http.post(self._url, json=body)).json()
        if "error" in answer:
            raise EconomyError(f"the node refused {method}: {answer['error'].get('message')}")
        return answer.get("result")


def _call_data(signature: str, types: list[str], values: list[Any]) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(types, values)).hex()


class DevFacilitator:
    def __init__(
        self, config: DevFacilitatorConfig, rpc: JsonRpc, clock: Callable[[], float] = time.time
    ) -> None:
        self._config, self._rpc, self._clock = config, rpc, clock
        self._lock = asyncio.Lock()  # one settlement at a time: nonces are checked, then used

    @property
    def network(self) -> str:
        return network_of(self._config.domain.chain_id)

    def supported(self) -> SupportedResponse:
        return SupportedResponse(
            kinds=[SupportedKind(x402_version=2, scheme=SCHEME, network=self.network)]
        )

    async def check(self, request: VerifyRequest) -> tuple[Authorization, bytes]:
        """The authorization and signature, if they pay exactly what is required."""
        required, payload = request.payment_requirements, request.payment_payload
        domain = self._config.domain
        if required.scheme != SCHEME or payload.accepted.scheme != SCHEME:
            raise AuthorizationInvalid(f"only the {SCHEME} scheme is supported")
        if required.network != self.network or payload.accepted.network != self.network:
            raise AuthorizationInvalid(f"only {self.network} is supported")
        if required.asset.lower() != domain.token.lower():
            raise AuthorizationInvalid(f"only the token {domain.token} is supported")
        accepted = payload.accepted
        if (accepted.asset.lower(), accepted.pay_to.lower(), accepted.amount) != (
            required.asset.lower(), required.pay_to.lower(), required.amount):  # fmt: skip
            raise AuthorizationInvalid("the payment accepted other requirements")
        authorization = Authorization.from_wire(payload.payload.get("authorization"))
        signature_hex = str(payload.payload.get("signature", ""))
        try:
            signature = bytes.fromhex(signature_hex.removeprefix("0x"))
        except ValueError:
            raise AuthorizationInvalid("the signature is not hex") from None
        if authorization.payee.lower() != required.pay_to.lower():
            raise AuthorizationInvalid("the authorization pays someone else")
        if str(authorization.value) != required.amount:
            raise AuthorizationInvalid("the authorization's value is not the price")
        now = int(self._clock())
        if not authorization.valid_after < now:
            raise AuthorizationInvalid("the authorization is not valid yet")
        if not now < authorization.valid_before:
            raise AuthorizationInvalid("the authorization has expired")
        if recover_payer(authorization, domain, signature) != authorization.payer:
            raise AuthorizationInvalid("the signature is not the payer's")
        used = await self._eth_call(
            "authorizationState(address,bytes32)", ["address", "bytes32"],
            [authorization.payer, authorization.nonce],
        )  # fmt: skip
        if int(used, 16):
            raise AuthorizationInvalid("the authorization's nonce was already used")
        balance = await self._eth_call("balanceOf(address)", ["address"], [authorization.payer])
        if int(balance, 16) < authorization.value:
            raise AuthorizationInvalid("the payer's balance is below the price")
        return authorization, signature

    async def verify(self, request: VerifyRequest) -> VerifyResponse:
        try:
            authorization, _ = await self.check(request)
        except EconomyError as exc:
            return VerifyResponse(is_valid=False, invalid_reason=exc.reason,
                                  invalid_message=exc.message)  # fmt: skip
        return VerifyResponse(is_valid=True, payer=authorization.payer)

    async def settle(self, request: SettleRequest) -> SettleResponse:
        async with self._lock:
            try:
                authorization, signature = await self.check(
                    VerifyRequest(
                        x402_version=2,
                        payment_payload=request.payment_payload,
                        payment_requirements=request.payment_requirements,
                    )
                )
                transaction = await self._submit(settle_calldata(authorization, signature))
            except EconomyError as exc:
                return SettleResponse(success=False, error_reason=exc.reason,
                                      error_message=exc.message, transaction="",
                                      network=self.network)  # fmt: skip
        return SettleResponse(
            success=True,
            transaction=transaction,
            network=self.network,
            payer=authorization.payer,
            amount=str(authorization.value),
        )

    async def _eth_call(self, signature: str, types: list[str], values: list[Any]) -> str:
        call = {"to": self._config.domain.token, "data": _call_data(signature, types, values)}
        return str(await self._rpc("eth_call", [call, "latest"]))

    async def _submit(self, data: bytes) -> str:
        tx = {"from": self._config.submitter, "to": self._config.domain.token,
              "data": "0x" + data.hex(), "gas": hex(200_000)}  # fmt: skip
        tx_hash = str(await self._rpc("eth_sendTransaction", [tx]))
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        while time.monotonic() < deadline:
            receipt = await self._rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                if receipt.get("status") != "0x1":
                    raise EconomyError(f"the settlement {tx_hash} reverted")
                return tx_hash
            await asyncio.sleep(0.01)
        raise EconomyError(f"the settlement {tx_hash} was not mined in time")


def facilitator_app(facilitator: DevFacilitator) -> FastAPI:
    app = FastAPI(title="Anima dev x402 facilitator (dev chain only)")

    @app.get("/supported")
    async def supported() -> dict[str, Any]:
        return facilitator.supported().model_dump(by_alias=True, exclude_none=True)

    @app.post("/verify")
    async def verify(request: VerifyRequest) -> dict[str, Any]:
        return (await facilitator.verify(request)).model_dump(by_alias=True, exclude_none=True)

    @app.post("/settle")
    async def settle(request: SettleRequest) -> dict[str, Any]:
        return (await facilitator.settle(request)).model_dump(by_alias=True, exclude_none=True)

    return app
