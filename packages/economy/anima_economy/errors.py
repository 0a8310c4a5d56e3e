"""Why a payment, registration or validation was refused. Messages are shown to the
model and the operator: they say what was wrong, never carry a signature or key."""

from __future__ import annotations

from typing import ClassVar

from anima_verify.errors import AnimaError, ErrorKind


class EconomyError(AnimaError):
    kind: ClassVar[ErrorKind] = ErrorKind.FAILED_PRECONDITION
    reason: ClassVar[str] = "ECONOMY_REFUSED"


class PaymentRefused(EconomyError):
    """The agent did not pay: the 402 asked for something outside what it accepts, or the
    enclave's policy refused the authorization."""

    reason = "PAYMENT_REFUSED"


class MalformedPaymentMessage(EconomyError):
    """An x402 header or body that does not parse as the protocol says."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_PAYMENT_MESSAGE"


class SettlementNotProven(EconomyError):
    """The seller's facilitator claimed a settlement the chain does not show."""

    reason = "SETTLEMENT_NOT_PROVEN"


class AuthorizationInvalid(EconomyError):
    """An EIP-3009 authorization a facilitator will not settle (bad signature, expired,
    not yet valid, used nonce, or not what the requirements ask)."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "AUTHORIZATION_INVALID"


class RegistrationMismatch(EconomyError):
    """A registration file whose hash is not the one on chain, or that does not parse."""

    reason = "REGISTRATION_MISMATCH"


class ValidationRejected(EconomyError):
    """A validation that does not hold: attestation, keys, or the agent it names."""

    reason = "VALIDATION_REJECTED"


class SigningRefused(EconomyError):
    """The enclave refused to sign an ERC-8004 action (its policy or its state)."""

    reason = "SIGNING_REFUSED"
