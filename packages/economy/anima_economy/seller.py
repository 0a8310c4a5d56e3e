"""x402 selling: routes behind a price, paid to the agent's wallet, settled by a facilitator.

A Starlette middleware (FastAPI apps add it with `add_middleware`): a priced route
without a payment answers 402 with x402 v2 requirements (PAYMENT-REQUIRED); with
one, the facilitator verifies it, the route runs, the facilitator settles, and the
answer carries the settlement (PAYMENT-RESPONSE). A failed settlement answers 402
and not the resource. (The x402 package's own FastAPI middleware needs its EVM
mechanisms, which need web3, not in Anima's pins; this speaks the same wire.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from pydantic import ValidationError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp
from x402.http.constants import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_RESPONSE_HEADER,
    PAYMENT_SIGNATURE_HEADER,
)
from x402.http.utils import (
    decode_payment_signature_header,
    encode_payment_required_header,
    encode_payment_response_header,
)
from x402.schemas import (
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
    VerifyResponse,
)

from anima_economy.eip3009 import TokenDomain
from anima_economy.payer import SCHEME, network_of


@dataclass(frozen=True)
class Price:
    amount: int  # atomic units of the token
    description: str = ""


class X402Middleware(BaseHTTPMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        *,
        prices: Mapping[str, Price],  # path -> price
        pay_to: str,
        domain: TokenDomain,
        facilitator: httpx.AsyncClient,  # base_url: the facilitator
        max_timeout_s: int = 60,
    ) -> None:
        super().__init__(app)
        self._prices, self._pay_to, self._domain = dict(prices), pay_to, domain
        self._facilitator, self._max_timeout_s = facilitator, max_timeout_s

    async def sale(self, request: Request) -> tuple[Price, str] | None:
        """The request's price and payee, or None for a free route (subclasses that
        price by pattern or pay per-route payees override this)."""
        price = self._prices.get(request.url.path)
        return None if price is None else (price, self._pay_to)

    def requirements(self, price: Price, pay_to: str | None = None) -> PaymentRequirements:
        return PaymentRequirements(
            scheme=SCHEME,
            network=network_of(self._domain.chain_id),
            asset=self._domain.token,
            amount=str(price.amount),
            pay_to=pay_to or self._pay_to,
            max_timeout_seconds=self._max_timeout_s,
            extra={"name": self._domain.name, "version": self._domain.version},
        )

    def _required(self, request: Request, price: Price, pay_to: str, error: str) -> Response:
        required = PaymentRequired(
            x402_version=2,
            error=error,
            resource=ResourceInfo(url=str(request.url), description=price.description),
            accepts=[self.requirements(price, pay_to)],
        )
        body = required.model_dump_json(by_alias=True, exclude_none=True)
        return Response(
            body,
            status_code=402,
            media_type="application/json",
            headers={PAYMENT_REQUIRED_HEADER: encode_payment_required_header(required)},
        )

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        sale = await self.sale(request)
        if sale is None:
            return await call_next(request)
        price, pay_to = sale
        header = request.headers.get(PAYMENT_SIGNATURE_HEADER)
        if header is None:
            return self._required(request, price, pay_to, "payment required")
        try:
            payload = decode_payment_signature_header(header)
        except (ValueError, ValidationError):
            return self._required(request, price, pay_to, "the payment does not parse")
        if not isinstance(payload, PaymentPayload):
            return self._required(request, price, pay_to, "only x402 version 2 is accepted")
        body = {
            "x402Version": 2,
            "paymentPayload": payload.model_dump(by_alias=True, exclude_none=True),
            "paymentRequirements": self.requirements(price, pay_to).model_dump(
                by_alias=True, exclude_none=True
            ),
        }
        verified = VerifyResponse.model_validate(
            (await self._facilitator.post("/verify", json=body)).json()
        )
        if not verified.is_valid:
            return self._required(
                request, price, pay_to, f"payment invalid: {verified.invalid_reason}"
            )
        response = await call_next(request)
        if response.status_code >= 400:
            return response  # nothing delivered, nothing settled
        answer = (await self._facilitator.post("/settle", json=body)).json()
        settled = SettleResponse.model_validate(answer)
        if not settled.success:
            failed = self._required(
                request, price, pay_to, f"settlement failed: {settled.error_reason}"
            )
            failed.headers[PAYMENT_RESPONSE_HEADER] = encode_payment_response_header(settled)
            return failed
        response.headers[PAYMENT_RESPONSE_HEADER] = encode_payment_response_header(settled)
        return response


__all__ = ["Price", "X402Middleware"]
