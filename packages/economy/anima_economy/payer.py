"""x402 paying: answer a `402 Payment Required` with an EIP-3009 authorization the enclave
signs under the owner's policy, retry, and believe the settlement only from the chain.

The payer runs on the untrusted host. It narrows what it will even ask for (the
agent's own network and assets, `exact` scheme); the enclave's policy is what
actually bounds payments (per request, per window, payees, assets, networks). A
facilitator's settlement claim is checked against a receipt the verifying chain
client proved: a success without the matching Transfer on chain is refused.
Every payment, receipt and refusal goes to the journal (the agent's log).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from eth_utils.address import to_checksum_address
from pydantic import ValidationError
from x402.http.constants import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_RESPONSE_HEADER,
    PAYMENT_SIGNATURE_HEADER,
)
from x402.http.utils import encode_payment_signature_header
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse

from anima_chain_api.types import ReceiptAt, VerifiedReceipt
from anima_economy.eip3009 import (
    AUTHORIZATION_USED_TOPIC,
    TRANSFER_TOPIC,
    Authorization,
    TokenDomain,
    typed_data,
)
from anima_economy.errors import MalformedPaymentMessage, PaymentRefused, SettlementNotProven
from anima_signer_api.errors import SignerError
from anima_signer_api.types import EthSignature, SignRequest, SignResult, TypedData
from anima_verify.errors import AnimaError

SCHEME = "exact"
MAX_TIMEOUT_S = 300  # an authorization outlives its request by at most this
Journal = Callable[[dict[str, Any]], None]


class Signs(Protocol):
    """What the payer needs of the enclave (anima_signer_api.client.SignerClient)."""

    async def sign(self, request: SignRequest) -> SignResult: ...


class ProvesReceipts(Protocol):
    """What the payer needs of the verifying chain client (ChainClient)."""

    async def receipt(self, transaction_hash: bytes) -> ReceiptAt: ...


@dataclass(frozen=True, slots=True)
class Payment:
    requirements: PaymentRequirements
    authorization: Authorization
    signature_log_index: int  # the enclave's SIGNATURE entry for it
    transaction: bytes  # the settlement, proven on chain
    block_number: int


@dataclass(frozen=True, slots=True)
class PaidResponse:
    response: httpx.Response
    payment: Payment | None  # None: the resource was free


def network_of(chain_id: int) -> str:
    return f"eip155:{chain_id}"


def _b64_json(value: str, what: str) -> Any:
    try:
        return json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise MalformedPaymentMessage(f"the {what} header is not base64 JSON") from None


def parse_payment_required(response: httpx.Response) -> PaymentRequired:
    """x402 v2 requirements from the PAYMENT-REQUIRED header (or, failing that, the body)."""
    header = response.headers.get(PAYMENT_REQUIRED_HEADER)
    if header is not None:
        document = _b64_json(header, PAYMENT_REQUIRED_HEADER)
    else:
        try:
            document = response.json()
        except ValueError:
            raise MalformedPaymentMessage("a 402 without x402 requirements") from None
    if not isinstance(document, dict) or document.get("x402Version") != 2:
        raise MalformedPaymentMessage("the 402 does not speak x402 version 2")
    try:
        return PaymentRequired.model_validate(document)
    except ValidationError as exc:
        raise MalformedPaymentMessage(
            f"the x402 requirements do not parse ({exc.error_count()} errors)"
        ) from None


class X402Payer:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        signer: Signs,
        chain: ProvesReceipts,
        agent_id: str,
        wallet: str,
        chain_id: int,
        assets: Mapping[str, TokenDomain],  # lowercase token address -> its domain
        journal: Journal,
        wallet_index: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http, self._signer, self._chain = http, signer, chain
        self._agent_id, self._wallet = agent_id, to_checksum_address(wallet)
        self._chain_id, self._assets = chain_id, dict(assets)
        self._journal, self._wallet_index, self._clock = journal, wallet_index, clock

    async def request(self, method: str, url: str, **kwargs: Any) -> PaidResponse:
        response = await self._http.request(method, url, **kwargs)
        if response.status_code != 402:
            return PaidResponse(response, None)
        try:
            return await self._pay(method, url, response, kwargs)
        except AnimaError as refusal:
            self._journal({"event": "x402.refused", "url": url, "reason": refusal.reason,
                           "message": refusal.message})  # fmt: skip
            raise

    def choose(self, required: PaymentRequired) -> PaymentRequirements:
        """The first offer in our network and assets; PaymentRefused naming what was asked."""
        ours = network_of(self._chain_id)
        for offer in required.accepts:
            if (offer.scheme, offer.network) == (
                SCHEME,
                ours,
            ) and offer.asset.lower() in self._assets:
                return offer
        asked = ", ".join(
            f"{o.scheme} {o.amount} of {o.asset} on {o.network}" for o in required.accepts
        )
        raise PaymentRefused(
            f"the 402 asks for {asked or 'nothing'}; this agent pays only with "
            f"{sorted(self._assets)} on {ours} (scheme {SCHEME})"
        )

    async def _pay(
        self, method: str, url: str, first: httpx.Response, kwargs: dict[str, Any]
    ) -> PaidResponse:
        required = parse_payment_required(first)
        offer = self.choose(required)
        try:
            amount = int(offer.amount)
        except ValueError:
            raise MalformedPaymentMessage("the 402's amount is not an integer") from None
        if amount <= 0:
            raise MalformedPaymentMessage("the 402 asks for a non-positive amount")
        timeout = min(max(offer.max_timeout_seconds, 1), MAX_TIMEOUT_S)
        authorization = Authorization.new(
            self._wallet, offer.pay_to, amount, now=int(self._clock()), timeout_s=timeout
        )
        domain = self._assets[offer.asset.lower()]
        signed = await self._sign(authorization, domain)
        payload = PaymentPayload(
            x402_version=2,
            resource=required.resource,
            accepted=offer,
            payload={"signature": "0x" + signed.signature.hex(),
                     "authorization": authorization.as_wire()},
        )  # fmt: skip
        headers = dict(kwargs.pop("headers", None) or {})
        headers[PAYMENT_SIGNATURE_HEADER] = encode_payment_signature_header(payload)
        response = await self._http.request(method, url, headers=headers, **kwargs)
        if response.status_code == 402:
            reason = _settle_reason(response)
            raise PaymentRefused(f"the seller refused the payment: {reason}")
        payment = await self._prove(response, offer, authorization, signed.log_index)
        self._journal({
            "event": "x402.paid", "url": url, "asset": offer.asset, "amount": str(amount),
            "pay_to": offer.pay_to, "network": offer.network,
            "nonce": "0x" + authorization.nonce.hex(),
            "signature_log_index": signed.log_index,
            "transaction": "0x" + payment.transaction.hex(), "block": payment.block_number,
        })  # fmt: skip
        return PaidResponse(response, payment)

    async def _sign(self, authorization: Authorization, domain: TokenDomain) -> EthSignature:
        document = json.dumps(typed_data(authorization, domain))
        request = SignRequest(
            self._agent_id,
            TypedData(document, self._wallet_index),
            idempotency_key="x402:" + authorization.nonce.hex(),
        )
        try:
            result = await self._signer.sign(request)
        except SignerError as exc:  # the enclave logged its refusal itself
            raise PaymentRefused(
                f"the enclave refused to sign the payment: {exc.message}"
            ) from None
        if not isinstance(result, EthSignature) or len(result.signature) != 65:
            raise PaymentRefused("the enclave answered something other than a signature")
        return result

    async def _prove(
        self,
        response: httpx.Response,
        offer: PaymentRequirements,
        authorization: Authorization,
        log_index: int,
    ) -> Payment:
        header = response.headers.get(PAYMENT_RESPONSE_HEADER)
        if header is None:
            raise SettlementNotProven("the paid response carries no settlement (PAYMENT-RESPONSE)")
        try:
            settled = SettleResponse.model_validate(_b64_json(header, PAYMENT_RESPONSE_HEADER))
        except ValidationError:
            raise MalformedPaymentMessage("the settlement response does not parse") from None
        if not settled.success:
            raise SettlementNotProven(f"the facilitator reports failure: {settled.error_reason}")
        try:
            transaction = bytes.fromhex(settled.transaction.removeprefix("0x"))
        except ValueError:
            raise SettlementNotProven("the settlement's transaction is not a hash") from None
        if len(transaction) != 32:
            raise SettlementNotProven("the settlement's transaction is not a hash")
        try:
            found = await self._chain.receipt(transaction)
        except AnimaError as exc:
            raise SettlementNotProven(
                f"no proven receipt for the claimed settlement 0x{transaction.hex()}: {exc.message}"
            ) from None
        if not _settles(found.receipt, offer.asset, authorization):
            raise SettlementNotProven(
                f"transaction 0x{transaction.hex()} does not move this authorization's funds"
            )
        return Payment(offer, authorization, log_index, transaction, found.block.number)


def _word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def _settles(receipt: VerifiedReceipt, asset: str, authorization: Authorization) -> bool:
    """The receipt succeeded and the token logged this nonce used and the exact transfer."""
    if not receipt.success:
        return False
    token = bytes.fromhex(asset[2:])
    payer, payee = _word(authorization.payer), _word(authorization.payee)
    used = transferred = False
    for log in receipt.logs:
        if log.address != token or not log.topics:
            continue
        if log.topics == (AUTHORIZATION_USED_TOPIC, payer, authorization.nonce):
            used = True
        if (log.topics == (TRANSFER_TOPIC, payer, payee)
                and int.from_bytes(log.data, "big") == authorization.value):  # fmt: skip
            transferred = True
    return used and transferred


def _settle_reason(response: httpx.Response) -> str:
    header = response.headers.get(PAYMENT_RESPONSE_HEADER)
    if header is not None:
        try:
            document = _b64_json(header, PAYMENT_RESPONSE_HEADER)
            return str(document.get("errorReason") or "unknown")
        except MalformedPaymentMessage:
            return "unreadable settlement response"
    try:
        return str(response.json().get("error") or "unknown")
    except ValueError:
        return "unknown"
