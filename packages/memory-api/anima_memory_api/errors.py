"""The memory service's error family: one base, narrow subclasses, each with its stable reason.

The service sends these as google.rpc.ErrorInfo (domain ERROR_DOMAIN, the class's
`reason`). Every reason the server sends is listed in memory.proto.
"""

from __future__ import annotations

from typing import Final

from anima_verify.errors import AnimaError, ErrorKind

#: google.rpc.ErrorInfo.domain of every error the memory service sends.
ERROR_DOMAIN: Final = "memory.anima"


class MemoryServiceError(AnimaError):
    """Base of every error the memory service reports to its callers."""


class InvalidMemoryRequest(MemoryServiceError):
    """A request field is malformed; the message names the field and the rule."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class MemoryNotFound(MemoryServiceError):
    kind = ErrorKind.NOT_FOUND
    reason = "MEMORY_NOT_FOUND"


class MemoryExists(MemoryServiceError):
    """A new memory names an id that is already stored (for this or any agent)."""

    kind = ErrorKind.ALREADY_EXISTS
    reason = "MEMORY_EXISTS"


class ImportRefused(MemoryServiceError):
    """An import cannot run against the store as it is (the agent already has memories)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "IMPORT_REFUSED"


class CorruptExport(MemoryServiceError):
    """An export stream is truncated, out of order, or fails its digest."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "CORRUPT_EXPORT"


class StoreUnavailable(MemoryServiceError):
    """The vector store or the embedding model cannot serve right now."""

    kind = ErrorKind.UNAVAILABLE
    reason = "STORE_UNAVAILABLE"


class EmbeddingFailed(MemoryServiceError):
    """The embedding backend failed or answered something that is not an embedding."""

    kind = ErrorKind.UNAVAILABLE
    reason = "EMBEDDING_FAILED"
