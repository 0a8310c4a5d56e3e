"""The runtime's HTTP API (FastAPI): agents under /v1/agents, their logs under /v1/logs.

    POST /v1/agents                          create (and start) an agent from a character
    GET  /v1/agents                          list them
    GET  /v1/agents/{id}                     one agent: state, wallets, log key, model
    POST /v1/agents/{id}/start | /stop       lifecycle (stop keeps every piece of data)
    POST /v1/agents/{id}/messages            one turn; every step with its log index
    GET  /v1/agents/{id}/rooms/{room}/memories   a room's latest memories

The routes are thin: they authenticate, parse and shape JSON around the transport-free
handler (anima_runtime/handler.py) that the gRPC RuntimeService calls too.

Every /v1/agents route needs `Authorization: Bearer <token>` whose SHA-256 is
configured (401 otherwise, checked before the body is parsed). The log routes
(log/http.py) follow the log's own configuration: reads public unless closed.

Statuses: the one table (anima_core.errors) maps domain errors by kind, as for
the log API, and a few classes have their own: 400 bad input naming the field,
404 unknown agent, 409 an id that exists or an agent that is stopped
(`agent_stopped`: start it first), 413 a body over `limits.max_body_bytes`
(refused before it is read), 502 the language model or a backing service
failed, 503 the signer or memory service is unreachable. A body that cannot be
parsed (not UTF-8, an integer of thousands of digits) or is JSON nested deeper
than MAX_BODY_DEPTH is 400, the depth checked before FastAPI decodes it (the C
decoder would overflow the stack). Errors are
`{"error": {"code", "message", "reason"}}`, `reason` the error's stable name
(AGENT_NOT_FOUND, AGENT_STOPPED, ...); unexpected failures are logged and
answered 500 "internal error".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anima_core.tokens import caller_for_header
from anima_runtime.api.schemas import (
    AgentList,
    AgentOut,
    CreateAgentIn,
    MemoriesOut,
    MemoryOut,
    MessageIn,
    TurnOut,
)
from anima_runtime.config import RuntimeConfig
from anima_runtime.errors import (
    BACKING_SERVICE_ERRORS,
    AgentStopped,
    BackingServiceFailed,
    ModelFailed,
    backing_service_error,
)
from anima_runtime.handler import (
    DEFAULT_MEMORIES,
    MAX_AGENT_ID_CHARS,
    MAX_MEMORIES,
    MAX_ROOM_ID_CHARS,
    RuntimeHandler,
)
from anima_runtime.log.explorer import mount_explorer
from anima_runtime.log.http import log_router
from anima_runtime.log.http_errors import ApiError, ErrorResponse, domain_error_body, error_body
from anima_runtime.log.sequencer import AttestationFetcher
from anima_runtime.x402_sell import AgentSale, AgentX402Middleware
from anima_verify import jsonsafe
from anima_verify.errors import AnimaError

logger = logging.getLogger(__name__)

#: Errors with a status, code and message prefix of their own; every other AnimaError
#: goes by its kind (the one table) with the kind as its code.
_SPECIAL: Final[dict[type[AnimaError], tuple[int, str, str]]] = {
    ModelFailed: (502, "model_failed", "the agent's language model failed: "),
    AgentStopped: (409, "agent_stopped", ""),
    BackingServiceFailed: (502, "bad_gateway", ""),
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 413, 500, 502, 503)
}
#: The deepest JSON body accepted: a character (at most jsonsafe.MAX_DEPTH deep, as the
#: character loader allows) inside the body's object.
MAX_BODY_DEPTH: Final = jsonsafe.MAX_DEPTH + 1
#: Codes for the statuses FastAPI and Starlette raise themselves; any other is "error".
_HTTP_CODES: Final = {400: "invalid_argument", 404: "not_found"}


def error_response(status: int, code: str, message: str, reason: str | None = None) -> JSONResponse:
    """The API's error shape (log.http_errors.error_body); `reason` defaults to the code's."""
    return error_body(status, code, message, reason=reason)


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    """An HTTPException (FastAPI's "There was an error parsing the body", an unknown path)
    in the API's error shape, with its own status."""
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail))


def _domain_error(exc: AnimaError, where: str) -> JSONResponse:
    """The response for a domain error: a backing service's failure (502, or 503 when
    it is unavailable), one of _SPECIAL, or by its kind."""
    if isinstance(exc, BACKING_SERVICE_ERRORS):
        logger.warning("%s: backing service %s: %s", where, exc.reason, exc.message)
        exc = backing_service_error(exc)
    for cls in type(exc).__mro__:
        if cls in _SPECIAL:
            status, code, prefix = _SPECIAL[cls]
            return error_response(status, code, prefix + exc.message, exc.reason)
    return domain_error_body(exc, where)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(x) for x in error.get("loc", ())]
        if error.get("type") == "json_invalid":
            parts.append(f"body is not JSON: {error.get('ctx', {}).get('error', 'invalid')}")
            continue
        where = f"{loc[0]} field {'.'.join(loc[1:])!r}" if len(loc) > 1 else ".".join(loc)
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _route_class(token_digests: tuple[str, ...]) -> type[APIRoute]:
    callers = [(digest, True) for digest in token_digests]

    class AgentApiRoute(APIRoute):
        """Authenticates, then maps every failure of the route to the JSON error shape."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                header = request.headers.get("authorization", "")
                if caller_for_header(header, callers) is None:
                    return error_response(401, "unauthenticated", "a valid bearer token is needed")
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return error_response(400, "invalid_argument", _validation_message(exc))
                except StarletteHTTPException as exc:  # e.g. a body FastAPI cannot parse
                    return http_error_response(exc)
                except ApiError as exc:
                    return error_response(exc.status, exc.code, exc.message)
                except AnimaError as exc:
                    return _domain_error(exc, f"runtime API {request.url.path}")
                except Exception:
                    logger.exception("runtime API %s failed", request.url.path)
                    return error_response(500, "internal", "internal error")

            return route

    return AgentApiRoute


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


AgentIdPath = Annotated[str, Path(description="the agent's id", max_length=MAX_AGENT_ID_CHARS)]
RoomIdPath = Annotated[str, Path(description="the room's id", max_length=MAX_ROOM_ID_CHARS)]


def agents_router(handler: RuntimeHandler, config: RuntimeConfig) -> APIRouter:
    """The agent routes under /v1/agents, every one behind a bearer token."""
    router = APIRouter(
        prefix="/v1/agents",
        tags=["agents"],
        route_class=_route_class(config.api_token_sha256s),
        responses=_ERRORS,
        # Documents the scheme in OpenAPI; the route class enforces it.
        dependencies=[Security(HTTPBearer(auto_error=False))],
    )

    @router.post("", status_code=201, response_model=AgentOut, summary="Create an agent")
    async def create(body: CreateAgentIn) -> Response:
        view = await handler.create_agent(body.character, agent_id=body.agent_id, start=body.start)
        return _json(AgentOut.of(view), 201)

    @router.get("", response_model=AgentList, summary="The agents on this runtime")
    async def list_agents() -> Response:
        return _json(AgentList(agents=[AgentOut.of(v) for v in handler.list_agents()]))

    @router.get("/{agent_id}", response_model=AgentOut, summary="One agent")
    async def get(agent_id: AgentIdPath) -> Response:
        return _json(AgentOut.of(handler.get_agent(agent_id)))

    @router.post("/{agent_id}/start", response_model=AgentOut, summary="Start a stopped agent")
    async def start(agent_id: AgentIdPath) -> Response:
        return _json(AgentOut.of(await handler.start_agent(agent_id)))

    @router.post(
        "/{agent_id}/stop", response_model=AgentOut, summary="Stop an agent (its data stays)"
    )
    async def stop(agent_id: AgentIdPath) -> Response:
        return _json(AgentOut.of(await handler.stop_agent(agent_id)))

    @router.post(
        "/{agent_id}/messages",
        response_model=TurnOut,
        summary="Say something to the agent in a room; its answer, actions and evaluations",
    )
    async def message(agent_id: AgentIdPath, body: MessageIn) -> Response:
        turn = await handler.send_message(
            agent_id,
            room_id=body.room_id,
            text=body.text,
            entity_id=body.entity_id,
            user_name=body.user_name,
        )
        return _json(TurnOut.of(turn))

    @router.get(
        "/{agent_id}/rooms/{room_id}/memories",
        response_model=MemoriesOut,
        summary="The room's latest memories (every table), oldest first",
    )
    async def memories(
        agent_id: AgentIdPath,
        room_id: RoomIdPath,
        limit: Annotated[int, Query(ge=1, le=MAX_MEMORIES)] = DEFAULT_MEMORIES,
    ) -> Response:
        found = await handler.room_memories(agent_id, room_id, limit)
        return _json(
            MemoriesOut(
                agent_id=agent_id, room_id=room_id, memories=[MemoryOut.of(m) for m in found]
            )
        )

    return router


class BodyLimit:
    """Refuses a request body over `max_bytes` with 413 before the app parses it: by its
    Content-Length when given, else while reading it (never holding more than that). Then
    refuses JSON nested deeper than `max_depth` with 400, before FastAPI decodes it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int = MAX_BODY_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_response(
            413, "payload_too_large", f"the request body is larger than {self.max_bytes} bytes"
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await error_response(400, "invalid_argument", "bad Content-Length")(
                    scope, receive, send
                )
                return
            if int(declared) > self.max_bytes:
                await too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # Any body, whatever its content type says: FastAPI decodes one without a type too.
        if jsonsafe.depth(body) > self.max_depth:
            too_deep = error_response(
                400,
                "invalid_argument",
                f"the request body is JSON nested more than {self.max_depth} levels deep",
            )
            await too_deep(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def create_runtime_app(
    handler: RuntimeHandler,
    config: RuntimeConfig,
    *,
    attestation: AttestationFetcher | None = None,
    x402_sale: AgentSale | None = None,
) -> FastAPI:
    """The runtime's HTTP API over `handler` (OpenAPI at /openapi.json; no docs pages,
    which would load scripts from a CDN). The gRPC API serves the same handler."""
    app = FastAPI(
        title="Anima agent runtime",
        version="1",
        description=__doc__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.include_router(agents_router(handler, config))
    app.include_router(log_router(handler.logs, config=config.log.api, attestation=attestation))
    if config.log.api.explorer:
        mount_explorer(app)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Paths and methods outside the routers: the same error shape as the routes.
        return http_error_response(exc)

    if x402_sale is not None:  # inside BodyLimit: an oversized body is refused before paying
        app.add_middleware(
            AgentX402Middleware,
            prices=x402_sale.prices,
            wallet_of=x402_sale.wallet_of,
            domain=x402_sale.domain,
            facilitator=x402_sale.facilitator,
        )
    app.add_middleware(BodyLimit, max_bytes=config.limits.max_body_bytes)
    origins = list(dict.fromkeys((*config.cors_origins, *config.log.api.cors_origins)))
    if origins:  # added last: outermost, so preflight requests need no token
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


__all__ = [
    "MAX_BODY_DEPTH",
    "BodyLimit",
    "agents_router",
    "create_runtime_app",
    "error_response",
    "http_error_response",
]
