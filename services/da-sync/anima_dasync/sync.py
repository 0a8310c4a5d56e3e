"""One sync of an agent's life data through its signer (over gRPC): the enclave seals
the delta and its own state and signs the next manifest; the host publishes it
(chunks first, anima_dasync.publish) and hands back the state to anchor.

The log entries and checkpoint come from the runtime's log store: the enclave
checks them again on restore (every entry must be the checkpoint's tree), so a
host that drops or alters one makes the restore fail, never succeed wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from anima_dasync.backends.base import DABackend
from anima_dasync.publish import publish
from anima_signer_api.client import SignerClient
from anima_verify.lifedata import AnchorState, Manifest
from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.note import parse_note

# One SealLifeData request stays under this (its response, the sealed parts, a little
# more): the signer's default message limit is 64 MiB, and a large memories snapshot
# (cut into parts of at most 16 MiB) goes in several requests.
SEAL_REQUEST_BYTES = 32 << 20


@dataclass
class SyncState:
    """What this node already published for one agent."""

    manifest: Manifest | None = None
    log_size: int = 0
    # The memory change feed's cursor the last memories chunk reached (None: no
    # snapshot yet), and the deltas published since the last snapshot.
    memory_sequence: int | None = None
    memory_deltas: int = 0
    # SHA-256 of the last runtime record published (None: none yet by this process).
    runtime_digest: bytes | None = None

    @classmethod
    def of(cls, manifest: Manifest) -> SyncState:
        """Resume from our own last manifest (its counts carry the cursors)."""
        counts = manifest.counts
        return cls(
            manifest=manifest,
            log_size=counts["log_entries"],
            memory_sequence=counts.get("memory_sequence"),
            memory_deltas=counts.get("memory_deltas", 0),
        )


async def sync_agent(
    signer: SignerClient,
    agent_id: str,
    *,
    backend: DABackend,
    state: SyncState,
    epoch: int,
    log_entries: Sequence[bytes],
    checkpoint: bytes,
    parts: Sequence[tuple[str, bytes, int]] = (),
    counts: Mapping[str, int] | None = None,
    seal_request_bytes: int = SEAL_REQUEST_BYTES,
) -> AnchorState:
    """Publish the next manifest (`log_entries` are those after state.log_size, up to
    `checkpoint`; `counts` override the manifest's running counts); the anchor state
    to record on chain for it."""
    signed_checkpoint = parse_checkpoint(parse_note(checkpoint).text)
    if signed_checkpoint.size != state.log_size + len(log_entries):
        raise ValueError(
            f"the checkpoint covers {signed_checkpoint.size} entries, the last sync "
            f"{state.log_size} plus {len(log_entries)} new ones"
        )
    log_part = ("log", json.dumps([e.hex() for e in log_entries]).encode(), len(log_entries))
    *earlier, last = _seal_requests([*parts, log_part], seal_request_bytes)
    sealed = []
    for batch in earlier:
        sealed += await signer.seal_life_data(
            agent_id, epoch=epoch, parts=batch, include_signer_state=False
        )
    # The enclave's own state once, with the last request (nothing is published before
    # every request succeeded, so a failure halfway leaves DA as it was).
    sealed += await signer.seal_life_data(
        agent_id, epoch=epoch, parts=last, include_signer_state=True
    )
    previous = state.manifest
    running = dict(previous.counts) if previous else {}
    for ref, _ in sealed:
        if ref.kind not in ("log", "signer-state"):
            running[ref.kind] = running.get(ref.kind, 0) + ref.items
    running.update(counts or {})
    running["log_entries"] = signed_checkpoint.size
    manifest = Manifest(
        agent_id=agent_id,
        version=previous.version + 1 if previous else 1,
        previous=previous.digest().hex() if previous else "",
        epoch=epoch,
        chunks=(*(previous.chunks if previous else ()), *(ref for ref, _ in sealed)),
        checkpoint=checkpoint.decode(),
        counts=running,
    )
    signed = await signer.sign_life_manifest(manifest)
    publish(
        backend,
        signed,
        new_chunks={ref.chunk_id: data for ref, data in sealed},
        previous=previous,
    )
    state.manifest, state.log_size = manifest, signed_checkpoint.size
    return AnchorState(
        manifest_hash=manifest.digest(),
        checkpoint_root=signed_checkpoint.root_hash,
        version=manifest.version,
        checkpoint_size=signed_checkpoint.size,
        epoch=epoch,
    )


def _seal_requests(
    parts: Sequence[tuple[str, bytes, int]], limit: int
) -> list[list[tuple[str, bytes, int]]]:
    """The parts in order, grouped into requests of at most about `limit` plaintext bytes
    (a part larger than `limit` goes alone)."""
    requests: list[list[tuple[str, bytes, int]]] = [[]]
    size = 0
    for part in parts:
        if requests[-1] and size + len(part[1]) > limit:
            requests.append([])
            size = 0
        requests[-1].append(part)
        size += len(part[1])
    return requests
