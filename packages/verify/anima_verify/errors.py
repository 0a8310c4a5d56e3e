"""The root of every domain error in Anima.

Core logic raises these without importing gRPC; the transport layer maps
`kind` to a gRPC code and an HTTP status in one table (anima_core.errors).
Messages are shown to callers, so they say what was wrong and never carry
secrets.

`reason` is the error's stable, machine-readable name (UPPER_SNAKE): servers
send it as google.rpc.ErrorInfo.reason and clients map it back to the class,
so it is part of the wire contract (listed in the protos) and never changes
once published. Reasons are unique within a service's domain (checked by a
test over every subclass). `metadata_fields` names the attributes that travel
with it as ErrorInfo.metadata: short, public values such as an agent id or a
policy rule, never secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import ClassVar, Self


class ErrorKind(Enum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    FAILED_PRECONDITION = "failed_precondition"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class AnimaError(Exception):
    """Base of all Anima domain errors; subclasses set `kind` and `reason`."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    reason: ClassVar[str] = "INTERNAL"
    metadata_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def metadata(self) -> dict[str, str]:
        """The attributes named by `metadata_fields`, as strings (ErrorInfo.metadata)."""
        return {name: str(getattr(self, name)) for name in self.metadata_fields}

    @classmethod
    def rebuild(cls, message: str, metadata: Mapping[str, str] | None = None) -> Self:
        """The error as a client rebuilds it from a server's answer: the server's message
        as it is (no constructor runs to reword it) and the `metadata_fields` it sent
        ("" for any it left out)."""
        error = cls.__new__(cls)
        AnimaError.__init__(error, message)
        given = metadata or {}
        for name in cls.metadata_fields:
            setattr(error, name, given.get(name, ""))
        return error
