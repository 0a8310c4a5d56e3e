"""The runtime's error family: one base, narrow subclasses, kinds mapped to HTTP
statuses in one table (api/) and to gRPC codes by anima_core.server.

The errors callers may see live in the runtime's API package (anima_runtime_api.errors)
and are re-exported here; the ones that stay inside the runtime are defined here."""

from __future__ import annotations

from anima_runtime_api.errors import (
    AgentExists,
    AgentRuntimeError,
    AgentStopped,
    InvalidCharacter,
    InvalidMessage,
    InvalidRequest,
    ModelFailed,
    UnknownAgent,
)
from anima_verify.errors import ErrorKind


class PluginFailed(AgentRuntimeError):
    """An action, provider or evaluator raised; the turn records it and goes on."""

    kind = ErrorKind.INTERNAL


class BackingServiceUnavailable(AgentRuntimeError):
    """The memory service or the signer could not be reached (or did not answer in time)."""

    kind = ErrorKind.UNAVAILABLE


class BackingServiceFailed(AgentRuntimeError):
    """The memory service or the signer answered a call with an error of its own."""

    kind = ErrorKind.INTERNAL


__all__ = [
    "AgentExists",
    "AgentRuntimeError",
    "AgentStopped",
    "BackingServiceFailed",
    "BackingServiceUnavailable",
    "InvalidCharacter",
    "InvalidMessage",
    "InvalidRequest",
    "ModelFailed",
    "PluginFailed",
    "UnknownAgent",
]
