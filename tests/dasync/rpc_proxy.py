"""A JSON-RPC proxy on a loopback port in front of anvil that can lie (the lying-node
pattern of tests/chain, threaded, for the blocking DA backends): `tamper(method,
params, result)` rewrites an answer before the backend sees it."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Tamper = Callable[[str, list[Any], Any], Any]


class LyingRpc:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.tamper: Tamper | None = None
        self.url = ""


@contextmanager
def lying_rpc(upstream: str) -> Iterator[LyingRpc]:
    proxy = LyingRpc(upstream)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = urllib.request.Request(
                upstream, data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
            call = json.loads(body)
            if proxy.tamper is not None and "result" in answer:
                answer["result"] = proxy.tamper(call["method"], call["params"], answer["result"])
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
