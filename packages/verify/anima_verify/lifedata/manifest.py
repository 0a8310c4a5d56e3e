"""The signed manifest of an agent's life data on a DA layer, and its pure checks.

A manifest names every chunk of the agent's life so far (snapshots and deltas,
each sealed by the enclave and addressed by the SHA-256 of its ciphertext), the
previous manifest, the latest signed log checkpoint and counts. The agent's
enclave signs it with the agent's log key, domain-separated from checkpoint
notes (a note's text never contains a NUL byte, the domain tag does). Manifests
are cumulative: each extends the chunk list of the one before, so publishing a
new one can never drop history. Its hash is what the on-chain anchor records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from anima_verify.agent_id import is_agent_id
from anima_verify.lifedata.errors import (
    ChunkCorrupt,
    MalformedManifest,
    ManifestDropsHistory,
    ManifestForAnotherAgent,
    ManifestNotAnchored,
    ManifestSignatureInvalid,
)
from anima_verify.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from anima_verify.tlog.errors import LogVerificationError, RootMismatch
from anima_verify.tlog.merkle import leaf_hash, root_from_leaf_hashes
from anima_verify.tlog.note import Verifier

MANIFEST_VERSION = 1
SIGNATURE_DOMAIN = b"anima/life-data/manifest/v1\x00"
CHUNK_KINDS = frozenset({"memories", "log", "signer-state", "character", "runtime"})
MAX_MANIFEST_BYTES = 16 << 20
_HEX32 = re.compile(r"[0-9a-f]{64}")
_CHUNK_FIELDS = {"id", "kind", "size", "items"}
_FIELDS = {"v", "agent_id", "version", "previous", "epoch", "chunks", "checkpoint", "counts"}


@dataclass(frozen=True, slots=True)
class ChunkRef:
    chunk_id: str  # hex SHA-256 of the sealed chunk's bytes
    kind: str
    size: int
    items: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    agent_id: str
    version: int  # 1, 2, ...: strictly increasing, anchored on chain
    previous: str  # hex hash of the previous manifest, "" for version 1
    epoch: int  # the recovery epoch its chunks were sealed under
    chunks: tuple[ChunkRef, ...]
    checkpoint: str  # the latest signed log checkpoint (note text)
    counts: dict[str, int]

    def to_bytes(self) -> bytes:
        doc = {
            "v": MANIFEST_VERSION,
            "agent_id": self.agent_id,
            "version": self.version,
            "previous": self.previous,
            "epoch": self.epoch,
            "chunks": [
                {"id": c.chunk_id, "kind": c.kind, "size": c.size, "items": c.items}
                for c in self.chunks
            ],
            "checkpoint": self.checkpoint,
            "counts": dict(sorted(self.counts.items())),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> bytes:
        """The manifest hash the anchor records and the next manifest links to."""
        return hashlib.sha256(self.to_bytes()).digest()

    def signing_message(self) -> bytes:
        return SIGNATURE_DOMAIN + self.to_bytes()


@dataclass(frozen=True, slots=True)
class SignedManifest:
    manifest: Manifest
    signature: bytes

    def to_bytes(self) -> bytes:
        body = self.manifest.to_bytes().decode()
        return json.dumps({"manifest": body, "signature": self.signature.hex()}).encode()


def parse_signed_manifest(data: bytes) -> SignedManifest:
    """Parse strictly (no signature check yet): MalformedManifest names what is wrong."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise MalformedManifest(f"manifest is {len(data)} bytes, over {MAX_MANIFEST_BYTES}")
    outer = _json(data, "signed manifest")
    if not isinstance(outer, dict) or set(outer) != {"manifest", "signature"}:
        raise MalformedManifest("a signed manifest is {manifest, signature}")
    body, signature = outer["manifest"], outer["signature"]
    if not isinstance(body, str) or not isinstance(signature, str):
        raise MalformedManifest("manifest and signature are strings")
    try:
        sig = bytes.fromhex(signature)
    except ValueError:
        raise MalformedManifest("signature is not hex") from None
    if len(sig) != 64:
        raise MalformedManifest("signature is not 64 bytes")
    try:
        body_bytes = body.encode()
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape
        raise MalformedManifest("manifest is not valid Unicode") from None
    manifest = _manifest(_json(body_bytes, "manifest"))
    if manifest.to_bytes() != body_bytes:
        raise MalformedManifest("manifest is not in canonical form")
    return SignedManifest(manifest=manifest, signature=sig)


def parse_manifest(data: bytes) -> Manifest:
    """Parse an unsigned manifest strictly (canonical form only): what an enclave signs."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise MalformedManifest(f"manifest is {len(data)} bytes, over {MAX_MANIFEST_BYTES}")
    manifest = _manifest(_json(data, "manifest"))
    if manifest.to_bytes() != data:
        raise MalformedManifest("manifest is not in canonical form")
    return manifest


def _json(data: bytes, what: str) -> object:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise MalformedManifest(f"{what} is not JSON (truncated?)") from None


def _manifest(doc: object) -> Manifest:
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise MalformedManifest(f"a manifest has exactly the fields {sorted(_FIELDS)}")
    if doc["v"] != MANIFEST_VERSION:
        raise MalformedManifest(f"unknown manifest version {doc['v']!r}")
    agent_id, version, previous, epoch = (
        doc[k] for k in ("agent_id", "version", "previous", "epoch")
    )
    if not isinstance(agent_id, str) or not is_agent_id(agent_id):
        raise MalformedManifest("agent_id is not a valid agent id")
    if not _uint(version) or version < 1 or not _uint(epoch):
        raise MalformedManifest("version must be a positive integer and epoch a natural one")
    if not isinstance(previous, str) or not (
        (version == 1 and previous == "") or (version > 1 and _HEX32.fullmatch(previous))
    ):
        raise MalformedManifest("previous must be empty for version 1, else a hex SHA-256")
    if not isinstance(doc["checkpoint"], str) or not isinstance(doc["chunks"], list):
        raise MalformedManifest("checkpoint must be a string and chunks a list")
    try:
        doc["checkpoint"].encode()
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape
        raise MalformedManifest("checkpoint is not valid Unicode") from None
    counts = doc["counts"]
    if not isinstance(counts, dict) or not all(
        isinstance(k, str) and _uint(v) for k, v in counts.items()
    ):
        raise MalformedManifest("counts map names to natural numbers")
    return Manifest(
        agent_id=agent_id,
        version=version,
        previous=previous,
        epoch=epoch,
        chunks=tuple(_chunk(c) for c in doc["chunks"]),
        checkpoint=doc["checkpoint"],
        counts=counts,
    )


def _chunk(doc: object) -> ChunkRef:
    if not isinstance(doc, dict) or set(doc) != _CHUNK_FIELDS:
        raise MalformedManifest(f"a chunk reference has exactly {sorted(_CHUNK_FIELDS)}")
    chunk_id, kind, size, items = doc["id"], doc["kind"], doc["size"], doc["items"]
    if not isinstance(chunk_id, str) or not _HEX32.fullmatch(chunk_id):
        raise MalformedManifest("chunk id must be a lowercase hex SHA-256")
    if kind not in CHUNK_KINDS:
        raise MalformedManifest(f"chunk kind {kind!r} is not one of {sorted(CHUNK_KINDS)}")
    if not _uint(size) or not _uint(items):
        raise MalformedManifest("chunk size and items are natural numbers")
    return ChunkRef(chunk_id=chunk_id, kind=kind, size=size, items=items)


def _uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64


@dataclass(frozen=True, slots=True)
class VerifiedManifest:
    manifest: Manifest
    checkpoint: SignedCheckpoint


def verify_manifest(data: bytes, *, agent_id: str, log_verifier: Verifier) -> VerifiedManifest:
    """Parse and check a signed manifest: the agent's key signed it, it names the agent,
    and its checkpoint is signed by the same log key."""
    signed = parse_signed_manifest(data)
    try:
        Ed25519PublicKey.from_public_bytes(log_verifier.public_key).verify(
            signed.signature, signed.manifest.signing_message()
        )
    except InvalidSignature:
        raise ManifestSignatureInvalid(
            f"the manifest is not signed by agent {agent_id!r}'s enclave key"
        ) from None
    manifest = signed.manifest
    if manifest.agent_id != agent_id:
        raise ManifestForAnotherAgent(
            f"the manifest is agent {manifest.agent_id!r}'s, not {agent_id!r}'s"
        )
    try:
        checkpoint = open_checkpoint(manifest.checkpoint.encode(), [log_verifier])
    except LogVerificationError as exc:
        raise ManifestSignatureInvalid(f"the manifest's log checkpoint: {exc}") from None
    return VerifiedManifest(manifest=manifest, checkpoint=checkpoint)


def check_anchored(manifest: Manifest, *, anchored_version: int, anchored_hash: bytes) -> None:
    """The manifest must be the anchored one: never an older version (a rollback)."""
    if manifest.version < anchored_version:
        raise ManifestNotAnchored(
            f"manifest version {manifest.version} is older than the anchored version "
            f"{anchored_version}: a rolled-back copy"
        )
    if manifest.version != anchored_version or not hmac.compare_digest(
        manifest.digest(), anchored_hash
    ):
        raise ManifestNotAnchored(
            f"manifest version {manifest.version} is not the anchored manifest "
            f"(version {anchored_version}, hash {anchored_hash.hex()[:16]}…)"
        )


def check_successor(previous: Manifest | None, new: Manifest) -> None:
    """`new` may be published after `previous`: same agent, the next version, linked, and
    every chunk of `previous` still listed first (history never dropped)."""
    if previous is None:
        if new.version != 1:
            raise ManifestDropsHistory(f"a first manifest is version 1, not {new.version}")
        return
    if new.agent_id != previous.agent_id or new.version != previous.version + 1:
        raise ManifestDropsHistory(
            f"manifest version {new.version} does not follow {previous.version}"
        )
    if new.previous != previous.digest().hex():
        raise ManifestDropsHistory("the manifest does not link to its predecessor")
    if new.chunks[: len(previous.chunks)] != previous.chunks:
        raise ManifestDropsHistory(
            "the manifest does not list every chunk of its predecessor first: "
            "publishing it would drop history"
        )


def check_chunk(ref: ChunkRef, data: bytes) -> None:
    if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.chunk_id:
        raise ChunkCorrupt(
            f"chunk {ref.chunk_id[:16]}… ({ref.kind}) does not match the signed manifest"
        )


def chunk_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_chunks(previous: Manifest | None, chunks: Sequence[ChunkRef]) -> tuple[ChunkRef, ...]:
    """The cumulative chunk list of the next manifest."""
    return (*(previous.chunks if previous else ()), *chunks)


def check_log_snapshot(entries: Sequence[bytes], checkpoint: SignedCheckpoint) -> None:
    """Restored log entries must be exactly the tree the (verified) checkpoint signs."""
    size, root = checkpoint.checkpoint.size, checkpoint.checkpoint.root_hash
    got = root_from_leaf_hashes(leaf_hash(e) for e in entries)
    if len(entries) != size or not hmac.compare_digest(got, root):
        raise RootMismatch(
            f"the restored log ({len(entries)} entries) is not the tree of the manifest's "
            f"checkpoint (size {size}): entries are missing, extra or altered"
        )
