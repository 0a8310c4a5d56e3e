"""The signer's figures for operators: signatures made and requests denied.

Counted where the answers leave the servicer (OpenTelemetry's global meter;
anima_core.otel installs a provider when asked). Attributes are fixed codes
only, the reason of a refusal, never a request's fields, so nothing about what
was asked of the enclave leaves it in a metric.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import metrics

from anima_signer_api.errors import SignerError
from anima_signer_api.types import SignResult
from anima_verify.errors import ErrorKind

__all__ = ["count_outcome"]

_meter: Final = metrics.get_meter("anima_signer")
_signatures: Final = _meter.create_counter(
    "anima.signer.signatures", unit="{signature}", description="Signatures made (each logged)"
)
_denials: Final = _meter.create_counter(
    "anima.signer.denials",
    unit="{request}",
    description="Signing requests refused by policy or permission, by reason",
)


def count_outcome(outcome: SignResult | BaseException) -> None:
    """Count one signing request's answer: a signature, a denial, or neither."""
    if isinstance(outcome, SignResult):
        _signatures.add(1)
    elif isinstance(outcome, SignerError) and outcome.kind is ErrorKind.PERMISSION_DENIED:
        _denials.add(1, {"reason": outcome.reason})
