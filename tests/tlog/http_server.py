"""A real HTTP server (stdlib, loopback, own thread) serving a directory: static
hosting, as tiled logs are usually published."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@contextmanager
def serve_directory(
    root: Path, *, status_for: Callable[[str], int | None] = lambda path: None
) -> Iterator[str]:
    """Serve `root` on a loopback port; yields the base URL (ending in '/').
    `status_for(path)` may force an error status for a request path."""

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real static hosts
        disable_nagle_algorithm = True  # headers and body go out as two writes

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            status = status_for(self.path)
            if status is not None:
                self.send_error(status)
                return
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default 5 drops concurrent connects (1 s SYN retry)

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
