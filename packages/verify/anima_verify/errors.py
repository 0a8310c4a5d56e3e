"""The root of every domain error in Anima.

Core logic raises these without importing gRPC; the transport layer maps
`kind` to a status code in one table (anima_core.server). Messages are shown
to callers, so they say what was wrong and never carry secrets.
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar


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
    """Base of all Anima domain errors; subclasses set `kind`."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
