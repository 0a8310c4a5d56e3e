"""The untrusted Ethereum JSON-RPC node: deadlines, bounded retries, clear errors.

Nothing here is believed: callers verify every answer (anima_verify.chain). This
module only makes the node's failures typed: a node that is down or slow is
NodeUnavailable after `max_retries` retries (reads only), a JSON-RPC error is
NodeError with the node's message cut short (a node's text is not echoed whole).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from anima_chain.config import RpcNodeConfig
from anima_chain_api.errors import NodeError, NodeUnavailable

log = logging.getLogger(__name__)
_MAX_ANSWER_BYTES = 32 * 1024 * 1024
_SHOWN = 200


class RpcNode:
    def __init__(self, config: RpcNodeConfig, *, transport: httpx.AsyncBaseTransport | None = None):
        self._config = config
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_s),
            transport=transport,
            headers={"Content-Type": "application/json"},
        )
        self._ids = itertools.count(1)
        self.url = config.url

    async def aclose(self) -> None:
        await self._client.aclose()

    async def read(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A read: retried on timeouts and transport failures, up to max_retries times."""
        attempts = self._config.max_retries + 1
        for attempt in range(attempts):
            try:
                return await self._call(method, params)
            except NodeUnavailable as exc:
                if attempt + 1 == attempts:
                    raise
                log.info("rpc node: %s (retry %d of %d)", exc.message, attempt + 1, attempts - 1)
                await asyncio.sleep(self._config.retry_backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    async def read_batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several reads in one JSON-RPC batch (one round trip), retried like `read`;
        the results in call order, any error failing the whole batch."""
        attempts = self._config.max_retries + 1
        for attempt in range(attempts):
            try:
                return await self._batch(calls)
            except NodeUnavailable:
                if attempt + 1 == attempts:
                    raise
                await asyncio.sleep(self._config.retry_backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    async def send(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A call with an effect (eth_sendRawTransaction): never retried here."""
        return await self._call(method, params)

    async def _batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": list(params)}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        what = "+".join(method for method, _ in calls)
        answers = await self._post(body, what)
        if not isinstance(answers, list):
            raise NodeError(f"the RPC node's answer to the batch {what} is not a list")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        return [_result(by_id.get(i), method) for i, (method, _) in zip(ids, calls, strict=True)]

    async def _call(self, method: str, params: Sequence[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        return _result(await self._post(body, method), method)

    async def _post(self, body: object, method: str) -> Any:
        try:
            response = await self._client.post(self.url, content=json.dumps(body))
        except httpx.TimeoutException:
            raise NodeUnavailable(
                f"the RPC node did not answer {method} within {self._config.timeout_s:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise NodeUnavailable(
                f"cannot reach the RPC node for {method}: {exc!s:.{_SHOWN}}"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise NodeUnavailable(
                f"the RPC node answered {method} with HTTP {response.status_code}"
            )
        if response.status_code != 200:
            raise NodeError(f"the RPC node answered {method} with HTTP {response.status_code}")
        if len(response.content) > _MAX_ANSWER_BYTES:
            raise NodeError(f"the RPC node's answer to {method} is too large")
        try:
            return json.loads(response.content)
        except ValueError:
            raise NodeError(f"the RPC node's answer to {method} is not JSON") from None


def _result(answer: Any, method: str) -> Any:
    if not isinstance(answer, dict):
        raise NodeError(f"the RPC node's answer to {method} is not a JSON-RPC response")
    if "error" in answer:
        error = answer["error"]
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        raise NodeError(f"the RPC node refused {method}: {str(message)[:_SHOWN]}")
    if "result" not in answer:
        raise NodeError(f"the RPC node's answer to {method} has no result")
    return answer["result"]
