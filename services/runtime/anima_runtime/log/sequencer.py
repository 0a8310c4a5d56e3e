"""What the host needs from the enclave's log sequencer, and the in-process adapter.

`SignerClient` (attested gRPC) satisfies `LogSequencer` as it is, and
`signer_attestation(client)` makes the log API's AttestationFetcher from it.
The in-process adapter runs the signer core's synchronous methods in a worker
thread, for tests, benchmarks and single-process development setups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from anima_signer.models import Agent, AttestationBundle, LogAppendResult, LogEntryInput


class LogSequencer(Protocol):
    """The enclave side of an agent's log (AppendLog and GetAgent of the signer)."""

    async def append_log(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult: ...

    async def get_agent(self, agent_id: str) -> Agent: ...


#: (agent_id, nonce) -> evidence binding the agent's keys (the signer's GetAttestation).
AttestationFetcher = Callable[[str, bytes], Awaitable[AttestationBundle]]


class AttestingSigner(Protocol):
    """A signer that answers GetAttestation (anima_signer.client.SignerClient)."""

    async def get_attestation(self, nonce: bytes, agent_id: str = "") -> AttestationBundle: ...


def signer_attestation(signer: AttestingSigner) -> AttestationFetcher:
    """The log API's AttestationFetcher over a remote signer: the evidence binds the
    agent's keys, the nonce and the signer's TLS key, and is passed on unverified
    (the caller of the API verifies it; the host is not trusted to)."""

    async def fetch(agent_id: str, nonce: bytes) -> AttestationBundle:
        return await signer.get_attestation(nonce, agent_id)

    return fetch


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
