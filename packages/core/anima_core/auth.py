"""Caller authentication by bearer token, and per-method access lists.

Config holds SHA-256 digests of tokens, never tokens, so a leaked config file
or log line gives nothing to replay. Every method is denied unless it is in
the access list or declared public (deny by default); health and reflection
are always public because probes and tooling carry no token.

Handlers learn who called through `current_caller()`. grpc.aio runs each RPC's
interceptors and handler in one fresh contextvars.Context, so the value set
here is seen by exactly that call and needs no reset. Public methods skip
authentication: inside them `current_caller()` is None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

import grpc

from anima_core.config import ConfigError
from anima_core.interceptors import Continuation, ServerInterceptor, refusal

# Re-exported: the digest helpers live apart, so configs need no gRPC to check a digest.
from anima_core.tokens import caller_for_header, is_token_digest, token_digest

if TYPE_CHECKING:
    from anima_core.interceptors import Handler

__all__ = [
    "TokenAuthInterceptor",
    "bearer_metadata",
    "caller_for_header",
    "current_caller",
    "is_token_digest",
    "token_digest",
]

_ALWAYS_PUBLIC_SERVICES: Final = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_METHOD: Final = re.compile(r"/[^/\s]+/[^/\s]+")

_caller: ContextVar[str | None] = ContextVar("anima_caller", default=None)


def current_caller() -> str | None:
    """The authenticated caller of the RPC being handled; None in public methods."""
    return _caller.get()


def bearer_metadata(token: str) -> tuple[tuple[str, str]]:
    """Call metadata that presents `token`: pass as `metadata=` on a stub call."""
    return (("authorization", f"Bearer {token}"),)


class TokenAuthInterceptor(ServerInterceptor):
    """Authenticates the bearer token, then checks the method's access list.

    Missing, malformed or unknown token → UNAUTHENTICATED (checked first, so an
    unauthenticated caller learns nothing about which methods exist). A known
    caller outside the method's list, or a method with no list → PERMISSION_DENIED.

    Inconsistent configuration (a digest that is not SHA-256 hex, an access
    list naming a caller that has no token, a malformed method name) raises
    ConfigError at construction: a typo must not silently lock out or let in.
    """

    def __init__(
        self,
        *,
        callers: Mapping[str, str],
        acl: Mapping[str, frozenset[str]],
        public_methods: frozenset[str] = frozenset(),
    ) -> None:
        for digest in callers:
            if not _DIGEST.fullmatch(digest):
                raise ConfigError(
                    f"caller {callers[digest]!r}: token digest must be 64 lowercase hex "
                    "characters (SHA-256, see token_digest)"
                )
        known = set(callers.values())
        for method, allowed in (*acl.items(), *((m, frozenset[str]()) for m in public_methods)):
            if not _METHOD.fullmatch(method):
                raise ConfigError(
                    f"method name {method!r} is not of the form /package.Service/Method"
                )
            unknown = sorted(allowed - known)
            if unknown:
                raise ConfigError(f"access list of {method} names unknown callers {unknown}")
        self._callers = tuple(callers.items())
        self._acl = {method: frozenset(allowed) for method, allowed in acl.items()}
        self._public = frozenset(public_methods)

    @classmethod
    def for_roles(
        cls,
        tokens: Mapping[str, str],
        acl: Mapping[str, frozenset[str]],
        *,
        public_methods: frozenset[str] = frozenset(),
    ) -> TokenAuthInterceptor:
        """From a service's config (role name -> token digest) and its full access list.

        A deployment may configure only some roles (say, runtime alone): the
        access lists are cut to the configured ones.
        """
        configured = frozenset(tokens)
        return cls(
            callers={digest: name for name, digest in tokens.items()},
            acl={method: allowed & configured for method, allowed in acl.items()},
            public_methods=public_methods,
        )

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        method = handler_call_details.method
        if method in self._public or method.startswith(_ALWAYS_PUBLIC_SERVICES):
            return await continuation(handler_call_details)
        caller = self._authenticate(handler_call_details.invocation_metadata)
        if caller is None:
            return refusal(grpc.StatusCode.UNAUTHENTICATED, "missing or unknown bearer token")
        if caller not in self._acl.get(method, ()):
            return refusal(
                grpc.StatusCode.PERMISSION_DENIED, f"caller {caller!r} may not call {method}"
            )
        _caller.set(caller)
        return await continuation(handler_call_details)

    def _authenticate(self, metadata: Any) -> str | None:
        values = [value for key, value in metadata or () if key == "authorization"]
        if len(values) != 1 or not isinstance(values[0], str):
            return None  # absent, or ambiguous
        return caller_for_header(values[0], self._callers)
