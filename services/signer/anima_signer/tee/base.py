"""The interface every TEE backend implements."""

from __future__ import annotations

from typing import Protocol

from anima_verify.attestation.evidence import Evidence

ROOT_SECRET_SIZE = 32


class TeeBackend(Protocol):
    """A source of the enclave's root secret and of attestation evidence."""

    @property
    def name(self) -> str:
        """Short backend name, e.g. "sim" or "dstack"."""
        ...

    @property
    def insecure(self) -> bool:
        """True when the backend gives no hardware protection (the simulator)."""
        ...

    async def root_secret(self) -> bytes:
        """The 32-byte root every agent key is derived from; stable across restarts."""
        ...

    async def attest(self, report_data: bytes) -> Evidence:
        """Evidence whose report_data is exactly the given 64 bytes."""
        ...
