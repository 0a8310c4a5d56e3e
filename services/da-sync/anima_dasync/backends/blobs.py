"""EIP-4844 blob DA: each chunk in the blobs of type-3 transactions to LifeDataDA.postBlobs().

The contract's event names the chunk and the blobs' versioned hashes (read with the
BLOBHASH opcode, so they are the transaction's own), which makes chunks findable from
the chain alone. A chunk needing more than BLOBS_PER_TX blobs splits over several
transactions. Manifests are small and must outlive blob expiry: they go through
calldata (a CalldataBackend on the same contract).

Reads trust nothing: the transaction's blobVersionedHashes must match the event's, each
blob (from the node's anvil_getBlobByHash, or the archive once the chain has pruned
it) must match its versioned hash by KZG commitment, and the decoded bytes must hash
to the chunk id. Every blob posted or fetched is kept in the archive.

Blobs come from anvil's `anvil_getBlobByHash` (by versioned hash; anvil 1.7.1 serves
no beacon API and no `eth_getBlobByHash`); a production node would read the beacon
node's `blob_sidecars`. The node's answer is the blob alone, so its commitment is
recomputed (~33 ms CPU a blob) rather than trusting a proof it would also supply.
"""

from __future__ import annotations

import hashlib

from anima_dasync.backends.archive import BlobArchive
from anima_dasync.backends.blob_codec import (
    DATA_BYTES_PER_BLOB,
    bundle,
    check_blob,
    decode_blobs,
)
from anima_dasync.backends.calldata import CalldataBackend, chunk_key
from anima_dasync.backends.chain_rpc import ChainDAReadOnly, ChainDataMismatch, JsonRpc, hex_bytes
from anima_dasync.backends.evm_posts import (
    BLOBS_POSTED_TOPIC,
    LocatorIndex,
    PartLocator,
    located_posts,
    post_blobs_call,
)
from anima_dasync.backends.senders import DevChainAccountSender
from anima_verify.lifedata import ChunkMissing

BLOBS_PER_TX = 6  # Cancun's per-block maximum, accepted by every later fork
PART_BYTES = BLOBS_PER_TX * DATA_BYTES_PER_BLOB


class BlobBackend:
    name = "blobs"

    def __init__(
        self,
        *,
        rpc: JsonRpc,
        contract: bytes,
        sender: DevChainAccountSender | None,
        manifests: CalldataBackend,
        archive: BlobArchive | None,
        index: LocatorIndex,
    ) -> None:
        self._rpc = rpc
        self._contract = contract
        self._sender = sender
        self._manifests = manifests
        self._archive = archive
        self._index = index

    def _writer(self) -> DevChainAccountSender:
        if self._sender is None:
            raise ChainDAReadOnly(f"this {self.name} backend was opened read-only (no sender)")
        return self._sender

    def put_chunk(self, chunk_id: str, data: bytes) -> None:
        key = chunk_key(chunk_id)
        if hashlib.sha256(data).digest() != key:
            raise ValueError("a chunk's id is the SHA-256 of its bytes")
        if self._index.get(key) is not None:
            return
        try:  # already on chain (a lost index, another node): index it, post nothing
            self._index.put(key, self._read(key, index=False)[0])
            return
        except (ChunkMissing, ChainDataMismatch):
            pass
        pieces = [data[i : i + PART_BYTES] for i in range(0, len(data), PART_BYTES)] or [b""]
        sent = []
        for i, piece in enumerate(pieces):
            sidecar = bundle(piece)
            if self._archive is not None:
                for versioned_hash, blob in zip(
                    sidecar.versioned_hashes, sidecar.blobs, strict=True
                ):
                    self._archive.put(versioned_hash, blob)
            call = post_blobs_call(key, i, len(pieces), len(piece))
            sent.append((self._writer().send_blobs(self._contract, call, sidecar), sidecar, piece))
        located = []
        for i, (tx_hash, sidecar, piece) in enumerate(sent):
            receipt = self._rpc.wait_mined(tx_hash)
            located.append(
                PartLocator(
                    part=i,
                    parts=len(pieces),
                    tx_hash=tx_hash,
                    block=int(str(receipt["blockNumber"]), 16),
                    poster=self._writer().address,
                    length=len(piece),
                    versioned_hashes=sidecar.versioned_hashes,
                )
            )
        self._index.put(key, tuple(located))

    def get_chunk(self, chunk_id: str) -> bytes:
        return self._read(chunk_key(chunk_id))[1]

    def _read(self, key: bytes, *, index: bool = True) -> tuple[tuple[PartLocator, ...], bytes]:
        """The first post of `key` whose blobs check and decode to bytes hashing to it."""
        indexed = self._index.get(key) if index else None
        candidates = (
            [indexed]
            if indexed is not None
            else list(located_posts(self._rpc, self._contract, topic=BLOBS_POSTED_TOPIC, key=key))
        )
        failure: ChainDataMismatch | ChunkMissing | None = None
        for parts in candidates:
            try:
                data = b"".join(self._read_part(p) for p in parts)
            except (ChainDataMismatch, ChunkMissing) as exc:
                failure = exc
                continue
            if hashlib.sha256(data).digest() == key:
                return parts, data
            failure = ChainDataMismatch(f"the blobs for chunk {key.hex()[:16]}… do not hash to it")
        if failure is not None:
            raise failure
        raise ChunkMissing(f"chunk {key.hex()[:16]}… is not in the {self.name} backend")

    def _read_part(self, locator: PartLocator) -> bytes:
        tx = self._rpc.call("eth_getTransactionByHash", [locator.tx_hash])
        if not isinstance(tx, dict):
            raise ChainDataMismatch(f"the chain node has no transaction {locator.tx_hash}")
        in_tx = tuple(
            hex_bytes(h, what="blob versioned hash") for h in tx.get("blobVersionedHashes") or ()
        )
        if not locator.versioned_hashes or in_tx != locator.versioned_hashes:
            raise ChainDataMismatch(
                f"transaction {locator.tx_hash} does not carry the blobs its event names"
            )
        blobs = [self._blob(h) for h in in_tx]
        return decode_blobs(blobs, locator.length)

    def _blob(self, versioned_hash: bytes) -> bytes:
        """The blob from the node, checked; from the archive if the node has none (pruned)
        or serves a wrong one."""
        problem: ChainDataMismatch | ChunkMissing
        try:
            answer = self._rpc.call("anvil_getBlobByHash", ["0x" + versioned_hash.hex()])
            if answer is None:
                raise ChunkMissing(
                    f"the chain node no longer serves blob {versioned_hash.hex()[:16]}…"
                )
            blob = hex_bytes(answer, what="blob")
            check_blob(blob, versioned_hash)
        except (ChainDataMismatch, ChunkMissing) as exc:
            problem = exc
        else:
            if self._archive is not None:
                self._archive.put(versioned_hash, blob)
            return blob
        archived = self._archive.get(versioned_hash) if self._archive is not None else None
        if archived is None:
            raise problem
        return archived

    def publish_manifest(self, agent_id: str, version: int, data: bytes) -> None:
        self._manifests.publish_manifest(agent_id, version, data)

    def get_manifest(self, agent_id: str, version: int) -> bytes:
        return self._manifests.get_manifest(agent_id, version)

    def latest_version(self, agent_id: str) -> int:
        return self._manifests.latest_version(agent_id)
