"""Serves the browser log explorer (anima_web's static assets) at /explorer/.

The page verifies everything itself, from the public log routes; the server
only hands out files. A strict Content-Security-Policy keeps it to its own
scripts (and WebAssembly: dcap-qvl, which checks TDX quotes) and to this
origin's API, so an entry's text can never run as code.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from anima_web import assets_dir

EXPLORER_PATH = "/explorer"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),  # revalidate: a new release's modules load together
]


class ExplorerAssets:
    """StaticFiles over the explorer's assets, with the security headers added."""

    def __init__(self) -> None:
        self._files = StaticFiles(directory=assets_dir(), html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self._files(scope, receive, with_headers)


def mount_explorer(app: FastAPI) -> None:
    """Serve the explorer at /explorer/ (the page finds the log at ../v1/logs/)."""
    app.mount(EXPLORER_PATH, ExplorerAssets(), name="explorer")


__all__ = ["CONTENT_SECURITY_POLICY", "EXPLORER_PATH", "mount_explorer"]
