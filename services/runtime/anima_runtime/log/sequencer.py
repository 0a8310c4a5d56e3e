"""What the host needs from the enclave's log sequencer.

`SignerClient` (attested gRPC) satisfies `LogSequencer` as it is, and
`signer_attestation(client)` makes the log API's AttestationFetcher from it.
(The dev stack's anima_dev.inprocess_log adapts a signer core in this process.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from anima_signer_api.types import Agent, AttestationBundle, LogAppendResult, LogEntryInput


class LogSequencer(Protocol):
    """The enclave side of an agent's log (AppendLog and GetAgent of the signer)."""

    async def append_log(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult: ...

    async def get_agent(self, agent_id: str) -> Agent: ...


#: (agent_id, nonce) -> evidence binding the agent's keys (the signer's GetAttestation).
AttestationFetcher = Callable[[str, bytes], Awaitable[AttestationBundle]]


class AttestingSigner(Protocol):
    """A signer that answers GetAttestation (anima_signer_api.client.SignerClient)."""

    async def get_attestation(self, nonce: bytes, agent_id: str = "") -> AttestationBundle: ...


def signer_attestation(signer: AttestingSigner) -> AttestationFetcher:
    """The log API's AttestationFetcher over a remote signer: the evidence binds the
    agent's keys, the nonce and the signer's TLS key, and is passed on unverified
    (the caller of the API verifies it; the host is not trusted to)."""

    async def fetch(agent_id: str, nonce: bytes) -> AttestationBundle:
        return await signer.get_attestation(nonce, agent_id)

    return fetch
