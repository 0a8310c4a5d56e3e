"""The log query API (FastAPI): a router under /v1/logs/{agent_id} and an app factory.

`/v1/logs/{agent_id}` is a C2SP tlog-tiles URL prefix (`checkpoint`,
`tile/...`), so any tiled-log client, `anima log verify` included, reads the
log from here. Around it: entry pages and filters, payloads (and their
redaction), inclusion and consistency proofs, and the log key's attestation.

The log is public by default; payloads (the private data entries commit to)
need the read token unless configured public, and attestation, which costs
the enclave a TEE quote, is rate-limited (log/config.py).

Routes stay thin: they authenticate, parse, call the transport-free reads
(log/reads.py, which the runtime's gRPC API calls too) and shape JSON. Errors
are `{"error": {"code", "message", "reason"}}` (log/http_errors.py); who may
call what is log/http_auth.py. The reads run off the event loop; the tile route
is a plain `def`, so FastAPI runs it in a worker thread.
"""

from __future__ import annotations

import base64
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from anima_runtime.log import queries
from anima_runtime.log.config import LogApiConfig
from anima_runtime.log.errors import PayloadRedacted, TileNotFound
from anima_runtime.log.explorer import mount_explorer
from anima_runtime.log.http_auth import payload_auth, reader_auth, redaction_auth
from anima_runtime.log.http_errors import ApiError, ErrorResponse, LogApiRoute, error_body
from anima_runtime.log.ratelimit import TokenBucket
from anima_runtime.log.reads import MAX_INT, MAX_TERM_CHARS, LogReads
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.sequencer import AttestationFetcher
from anima_runtime.log.tiles_store import parse_tile_path
from anima_runtime_api.types import EntryFilter, EntryView
from anima_signer_api.errors import SignerError
from anima_verify.attestation.evidence import MAX_NONCE_SIZE, MIN_NONCE_SIZE
from anima_verify.tlog.entry import EntryKind

logger = logging.getLogger(__name__)

_IMMUTABLE = "public, max-age=31536000, immutable"


# ---------------------------------------------------------------- response models


class EntryOut(BaseModel):
    index: int
    time_ms: int
    kind: str
    actor: str
    room: str
    payload_sha256: str  # hex
    payload_size: int
    payload_redacted: bool
    leaf_hash: str  # base64
    entry: str  # base64 of the canonical encoded entry


class EntriesPage(BaseModel):
    size: int  # the checkpoint size the page was read against
    entries: list[EntryOut]


class SearchPage(BaseModel):
    size: int
    entries: list[EntryOut]
    next_after: int | None  # pass as `after` for the next page; null when done


class InclusionOut(BaseModel):
    index: int
    size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    proof: list[str]


class RedactionOut(BaseModel):
    index: int
    redacted: bool  # false if it had been redacted before


class AttestationOut(BaseModel):
    agent_id: str
    log_verifier_key: str
    nonce: str  # hex, as sent
    tee: str
    quote: str  # base64
    collateral_json: str | None  # base64
    tls_public_key: str  # base64 DER; empty when the signer runs in-process
    bound_keys: str  # base64 of the canonical JSON the report data binds


def _json(model: BaseModel) -> Response:
    """The model as JSON; `response_model` on the route documents it (and FastAPI
    does not validate it a second time)."""
    return Response(model.model_dump_json(), media_type="application/json")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _entry_out(view: EntryView) -> EntryOut:
    e = view.entry
    return EntryOut(
        index=e.index,
        time_ms=e.time_ms,
        kind=e.kind.value,
        actor=e.actor,
        room=e.room,
        payload_sha256=e.payload_sha256.hex(),
        payload_size=e.payload_size,
        payload_redacted=view.redacted,
        leaf_hash=_b64(view.leaf_hash),
        entry=_b64(view.encoded),
    )


# ---------------------------------------------------------------- routes

AgentId = Annotated[str, Path(description="the agent's id", max_length=64)]
EntryIndexPath = Annotated[int, Path(description="the entry's index", ge=0, le=MAX_INT)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 410, 429, 500, 503)
}


def log_router(
    reads: LogReads,
    *,
    config: LogApiConfig | None = None,
    attestation: AttestationFetcher | None = None,
) -> APIRouter:
    """The log routes under /v1/logs/{agent_id} over `reads`; mount with
    `app.include_router`."""
    config = config or LogApiConfig()
    quotes = TokenBucket(rate=config.attestation_per_second, burst=config.attestation_burst)
    router = APIRouter(
        prefix="/v1/logs/{agent_id}",
        tags=["log"],
        route_class=LogApiRoute,
        responses=_ERRORS,
    )
    readers = [Depends(reader_auth(config))]

    @router.get(
        "/checkpoint",
        dependencies=readers,
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "the signed note"}},
        summary="The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)",
    )
    async def checkpoint(agent_id: AgentId) -> Response:
        note = await reads.checkpoint(agent_id)
        return Response(note, media_type="text/plain; charset=utf-8", headers=_no_cache())

    @router.get(
        "/tile/{path:path}",
        dependencies=readers,
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
        summary="A hash tile or entry bundle (C2SP tlog-tiles), within the latest checkpoint",
    )
    def tile(agent_id: AgentId, path: str) -> Response:
        log = reads.log(agent_id)
        ref = parse_tile_path(f"tile/{path}")
        if ref is None:
            raise TileNotFound(f"tile/{path} is not a tlog-tiles path")
        data = log.tile_source().read_tile(ref)
        if data is None:
            raise TileNotFound(f"tile/{path} is beyond the log's checkpoint (size {log.size})")
        return Response(
            data, media_type="application/octet-stream", headers={"Cache-Control": _IMMUTABLE}
        )

    @router.get(
        "/entries",
        dependencies=readers,
        response_model=EntriesPage,
        summary="Entries [start, end) of the published log; end is clamped to its size",
    )
    async def entries(
        agent_id: AgentId,
        start: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
        end: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    ) -> Response:
        page = await reads.entries(agent_id, start, end)
        return _json(EntriesPage(size=page.size, entries=[_entry_out(v) for v in page.entries]))

    @router.get(
        "/entries/search",
        dependencies=readers,
        response_model=SearchPage,
        summary="Entries matching room, kind, actor and a time range [since_ms, until_ms)",
    )
    async def search(
        agent_id: AgentId,
        room: Annotated[str | None, Query(max_length=MAX_TERM_CHARS)] = None,
        kind: EntryKind | None = None,
        actor: Annotated[str | None, Query(max_length=MAX_TERM_CHARS)] = None,
        since_ms: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
        until_ms: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
        after: Annotated[int, Query(ge=-1, le=MAX_INT, description="index to continue after")] = -1,
        limit: Annotated[int, Query(ge=1, le=MAX_INT)] = queries.DEFAULT_PAGE,
    ) -> Response:
        terms = EntryFilter(room=room, kind=kind, actor=actor, since_ms=since_ms, until_ms=until_ms)
        page = await reads.search(agent_id, terms, after=after, limit=limit)
        entries = [_entry_out(v) for v in page.entries]
        return _json(SearchPage(size=page.size, entries=entries, next_after=page.next_after))

    @router.get(
        "/entries/{index}/payload",
        dependencies=[Depends(payload_auth(config))],
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
        summary="The payload an entry commits to (410 once redacted); private unless "
        "configured public",
    )
    async def payload(agent_id: AgentId, index: EntryIndexPath) -> Response:
        try:
            data = await reads.payload(agent_id, index)
        except PayloadRedacted as exc:
            raise ApiError(410, "redacted", exc.message) from exc
        return Response(data, media_type="application/octet-stream")

    @router.delete(
        "/entries/{index}/payload",
        dependencies=[Depends(redaction_auth(config))],
        response_model=RedactionOut,
        summary="Redact (delete) an entry's payload; the entry and all proofs stay valid",
    )
    async def redact(agent_id: AgentId, index: EntryIndexPath) -> Response:
        return _json(RedactionOut(index=index, redacted=await reads.redact(agent_id, index)))

    @router.get(
        "/proof/inclusion",
        dependencies=readers,
        response_model=InclusionOut,
        summary="RFC 9162 inclusion proof of entry `index` in the tree of `size`",
    )
    async def inclusion(
        agent_id: AgentId,
        index: Annotated[int, Query(ge=0, le=MAX_INT)],
        size: Annotated[
            int | None, Query(ge=1, le=MAX_INT, description="default: the checkpoint's")
        ] = None,
    ) -> Response:
        proof = await reads.inclusion(agent_id, index, size)
        return _json(
            InclusionOut(
                index=proof.index,
                size=proof.size,
                leaf_hash=_b64(proof.leaf_hash),
                proof=[_b64(h) for h in proof.proof],
            )
        )

    @router.get(
        "/proof/consistency",
        dependencies=readers,
        response_model=ConsistencyOut,
        summary="RFC 9162 consistency proof between the trees of `first` and `second`",
    )
    async def consistency(
        agent_id: AgentId,
        first: Annotated[
            int,
            Query(ge=1, le=MAX_INT, description="at least 1: no proof exists from the empty tree"),
        ],
        second: Annotated[
            int | None, Query(ge=0, le=MAX_INT, description="default: the checkpoint's")
        ] = None,
    ) -> Response:
        proof = await reads.consistency(agent_id, first, second)
        return _json(
            ConsistencyOut(
                first=proof.first, second=proof.second, proof=[_b64(h) for h in proof.proof]
            )
        )

    @router.get(
        "/attestation",
        dependencies=readers,
        response_model=AttestationOut,
        summary="Fresh TEE evidence binding the agent's log key (and its other keys) to `nonce`",
    )
    async def attest(
        agent_id: AgentId,
        nonce: Annotated[str, Query(description=f"{MIN_NONCE_SIZE}-{MAX_NONCE_SIZE} bytes, hex")],
    ) -> Response:
        log = reads.log(agent_id)
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            raise ApiError(400, "invalid_argument", "nonce must be hex") from None
        if not MIN_NONCE_SIZE <= len(raw) <= MAX_NONCE_SIZE:
            raise ApiError(
                400,
                "invalid_argument",
                f"nonce must be {MIN_NONCE_SIZE} to {MAX_NONCE_SIZE} bytes, got {len(raw)}",
            )
        if attestation is None:
            raise ApiError(503, "unavailable", "attestation is not configured on this host")
        wait_s = quotes.take()
        if wait_s:
            raise ApiError(
                429,
                "resource_exhausted",
                f"attestation is limited to {config.attestation_per_second:g} a second "
                f"(bursts of {config.attestation_burst}); retry in {wait_s:.1f} s",
                headers={"Retry-After": str(math.ceil(wait_s))},
            )
        try:
            bundle = await attestation(agent_id, raw)
        except (SignerError, OSError) as exc:  # what the signer said stays in the host's log
            logger.warning("attestation for %s failed: %s", agent_id, exc)
            raise ApiError(503, "unavailable", "the signer could not attest") from exc
        return _json(
            AttestationOut(
                agent_id=agent_id,
                log_verifier_key=str(log.verifier),
                nonce=raw.hex(),
                tee=bundle.tee,
                quote=_b64(bundle.quote),
                collateral_json=None
                if bundle.collateral_json is None
                else _b64(bundle.collateral_json),
                tls_public_key=_b64(bundle.tls_public_key),
                bound_keys=_b64(bundle.bound_keys),
            )
        )

    return router


def _no_cache() -> dict[str, str]:
    return {"Cache-Control": "no-cache"}


def create_log_app(
    registry: LogRegistry,
    *,
    config: LogApiConfig | None = None,
    attestation: AttestationFetcher | None = None,
) -> FastAPI:
    """A FastAPI app serving only the log API (OpenAPI at /openapi.json)."""
    config = config or LogApiConfig()
    app = FastAPI(
        title="Anima verifiable log",
        version="1",
        description=__doc__,
        docs_url=None,  # the docs pages load scripts from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    reads = LogReads(registry, max_page=config.max_page_entries)
    app.include_router(log_router(reads, config=config, attestation=attestation))
    if config.explorer:
        mount_explorer(app)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Paths and methods outside the router: the same error shape as the routes.
        return error_body(
            exc.status_code, "not_found" if exc.status_code == 404 else "error", str(exc.detail)
        )

    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET"],
            allow_headers=["Authorization"],
        )
    return app


__all__ = ["create_log_app", "log_router"]
