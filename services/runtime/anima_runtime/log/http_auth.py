"""Who may call the log API: the bearer-token checks its routes depend on.

Reads are public unless configured otherwise; payloads need the read (or the
redaction) token unless configured public; redaction needs the redaction token and
is refused outright where none is configured (log/config.py).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from anima_core.tokens import caller_for_header
from anima_runtime.log.config import LogApiConfig
from anima_runtime.log.http_errors import ApiError


def _matches(request: Request, digests: list[str]) -> bool:
    header = request.headers.get("authorization", "")
    return caller_for_header(header, [(digest, True) for digest in digests]) is not None


def _reader_digests(config: LogApiConfig) -> list[str]:
    return [d for d in (config.read_token_sha256, config.redaction_token_sha256) if d]


def reader_auth(config: LogApiConfig) -> Callable[[Request], None]:
    digests = _reader_digests(config)

    def check(request: Request) -> None:
        if not config.public_reads and not _matches(request, digests):
            raise ApiError(401, "unauthenticated", "this log API needs a bearer token to read")

    return check


def payload_auth(config: LogApiConfig) -> Callable[[Request], None]:
    digests = _reader_digests(config)

    def check(request: Request) -> None:
        if config.public_reads and config.public_payloads:
            return
        if not digests:
            raise ApiError(
                403,
                "permission_denied",
                "payloads are private on this host and no read token is configured",
            )
        if not _matches(request, digests):
            raise ApiError(401, "unauthenticated", "payloads are private: a read token is needed")

    return check


def redaction_auth(config: LogApiConfig) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        if config.redaction_token_sha256 is None:
            raise ApiError(403, "permission_denied", "redaction is disabled on this host")
        if not _matches(request, [config.redaction_token_sha256]):
            raise ApiError(401, "unauthenticated", "redaction needs the redaction bearer token")

    return check


__all__ = ["payload_auth", "reader_auth", "redaction_auth"]
