"""A hostile host in front of a real runtime, for the explorer's browser tests.

It forwards GET requests on loopback and, under a path prefix `/m/<mode>/`,
tampers with what the log routes return, as a hostile host could:

- `flip-tile`:      one bit of the second hash of every level-0 hash tile;
- `drop-entry`:     the first entry of every entry bundle;
- `old-checkpoint`: an earlier checkpoint of the same log (a rollback);
- `other-key`:      the checkpoint body re-signed by another Ed25519 key under
                    the log's key name (a key substitution);
- `tdx-evidence`:   the attestation's evidence replaced by a genuine Intel TDX
                    quote and its collateral (`Tamper.tdx`), made for another
                    enclave and another nonce;
- `strip-cosignature`: the checkpoint with only the log's signature, its witness
                    cosignatures removed (an unwitnessed, perhaps forked, log);
- `other-witness`:  each cosignature replaced by one from another key under the
                    witness's name (its own key id: a witness nobody pinned);
- `forged-cosignature`: each cosignature re-signed by another key but keeping
                    the witness's key id (a cosignature claiming the witness).

Everything else (the page itself, attestation, payloads) passes unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_verify.tlog.cosignature import cosign, parse_cosignature
from anima_verify.tlog.note import Note, parse_note, sign_note

MODES = (
    "flip-tile",
    "drop-entry",
    "old-checkpoint",
    "other-key",
    "tdx-evidence",
    "strip-cosignature",
    "other-witness",
    "forged-cosignature",
)
_PREFIX = re.compile(r"^/m/([a-z-]+)(/.*)$")
_PASSED_HEADERS = (
    "content-type",
    "cache-control",
    "content-security-policy",
    "x-content-type-options",
    "retry-after",
    "location",
)


class Tamper:
    """What the proxy does to a response body in each mode."""

    def __init__(self) -> None:
        self.old_checkpoint: bytes | None = None
        self.impostor = Ed25519PrivateKey.generate()
        self.tdx: tuple[bytes, bytes] | None = None  # (quote, collateral JSON)

    def apply(self, mode: str, path: str, body: bytes) -> bytes:
        if mode == "flip-tile" and re.search(r"/tile/0/", path) and len(body) >= 64:
            flipped = bytearray(body)
            flipped[40] ^= 0x01
            return bytes(flipped)
        if mode == "drop-entry" and "/tile/entries/" in path and len(body) >= 2:
            first = int.from_bytes(body[:2], "big")
            return body[2 + first :]
        if mode == "tdx-evidence" and path.endswith("/attestation"):
            assert self.tdx is not None, "set the TDX evidence first"
            document = json.loads(body)
            document |= {
                "tee": "tdx",
                "quote": base64.b64encode(self.tdx[0]).decode(),
                "collateral_json": base64.b64encode(self.tdx[1]).decode(),
            }
            return json.dumps(document).encode()
        if path.endswith("/checkpoint"):
            if mode == "old-checkpoint":
                assert self.old_checkpoint is not None, "capture an old checkpoint first"
                return self.old_checkpoint
            if mode == "other-key":
                note = parse_note(body)
                name = note.signatures[0].name
                return sign_note(note.text, name=name, private_key=self.impostor).to_bytes()
            if mode in ("strip-cosignature", "other-witness", "forged-cosignature"):
                return self._recosign(mode, parse_note(body)).to_bytes()
        return body

    def _recosign(self, mode: str, note: Note) -> Note:
        """The log's signature line kept; the witnesses' dropped or replaced."""
        log_line, *witness_lines = note.signatures
        kept = [log_line]
        if mode != "strip-cosignature":
            for line in witness_lines:
                real = parse_cosignature(line)
                fake = cosign(
                    note.text, name=line.name, private_key=self.impostor, timestamp=real.timestamp
                )
                if mode == "forged-cosignature":
                    fake = dataclasses.replace(fake, key_id=real.key_id)
                kept.append(fake.note_signature())
        return Note(text=note.text, signatures=tuple(kept))


@contextlib.contextmanager
def tamper_proxy(upstream: str) -> Iterator[tuple[str, Tamper]]:
    """Serve on a free loopback port; yields (its URL, the Tamper to configure)."""
    tamper = Tamper()
    client = httpx.Client(base_url=upstream, timeout=30)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            mode, path = "", self.path
            found = _PREFIX.match(self.path)
            if found and found.group(1) in MODES:
                mode, path = found.group(1), found.group(2)
            upstream_response = client.get(path)
            body = upstream_response.content
            if upstream_response.status_code == 200 and mode:
                body = tamper.apply(mode, path.split("?")[0], body)
            self.send_response(upstream_response.status_code)
            for name in _PASSED_HEADERS:
                if name in upstream_response.headers:
                    self.send_header(name, upstream_response.headers[name])
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tamper
    finally:
        server.shutdown()
        server.server_close()
        client.close()
