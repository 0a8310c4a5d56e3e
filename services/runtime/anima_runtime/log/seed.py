"""Seeding a restored agent's log storage on a new node.

A signer that restored an agent holds only the log's frontier and counts the
restored entries as already stored by its host (it refuses a host that claims
fewer), so the new node's runtime writes them before it opens the log. Nothing
here is taken on the caller's word: each entry must be the agent's, at its
index, and the checkpoint must verify under the agent's log key and match the
entries' root (TileStore.append), else CheckpointRejected and nothing is
published. Seeding again what is stored already is a no-op (a resumed restore).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from anima_runtime.log.errors import CheckpointRejected
from anima_runtime.log.service import TILES_DIR
from anima_runtime.log.tiles_store import TileStore
from anima_verify.tlog.entry import decode_entry
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.note import Verifier


def seed_log(
    directory: Path,
    *,
    agent_id: str,
    verifier: Verifier,
    entries: Sequence[bytes],
    checkpoint: bytes,
) -> None:
    """Store `entries` [0, n) and publish `checkpoint` (size n) in the log under
    `directory`, which must be empty or hold exactly that log already."""
    for index, data in enumerate(entries):
        try:
            entry = decode_entry(data)
        except LogVerificationError as exc:
            raise CheckpointRejected(f"restored entry {index}: {exc}") from None
        if entry.agent != agent_id or entry.index != index:
            raise CheckpointRejected(
                f"restored entry {index} is entry {entry.index} of agent {entry.agent!r}"
            )
    store = TileStore.open(directory / TILES_DIR, verifier=verifier)
    try:
        published = store.published
        if published is not None and published.note == checkpoint:
            return  # seeded by an earlier, interrupted restore
        if store.size:
            raise CheckpointRejected(
                f"the log storage of agent {agent_id!r} already holds {store.size} entries "
                "that are not the restored log"
            )
        store.append(list(entries), checkpoint)
    finally:
        store.close()
