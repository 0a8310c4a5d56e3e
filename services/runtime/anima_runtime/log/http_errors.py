"""The log API's error shape and the route class that answers every failure in it.

Errors are `{"error": {"code", "message", "reason"}}` with the status from the one
table (anima_core.errors) and the error's stable reason (LOG_LOCKED, TILE_NOT_FOUND,
...); unexpected failures are logged and answered 500 "internal error", never with a
trace. The runtime's agent API (api/http.py) answers in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from anima_core.errors import http_status_for
from anima_verify.errors import AnimaError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP-level refusal with its own status (401, 403, 410, 429, ...): not a domain
    error, so it has no kind; its reason is its code in capitals (RATE_LIMITED)."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(
    status: int,
    code: str,
    message: str,
    *,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The error shape of the runtime's HTTP APIs: `{"error": {"code", "message", "reason"}}`.
    `reason` is a domain error's (AnimaError.reason); by default the code in capitals."""
    extra = dict(headers or {})
    if status == 401:
        extra["WWW-Authenticate"] = "Bearer"
    body = {"code": code, "message": message, "reason": reason or code.upper()}
    return JSONResponse({"error": body}, status_code=status, headers=extra or None)


def domain_error_body(exc: AnimaError, where: str) -> JSONResponse:
    """A domain error's status from the one table, with its kind as code and its reason;
    a 500 is logged and answered "internal error" (its message may name internals)."""
    status = http_status_for(exc)
    if status == 500:
        logger.error("%s failed: %s", where, exc.message)
        return error_body(500, "internal", "internal error")
    return error_body(status, exc.kind.value, exc.message, reason=exc.reason)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(x) for x in error.get("loc", ())]
        where = f"{loc[0]} parameter {'.'.join(loc[1:])!r}" if len(loc) > 1 else ".".join(loc)
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class LogApiRoute(APIRoute):
    """Maps every failure of a route to the JSON error shape, wherever the router is mounted."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return error_body(400, "invalid_argument", _validation_message(exc))
            except ApiError as exc:
                return error_body(exc.status, exc.code, exc.message, headers=exc.headers)
            except AnimaError as exc:
                return domain_error_body(exc, f"log API {request.url.path}")
            except Exception:
                logger.exception("log API %s failed", request.url.path)
                return error_body(500, "internal", "internal error")

        return route


class ErrorBody(BaseModel):
    code: str
    message: str
    #: Stable and machine-readable (UPPER_SNAKE): a domain error's reason, else the code's.
    reason: str


class ErrorResponse(BaseModel):
    error: ErrorBody


__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorResponse",
    "LogApiRoute",
    "domain_error_body",
    "error_body",
]
