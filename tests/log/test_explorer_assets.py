"""The runtime's log app serves the browser explorer's assets at /explorer/, with
a Content-Security-Policy that keeps the page to its own scripts and this origin;
`explorer=false` turns it off."""

from __future__ import annotations

from pathlib import Path

import httpx

from anima_dev.inprocess_log import InProcessSequencer
from anima_runtime.log.config import LogApiConfig
from anima_runtime.log.explorer import CONTENT_SECURITY_POLICY
from anima_runtime.log.http import create_log_app
from anima_runtime.log.registry import LogRegistry
from anima_signer.core import Signer


def _client(tmp_path: Path, signer: Signer, config: LogApiConfig) -> httpx.AsyncClient:
    sequencer = InProcessSequencer(signer)
    registry = LogRegistry(root=tmp_path / "logs", sequencer=sequencer, sync_interval_s=None)
    app = create_log_app(registry, config=config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://log.test")


async def test_the_explorer_page_and_its_modules_are_served_with_a_strict_policy(
    tmp_path: Path, signer: Signer
) -> None:
    async with _client(tmp_path, signer, LogApiConfig()) as client:
        page = await client.get("/explorer/")
        module = await client.get("/explorer/js/app.js")
        wasm = await client.get("/explorer/vendor/dcap-qvl-web_bg.wasm")
    assert page.status_code == 200 and "<title>Anima log explorer</title>" in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self' 'wasm-unsafe-eval';" in CONTENT_SECURITY_POLICY
    assert "connect-src 'self';" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert module.headers["content-type"].startswith("text/javascript")
    assert wasm.headers["content-type"] == "application/wasm"
    assert wasm.content[:4] == b"\0asm"


async def test_the_explorer_can_be_turned_off(tmp_path: Path, signer: Signer) -> None:
    async with _client(tmp_path, signer, LogApiConfig(explorer=False)) as client:
        assert (await client.get("/explorer/")).status_code == 404
