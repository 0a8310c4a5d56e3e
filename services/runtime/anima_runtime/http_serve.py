"""Serving a FastAPI app with uvicorn inside a command's own event loop.

Shared by `anima log serve` and `anima runtime serve`: the command binds its
socket first (so a busy port fails before anything else starts), runs the
server until its `stopping` event is set (its SIGTERM/SIGINT handler sets
it), then stops the server and returns, leaving the command to close what it
opened (logs, agents, clients) before exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from fastapi import FastAPI

SHUTDOWN_GRACE_S = 5


@contextlib.contextmanager
def bind(host: str, port: int) -> Iterator[socket.socket]:
    """A listening, non-blocking TCP socket; OSError naming the address if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket says so; without it every response waits ~40 ms for
    # a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        sock.listen(128)
        sock.setblocking(False)
        yield sock
    finally:
        sock.close()


def base_url(sock: socket.socket) -> tuple[str, int]:
    """The http:// URL a bound socket answers on, and its port."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}", port


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: after a signal it re-raises it once
    stopped, which would end the process before the command has closed its state."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_app(
    app: FastAPI,
    sock: socket.socket,
    stopping: asyncio.Event,
    *,
    on_ready: Callable[[], None],
    when_serving: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve `app` on `sock` until `stopping` is set (or the server fails);
    `when_serving` is awaited, then `on_ready` runs, once the server accepts connections
    (health turned SERVING; announce, ready file)."""
    server = _Server(
        uvicorn.Config(
            app,
            log_config=None,  # the `anima` command's logging setup applies
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            await serving
            raise RuntimeError("the HTTP server stopped while starting")
        await asyncio.sleep(0.02)
    if when_serving is not None:
        await when_serving()
    on_ready()
    stop = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        server.should_exit = True
        await serving


__all__ = ["SHUTDOWN_GRACE_S", "base_url", "bind", "serve_app"]
