"""An agent's public log, read from its tiled log (C2SP tlog-tiles, the runtime's log
routes or any mirror). Nothing here is trusted: the enclave checks on restore that
the entries are exactly the tree of the checkpoint its key signed."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.note import parse_note
from anima_verify.tlog.reader import HttpSource, LogSourceError, TileSource, read_entry_bundle
from anima_verify.tlog.tiles import TILE_WIDTH


@dataclass(frozen=True, slots=True)
class LogSnapshot:
    checkpoint: bytes  # the signed note
    size: int
    entries: list[bytes]  # [start, size)


def read_log(source: TileSource, start: int) -> LogSnapshot:
    """The latest checkpoint and the entries from `start` up to its size."""
    note = source.read("checkpoint")
    if note is None:
        raise LogSourceError("the log has no checkpoint yet")
    size = parse_checkpoint(parse_note(note).text).size
    if size < start:
        raise LogSourceError(f"the log shrank: {size} entries, {start} already synced")
    entries: list[bytes] = []
    for bundle in range(start // TILE_WIDTH, (size + TILE_WIDTH - 1) // TILE_WIDTH):
        got = read_entry_bundle(source, bundle, size)
        first = bundle * TILE_WIDTH
        entries += got[max(0, start - first) :]
    return LogSnapshot(checkpoint=note, size=size, entries=entries)


class HttpLogs:
    """Agents' logs under `{base_url}/{agent_id}/` (e.g. the runtime's /v1/logs); over
    HTTPS, the server's certificate checked against `ca_file` if given (the runtime's
    own CA in a cluster), else the system's CAs."""

    def __init__(self, base_url: str, *, ca_file: Path | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
        )

    async def read(self, agent_id: str, start: int) -> LogSnapshot:
        def blocking() -> LogSnapshot:
            client = httpx.Client(timeout=10.0, follow_redirects=True, verify=self._verify)
            with client, HttpSource(f"{self._base}/{agent_id}", client=client) as source:
                return read_log(source, start)

        return await asyncio.to_thread(blocking)
