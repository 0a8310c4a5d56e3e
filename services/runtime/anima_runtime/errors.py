"""The runtime's error family: one base, narrow subclasses, each with its stable reason.

`kind` maps to an HTTP status (and a gRPC code) in one table, anima_core.errors;
the HTTP API sends `reason` in its error body. The errors callers may see live in
the runtime's API package (anima_runtime_api.errors) and are re-exported here; the
ones that stay inside the runtime are defined here.
"""

from __future__ import annotations

from anima_memory_api.errors import MemoryServiceError
from anima_runtime_api.errors import (
    ERROR_DOMAIN,
    AgentAlreadyExists,
    AgentNotFound,
    AgentRuntimeError,
    AgentStopped,
    BackingServiceFailed,
    BackingServiceUnavailable,
    InvalidAgentRecord,
    InvalidCharacter,
    InvalidMessage,
    InvalidRuntimeRequest,
    ModelFailed,
)
from anima_signer_api.errors import SignerError
from anima_verify.errors import AnimaError, ErrorKind

#: The errors of the services the runtime calls (typed by their clients): a failure
#: behind the runtime's API, not its caller's, whatever their kind.
BACKING_SERVICE_ERRORS = (SignerError, MemoryServiceError)


def backing_service_error(exc: AnimaError) -> BackingServiceUnavailable | BackingServiceFailed:
    """A signer or memory error as the runtime's own: unavailable when the service is
    (its kind says so), else failed. Only the service's reason is named: its message may
    describe that service's internals."""
    if exc.kind is ErrorKind.UNAVAILABLE:
        return BackingServiceUnavailable(f"a backing service is unavailable ({exc.reason})")
    return BackingServiceFailed(f"a backing service failed ({exc.reason})")


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


__all__ = [
    "BACKING_SERVICE_ERRORS",
    "ERROR_DOMAIN",
    "AgentAlreadyExists",
    "AgentKeysMissing",
    "AgentNotFound",
    "AgentRuntimeError",
    "AgentStopped",
    "BackingServiceFailed",
    "BackingServiceUnavailable",
    "InvalidAgentId",
    "InvalidAgentRecord",
    "InvalidCharacter",
    "InvalidMessage",
    "InvalidRuntimeRequest",
    "ModelFailed",
    "PluginFailed",
    "SignerUnavailable",
    "backing_service_error",
]
