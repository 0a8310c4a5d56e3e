"""INSECURE simulated TEE for development and tests.

The root secret and the development attestation key are plain files in a
state directory: anyone who can read them has every agent key. Verifiers
refuse its evidence unless explicitly told to accept simulated evidence.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_signer.tee.base import ROOT_SECRET_SIZE
from anima_signer_api.errors import InvalidRequest, SignerMisconfigured
from anima_verify.attestation.evidence import REPORT_DATA_SIZE, TEE_SIM, Evidence
from anima_verify.attestation.sim import make_sim_quote

log = logging.getLogger(__name__)

ROOT_FILE = "insecure-sim-root.key"
ATTESTATION_KEY_FILE = "insecure-sim-attestation.key"


def _load_or_create_secret(path: Path, size: int) -> bytes:
    """Read a secret file, creating it (mode 0600) on first start."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise SignerMisconfigured(f"{path} is readable by others; expected mode 0600")
        data = path.read_bytes()
        if len(data) != size:
            raise SignerMisconfigured(f"{path} holds {len(data)} bytes; expected {size}")
        return data
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = secrets.token_bytes(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return data


class InsecureSimulatedTee:
    """Software TEE: a root secret on disk and self-signed simulated quotes."""

    name = TEE_SIM
    insecure = True

    def __init__(self, *, state_dir: Path) -> None:
        self._root = _load_or_create_secret(state_dir / ROOT_FILE, ROOT_SECRET_SIZE)
        seed = _load_or_create_secret(state_dir / ATTESTATION_KEY_FILE, 32)
        self._attestation_key = Ed25519PrivateKey.from_private_bytes(seed)
        log.warning("INSECURE simulated TEE in use (state in %s): development only", state_dir)

    async def root_secret(self) -> bytes:
        return self._root

    async def attest(self, report_data: bytes) -> Evidence:
        if len(report_data) != REPORT_DATA_SIZE:
            raise InvalidRequest(f"report_data must be {REPORT_DATA_SIZE} bytes")
        quote = make_sim_quote(attestation_key=self._attestation_key, report_data=report_data)
        return Evidence(tee=TEE_SIM, quote=quote)
