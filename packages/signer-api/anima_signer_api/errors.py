"""The signer's error family: one base, narrow subclasses, kinds mapped to status codes."""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class SignerError(AnimaError):
    """Base of every error the signer reports to its callers."""


class InvalidRequest(SignerError):
    kind = ErrorKind.INVALID_ARGUMENT


class UnknownAgent(SignerError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"unknown agent {agent_id!r}")
        self.agent_id = agent_id


class AgentExists(SignerError):
    kind = ErrorKind.ALREADY_EXISTS

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} already exists")
        self.agent_id = agent_id


class PolicyDenied(SignerError):
    """The owner's policy refused the request; `rule` names the rule that did."""

    kind = ErrorKind.PERMISSION_DENIED

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"denied by policy rule {rule!r}: {detail}")
        self.rule = rule


class IdempotencyConflict(SignerError):
    kind = ErrorKind.FAILED_PRECONDITION

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different request; "
            "use a new key for a new payload"
        )


class SignerMisconfigured(SignerError):
    """The signer refuses to start (fail closed)."""

    kind = ErrorKind.FAILED_PRECONDITION


class LogStateMismatch(SignerError):
    """The host's idea of the log disagrees with the enclave's (ahead, or lost entries)."""

    kind = ErrorKind.FAILED_PRECONDITION


class LogTailFull(SignerError):
    """Too many entries wait for the host to store them; appends and signs wait."""

    kind = ErrorKind.RESOURCE_EXHAUSTED

    def __init__(self, agent_id: str, *, pending: int, adding: int, limit: int) -> None:
        super().__init__(
            f"agent {agent_id!r} has {pending} log entries the host has not confirmed; "
            f"{adding} more would pass the limit of {limit}: the host must collect and store "
            "the tail (AppendLog with its stored size) before more can be appended or signed"
        )
        self.agent_id = agent_id


class StateDirInUse(SignerError):
    """Another signer holds the state directory; this one refuses to start."""

    kind = ErrorKind.FAILED_PRECONDITION


class LogChangedElsewhere(SignerError):
    """An agent's stored log is not the one this signer last wrote: another process wrote it.

    Raised before anything is written; the signer then reloads the log from the store.
    """

    kind = ErrorKind.FAILED_PRECONDITION

    def __init__(self, agent_id: str, detail: str) -> None:
        super().__init__(
            f"the log of agent {agent_id!r} changed in the state store behind this signer "
            f"({detail}): another signer process is writing the same state directory. "
            "Nothing was appended; stop the other signer (only one may run per state directory)"
        )
        self.agent_id = agent_id
