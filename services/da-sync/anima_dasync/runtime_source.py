"""Where da-sync reads an agent's runtime record: the runtime's admin ExportAgent (the
character with its secrets and the agent.json fields, "anima.runtime.agent" v1).

The record is a secret: it goes to the enclave to be sealed and nowhere else (never
logged; errors name the agent, never the record's content). The host is not trusted
either, so a record that is not the asked agent's is refused before sealing: a
restore must never host another agent's character under this agent's keys.
"""

from __future__ import annotations

import hashlib
from typing import Final, Protocol

from anima_runtime_api.client import RuntimeClient
from anima_verify import jsonsafe
from anima_verify.errors import AnimaError, ErrorKind

RECORD_FORMAT: Final = "anima.runtime.agent"
# Far above a record (twice the character limit plus a few fields) and far below the
# signer's message limit: a runtime answering more is broken or hostile.
MAX_RECORD_BYTES: Final = 8 << 20


class RuntimeRecordRefused(AnimaError):
    """The runtime's answer is not the asked agent's record: nothing is sealed."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "RUNTIME_RECORD_REFUSED"


class RuntimeSource(Protocol):
    async def record(self, agent_id: str) -> bytes:
        """The agent's record, checked with checked_record."""


def checked_record(agent_id: str, data: bytes) -> bytes:
    """`data` if it is a runtime record of `agent_id`; RuntimeRecordRefused otherwise.
    Only the framing is checked here; node B's RestoreAgent checks the rest (character,
    wallets and log key against its signer's)."""
    if not data or len(data) > MAX_RECORD_BYTES:
        raise RuntimeRecordRefused(
            f"agent {agent_id!r}: the runtime's record is {len(data)} bytes "
            f"(1 to {MAX_RECORD_BYTES})"
        )
    try:
        doc = jsonsafe.loads(data.decode("utf-8"), what="the runtime record")
    except (UnicodeDecodeError, ValueError):
        # No detail from the parser: its message may quote the record.
        raise RuntimeRecordRefused(
            f"agent {agent_id!r}: the runtime's record is not JSON"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        raise RuntimeRecordRefused(
            f"agent {agent_id!r}: the runtime's answer is not an {RECORD_FORMAT!r} record"
        )
    if doc.get("agent_id") != agent_id:
        raise RuntimeRecordRefused(
            f"agent {agent_id!r}: the runtime answered another agent's record"
        )
    return data


def record_digest(record: bytes) -> bytes:
    """What the syncer keeps to tell a changed record (the record itself is not kept)."""
    return hashlib.sha256(record).digest()


class GrpcRuntime:
    """The runtime's admin ExportAgent."""

    def __init__(self, client: RuntimeClient) -> None:
        self._client = client

    async def record(self, agent_id: str) -> bytes:
        return checked_record(agent_id, await self._client.export_agent(agent_id))

    async def close(self) -> None:
        await self._client.close()
