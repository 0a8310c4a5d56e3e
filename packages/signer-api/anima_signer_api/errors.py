"""The signer's error family: one base, narrow subclasses, each with its stable reason.

The signer sends these as google.rpc.ErrorInfo (domain ERROR_DOMAIN, the class's
`reason`); SignerClient raises the same class again (anima_signer_api.client).
A status without a reason it knows becomes SignerUnreachable or SignerRpcError
(by its code). Every reason the server sends is listed in signer.proto.
"""

from __future__ import annotations

from typing import Final

from anima_verify.errors import AnimaError, ErrorKind

#: google.rpc.ErrorInfo.domain of every error the signer sends.
ERROR_DOMAIN: Final = "signer.anima"


class SignerError(AnimaError):
    """Base of every error the signer reports to its callers."""


class InvalidRequest(SignerError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class UnknownAgent(SignerError):
    kind = ErrorKind.NOT_FOUND
    reason = "UNKNOWN_AGENT"
    metadata_fields = ("agent_id",)

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"unknown agent {agent_id!r}")
        self.agent_id = agent_id


class AgentExists(SignerError):
    kind = ErrorKind.ALREADY_EXISTS
    reason = "AGENT_EXISTS"
    metadata_fields = ("agent_id",)

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} already exists")
        self.agent_id = agent_id


class PolicyDenied(SignerError):
    """The owner's policy refused the request; `rule` names the rule that did, and
    `policy_version` the owner's document it belongs to ("" under the minimal gate)."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "POLICY_DENIED"
    metadata_fields = ("rule", "policy_version")

    def __init__(self, rule: str, detail: str, *, policy_version: int | None = None) -> None:
        where = "" if policy_version is None else f" (policy v{policy_version})"
        super().__init__(f"denied by policy rule {rule!r}{where}: {detail}")
        self.rule = rule
        self.policy_version = "" if policy_version is None else str(policy_version)

    def metadata(self) -> dict[str, str]:
        found = super().metadata()
        if not found["policy_version"]:
            del found["policy_version"]  # the minimal gate has no versions
        return found


class PolicyRejected(SignerError):
    """A policy document that cannot be applied as written (malformed, unknown fields, a
    rule that does not compile, values out of range); the active policy is unchanged."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "POLICY_REJECTED"


class PolicyNotOwnerSigned(SignerError):
    """A policy document without a valid signature by the agent's owner."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "POLICY_NOT_OWNER_SIGNED"


class PolicyVersionStale(SignerError):
    """A policy document whose version is not above the active one (a replay or a race)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "POLICY_VERSION_STALE"
    metadata_fields = ("active_version",)

    def __init__(self, version: int, active_version: int) -> None:
        super().__init__(
            f"policy version {version} is not above the active version {active_version}"
        )
        self.active_version = str(active_version)


class CosignRequired(SignerError):
    """The owner's policy allows this request only with the owner's approval: it waits
    as `approval_id` (listed by ListApprovals) until the owner approves it or it expires."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "COSIGN_REQUIRED"
    metadata_fields = ("approval_id", "rule")

    def __init__(self, approval_id: str, rule: str, expires_ms: int) -> None:
        super().__init__(
            f"policy rule {rule!r} needs the owner's approval; the request waits as "
            f"approval {approval_id} until {expires_ms} ms (Unix time)"
        )
        self.approval_id = approval_id
        self.rule = rule


class ApprovalUnavailable(SignerError):
    """An approval that is unknown, expired or already used (an approval signs once)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "APPROVAL_UNAVAILABLE"
    metadata_fields = ("approval_id",)

    def __init__(self, approval_id: str, detail: str) -> None:
        super().__init__(f"approval {approval_id[:80]!r} {detail}")
        self.approval_id = approval_id[:80]


class IdempotencyConflict(SignerError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "IDEMPOTENCY_CONFLICT"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different request; "
            "use a new key for a new payload"
        )


class SignerMisconfigured(SignerError):
    """The signer refuses to start (fail closed)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "SIGNER_MISCONFIGURED"


class LogStateMismatch(SignerError):
    """The host's idea of the log disagrees with the enclave's (ahead, or lost entries)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "LOG_STATE_MISMATCH"


class LogTailFull(SignerError):
    """Too many entries wait for the host to store them; appends and signs wait."""

    kind = ErrorKind.RESOURCE_EXHAUSTED
    reason = "LOG_TAIL_FULL"
    metadata_fields = ("agent_id",)

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
    reason = "STATE_DIR_IN_USE"


class LogChangedElsewhere(SignerError):
    """An agent's stored log is not the one this signer last wrote: another process wrote it.

    Raised before anything is written; the signer then reloads the log from the store.
    """

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "LOG_CHANGED_ELSEWHERE"
    metadata_fields = ("agent_id",)

    def __init__(self, agent_id: str, detail: str) -> None:
        super().__init__(
            f"the log of agent {agent_id!r} changed in the state store behind this signer "
            f"({detail}): another signer process is writing the same state directory. "
            "Nothing was appended; stop the other signer (only one may run per state directory)"
        )
        self.agent_id = agent_id


class AgentStateRefused(SignerError):
    """The agent's sealed state on the host's disk failed its check (altered, rows
    dropped, replaced or moved, rolled back while running, or missing): the enclave
    refuses to act for that agent and leaves its stored state as it found it, as
    evidence. Other agents are not affected."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "AGENT_STATE_REFUSED"
    metadata_fields = ("agent_id",)

    def __init__(self, agent_id: str, detail: str) -> None:
        super().__init__(
            f"the sealed state of agent {agent_id!r} was refused: {detail}. The signer "
            "does not act for this agent; its stored state is left as found"
        )
        self.agent_id = agent_id


class AgentFencedHere(AgentStateRefused):
    """The agent's anchor, read by the enclave from a storage proof, says it was
    recovered into another enclave (a newer recovery epoch) or that this signer's log
    is older than the anchored checkpoint: this enclave no longer signs, seals or logs
    for it, across restarts. Its state is kept, as evidence."""

    reason = "AGENT_FENCED_HERE"

    def __init__(self, agent_id: str, detail: str) -> None:
        SignerError.__init__(
            self,
            f"agent {agent_id!r} is fenced in this enclave: {detail}. It signs nothing more "
            "for this agent (the anchor moved on; the enclave that recovered it signs now)",
        )
        self.agent_id = agent_id


class LogNotWitnessed(SignerError):
    """The checkpoint that holds the answer did not get cosignatures from the configured
    quorum of witnesses, so nothing was released: the witnesses were unreachable, or
    refused it (a checkpoint that does not extend what they cosigned: the signer's
    state was rolled back, and the refusal is evidence). The entries stay sequenced."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "LOG_NOT_WITNESSED"
    metadata_fields = ("agent_id",)

    def __init__(self, agent_id: str, detail: str) -> None:
        super().__init__(
            f"the log of agent {agent_id!r} was not witnessed by a quorum, so nothing is "
            f"released: {detail}"
        )
        self.agent_id = agent_id


class AgentMigrated(SignerError):
    """The agent moved to a peer enclave (ExportAgent): this signer handed its root over,
    logged the handover and no longer signs, logs or exports for it. Its sealed state
    stays here as evidence; the agent lives on where it was imported."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "AGENT_MIGRATED"
    metadata_fields = ("agent_id",)

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            f"agent {agent_id!r} was migrated to a peer enclave: this signer no longer acts "
            "for it; use the signer it was imported into"
        )
        self.agent_id = agent_id


# ---------------------------------------------------------------- client side


class SignerRpcError(SignerError):
    """A failed call that names no reason this client knows (an older or newer signer,
    an auth refusal, a transport failure): the status code's name and the text as given."""

    reason = "RPC_ERROR"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class SignerUnreachable(SignerRpcError):
    """The signer did not answer in time or could not be reached (UNAVAILABLE,
    DEADLINE_EXCEEDED): retrying later may help."""

    kind = ErrorKind.UNAVAILABLE
    reason = "SIGNER_UNREACHABLE"


class SignerOutcomeUnknown(SignerUnreachable):
    """The connection broke after the request left: the signer may or may not have
    carried it out. The client does not send it again where doing it twice would not
    be the same (a Sign without an idempotency key, an AppendLog with entries): give
    Sign an idempotency key, or look in the agent's log for what happened."""

    reason = "SIGNER_OUTCOME_UNKNOWN"
    metadata_fields = ("method",)

    def __init__(self, method: str, detail: str) -> None:
        self.detail = detail
        super().__init__(
            "UNAVAILABLE",
            f"{method} may or may not have been carried out (the connection to the signer "
            f"broke after the request was sent; not retried, as a second one would not be "
            f"the same): {detail}",
        )
        self.method = method


#: The errors the signer sends with their reasons, for the client's catalog. (The
#: enclave's own TEE failures are the service's, not the API's: they arrive as
#: SignerUnreachable or SignerRpcError by their code.)
SERVER_ERRORS: Final[tuple[type[SignerError], ...]] = (
    InvalidRequest,
    UnknownAgent,
    AgentExists,
    PolicyDenied,
    PolicyRejected,
    PolicyNotOwnerSigned,
    PolicyVersionStale,
    CosignRequired,
    ApprovalUnavailable,
    IdempotencyConflict,
    SignerMisconfigured,
    LogStateMismatch,
    LogTailFull,
    StateDirInUse,
    LogChangedElsewhere,
    LogNotWitnessed,
    AgentStateRefused,
    AgentMigrated,
    AgentFencedHere,
)
