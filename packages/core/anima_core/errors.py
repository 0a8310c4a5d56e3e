"""The one error table, and domain errors on the wire in both directions.

Each ErrorKind has one gRPC code and one HTTP status (ERROR_TABLE): the gRPC
interceptor (anima_core.error_mapping) and the HTTP adapters take their statuses
from here. A server sends an AnimaError as a rich status: its code, its
message and a google.rpc.ErrorInfo with the error's `reason`, the service's
`domain` and the error's metadata (`rich_status`). A client turns that back
into the same typed error with its API package's ErrorCatalog (reason ->
class, for that domain); a status with no reason it knows (another domain, an
older or newer server, grpc's own UNAVAILABLE) becomes the API's generic
error for the status code. No AioRpcError leaves an API package's client.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Final

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from anima_verify.errors import AnimaError, ErrorKind

__all__ = [
    "ERROR_TABLE",
    "GRPC_STATUS_FOR_KIND",
    "HTTP_STATUS_FOR_KIND",
    "REASON_PATTERN",
    "ErrorCatalog",
    "ErrorStatus",
    "RemoteStatus",
    "http_status_for",
    "rich_status",
]

logger = logging.getLogger(__name__)

#: What a reason looks like (google.rpc.ErrorInfo: UPPER_SNAKE_CASE, at most 63 characters).
REASON_PATTERN: Final = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """How one kind of error is reported over gRPC and over HTTP."""

    grpc: grpc.StatusCode
    http: int


#: The one table from domain error kinds to gRPC codes and HTTP statuses.
ERROR_TABLE: Final[Mapping[ErrorKind, ErrorStatus]] = MappingProxyType(
    {
        ErrorKind.INVALID_ARGUMENT: ErrorStatus(grpc.StatusCode.INVALID_ARGUMENT, 400),
        ErrorKind.UNAUTHENTICATED: ErrorStatus(grpc.StatusCode.UNAUTHENTICATED, 401),
        ErrorKind.PERMISSION_DENIED: ErrorStatus(grpc.StatusCode.PERMISSION_DENIED, 403),
        ErrorKind.NOT_FOUND: ErrorStatus(grpc.StatusCode.NOT_FOUND, 404),
        ErrorKind.ALREADY_EXISTS: ErrorStatus(grpc.StatusCode.ALREADY_EXISTS, 409),
        ErrorKind.FAILED_PRECONDITION: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION, 409),
        ErrorKind.RESOURCE_EXHAUSTED: ErrorStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        ErrorKind.INTERNAL: ErrorStatus(grpc.StatusCode.INTERNAL, 500),
        ErrorKind.UNAVAILABLE: ErrorStatus(grpc.StatusCode.UNAVAILABLE, 503),
    }
)
GRPC_STATUS_FOR_KIND: Final[Mapping[ErrorKind, grpc.StatusCode]] = MappingProxyType(
    {kind: status.grpc for kind, status in ERROR_TABLE.items()}
)
HTTP_STATUS_FOR_KIND: Final[Mapping[ErrorKind, int]] = MappingProxyType(
    {kind: status.http for kind, status in ERROR_TABLE.items()}
)


def http_status_for(error: AnimaError) -> int:
    """The HTTP status of a domain error (500 for a kind the table lacks)."""
    return HTTP_STATUS_FOR_KIND.get(error.kind, 500)


def rich_status(error: AnimaError, *, domain: str) -> grpc.Status:
    """`error` as a status to abort with: its kind's code, its message, and ErrorInfo
    (its reason, `domain`, its metadata) in the grpc-status-details-bin trailer."""
    code = GRPC_STATUS_FOR_KIND.get(error.kind, grpc.StatusCode.INTERNAL)
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata())
    )
    return rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=error.message, details=[detail])
    )


_DETAILS_KEY: Final = "grpc-status-details-bin"
_CODES_BY_NUMBER: Final = MappingProxyType({code.value[0]: code for code in grpc.StatusCode})


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """What a server answered to a failed call: code, text and, if it sent one, its ErrorInfo."""

    code: grpc.StatusCode
    message: str
    domain: str = ""
    reason: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_number(
        cls,
        code: int,
        message: str,
        *,
        domain: str = "",
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> RemoteStatus:
        """From a numeric code (as a proto field carries it); an unknown number is UNKNOWN."""
        return cls(
            _CODES_BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN),
            message,
            domain,
            reason,
            dict(metadata or {}),
        )

    @classmethod
    def of_rpc_error(cls, error: grpc.aio.AioRpcError) -> RemoteStatus:
        """From a failed call, reading ErrorInfo from the rich status when there is one.
        A status detail that does not decode, or contradicts the call's own code or
        text, is ignored: the status then goes by its code."""
        code, message = error.code(), error.details() or ""
        status = _rich_status_of(error)
        if status is not None and status.code == code.value[0] and status.message == message:
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
                    return cls(code, message, info.domain, info.reason, dict(info.metadata))
        return cls(code, message)


def _rich_status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status in the call's trailers, as grpc_status.rpc_status.from_call
    reads it (which is typed for sync calls only); None if absent or undecodable."""
    # grpc.aio.Metadata: (key, value) pairs (grpc-stubs types it as the sync _Metadatum).
    trailers: Any = error.trailing_metadata()
    for key, value in trailers or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                logger.debug("ignoring an undecodable %s trailer", _DETAILS_KEY)
                return None
    return None


#: Statuses that say the service was not reached, or did not answer in time.
_UNREACHABLE: Final = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class ErrorCatalog:
    """One service's reasons and their error classes: what its API package's client
    raises for each status it gets.

    Also a context manager for the client's calls: an AioRpcError raised inside
    leaves it as the matching typed error (`with self._errors: await stub.Call(...)`).
    """

    def __init__(
        self,
        *,
        domain: str,
        errors: Iterable[type[AnimaError]],
        rpc_error: Callable[[str, str], AnimaError],
        unreachable: Callable[[str, str], AnimaError] | None = None,
    ) -> None:
        """`errors`: the classes the service sends, by reason (each reason once). Any
        other status is `unreachable(code_name, message)` when the service could not be
        reached or did not answer in time (retrying later may help), else
        `rpc_error(code_name, message)`."""
        self.domain = domain
        by_reason: dict[str, type[AnimaError]] = {}
        for cls in errors:
            if REASON_PATTERN.fullmatch(cls.reason) is None:
                raise ValueError(f"{cls.__name__}.reason {cls.reason!r} is not UPPER_SNAKE")
            if cls.reason in by_reason:
                raise ValueError(
                    f"reason {cls.reason} of {cls.__name__} is also "
                    f"{by_reason[cls.reason].__name__}'s in domain {domain}"
                )
            by_reason[cls.reason] = cls
        self._by_reason: Mapping[str, type[AnimaError]] = MappingProxyType(by_reason)
        self._rpc_error = rpc_error
        self._unreachable = unreachable or rpc_error

    @property
    def reasons(self) -> Mapping[str, type[AnimaError]]:
        return self._by_reason

    def error_for(self, status: RemoteStatus) -> AnimaError:
        """The typed error for `status`: its reason's class when the reason is this
        domain's and the code is the one that class is sent with; else the fallback."""
        cls = self._by_reason.get(status.reason) if status.domain == self.domain else None
        if cls is not None and GRPC_STATUS_FOR_KIND.get(cls.kind) == status.code:
            return cls.rebuild(status.message, status.metadata)
        fallback = self._unreachable if status.code in _UNREACHABLE else self._rpc_error
        return fallback(status.code.name, status.message)

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, grpc.aio.AioRpcError):
            raise self.error_for(RemoteStatus.of_rpc_error(exc)) from None
