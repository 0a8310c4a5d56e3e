"""Bearer tokens as Anima configures them: SHA-256 digests, never tokens.

Apart from anima_core.auth (the gRPC interceptor) so that configuration
models and HTTP routes can check a digest or a header without importing gRPC.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final, TypeVar

__all__ = ["caller_for_header", "is_token_digest", "token_digest"]

_SCHEME: Final = "bearer "
T = TypeVar("T")


def token_digest(token: str) -> str:
    """The lowercase SHA-256 hex digest of `token`, as the `callers` config stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_token_digest(value: str) -> bool:
    """Whether `value` has the form token_digest gives: 64 lowercase hex digits."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def checked_callers(callers: dict[str, str], roles: Sequence[str]) -> dict[str, str]:
    """A `callers` config (role -> token digest), checked: known roles, digests of
    the token_digest form, no token shared by two roles. ValueError says what is wrong."""
    for name, digest in callers.items():
        if name not in roles:
            raise ValueError(f"callers: unknown role {name!r}; roles: {', '.join(roles)}")
        if not is_token_digest(digest):
            raise ValueError(f"callers.{name} must be a lowercase SHA-256 hex digest")
    if len(set(callers.values())) != len(callers):
        raise ValueError("callers: two roles share one token digest")
    return callers


def caller_for_header(header: str, callers: Sequence[tuple[str, T]]) -> T | None:
    """The caller whose token digest matches an `Authorization: Bearer` header.

    Every digest is compared, without stopping early: how long this takes says
    nothing about which digest, if any, matched.
    """
    if header[: len(_SCHEME)].lower() != _SCHEME:
        return None
    token = header[len(_SCHEME) :].strip()
    if not token:
        return None
    digest = token_digest(token).encode()
    found = None
    for known, caller in callers:
        if hmac.compare_digest(digest, known.encode()):
            found = caller
    return found
