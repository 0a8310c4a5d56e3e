"""Why the enclave refuses an agent's sealed state (AGENT_STATE_REFUSED, with the
cause in the class and the message) or the whole store (STATE_MANIFEST_REFUSED)."""

from __future__ import annotations

from anima_signer_api.errors import AgentStateRefused, SignerError
from anima_verify.errors import ErrorKind


class AgentStateTampered(AgentStateRefused):
    """A row or the head was altered, dropped, added, replaced by an older version,
    or moved from elsewhere."""


class AgentStateRolledBack(AgentStateRefused):
    """While this signer ran, the agent's state was replaced by an older copy."""


class AgentStateMissing(AgentStateRefused):
    """The manifest names the agent, but its state is gone (or its head is)."""


class StateManifestRefused(SignerError):
    """The store's list of agents failed its check: the store is not one this enclave
    wrote, or was edited. The signer refuses to start on it."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "STATE_MANIFEST_REFUSED"
