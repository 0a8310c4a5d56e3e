"""The LifeDataDA contract's calls and events (contracts/LifeDataDA.sol), and a locator
index: where each key's parts were posted (transaction hash, block).

The index is a cache for the node that posted; a recovering node has none and finds
every part from the contract's events (eth_getLogs by key), so the chain alone is
enough to restore. Nothing read here is trusted: the backends check the bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from anima_dasync.backends.chain_rpc import ChainDataMismatch, JsonRpc, hex_bytes
from anima_dasync.backends.local import _write_atomically

POST = keccak(text="post(bytes32,uint32,uint32,bytes)")[:4]
POST_BLOBS = keccak(text="postBlobs(bytes32,uint32,uint32,uint32)")[:4]
POSTED_TOPIC = keccak(text="Posted(bytes32,address,uint32,uint32,bytes32)")
BLOBS_POSTED_TOPIC = keccak(text="BlobsPosted(bytes32,address,uint32,uint32,uint32,bytes32[])")
_MANIFEST_NAME = b"anima/da/manifest/v1\x00"
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,16}")


def manifest_key(agent_id: str, version: int) -> bytes:
    """The name a manifest is posted under (its bytes are checked by signature and anchor)."""
    return hashlib.sha256(_MANIFEST_NAME + agent_id.encode() + version.to_bytes(8, "big")).digest()


def post_call(key: bytes, part: int, parts: int, data: bytes) -> bytes:
    return POST + encode(["bytes32", "uint32", "uint32", "bytes"], [key, part, parts, data])


def post_blobs_call(key: bytes, part: int, parts: int, length: int) -> bytes:
    return POST_BLOBS + encode(
        ["bytes32", "uint32", "uint32", "uint32"], [key, part, parts, length]
    )


def decode_post_call(tx_input: bytes) -> tuple[bytes, int, int, bytes]:
    """(key, part, parts, data) of a post() transaction's calldata."""
    if tx_input[:4] != POST:
        raise ChainDataMismatch("the transaction is not a LifeDataDA post")
    try:
        key, part, parts, data = decode(["bytes32", "uint32", "uint32", "bytes"], tx_input[4:])
    except Exception:  # eth-abi raises several types for malformed input
        raise ChainDataMismatch("the transaction's post calldata does not decode") from None
    return bytes(key), int(part), int(parts), bytes(data)


@dataclass(frozen=True, slots=True)
class PartLocator:
    """Where one part of a key was posted."""

    part: int
    parts: int
    tx_hash: str
    block: int
    poster: str
    length: int = 0  # blob posts: data bytes in this part's blobs
    versioned_hashes: tuple[bytes, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "parts": self.parts,
            "tx": self.tx_hash,
            "block": self.block,
            "poster": self.poster,
            "length": self.length,
            "versioned_hashes": [h.hex() for h in self.versioned_hashes],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PartLocator:
        return cls(
            part=int(raw["part"]),
            parts=int(raw["parts"]),
            tx_hash=str(raw["tx"]),
            block=int(raw["block"]),
            poster=str(raw["poster"]),
            length=int(raw.get("length", 0)),
            versioned_hashes=tuple(bytes.fromhex(h) for h in raw.get("versioned_hashes", ())),
        )


class LocatorIndex:
    """key -> the parts of its latest post, in a directory (or memory only without one)."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._memory: dict[bytes, tuple[PartLocator, ...]] = {}
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)

    def get(self, key: bytes) -> tuple[PartLocator, ...] | None:
        if key in self._memory:
            return self._memory[key]
        if self._root is None:
            return None
        try:
            raw = json.loads((self._root / key.hex()).read_bytes())
            return tuple(PartLocator.from_json(p) for p in raw)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: the chain's events still locate it

    def put(self, key: bytes, parts: tuple[PartLocator, ...]) -> None:
        self._memory[key] = parts
        if self._root is not None:
            data = json.dumps([p.to_json() for p in parts]).encode()
            _write_atomically(self._root / key.hex(), data, replace=True)


def located_posts(
    rpc: JsonRpc,
    contract: bytes,
    *,
    topic: bytes,
    key: bytes,
    poster: str | None = None,
) -> Iterator[tuple[PartLocator, ...]]:
    """Every complete post of `key` from the contract's events, oldest first: a post is
    one poster's parts 0..n-1 (the first event of each part counts)."""
    topics: list[object] = ["0x" + topic.hex(), "0x" + key.hex()]
    if poster is not None:
        topics.append("0x" + bytes(12).hex() + poster.removeprefix("0x").lower())
    logs = rpc.call(
        "eth_getLogs",
        [
            {
                "address": "0x" + contract.hex(),
                "fromBlock": "0x0",
                "toBlock": "latest",
                "topics": topics,
            }
        ],
    )
    if not isinstance(logs, list):
        raise ChainDataMismatch("the chain node's eth_getLogs answer is not a list")
    groups: dict[tuple[str, int], dict[int, PartLocator]] = {}
    for log in logs:
        located = parse_post_log(log, topic=topic, key=key)
        if located is not None:
            group = groups.setdefault((located.poster, located.parts), {})
            group.setdefault(located.part, located)
    for (_, parts), found in groups.items():
        if len(found) == parts:
            yield tuple(found[i] for i in range(parts))


def parse_post_log(log: object, *, topic: bytes, key: bytes) -> PartLocator | None:
    """A log's part locator, or None for a log that is not what was asked for."""
    if not isinstance(log, dict) or log.get("removed"):
        return None
    topics = log.get("topics")
    if not isinstance(topics, list) or len(topics) != 3:
        return None
    if (
        hex_bytes(topics[0], what="log topic") != topic
        or hex_bytes(topics[1], what="log topic") != key
    ):
        return None
    poster = "0x" + hex_bytes(topics[2], what="log topic")[12:].hex()
    data = hex_bytes(log.get("data"), what="log data")
    try:
        if topic == POSTED_TOPIC:
            part, parts, _ = decode(["uint32", "uint32", "bytes32"], data)
            length, hashes = 0, ()  # type: tuple[int, tuple[bytes, ...]]
        else:
            part, parts, length, hashes = decode(["uint32", "uint32", "uint32", "bytes32[]"], data)
    except Exception:  # eth-abi raises several types for malformed data
        return None
    if not 0 <= part < parts:
        return None
    tx_hash, block = log.get("transactionHash"), log.get("blockNumber")
    if not isinstance(tx_hash, str) or not _TX_HASH.fullmatch(tx_hash):
        return None
    if not isinstance(block, str) or not _QUANTITY.fullmatch(block):
        return None
    return PartLocator(
        part=int(part),
        parts=int(parts),
        tx_hash=tx_hash,
        block=int(block, 16),
        poster=poster,
        length=int(length),
        versioned_hashes=tuple(bytes(h) for h in hashes),
    )
