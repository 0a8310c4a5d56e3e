"""The host side of the verifiable log: tile storage, entry index and payloads,
group-committed appends through the enclave sequencer, and the query API.

    registry = LogRegistry(root=Path(".anima/logs"), sequencer=signer_client)
    log = await registry.open("alice")            # created on first use, synced
    [index] = await log.append([LogItem(EntryKind.MESSAGE_IN, "bob", "room", b"hi")])
    reads = LogReads(registry, max_page=100)      # what the HTTP and gRPC APIs answer
    app.include_router(log_router(reads, attestation=signer_attestation(signer_client)))

Modules: tiles_store (C2SP tlog-tiles on disk, crash-safe; with tile_paths,
right_edge (the partial tiles held in memory) and partial_tiles), index (SQLite
entry index and payloads), items (LogItem), service (AgentLog), registry, sequencer (what the
host needs from the signer), queries and reads (transport-free reads), http (FastAPI;
with http_errors, its error shape, and http_auth, its bearer-token checks),
cli (`anima log serve`: the API in front of a signer on attested gRPC).
"""

from anima_runtime.log.config import LogApiConfig, LogConfig
from anima_runtime.log.errors import (
    CheckpointRejected,
    CorruptLog,
    EntryNotFound,
    InvalidLogRequest,
    LogError,
    LogLocked,
    PayloadMismatch,
    PayloadRedacted,
    RedactionIncomplete,
    SequencerFailed,
    TileNotFound,
    UnknownLog,
)
from anima_runtime.log.http import create_log_app, log_router
from anima_runtime.log.items import LogItem
from anima_runtime.log.reads import LogReads
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.sequencer import (
    AttestationFetcher,
    AttestingSigner,
    LogSequencer,
    signer_attestation,
)
from anima_runtime.log.service import AgentLog
from anima_runtime.log.tiles_store import PublishedCheckpoint, TileStore

__all__ = [
    "AgentLog",
    "AttestationFetcher",
    "AttestingSigner",
    "CheckpointRejected",
    "CorruptLog",
    "EntryNotFound",
    "InvalidLogRequest",
    "LogApiConfig",
    "LogConfig",
    "LogError",
    "LogItem",
    "LogLocked",
    "LogReads",
    "LogRegistry",
    "LogSequencer",
    "PayloadMismatch",
    "PayloadRedacted",
    "PublishedCheckpoint",
    "RedactionIncomplete",
    "SequencerFailed",
    "TileNotFound",
    "TileStore",
    "UnknownLog",
    "create_log_app",
    "log_router",
    "signer_attestation",
]
