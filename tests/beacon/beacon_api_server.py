"""A real HTTP server (stdlib, loopback, own thread) speaking a beacon node's
light-client REST API (beacon-APIs /eth/v1/beacon/light_client/*) over the data it
is given: JSON ({version, data}) or SSZ (Eth-Consensus-Version header; updates as
length-prefixed chunks with a ForkDigest context), chosen by the Accept header."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from anima_verify.beacon.codec import to_json
from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.rest import encode_chunks
from tests.beacon.chain_builder import SyntheticChain

PREFIX = "/eth/v1/beacon/light_client/"
BOOTSTRAP_SLOT = 8
PERIODS = 4


@dataclass
class BeaconData:
    """What the node serves; views in their wire fork's types, keyed as the API asks."""

    config: ChainConfig
    bootstraps: dict[bytes, Any] = field(default_factory=dict)  # block root -> bootstrap
    updates: dict[int, Any] = field(default_factory=dict)  # period -> best update
    finality_update: Any | None = None
    optimistic_update: Any | None = None
    requests: list[str] = field(default_factory=list)
    fork_override: str | None = None  # to label data with a wrong fork

    def digest_of(self, view: Any) -> bytes:
        """The ForkDigest context of `view`: its attested epoch's (or the override's)."""
        if self.fork_override:
            return self.config.fork_digest(self.fork_override)
        slot = int(view.attested_header.beacon.slot)
        return self.config.fork_digest_at_epoch(self.config.preset.epoch_at_slot(slot))

    def fork_of(self, view: Any) -> str:
        header = view.header if hasattr(view, "header") else view.attested_header
        return self.fork_override or self.config.fork_at_slot(int(header.beacon.slot))


@contextmanager
def serve_beacon_api(data: BeaconData) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            data.requests.append(self.path)
            url = urlparse(self.path)
            ssz = "application/octet-stream" in self.headers.get("Accept", "")
            name = url.path.removeprefix(PREFIX)
            if not url.path.startswith(PREFIX):
                return self._error(404, "not found")
            if name.startswith("bootstrap/"):
                try:
                    root = bytes.fromhex(name.removeprefix("bootstrap/0x"))
                except ValueError:
                    return self._error(400, "invalid block root")
                return self._single(data.bootstraps.get(root), ssz)
            if name == "finality_update":
                return self._single(data.finality_update, ssz)
            if name == "optimistic_update":
                return self._single(data.optimistic_update, ssz)
            if name == "updates":
                query = parse_qs(url.query)
                try:
                    start, count = int(query["start_period"][0]), int(query["count"][0])
                except (KeyError, ValueError):
                    return self._error(400, "start_period and count are required")
                found = [data.updates[p] for p in range(start, start + count) if p in data.updates]
                if ssz:
                    body = encode_chunks([(data.digest_of(u), u.encode_bytes()) for u in found])
                    return self._send(200, body, "application/octet-stream")
                items = [{"version": data.fork_of(u), "data": to_json(u)} for u in found]
                return self._send(200, json.dumps(items).encode(), "application/json")
            return self._error(404, "not found")

        def _single(self, view: Any, ssz: bool) -> None:
            if view is None:
                return self._error(404, "no light client data")
            if ssz:
                return self._send(
                    200,
                    view.encode_bytes(),
                    "application/octet-stream",
                    {"Eth-Consensus-Version": data.fork_of(view)},
                )
            body = json.dumps({"version": data.fork_of(view), "data": to_json(view)}).encode()
            return self._send(200, body, "application/json")

        def _error(self, code: int, message: str) -> None:
            self._send(
                code, json.dumps({"code": code, "message": message}).encode(), "application/json"
            )

        def _send(
            self, code: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def node_data(chain: SyntheticChain) -> tuple[BeaconData, bytes]:
    """A node that has periods 0..PERIODS-1 and latest finality/optimistic updates."""
    bootstrap, root = chain.bootstrap(BOOTSTRAP_SLOT)
    data = BeaconData(chain.config, bootstraps={root: bootstrap})
    for period in range(PERIODS):
        data.updates[period] = chain.period_update(period)
    last = (PERIODS - 1) * chain.preset.slots_per_period
    data.finality_update = chain.update(last + 40, last + 50, kind="finality_update")
    data.optimistic_update = chain.update(0, last + 55, kind="optimistic_update")
    return data, root
