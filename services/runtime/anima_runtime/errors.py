"""The runtime's error family: one base, narrow subclasses, each with its stable reason.

`kind` maps to an HTTP status (and a gRPC code) in one table, anima_core.errors;
the HTTP API sends `reason` in its error body.
"""

from __future__ import annotations

from typing import Final

from anima_verify.errors import AnimaError, ErrorKind

#: The domain of the runtime's reasons (google.rpc.ErrorInfo.domain over gRPC).
ERROR_DOMAIN: Final = "runtime.anima"


class AgentRuntimeError(AnimaError):
    """Base of the agent runtime's errors."""


class InvalidCharacter(AgentRuntimeError):
    """A character file or document that is not a valid ElizaOS character."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_CHARACTER"


class InvalidMessage(AgentRuntimeError):
    """An empty, oversized or malformed message."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_MESSAGE"


class AgentNotFound(AgentRuntimeError):
    """No agent with this id on this runtime (the signer's own is UnknownAgent)."""

    kind = ErrorKind.NOT_FOUND
    reason = "AGENT_NOT_FOUND"


class AgentAlreadyExists(AgentRuntimeError):
    """An agent with this id is already on this runtime (the signer's own is AgentExists)."""

    kind = ErrorKind.ALREADY_EXISTS
    reason = "AGENT_ALREADY_EXISTS"


class AgentStopped(AgentRuntimeError):
    """The agent exists but is not running: start it first."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "AGENT_STOPPED"


class ModelFailed(AgentRuntimeError):
    """The language model timed out, refused, or answered something unusable."""

    kind = ErrorKind.UNAVAILABLE
    reason = "MODEL_FAILED"


class PluginFailed(AgentRuntimeError):
    """An action, provider or evaluator raised; the turn records it and goes on."""

    kind = ErrorKind.INTERNAL
    reason = "PLUGIN_FAILED"


class InvalidAgentId(AgentRuntimeError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_AGENT_ID"


class AgentKeysMissing(AgentRuntimeError):
    """The signer holds no keys for the agent and this runtime may not create them."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "AGENT_KEYS_MISSING"


class SignerUnavailable(AgentRuntimeError):
    """The signer could not be reached, or refused the runtime's own request."""

    kind = ErrorKind.UNAVAILABLE
    reason = "SIGNER_UNAVAILABLE"
