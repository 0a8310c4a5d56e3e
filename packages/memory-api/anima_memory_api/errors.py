"""The memory service's error family; kinds map to gRPC status codes in anima_core.server."""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class MemoryServiceError(AnimaError):
    """Base of every error the memory service reports to its callers."""


class InvalidMemoryRequest(MemoryServiceError):
    """A request field is malformed; the message names the field and the rule."""

    kind = ErrorKind.INVALID_ARGUMENT


class MemoryNotFound(MemoryServiceError):
    kind = ErrorKind.NOT_FOUND


class MemoryExists(MemoryServiceError):
    """A new memory names an id that is already stored (for this or any agent)."""

    kind = ErrorKind.ALREADY_EXISTS


class ImportRefused(MemoryServiceError):
    """An import cannot run against the store as it is (the agent already has memories)."""

    kind = ErrorKind.FAILED_PRECONDITION


class CorruptExport(MemoryServiceError):
    """An export stream is truncated, out of order, or fails its digest."""

    kind = ErrorKind.INVALID_ARGUMENT


class StoreUnavailable(MemoryServiceError):
    """The vector store or the embedding model cannot serve right now."""

    kind = ErrorKind.UNAVAILABLE


class EmbeddingFailed(MemoryServiceError):
    """The embedding backend failed or answered something that is not an embedding."""

    kind = ErrorKind.UNAVAILABLE


class WrongShard(MemoryServiceError):
    """The call names an agent that another replica serves (see anima_memory_api.shards).

    Nothing is read or written; the caller's routing is wrong.
    """

    kind = ErrorKind.FAILED_PRECONDITION


class ReplicaMismatch(MemoryServiceError):
    """A router's replicas do not serve the shards their order says (a misordered or
    incomplete replica list, or replicas with different embedding models)."""

    kind = ErrorKind.FAILED_PRECONDITION
