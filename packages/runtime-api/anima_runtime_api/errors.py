"""The agent runtime's error family: one base, narrow subclasses. Kinds map to HTTP
statuses in the runtime's HTTP API and to gRPC codes by anima_core.server.

The runtime raises these; its client raises `RuntimeRefused` for what the service
answered, so callers catch AnimaError subclasses, never transport exceptions.
"""

from __future__ import annotations

import grpc

from anima_verify.errors import AnimaError, ErrorKind


class AgentRuntimeError(AnimaError):
    """Base of the agent runtime's errors."""


class InvalidRequest(AgentRuntimeError):
    """A request field is missing or malformed; the message names the field."""

    kind = ErrorKind.INVALID_ARGUMENT


class InvalidCharacter(AgentRuntimeError):
    """A character file or document that is not a valid ElizaOS character."""

    kind = ErrorKind.INVALID_ARGUMENT


class InvalidMessage(AgentRuntimeError):
    """An empty, oversized or malformed message."""

    kind = ErrorKind.INVALID_ARGUMENT


class UnknownAgent(AgentRuntimeError):
    kind = ErrorKind.NOT_FOUND


class AgentExists(AgentRuntimeError):
    kind = ErrorKind.ALREADY_EXISTS


class AgentStopped(AgentRuntimeError):
    """The agent exists but is not running: start it first."""

    kind = ErrorKind.FAILED_PRECONDITION


class ModelFailed(AgentRuntimeError):
    """The language model timed out, refused, or answered something unusable."""

    kind = ErrorKind.UNAVAILABLE


class RuntimeRefused(AgentRuntimeError):
    """What the runtime answered a client call with, other than OK: `status` is the
    gRPC status (UNAVAILABLE also when the runtime cannot be reached), the message the
    runtime's own, which names the field or the agent."""

    def __init__(self, status: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{status.name}: {message}")
        self.status = status
        self.details = message


__all__ = [
    "AgentExists",
    "AgentRuntimeError",
    "AgentStopped",
    "InvalidCharacter",
    "InvalidMessage",
    "InvalidRequest",
    "ModelFailed",
    "RuntimeRefused",
    "UnknownAgent",
]
