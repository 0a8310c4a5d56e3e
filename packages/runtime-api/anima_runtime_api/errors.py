"""The agent runtime's errors that callers see: one base, narrow subclasses, each with
its stable reason (google.rpc.ErrorInfo over gRPC, `reason` in the HTTP error body).

`kind` maps to an HTTP status and a gRPC code in one table, anima_core.errors. The
runtime raises these; its client raises the same classes for what the service
answered (by reason), or RuntimeRpcError / RuntimeUnreachable by status code, so
callers catch AnimaError subclasses, never transport exceptions.
"""

from __future__ import annotations

from typing import Final

from anima_verify.errors import AnimaError, ErrorKind

#: The domain of the runtime's reasons (google.rpc.ErrorInfo.domain over gRPC).
ERROR_DOMAIN: Final = "runtime.anima"


class AgentRuntimeError(AnimaError):
    """Base of the agent runtime's errors."""


class InvalidRuntimeRequest(AgentRuntimeError):
    """A request field is missing or malformed; the message names the field."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_REQUEST"


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


class InvalidAgentRecord(AgentRuntimeError):
    """A restored agent record is malformed, names another agent, or holds wallets or a
    log key that are not the signer's for the agent."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_AGENT_RECORD"


class AgentStopped(AgentRuntimeError):
    """The agent exists but is not running: start it first."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "AGENT_STOPPED"


class ModelFailed(AgentRuntimeError):
    """The language model timed out, refused, or answered something unusable."""

    kind = ErrorKind.UNAVAILABLE
    reason = "MODEL_FAILED"


class BackingServiceUnavailable(AgentRuntimeError):
    """The memory service or the signer could not be reached (or did not answer in time)."""

    kind = ErrorKind.UNAVAILABLE
    reason = "BACKEND_UNAVAILABLE"


class BackingServiceFailed(AgentRuntimeError):
    """The memory service or the signer answered a call with an error of its own."""

    kind = ErrorKind.INTERNAL
    reason = "BACKEND_FAILED"


# ---------------------------------------------------------------- client side


class RuntimeRpcError(AgentRuntimeError):
    """A failed call that names no reason this client knows (an older or newer service,
    an auth refusal, a log read's refusal): the status code's name and the text as given."""

    reason = "RPC_ERROR"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class RuntimeUnreachable(RuntimeRpcError):
    """The runtime did not answer in time or could not be reached (UNAVAILABLE,
    DEADLINE_EXCEEDED): retrying later may help."""

    kind = ErrorKind.UNAVAILABLE
    reason = "RUNTIME_UNREACHABLE"


#: The errors the runtime sends with their reasons, for the client's catalog.
SERVER_ERRORS: Final[tuple[type[AgentRuntimeError], ...]] = (
    InvalidRuntimeRequest,
    InvalidCharacter,
    InvalidMessage,
    AgentNotFound,
    AgentAlreadyExists,
    InvalidAgentRecord,
    AgentStopped,
    ModelFailed,
    BackingServiceUnavailable,
    BackingServiceFailed,
)


__all__ = [
    "ERROR_DOMAIN",
    "SERVER_ERRORS",
    "AgentAlreadyExists",
    "AgentNotFound",
    "AgentRuntimeError",
    "AgentStopped",
    "BackingServiceFailed",
    "BackingServiceUnavailable",
    "InvalidAgentRecord",
    "InvalidCharacter",
    "InvalidMessage",
    "InvalidRuntimeRequest",
    "ModelFailed",
    "RuntimeRpcError",
    "RuntimeUnreachable",
]
