"""The memory service's error family: one base, narrow subclasses, each with its stable reason.

The service sends these as google.rpc.ErrorInfo (domain ERROR_DOMAIN, the class's
`reason`); MemoryClient raises the same class again (anima_memory_api.client). A
status without a reason it knows becomes MemoryUnreachable or MemoryRpcError
(by its code). Every reason the server sends is listed in memory.proto.
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


class ChangeCursorAhead(MemoryServiceError):
    """A change cursor past the agent's latest change: from another store or a forgery,
    never one this store handed out (its sequence only grows)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "CURSOR_AHEAD"


class StoreUnavailable(MemoryServiceError):
    """The vector store or the embedding model cannot serve right now."""

    kind = ErrorKind.UNAVAILABLE
    reason = "STORE_UNAVAILABLE"


class EmbeddingFailed(MemoryServiceError):
    """The embedding backend failed or answered something that is not an embedding."""

    kind = ErrorKind.UNAVAILABLE
    reason = "EMBEDDING_FAILED"


class WrongShard(MemoryServiceError):
    """The call names an agent that another replica serves (see anima_memory_api.shards).

    Nothing is read or written; the caller's routing is wrong.
    """

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "WRONG_SHARD"


class ReplicaMismatch(MemoryServiceError):
    """A router's replicas do not serve the shards their order says (a misordered or
    incomplete replica list, or replicas with different embedding models)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "REPLICA_MISMATCH"


# ---------------------------------------------------------------- client side


class MemoryRpcError(MemoryServiceError):
    """A failed call that names no reason this client knows (an older or newer service,
    an auth refusal, a transport failure): the status code's name and the text as given."""

    reason = "RPC_ERROR"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class MemoryUnreachable(MemoryRpcError):
    """The memory service did not answer in time or could not be reached (UNAVAILABLE,
    DEADLINE_EXCEEDED): retrying later may help."""

    kind = ErrorKind.UNAVAILABLE
    reason = "MEMORY_UNREACHABLE"


#: The errors the memory service sends with their reasons, for the client's catalog.
SERVER_ERRORS: Final[tuple[type[MemoryServiceError], ...]] = (
    InvalidMemoryRequest,
    MemoryNotFound,
    MemoryExists,
    ImportRefused,
    CorruptExport,
    StoreUnavailable,
    EmbeddingFailed,
    WrongShard,
    ChangeCursorAhead,
)
