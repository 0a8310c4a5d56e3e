"""A JSON-RPC proxy on a loopback port between the chain client and anvil that can lie.

Every request (single or batch) goes to the real anvil; `tamper(method, params, result)` may rewrite
the answer before it reaches the client (or return it unchanged), and `delay_s`
holds every answer back (a slow node). A minimal HTTP/1.1 server (keep-alive,
Content-Length bodies: what httpx sends), so the client speaks to it exactly as it
speaks to a node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx

Tamper = Callable[[str, list[Any], Any], Any]


class LyingNode:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.tamper: Tamper | None = None
        self.delay_s = 0.0
        self.calls: list[str] = []  # methods asked, in order
        self.requests = 0  # HTTP requests (a batch is one)
        self._server: asyncio.Server | None = None
        self._client = httpx.AsyncClient(timeout=30)
        self.url = ""

    async def start(self) -> LyingNode:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
        await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length)
                answer = await self._answer(body)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _answer(self, body: bytes) -> bytes:
        request = json.loads(body)
        batch = request if isinstance(request, list) else [request]
        self.requests += 1
        self.calls += [r["method"] for r in batch]
        response = (
            await self._client.post(
                self.upstream, content=body, headers={"Content-Type": "application/json"}
            )
        ).json()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answers = response if isinstance(response, list) else [response]
        methods = {r["id"]: (r["method"], r["params"]) for r in batch}
        for answer in answers:
            if self.tamper is not None and "result" in answer:
                method, params = methods[answer["id"]]
                answer["result"] = self.tamper(method, params, answer["result"])
        return json.dumps(response).encode()
