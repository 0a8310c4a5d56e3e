"""Ethereum calldata DA: each chunk's raw ciphertext bytes as calldata of LifeDataDA.post().

A contract rather than a plain sink address because its event makes every chunk
findable by its content address from the chain alone (a recovering node has no side
index), and it hashes the calldata itself, so nobody can file other bytes under a
chunk's key in its events. Chunks above PART_BYTES split into parts (one transaction
each): anvil and geth pools refuse transactions over 128 KiB.

Reads trust nothing: the part's transaction is read back by hash and the reassembled
bytes must hash to the chunk id (ChainDataMismatch otherwise). Manifests are posted
under their name (agent, version) by the configured manifest poster only, and are
checked by signature and anchor when fetched for a restore.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from anima_dasync.backends.base import ManifestExists
from anima_dasync.backends.chain_rpc import ChainDAReadOnly, ChainDataMismatch, JsonRpc, hex_bytes
from anima_dasync.backends.evm_posts import (
    POSTED_TOPIC,
    LocatorIndex,
    PartLocator,
    decode_post_call,
    located_posts,
    manifest_key,
    post_call,
)
from anima_dasync.backends.senders import DevChainAccountSender
from anima_verify.agent_id import is_agent_id
from anima_verify.lifedata import ChunkMissing

PART_BYTES = 120 * 1024
_CHUNK_ID = re.compile(r"[0-9a-f]{64}")


def chunk_key(chunk_id: str) -> bytes:
    if not _CHUNK_ID.fullmatch(chunk_id):
        raise ValueError("a chunk id is a lowercase hex SHA-256")
    return bytes.fromhex(chunk_id)


class CalldataBackend:
    name = "calldata"

    def __init__(
        self,
        *,
        rpc: JsonRpc,
        contract: bytes,
        sender: DevChainAccountSender | None,
        manifest_poster: str,
        index: LocatorIndex,
    ) -> None:
        self._rpc = rpc
        self._contract = contract
        self._sender = sender
        self._manifest_poster = manifest_poster.lower()
        self._index = index

    def _writer(self) -> DevChainAccountSender:
        if self._sender is None:
            raise ChainDAReadOnly(f"this {self.name} backend was opened read-only (no sender)")
        return self._sender

    # chunks

    def put_chunk(self, chunk_id: str, data: bytes) -> None:
        key = chunk_key(chunk_id)
        if hashlib.sha256(data).digest() != key:
            raise ValueError("a chunk's id is the SHA-256 of its bytes")
        if self._index.get(key) is not None:
            return
        try:  # already on chain (a lost index, another node): index it, post nothing
            parts, _ = self._read(key, check=_hashes_to(key), index=False)
        except (ChunkMissing, ChainDataMismatch):
            parts = self._post(key, data)
        self._index.put(key, parts)

    def get_chunk(self, chunk_id: str) -> bytes:
        key = chunk_key(chunk_id)
        return self._read(key, check=_hashes_to(key))[1]

    # manifests

    def publish_manifest(self, agent_id: str, version: int, data: bytes) -> None:
        key = _manifest_key(agent_id, version)
        if self._index.get(key) is not None or self._posts(key, self._manifest_poster):
            raise ManifestExists(f"manifest version {version} of agent {agent_id!r} exists")
        self._index.put(key, self._post(key, data))

    def get_manifest(self, agent_id: str, version: int) -> bytes:
        key = _manifest_key(agent_id, version)
        return self._read(key, check=None, poster=self._manifest_poster)[1]

    def latest_version(self, agent_id: str) -> int:
        if not is_agent_id(agent_id):
            return 0
        version = 0
        while self._index.get(_manifest_key(agent_id, version + 1)) is not None or self._posts(
            _manifest_key(agent_id, version + 1), self._manifest_poster
        ):
            version += 1
        return version

    # posting and reading

    def _post(self, key: bytes, data: bytes) -> tuple[PartLocator, ...]:
        pieces = [data[i : i + PART_BYTES] for i in range(0, len(data), PART_BYTES)] or [b""]
        sent = [
            self._writer().send_call(self._contract, post_call(key, i, len(pieces), piece))
            for i, piece in enumerate(pieces)
        ]
        return tuple(
            PartLocator(
                part=i,
                parts=len(pieces),
                tx_hash=tx_hash,
                block=int(str(self._rpc.wait_mined(tx_hash)["blockNumber"]), 16),
                poster=self._writer().address,
            )
            for i, tx_hash in enumerate(sent)
        )

    def _posts(self, key: bytes, poster: str | None) -> list[tuple[PartLocator, ...]]:
        return list(
            located_posts(self._rpc, self._contract, topic=POSTED_TOPIC, key=key, poster=poster)
        )

    def _read(
        self,
        key: bytes,
        *,
        check: Callable[[bytes], bool] | None,
        poster: str | None = None,
        index: bool = True,
    ) -> tuple[tuple[PartLocator, ...], bytes]:
        """The first post of `key` whose bytes pass `check` (None: the first post), and
        its bytes; from our index if it has the key, else from the chain's events."""
        indexed = self._index.get(key) if index else None
        candidates = [indexed] if indexed is not None else self._posts(key, poster)
        mismatch: ChainDataMismatch | None = None
        for parts in candidates:
            try:
                data = b"".join(self._read_part(key, p) for p in parts)
            except ChainDataMismatch as exc:
                mismatch = exc
                continue
            if check is None or check(data):
                return parts, data
            mismatch = ChainDataMismatch(
                f"the chain node's bytes for {key.hex()[:16]}… do not hash to it"
            )
        if mismatch is not None:
            raise mismatch
        raise ChunkMissing(f"{key.hex()[:16]}… is not in the {self.name} backend")

    def _read_part(self, key: bytes, locator: PartLocator) -> bytes:
        tx = self._rpc.call("eth_getTransactionByHash", [locator.tx_hash])
        if not isinstance(tx, dict):
            raise ChainDataMismatch(f"the chain node has no transaction {locator.tx_hash}")
        if hex_bytes(tx.get("to"), what="transaction target") != self._contract:
            raise ChainDataMismatch(f"transaction {locator.tx_hash} is not a LifeDataDA post")
        posted_key, part, parts, data = decode_post_call(hex_bytes(tx.get("input"), what="input"))
        if (posted_key, part, parts) != (key, locator.part, locator.parts):
            raise ChainDataMismatch(f"transaction {locator.tx_hash} posts another part")
        return data


def _hashes_to(key: bytes) -> Callable[[bytes], bool]:
    return lambda data: hashlib.sha256(data).digest() == key


def _manifest_key(agent_id: str, version: int) -> bytes:
    if not is_agent_id(agent_id) or version < 1:
        raise ValueError("bad agent id or manifest version")
    return manifest_key(agent_id, version)
