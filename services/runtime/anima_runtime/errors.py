"""The runtime's error family: one base, narrow subclasses, kinds mapped to HTTP
statuses in one table (api/) and to gRPC codes by anima_core.server."""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class AgentRuntimeError(AnimaError):
    """Base of the agent runtime's errors."""


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


class PluginFailed(AgentRuntimeError):
    """An action, provider or evaluator raised; the turn records it and goes on."""

    kind = ErrorKind.INTERNAL
