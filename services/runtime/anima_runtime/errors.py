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


class AgentNotFound(AgentRuntimeError):
    """No agent with this id on this runtime (the signer's own is UnknownAgent)."""

    kind = ErrorKind.NOT_FOUND


class AgentAlreadyExists(AgentRuntimeError):
    """An agent with this id is already on this runtime (the signer's own is AgentExists)."""

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


class InvalidAgentId(AgentRuntimeError):
    kind = ErrorKind.INVALID_ARGUMENT


class AgentKeysMissing(AgentRuntimeError):
    """The signer holds no keys for the agent and this runtime may not create them."""

    kind = ErrorKind.FAILED_PRECONDITION


class SignerUnavailable(AgentRuntimeError):
    """The signer could not be reached, or refused the runtime's own request."""

    kind = ErrorKind.UNAVAILABLE
