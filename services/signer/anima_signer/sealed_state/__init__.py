"""Sealed rows on the host's disk: the host can neither read nor edit them, only
withhold or replace the whole agent (or the whole store).

The store is SQLite (atomic commits, kill -9 safe), but every value in it is a
vault blob (anima_signer.vault) sealed for its agent with the row's table and key
as context, so a row cannot be read, forged, or moved to another agent, table or
key. Splicing old and new rows is caught by a per-agent *head*, sealed too, that
commits to the agent's whole set of rows:

    head = (generation, row count, XOR over rows of HMAC(k_agent, table, key, SHA-256(blob)))

k_agent never leaves the enclave, so the host cannot compute any row's term and
cannot find another set of rows (an older version of one, a dropped one, one
resurrected after deletion) with the same sum. Every commit that touches an agent
writes its new head in the same SQLite transaction. On open, each agent's rows
are hashed and checked against its head; while running, the enclave keeps each
row's term in memory and checks every row it reads against it, and it re-reads
an agent's head once per transaction (a head it did not write: re-checked, and
refused if older). A *manifest* (the agent ids, MACed under a store key) catches
an agent whose whole state was deleted.

A check that fails refuses that agent only (AgentStateRefused, with the cause) and
leaves its rows as found; other agents keep working. What this cannot catch: the
host replacing an agent's head and rows together by an older copy while the signer
is stopped (a whole-agent rollback), or the whole store by an older copy; the
witnessed checkpoints are the answer to that (README, "Sealed state").

Tables are names, rows are (table, key) -> bytes: a new table needs no schema and
is sealed like the others. Keys are visible to the host unless the table is
declared with hidden keys (their keys are stored as an HMAC under k_agent).
"""

from anima_signer.sealed_state.binding import STATE_EPOCH
from anima_signer.sealed_state.errors import (
    AgentStateMissing,
    AgentStateRolledBack,
    AgentStateTampered,
    StateManifestRefused,
)
from anima_signer.sealed_state.rows import SealedState

__all__ = [
    "STATE_EPOCH",
    "AgentStateMissing",
    "AgentStateRolledBack",
    "AgentStateTampered",
    "SealedState",
    "StateManifestRefused",
]
