"""Reads of one agent log, independent of any transport (log/reads.py calls these).

Every query reads against one snapshot: the checkpoint published when it
starts, whose size a page returns with its entries (a caller that read the
size again could report one that does not cover the page). Entries come from
the entry bundles (the signed data), the index only says which ones match a
filter. Functions block on disk: call them off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from anima_runtime.log.errors import CorruptLog, EntryNotFound, InvalidLogRequest
from anima_runtime.log.service import AgentLog
from anima_runtime_api.types import (
    ConsistencyProof,
    EntryFilter,
    EntryPage,
    EntryView,
    InclusionProof,
)
from anima_verify.tlog.entry import decode_entry
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.merkle import consistency_proof, inclusion_proof, leaf_hash

DEFAULT_PAGE = 100


@contextmanager
def _stored_data() -> Iterator[None]:
    """Stored tiles that fail to parse are the server's fault, not the caller's."""
    try:
        yield
    except LogVerificationError as exc:
        raise CorruptLog(f"the stored log is damaged: {exc.message}") from exc


def _views(log: AgentLog, start: int, end: int, size: int) -> list[EntryView]:
    with _stored_data():
        encoded = log.store.read_entries(start, end, size)
        views = [(decode_entry(data), data, leaf_hash(data)) for data in encoded]
    redacted = log.index.redacted(range(start, end))
    return [EntryView(*view, start + k in redacted) for k, view in enumerate(views)]


def entries(log: AgentLog, start: int, end: int | None, *, max_page: int) -> EntryPage:
    """Entries [start, end) of the published log; `end` is clamped to its size."""
    size = log.size
    if start < 0:
        raise InvalidLogRequest("start must not be negative")
    end = min(size, start + max_page) if end is None else min(end, size)
    if start > size:
        raise InvalidLogRequest(f"start {start} is beyond the log's size {size}")
    if end < start:
        raise InvalidLogRequest(f"end {end} is before start {start}")
    if end - start > max_page:
        raise InvalidLogRequest(f"a page holds at most {max_page} entries, asked for {end - start}")
    return EntryPage(size, _views(log, start, end, size))


def search(
    log: AgentLog, terms: EntryFilter, *, after: int, limit: int, max_page: int
) -> EntryPage:
    """Matching entries with index > after, in index order, at most `limit`."""
    if not 1 <= limit <= max_page:
        raise InvalidLogRequest(f"limit must be between 1 and {max_page}")
    if (
        terms.since_ms is not None
        and terms.until_ms is not None
        and terms.until_ms <= terms.since_ms
    ):
        raise InvalidLogRequest("until_ms must be after since_ms")
    size = log.size
    hits = log.index.search(terms, after=after, below=size, limit=limit)
    out: list[EntryView] = []
    run_start = 0
    # Read runs of consecutive hits together: one bundle read per run, not per hit.
    for k in range(1, len(hits) + 1):
        if k == len(hits) or hits[k] != hits[k - 1] + 1:
            out.extend(_views(log, hits[run_start], hits[k - 1] + 1, size))
            run_start = k
    return EntryPage(size, out)


def _tree_size(log: AgentLog, size: int | None, name: str) -> int:
    published = log.size
    if size is None:
        return published
    if size < 0:
        raise InvalidLogRequest(f"{name} must not be negative")
    if size > published:
        raise InvalidLogRequest(
            f"{name} {size} is beyond the current checkpoint's size {published}"
        )
    return size


def inclusion(log: AgentLog, index: int, size: int | None) -> InclusionProof:
    """Proof that entry `index` is in the tree of `size` (default: the published size)."""
    tree = _tree_size(log, size, "size")
    if index < 0:
        raise InvalidLogRequest("index must not be negative")
    if index >= tree:
        if size is None:
            raise EntryNotFound(f"entry {index} is not in the log (size {tree})")
        raise InvalidLogRequest(f"index {index} is not below size {tree}")
    reader = log.hash_reader(tree)
    with _stored_data():
        return InclusionProof(
            index, tree, reader.node(0, index), inclusion_proof(reader, index, tree)
        )


def consistency(log: AgentLog, first: int, second: int | None) -> ConsistencyProof:
    """Proof that the tree of `second` (default: published) extends the tree of `first`.

    `first` must be at least 1 (RFC 9162: 0 < first <= second): every tree extends
    the empty one, so there is no proof from size 0 to give, and an empty answer
    would be accepted by verifiers for any claimed first root.
    """
    tree = _tree_size(log, second, "second")
    if first < 1:
        raise InvalidLogRequest(
            f"first must be at least 1, not {first}: there is no consistency proof from the "
            "empty tree (every tree extends it; check a size-0 checkpoint's root instead)"
        )
    if first > tree:
        raise InvalidLogRequest(f"first {first} is larger than second {tree}")
    with _stored_data():
        proof = consistency_proof(log.hash_reader(tree), first, tree)
    return ConsistencyProof(first, tree, proof)


def payload(log: AgentLog, index: int) -> bytes:
    _check_index(log, index)
    return log.index.payload(index)


def redact(log: AgentLog, index: int) -> bool:
    """Delete the payload of entry `index`; False if it was redacted before."""
    _check_index(log, index)
    return log.index.redact(index, at_ms=time.time_ns() // 1_000_000)


def _check_index(log: AgentLog, index: int) -> None:
    if index < 0:
        raise InvalidLogRequest("index must not be negative")
    size = log.size
    if index >= size:
        raise EntryNotFound(f"entry {index} is not in the log (size {size})")
