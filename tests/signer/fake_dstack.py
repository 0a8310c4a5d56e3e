"""A test double of the dstack guest agent's HTTP API, served on a unix socket.

This is a stand-in for the *wire protocol* only; it is not a TEE and protects
nothing. Keys come from a per-instance seed held in plain memory, quotes are
TDX-shaped byte strings with a placeholder signature that no verifier accepts.
It exists so the `dstack` backend's real client code (dstack-sdk over httpx
over a unix socket) runs end to end in tests without TDX hardware.

Routes and JSON shapes follow dstack's `sdk/curl/api.md` and
`guest-agent/rpc/proto/agent_rpc.proto` (Dstack-TEE/dstack); byte fields
travel as hex strings. Like the real agent, each route accepts a POST with a
JSON body or a GET with query parameters:

- ``/GetKey`` {path, purpose, algorithm} -> {"key": hex, "signature_chain": [hex, hex]}.
  As in the real agent the key depends on the path only; the purpose goes into
  the signature chain.
- ``/GetQuote`` {report_data: hex, at most 64 bytes, zero-padded to 64} ->
  {"quote": hex, "event_log": "[]", "report_data": hex, "vm_config": str}. The
  quote is laid out like a TDX v4 quote: a 48-byte header (version 4, ECDSA
  P-256, TEE type 0x81), a 584-byte TD report body with REPORTDATA at body
  offset 520 (quote offset 568), then signature data whose values are zero
  placeholders (dcap-qvl parses the layout, and refuses the signature).
- ``/Info`` {} -> app info whose ``tcb_info`` is a JSON string (dstack OS 0.5 shape).

Errors are answered as the real agent does: an HTTP error status with
{"error": message}. Setting `failure` makes every route misbehave on purpose.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import os
import shutil
import socketserver
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REPORT_DATA_SIZE = 64
TDX_HEADER_SIZE = 48
TD_REPORT_BODY_SIZE = 584
# Where REPORTDATA sits in a v4 quote: after the header and 520 bytes of body.
QUOTE_REPORT_DATA_OFFSET = TDX_HEADER_SIZE + 520
_INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")


class Failure(enum.Enum):
    """Ways the fake can misbehave, one per error path the client must handle."""

    NONE = "none"
    HTTP_500 = "http_500"  # the agent reports an internal error
    HTTP_400 = "http_400"  # the agent rejects the request
    MALFORMED_HEX = "malformed_hex"  # byte fields are not hex
    WRONG_KEY_LENGTH = "wrong_key_length"  # GetKey returns 31 bytes
    WRONG_REPORT_DATA = "wrong_report_data"  # the quote carries other report_data
    NOT_JSON = "not_json"  # a 200 whose body is not JSON
    MISSING_FIELDS = "missing_fields"  # a 200 whose JSON lacks the documented fields
    CLOSE = "close"  # the connection is closed without a response


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it, for tests to assert on."""

    method: str
    route: str
    body: dict[str, Any]


class FakeDstackAgent:
    """Serves the guest agent API on a unix socket from a background thread."""

    def __init__(self, *, seed: bytes = b"fake-dstack-seed", socket_path: str | None = None):
        self.seed = seed
        self.failure = Failure.NONE
        self.requests: list[RecordedRequest] = []
        # Unix socket paths are limited to ~107 bytes, which pytest's tmp_path
        # can exceed, so by default the socket lives in a short temp directory.
        self._own_dir = None if socket_path else tempfile.mkdtemp(prefix="anima-dstack-")
        self.socket_path = socket_path or os.path.join(self._own_dir or "", "dstack.sock")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeDstackAgent:
        self._server = _Server(self.socket_path, _Handler, agent=self)
        # A short poll interval only makes stop() quick; requests never wait on it.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-dstack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def __enter__(self) -> FakeDstackAgent:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what the agent derives, exposed so tests can compute expected values --

    def derive_key(self, path: str) -> bytes:
        """The 32-byte key GetKey returns for `path` (stands in for dstack's KMS)."""
        return hmac.new(self.seed, b"fake-dstack/key\0" + path.encode(), hashlib.sha256).digest()

    def measurement(self, name: str) -> bytes:
        """A 48-byte stand-in for a TD measurement register, fixed per seed."""
        return hashlib.sha384(self.seed + b"\0" + name.encode()).digest()

    def make_quote(self, report_data: bytes) -> bytes:
        """A byte string laid out like a TDX v4 quote; its signature is a placeholder."""
        assert len(report_data) == REPORT_DATA_SIZE
        header = (
            (4).to_bytes(2, "little")  # version
            + (2).to_bytes(2, "little")  # attestation key type: ECDSA P-256
            + (0x81).to_bytes(4, "little")  # TEE type: TDX
            + bytes(4)  # reserved (QE SVN, PCE SVN)
            + _INTEL_QE_VENDOR_ID
            + bytes(20)  # user data
        )
        body = (
            bytes(16)  # TEE_TCB_SVN
            + self.measurement("mrseam")
            + bytes(48)  # MRSIGNERSEAM
            + bytes(8)  # SEAMATTRIBUTES
            + bytes(8)  # TDATTRIBUTES
            + bytes(8)  # XFAM
            + self.measurement("mrtd")
            + bytes(48 * 3)  # MRCONFIGID, MROWNER, MROWNERCONFIG
            # RTMRs are zero, which is what replaying the empty event log gives.
            + bytes(48 * 4)
            + report_data
        )
        assert len(header) == TDX_HEADER_SIZE and len(body) == TD_REPORT_BODY_SIZE
        # Quote signature data as v4 lays it out, every value a zero placeholder:
        # ECDSA signature, attestation key, then certification data of type 6
        # (QE report, its signature, QE auth data, and an empty PCK chain).
        qe_report_data = bytes(384) + bytes(64) + (0).to_bytes(2, "little") + _cert_data(5, b"")
        signature = bytes(64) + bytes(64) + _cert_data(6, qe_report_data)
        return header + body + len(signature).to_bytes(4, "little") + signature

    def info(self) -> dict[str, Any]:
        zero_mr = bytes(48).hex()
        compose_hash = hashlib.sha256(self.seed + b"\0compose").hexdigest()
        device_id = hashlib.sha256(self.seed + b"\0device").hexdigest()
        tcb_info = {
            "mrtd": self.measurement("mrtd").hex(),
            "rtmr0": zero_mr,
            "rtmr1": zero_mr,
            "rtmr2": zero_mr,
            "rtmr3": zero_mr,
            "app_compose": "{}",
            "event_log": [],
            "mr_aggregated": zero_mr,
            "os_image_hash": "",
            "compose_hash": compose_hash,
            "device_id": device_id,
        }
        return {
            "app_id": hashlib.sha256(self.seed + b"\0app").hexdigest()[:40],
            "instance_id": hashlib.sha256(self.seed + b"\0instance").hexdigest()[:40],
            "app_cert": "",
            "tcb_info": json.dumps(tcb_info),
            "app_name": "fake-dstack",
            "device_id": device_id,
            "mr_aggregated": zero_mr,
            "os_image_hash": "",
            "key_provider_info": json.dumps({"name": "fake", "id": ""}),
            "compose_hash": compose_hash,
            "vm_config": "{}",
        }


def _cert_data(cert_type: int, data: bytes) -> bytes:
    return cert_type.to_bytes(2, "little") + len(data).to_bytes(4, "little") + data


class _BadRequest(Exception):
    """A request the real agent would answer with 400."""


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(
        self, path: str, handler: type[BaseHTTPRequestHandler], *, agent: FakeDstackAgent
    ) -> None:
        self.agent = agent
        super().__init__(path, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            self._send_json(400, {"error": "request body is not JSON"})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": "request body must be a JSON object"})
            return
        self._dispatch("POST", urlsplit(self.path).path, body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self._dispatch("GET", url.path, dict(parse_qsl(url.query)))

    def _dispatch(self, method: str, route: str, body: dict[str, Any]) -> None:
        agent = self.server.agent
        agent.requests.append(RecordedRequest(method=method, route=route, body=body))
        failure = agent.failure
        if failure is Failure.CLOSE:
            self.close_connection = True
            return
        if failure is Failure.HTTP_500:
            self._send_json(500, {"error": "injected failure"})
            return
        if failure is Failure.HTTP_400:
            self._send_json(400, {"error": "injected rejection"})
            return
        if failure is Failure.NOT_JSON:
            self._send(200, b"<html>not json</html>", "text/html")
            return
        if failure is Failure.MISSING_FIELDS:
            self._send_json(200, {"unexpected": True})
            return
        routes = {"/GetKey": self._get_key, "/GetQuote": self._get_quote, "/Info": self._info}
        handler = routes.get(route)
        if handler is None:
            self._send_json(404, {"error": f"no such method {route}"})
            return
        try:
            self._send_json(200, handler(agent, body, failure))
        except _BadRequest as exc:
            self._send_json(400, {"error": str(exc)})

    @staticmethod
    def _get_key(agent: FakeDstackAgent, body: dict[str, Any], failure: Failure) -> dict[str, Any]:
        path, purpose = str(body.get("path", "")), str(body.get("purpose", ""))
        algorithm = str(body.get("algorithm", ""))
        if algorithm not in ("", "secp256k1", "k256"):
            raise _BadRequest(f"unsupported algorithm {algorithm!r}")
        key = agent.derive_key(path)
        if failure is Failure.WRONG_KEY_LENGTH:
            key = key[:31]
        # Stand-ins for the two 65-byte recoverable signatures of the real chain
        # (app key over "purpose:pubkey", KMS root over the app key): not verifiable.
        chain = [
            hmac.new(agent.seed, f"{purpose}:{key.hex()}".encode(), hashlib.sha512).digest()[:65],
            hmac.new(agent.seed, b"fake-dstack/kms-root", hashlib.sha512).digest()[:65],
        ]
        key_hex = "zz" + key.hex()[2:] if failure is Failure.MALFORMED_HEX else key.hex()
        return {"key": key_hex, "signature_chain": [sig.hex() for sig in chain]}

    @staticmethod
    def _get_quote(
        agent: FakeDstackAgent, body: dict[str, Any], failure: Failure
    ) -> dict[str, Any]:
        try:
            report_data = bytes.fromhex(str(body.get("report_data", "")))
        except ValueError:
            raise _BadRequest("report_data is not hex") from None
        if len(report_data) > REPORT_DATA_SIZE:
            raise _BadRequest(f"report_data is {len(report_data)} bytes, at most 64 allowed")
        report_data = report_data.ljust(REPORT_DATA_SIZE, b"\0")
        quoted = bytes(REPORT_DATA_SIZE) if failure is Failure.WRONG_REPORT_DATA else report_data
        quote_hex = agent.make_quote(quoted).hex()
        if failure is Failure.MALFORMED_HEX:
            quote_hex = quote_hex[:-1]  # odd length
        return {
            "quote": quote_hex,
            "event_log": "[]",
            "report_data": report_data.hex(),
            "vm_config": "{}",
        }

    @staticmethod
    def _info(agent: FakeDstackAgent, body: dict[str, Any], failure: Failure) -> dict[str, Any]:
        return agent.info()

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "unix"  # a unix peer has no host to print

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; tests assert on `requests` instead
