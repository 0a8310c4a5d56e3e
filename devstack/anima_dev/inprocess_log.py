"""A LogSequencer over a signer core in this process, for tests, benchmarks and
single-process development setups; blocking calls run in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from anima_signer_api.types import Agent, AttestationBundle, LogAppendResult, LogEntryInput


class SignerCore(Protocol):
    """The parts of anima_signer.core.Signer the adapter uses (the host does not import it)."""

    def append_log(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult: ...

    def get_agent(self, agent_id: str) -> Agent: ...

    async def attest(
        self, *, nonce: bytes, tls_public_key: bytes, agent_id: str = ""
    ) -> AttestationBundle: ...


class InProcessSequencer:
    """LogSequencer over a signer core in this process; blocking calls run in a thread."""

    def __init__(self, signer: SignerCore) -> None:
        self._signer = signer

    async def append_log(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult:
        return await asyncio.to_thread(self._signer.append_log, agent_id, host_size, inputs)

    async def get_agent(self, agent_id: str) -> Agent:
        return await asyncio.to_thread(self._signer.get_agent, agent_id)

    async def attestation(self, agent_id: str, nonce: bytes) -> AttestationBundle:
        """An AttestationFetcher. In process there is no TLS channel to bind: its key is empty."""
        return await self._signer.attest(nonce=nonce, tls_public_key=b"", agent_id=agent_id)
