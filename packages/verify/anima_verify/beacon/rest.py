"""A beacon node's light-client REST API (beacon-APIs /eth/v1/beacon/light_client/*),
in JSON or SSZ. Nothing fetched is trusted: every object comes back decoded,
fork-checked and upgraded, for the sync protocol to verify.

Needs the extra anima-verify[http] (httpx); without it, ImportError says so.
"""

from __future__ import annotations

import struct
from types import ModuleType
from typing import TYPE_CHECKING, Any

from anima_verify.beacon.codec import Kind, decode_json, decode_ssz, decode_ssz_with_digest
from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.errors import BeaconApiUnavailable, MalformedLightClientData

if TYPE_CHECKING:
    import httpx

#: consensus-specs p2p-interface: the most updates a node serves per request.
MAX_REQUEST_LIGHT_CLIENT_UPDATES = 128
#: An Electra update with a mainnet committee is about 26 KiB; this bounds a page.
MAX_RESPONSE_BYTES = MAX_REQUEST_LIGHT_CLIENT_UPDATES * 64 * 1024
SSZ = "application/octet-stream"


def _httpx() -> ModuleType:
    try:
        import httpx  # here, not at the top: the protocol code needs no HTTP client
    except ImportError as exc:
        raise ImportError(
            "fetching from a beacon node needs httpx: install anima-verify[http]"
        ) from exc
    return httpx


class BeaconApi:
    """The light-client endpoints of the beacon node at `base_url`. `ssz` asks for SSZ
    (application/octet-stream) instead of JSON; both are decoded the same way."""

    def __init__(
        self,
        base_url: str,
        config: ChainConfig,
        *,
        ssz: bool = False,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"beacon API URL {base_url!r} must start with http:// or https://")
        self._httpx = httpx = _httpx()
        self._base = base_url.rstrip("/")
        self._config = config
        self._ssz = ssz
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, int] | None = None) -> httpx.Response:
        headers = {"Accept": SSZ if self._ssz else "application/json"}
        try:
            response = self._client.get(f"{self._base}{path}", params=params, headers=headers)
        except self._httpx.HTTPError as exc:
            raise BeaconApiUnavailable(f"beacon node {self._base} unreachable: {exc}") from None
        if response.status_code != 200:
            raise BeaconApiUnavailable(
                f"beacon node {self._base} answered {response.status_code} for {path}"
            )
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise MalformedLightClientData(
                f"{path}: response of {len(response.content)} bytes is too large"
            )
        return response

    def _single(self, kind: Kind, path: str) -> Any:
        response = self._get(path)
        if response.headers.get("content-type", "").startswith(SSZ):
            fork = response.headers.get("eth-consensus-version", "")
            if not fork:
                raise MalformedLightClientData(f"{path}: SSZ answer without Eth-Consensus-Version")
            return decode_ssz(self._config, kind, response.content, fork=fork.lower())
        version, data = _versioned(_json(response, path), path)
        return decode_json(self._config, kind, data, fork=version)

    def bootstrap(self, block_root: bytes) -> Any:
        return self._single(
            "bootstrap", f"/eth/v1/beacon/light_client/bootstrap/0x{bytes(block_root).hex()}"
        )

    def finality_update(self) -> Any:
        return self._single("finality_update", "/eth/v1/beacon/light_client/finality_update")

    def optimistic_update(self) -> Any:
        return self._single("optimistic_update", "/eth/v1/beacon/light_client/optimistic_update")

    def updates(self, start_period: int, count: int) -> list[Any]:
        """Best updates of periods [start_period, start_period + count), in order."""
        count = max(1, min(count, MAX_REQUEST_LIGHT_CLIENT_UPDATES))
        path = "/eth/v1/beacon/light_client/updates"
        response = self._get(path, {"start_period": start_period, "count": count})
        if response.headers.get("content-type", "").startswith(SSZ):
            found = [
                decode_ssz_with_digest(self._config, "update", payload, digest=digest)
                for digest, payload in split_chunks(response.content)
            ]
        else:
            items = _json(response, path)
            if not isinstance(items, list):
                raise MalformedLightClientData(f"{path}: expected a JSON array")
            found = [
                decode_json(self._config, "update", data, fork=version)
                for version, data in (_versioned(item, path) for item in items)
            ]
        if len(found) > count:
            raise MalformedLightClientData(f"{path}: {len(found)} updates for {count} periods")
        return found


def split_chunks(body: bytes) -> list[tuple[bytes, bytes]]:
    """An SSZ `updates` answer: (length: u64 LE of context + payload, context: 4-byte
    ForkDigest, payload) repeated; as (digest, payload) pairs."""
    chunks, offset = [], 0
    while offset < len(body):
        if len(body) - offset < 12:
            raise MalformedLightClientData("truncated light-client updates chunk header")
        (length,) = struct.unpack_from("<Q", body, offset)
        start, end = offset + 8, offset + 8 + length
        if length < 4 or end > len(body):
            raise MalformedLightClientData(
                f"light-client updates chunk of {length} bytes overruns the answer"
            )
        chunks.append((body[start : start + 4], body[start + 4 : end]))
        offset = end
    return chunks


def encode_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """The inverse of split_chunks (what a beacon node sends)."""
    return b"".join(struct.pack("<Q", 4 + len(p)) + d + p for d, p in chunks)


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise MalformedLightClientData(f"{path}: answer is not JSON") from None


def _versioned(item: Any, path: str) -> tuple[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("version"), str) or "data" not in item:
        raise MalformedLightClientData(f"{path}: expected {{version, data}}")
    return item["version"].lower(), item["data"]
