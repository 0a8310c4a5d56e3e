"""The witness over HTTP (C2SP tlog-witness), a thin adapter over core.Witness.

POST /add-checkpoint             the protocol's one write: cosignature lines, or a
                                 refusal with its status (409 carries the witness's
                                 latest size as text/x.tlog.size)
GET  /<sha256(origin)>/checkpoint  the latest cosigned checkpoint (monitoring)
POST /anima/v1/logs              Anima's addition: register a log's verifier key;
                                 bearer token of a configured registrar
GET  /healthz                    200 once serving
"""

from __future__ import annotations

import asyncio
import hashlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from anima_core.tokens import caller_for_header
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.witness_protocol import (
    ADD_CHECKPOINT_PATH,
    MAX_REQUEST_BYTES,
    SIZE_CONTENT_TYPE,
    size_body,
)
from anima_witness.core import Witness
from anima_witness.errors import OldSizeConflict, WitnessError
from anima_witness.store import WitnessStore

LOGS_PATH = "/anima/v1/logs"
_MAX_KEY_BYTES = 4096


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past `limit` before more is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(exc: WitnessError) -> Response:
    if isinstance(exc, OldSizeConflict):
        return Response(size_body(exc.latest_size), 409, media_type=SIZE_CONTENT_TYPE)
    return PlainTextResponse(exc.message + "\n", exc.http_status)


def build_app(*, witness: Witness, store: WitnessStore, registrars: dict[str, str]) -> Starlette:
    registrar_digests = [(digest, name) for name, digest in registrars.items()]

    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _read_body(request, MAX_REQUEST_BYTES)
        except _TooLarge:
            return PlainTextResponse("the request is too large\n", 413)
        try:
            # A durable commit (an fsync) per cosignature: off the event loop.
            lines = await asyncio.to_thread(witness.add_checkpoint, body)
        except WitnessError as exc:
            return _refusal(exc)
        return Response(lines, 200, media_type="text/plain; charset=utf-8")

    async def checkpoint(request: Request) -> Response:
        wanted = request.path_params["origin_hash"]
        for origin in await asyncio.to_thread(store.origins):
            if hashlib.sha256(origin.encode()).hexdigest() == wanted:
                note = await asyncio.to_thread(witness.checkpoint, origin)
                if note is not None:
                    return Response(note, 200, media_type="text/plain; charset=utf-8")
        return PlainTextResponse("this witness has cosigned no checkpoint of that log\n", 404)

    async def add_log(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if caller_for_header(header, registrar_digests) is None:
            return PlainTextResponse("a registrar's bearer token is required\n", 401)
        try:
            body = await _read_body(request, _MAX_KEY_BYTES)
        except _TooLarge:
            return PlainTextResponse("a verifier key is short\n", 413)
        try:
            added = await asyncio.to_thread(store.add_log, body.decode("utf-8", "replace"))
        except WitnessError as exc:
            return _refusal(exc)
        except LogVerificationError as exc:
            return PlainTextResponse(exc.message + "\n", 400)
        return PlainTextResponse("added\n" if added else "known\n", 201 if added else 200)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(
        routes=[
            Route(ADD_CHECKPOINT_PATH, add_checkpoint, methods=["POST"]),
            Route("/{origin_hash:str}/checkpoint", checkpoint, methods=["GET"]),
            Route(LOGS_PATH, add_log, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
